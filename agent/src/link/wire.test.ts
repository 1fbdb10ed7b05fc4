import { alertToPb } from '@vigil/proto/codec';
import { loadLink, type AgentMessage, type PbAlert } from '@vigil/proto/link';
import type { Alert } from '@vigil/shared';
import { describe, expect, it } from 'vitest';
import { agentMessageSerializer, encodeAlert, encodeAlertMessage } from './wire.js';

const connect = loadLink().link.Connect as unknown as {
  requestSerialize(m: AgentMessage): Buffer;
  requestDeserialize(b: Buffer): AgentMessage;
};

function protocols(s: number): Record<string, number> {
  return s % 5 === 0 ? {} : { modbus: 1 / (s + 1), tcp: 0, 'ßtrange-ключ': s };
}

function alert(i: number, points: number, text = 'Unusual write rate'): Alert {
  const t0 = Date.UTC(2026, 2, 1, 10, 0, 0) + i * 1000;
  return {
    id: `0b9d6c1e-3f0a-4c55-9a53-${String(i).padStart(12, '0')}`,
    timestamp: new Date(t0).toISOString(),
    facility_id: 'plant-a',
    severity: 'high',
    title: `Modbus write burst ${i}`,
    description: text,
    status: 'new',
    sources: [1, 2, 3].map((layer) => ({
      layer: layer as 1 | 2 | 3,
      model_name: `model-${layer}`,
      confidence: layer / 3,
      detection_time: new Date(t0 - layer).toISOString(),
      evidence: `${text} ${layer}`,
      context_evidence: layer === 2 ? '' : 'x'.repeat(200 * layer),
    })),
    correlation_confidence: 0.8125,
    correlation_summary: 'L1 anomaly',
    attack_type: 'T0836',
    attack_name: 'Modify Parameter',
    context_analysis: {
      duration: '12 s',
      pattern: '',
      behavior: 'writes',
      timeline: Array.from({ length: points }, (_, s) => ({
        time: new Date(t0 - s * 1000).toISOString(),
        packets_per_sec: s === 0 ? 0 : 100 + s / 7,
        unique_dest_ips: s % 3,
        protocol_distribution: protocols(s),
        status: s < 3 ? 'attack' : 'normal',
      })),
      evidence: { writes: '480 in 12 s', '': 'empty key', 'empty value': '' },
    },
  };
}

const roundTrip = (m: AgentMessage): AgentMessage => connect.requestDeserialize(connect.requestSerialize(m));

describe('alert batch encoder', () => {
  it('decodes to what the generated serializer gives, for small and 60-point alerts with non-ASCII text', () => {
    const alerts: PbAlert[] = [
      alertToPb(alert(1, 1)),
      alertToPb(alert(2, 60)),
      alertToPb(alert(3, 60, 'Schreibzugriff auf Register — 書き込み 🚨 '.repeat(5))),
    ];
    for (const seq of [1, 300, 2 ** 40 + 5]) {
      const m: AgentMessage = { seq, alerts: { alerts } };

      const decoded = connect.requestDeserialize(encodeAlertMessage(seq, alerts));

      expect(decoded).toEqual(roundTrip(m));
    }
  });

  it('keeps the values protobufjs keeps: NaN, -0, empty strings, a missing context, an empty batch', () => {
    const a = alertToPb(alert(4, 2));
    const odd: PbAlert = { ...a, correlation_confidence: Number.NaN, title: '', context_analysis: null };
    const negZero: PbAlert = { ...a, correlation_confidence: -0 };

    for (const alerts of [[odd], [negZero], []]) {
      const decoded = connect.requestDeserialize(encodeAlertMessage(7, alerts));

      expect(decoded).toEqual(roundTrip({ seq: 7, alerts: { alerts } }));
    }
  });

  it('frames alerts encoded one by one (as the outbox holds them) into the same batch', () => {
    const serialize = agentMessageSerializer((m) => connect.requestSerialize(m));
    const alerts = [alertToPb(alert(5, 1)), alertToPb(alert(6, 60))];

    const framed = serialize({ seq: 12, encoded_alerts: alerts.map(encodeAlert) });

    expect(connect.requestDeserialize(framed)).toEqual(roundTrip({ seq: 12, alerts: { alerts } }));
  });

  it('leaves every other message to the generated serializer', () => {
    const serialize = agentMessageSerializer((m) => connect.requestSerialize(m));
    const m: AgentMessage = { seq: 9, push_ack: { push_id: 'p', accepted: true, error: '' } };

    expect(serialize(m)).toEqual(connect.requestSerialize(m));
  });
});
