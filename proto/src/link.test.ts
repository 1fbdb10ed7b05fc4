import { describe, expect, it } from 'vitest';
import { alertFromPb, alertsFromBatch, InvalidMessageError } from './codec.js';
import {
  agentMessageDeserializer,
  loadLink,
  type AgentMessage,
  type PbAlert,
  type ReceivedAgentMessage,
} from './link.js';

const generated = loadLink().link.Connect as unknown as {
  requestSerialize(m: AgentMessage): Buffer;
  requestDeserialize(b: Buffer): AgentMessage;
};

const alert = (i: number, over: Partial<PbAlert> = {}): PbAlert => ({
  id: `0b6f6a8e-3c1e-4d3b-9a57-${String(i).padStart(12, '0')}`,
  timestamp: '2026-03-01T10:00:00.000Z',
  severity: 'high',
  title: `Modbus write burst ${i} — Schreibzugriff 🚨`,
  description: i % 2 === 0 ? '' : 'many writes',
  sources: [
    {
      layer: 2,
      model_name: 'l2',
      confidence: 0.5,
      detection_time: '2026-03-01T10:00:00.000Z',
      evidence: '',
      context_evidence: 'x',
    },
  ],
  correlation_confidence: i % 3 === 0 ? 0 : 0.75,
  correlation_summary: '',
  attack_type: 'T0855',
  attack_name: 'Unauthorized Command Message',
  context_analysis:
    i % 4 === 0
      ? null
      : {
          duration: '12 s',
          pattern: '',
          behavior: 'writes',
          timeline: [
            {
              time: '2026-03-01T09:59:59.000Z',
              packets_per_sec: 0,
              unique_dest_ips: 2,
              protocol_distribution: i % 5 === 0 ? {} : { modbus: 0.8, tcp: 0 },
              status: 'attack',
            },
          ],
          evidence: { writes: '480', '': 'empty key' },
        },
  ...over,
});

describe('the aggregator decoder of agent messages', () => {
  const decode = agentMessageDeserializer();
  /** The generated decoder's alerts, validated one by one as the aggregator did before alertsFromBatch. */
  const generatedAlerts = (bytes: Buffer): unknown[] => {
    const m = generated.requestDeserialize(bytes);
    return 'alerts' in m && m.alerts ? m.alerts.alerts.map((a) => alertFromPb(a, 'plant-a')) : [];
  };
  const batchOf = (m: ReceivedAgentMessage): Buffer => {
    if (m.body !== 'alert_batch') throw new Error(`not an alert batch: ${m.body}`);
    return m.alert_batch;
  };

  it('hands on an alert batch as its bytes, which decode to what the generated decoder and alertFromPb give', () => {
    const alerts = Array.from({ length: 12 }, (_, i) => alert(i));
    const bytes = generated.requestSerialize({ seq: 2 ** 40 + 3, alerts: { alerts } });

    const ours = decode(bytes);

    expect(ours.seq).toBe(2 ** 40 + 3);
    expect(ours.body).toBe('alert_batch');
    const stored = alertsFromBatch(batchOf(ours), 'plant-a');
    expect(stored).toEqual(generatedAlerts(bytes));
    expect(stored).toHaveLength(12);
  });

  it('hands on an empty alert batch as one with no alerts', () => {
    const ours = decode(generated.requestSerialize({ seq: 7, alerts: { alerts: [] } }));

    expect(ours.seq).toBe(7);
    expect(alertsFromBatch(batchOf(ours), 'plant-a')).toEqual([]);
  });

  it('refuses a bad alert naming the same field as before', () => {
    const bad = [
      alert(1, { id: 'not-a-uuid' }),
      alert(2, { severity: 'urgent' }),
      alert(3, { title: '' }),
      alert(4, { sources: [{ ...alert(4).sources[0]!, layer: 0 }] }),
    ];
    for (const a of bad) {
      const bytes = generated.requestSerialize({ seq: 1, alerts: { alerts: [alert(0), a] } });
      const problem = (f: () => unknown): string => {
        try {
          f();
          return 'accepted';
        } catch (err) {
          return err instanceof InvalidMessageError ? err.message : String(err);
        }
      };

      const ours = problem(() => alertsFromBatch(batchOf(decode(bytes)), 'plant-a', 'alerts'));
      expect(ours).not.toBe('accepted');
      expect(ours).toMatch(/^alerts\[1\]\./);
      const theirs = problem(() => {
        const m = generated.requestDeserialize(bytes);
        if ('alerts' in m && m.alerts) alertFromPb(m.alerts.alerts[1]!, 'plant-a', 'alerts[1]');
      });
      expect(ours).toBe(theirs);
    }
  });

  it('decodes every other message as the generated decoder does', () => {
    const messages: AgentMessage[] = [
      { seq: 5, push_ack: { push_id: 'p', accepted: true, error: '' } },
      {
        seq: 6,
        aggregates: {
          rows: [
            {
              time: '2026-03-01T10:00:00.000Z',
              packets_per_sec: 1,
              bytes_per_sec: 2,
              unique_src_ips: 3,
              unique_dest_ips: 4,
              protocol_distribution: { modbus: 1 },
              failed_connections: 0,
              avg_packet_size: 5,
              inter_arrival_time: 0.5,
            },
          ],
        },
      },
    ];
    for (const m of messages) {
      const bytes = generated.requestSerialize(m);

      expect(decode(bytes)).toEqual(generated.requestDeserialize(bytes));
    }
  });
});
