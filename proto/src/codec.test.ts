import { describe, expect, it } from 'vitest';
import { InvalidMessageError, alertFromPb, healthFromPb } from './codec.js';
import type { PbAlert } from './link.js';

const received = (timestamp: string): PbAlert => ({
  id: '0b6f6a8e-3c1e-4d3b-9a57-1d2f3e4a5b6c',
  timestamp,
  severity: 'high',
  title: 'Modbus write burst',
  description: '',
  sources: [],
  correlation_confidence: 0.9,
  correlation_summary: '',
  attack_type: 'T0855',
  attack_name: 'Unauthorized Command Message',
  context_analysis: null,
});

/** What the aggregator stored for a time before it checked the canonical form itself. */
const viaDate = (s: string): string => new Date(Date.parse(s)).toISOString();

describe('alert times from agents', () => {
  it('stores every time in the one form toISOString prints, whether or not it arrived in that form', () => {
    const pad = (n: number, w: number): string => String(n).padStart(w, '0');
    const times: string[] = [];
    // Every day number 1-31 of every month of a leap year, a common year and a century year that is not leap:
    // impossible dates (Feb 29 2025, Apr 31, Feb 29 1900) arrive too, and must come out as Date.parse reads them.
    for (const year of [2024, 2025, 1900]) {
      for (let month = 1; month <= 12; month++) {
        for (let day = 1; day <= 31; day++) {
          times.push(
            `${year}-${pad(month, 2)}-${pad(day, 2)}T${pad(day % 24, 2)}:${pad(month * 4, 2)}:59.${pad(day * 31, 3)}Z`,
          );
        }
      }
    }
    times.push(
      '2026-03-01T10:00:00Z', // no milliseconds
      '2026-03-01T10:00:00.000+01:00', // an offset
      '2026-03-01T24:00:00.000Z', // end of day, which Date.parse accepts as the next midnight
      '2026-03-01 10:00:00.000Z', // a space, not T
      '+002026-03-01T10:00:00.000Z', // an extended year
    );

    for (const t of times) {
      expect(alertFromPb(received(t), 'plant-a').timestamp, t).toBe(viaDate(t));
    }
  });

  it('refuses a time that is not a date, naming the field', () => {
    for (const t of [
      '',
      'yesterday',
      '2026-13-01T00:00:00.000Z',
      '2026-03-01T10:61:00.000Z',
      '2026-0a-01T00:00:00.000Z',
    ]) {
      expect(() => alertFromPb(received(t), 'plant-a'), t).toThrow(InvalidMessageError);
      expect(() => alertFromPb(received(t), 'plant-a'), t).toThrow(/^alert\.timestamp: /);
    }
  });
});

describe('NUL in text', () => {
  const withSource = (evidence: string): PbAlert => ({
    ...received('2026-03-01T10:00:00.000Z'),
    sources: [
      {
        layer: 1,
        model_name: 'rules/modbus-write',
        confidence: 0.9,
        detection_time: '2026-03-01T10:00:00.000Z',
        evidence,
        context_evidence: '',
      },
    ],
  });

  it('refuses a NUL in any text field of an alert, naming the field (Postgres cannot store it)', () => {
    const cases: [PbAlert, RegExp][] = [
      [{ ...received('2026-03-01T10:00:00.000Z'), title: 'a\0b' }, /^alert\.title: contains NUL/],
      [withSource('client id "x\0y"'), /^alert\.sources\[0\]\.evidence: contains NUL/],
      [
        {
          ...received('2026-03-01T10:00:00.000Z'),
          context_analysis: {
            duration: '',
            pattern: '',
            behavior: '',
            timeline: [],
            evidence: { 'k\0': 'v' },
          },
        },
        /^alert\.context_analysis\.evidence key: contains NUL/,
      ],
    ];
    for (const [alert, field] of cases) {
      expect(() => alertFromPb(alert, 'plant-a')).toThrow(InvalidMessageError);
      expect(() => alertFromPb(alert, 'plant-a')).toThrow(field);
    }
  });

  it('accepts other control characters, which both stores keep', () => {
    expect(alertFromPb(withSource('a\u0001\u001b[31m\u007f'), 'plant-a').sources[0]?.evidence).toBe(
      'a\u0001\u001b[31m\u007f',
    );
  });

  it('reads the health of an agent from before the set-aside counter as zero set aside', () => {
    const health = healthFromPb({
      agent_version: '0.1.0',
      uptime_seconds: 1,
      capture_drops: 0,
      malformed_packets: 0,
      outbox_depth: 0,
      outbox_bytes: 0,
      outbox_capacity_bytes: 65536,
      alerts_refused_outbox_full: 0,
      aggregates_dropped: 0,
      inventory_dropped: 0,
      model_versions: {},
      models_serving: {},
      model_error: '',
      fl_status: '',
    });
    expect(health.alerts_set_aside_invalid).toBe(0);
  });
});

describe('invalid fields are named in full', () => {
  const point = (over: Record<string, unknown>): Record<string, unknown> => ({
    time: '2026-03-01T10:00:00.000Z',
    packets_per_sec: 10,
    unique_dest_ips: 2,
    protocol_distribution: { modbus: 1 },
    status: 'normal',
    ...over,
  });
  const withTimeline = (points: Record<string, unknown>[], evidence: Record<string, unknown> = {}): PbAlert =>
    ({
      ...received('2026-03-01T10:00:00.000Z'),
      context_analysis: { duration: '', pattern: '', behavior: '', timeline: points, evidence },
    }) as unknown as PbAlert;

  it('names the list item, map entry and message of a bad value, whichever part of the alert it is in', () => {
    const cases: [PbAlert, string][] = [
      [withTimeline([point({}), point({ status: 'odd' })]), 'alert.context_analysis.timeline[1].status'],
      [
        withTimeline([point({}), point({}), point({ protocol_distribution: { tcp: -1 } })]),
        'alert.context_analysis.timeline[2].protocol_distribution[tcp]',
      ],
      [withTimeline([point({ time: 'yesterday' })]), 'alert.context_analysis.timeline[0].time'],
      [withTimeline([point({})], { k: 7 }), 'alert.context_analysis.evidence[k]'],
      [{ ...received('2026-03-01T10:00:00.000Z'), title: '' }, 'alert.title'],
    ];
    for (const [alert, field] of cases) {
      let err: unknown;
      try {
        alertFromPb(alert, 'plant-a', 'message 3: alerts[4]');
      } catch (e) {
        err = e;
      }
      expect(err, field).toBeInstanceOf(InvalidMessageError);
      expect((err as InvalidMessageError).field).toBe(field.replace(/^alert/, 'message 3: alerts[4]'));
    }
  });
});
