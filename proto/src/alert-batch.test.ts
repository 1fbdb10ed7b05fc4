// alertsFromBatch (codec.ts) against what the aggregator did before it: protobufjs's decode of the AlertBatch, then
// alertFromPb on each alert. Same alerts for the same bytes, the same refusal (field and words) for a bad alert.
import { join } from 'node:path';
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { InvalidMessageError, alertFromPb, alertsFromBatch } from './codec.js';
import { PROTO_ROOT } from './index.js';
import type { PbAlert } from './link.js';

const root = new protobuf.Root();
root.resolvePath = (_origin, target) => join(PROTO_ROOT, target);
root.loadSync('vigil/v1/link.proto', { keepCase: true });
const AlertBatch = root.lookupType('vigil.v1.AlertBatch');

const encode = (alerts: PbAlert[]): Buffer =>
  Buffer.from(AlertBatch.encode(AlertBatch.fromObject({ alerts })).finish());

/** The refusal's text, or the alerts. */
function outcome(f: () => unknown): unknown {
  try {
    return f();
  } catch (err) {
    if (err instanceof InvalidMessageError) return `refused: ${err.message}`;
    throw err;
  }
}

/** What the aggregator stored (or refused) before alertsFromBatch, for the same bytes. */
const before = (bytes: Buffer, at = 'alerts'): unknown =>
  outcome(() => {
    const m = AlertBatch.decode(bytes) as unknown as { alerts: PbAlert[] };
    return m.alerts.map((a, i) => alertFromPb(a, 'plant-a', `${at}[${i}]`));
  });
const now = (bytes: Buffer, at = 'alerts'): unknown => outcome(() => alertsFromBatch(bytes, 'plant-a', at));

/** Integer-like keys come first in a JS object, whatever the wire order. */
const distribution = (s: number): Record<string, number> =>
  s === 0 ? {} : { modbus: 0.9, '502': 0.05, other: 0.05, '10': 0 };

const base = (i: number, over: Partial<PbAlert> = {}): PbAlert => ({
  id: `0B6F6A8E-3C1E-4D3B-9A57-${String(i).padStart(12, '0')}`,
  timestamp: i % 2 === 0 ? '2026-03-01T10:00:00.000Z' : '2026-03-01T11:00:00+01:00',
  severity: (['critical', 'high', 'medium', 'low'] as const)[i % 4] ?? 'low',
  title: `Modbus write burst ${i} — Schreibzugriff 🚨`,
  description: i % 3 === 0 ? '' : 'Unusual write rate to holding registers',
  sources: Array.from({ length: i % 3 }, (_, k) => ({
    layer: k + 1,
    model_name: ['l1-autoencoder', 'l2-classifier', 'rules'][k] ?? 'rules',
    confidence: k === 0 ? 0 : 0.9 - k * 0.07,
    detection_time: k === 1 ? '2026-03-01T10:00:00Z' : '2026-03-01T09:59:59.863Z',
    evidence: k === 0 ? 'a\u0001\u001b[31m\u007f' : 'reconstruction error 4.2 sigma',
    context_evidence: 'écriture ⚠',
  })),
  correlation_confidence: i % 5 === 0 ? 0 : 0.8,
  correlation_summary: 'L1 anomaly',
  attack_type: i % 4 === 0 ? '' : 'T0836',
  attack_name: 'Modify Parameter',
  context_analysis:
    i % 4 === 0
      ? null
      : {
          duration: '12 seconds',
          pattern: i % 2 === 0 ? '' : 'burst',
          behavior: 'writes',
          timeline: Array.from({ length: i % 4 }, (_, s) => ({
            time: '2026-03-01T09:59:5' + String(s) + '.000Z',
            packets_per_sec: s * 100.5,
            unique_dest_ips: s,
            protocol_distribution: distribution(s),
            status: (['normal', 'suspicious', 'attack'] as const)[s % 3] ?? 'attack',
          })),
          evidence: { '2. rules': 'two', '1': 'one', '': 'empty key', writes: '480 in 12 s' },
        },
  ...over,
});

describe('alertsFromBatch', () => {
  it('gives the alerts protobufjs and alertFromPb gave, key order and canonical times included', () => {
    const bytes = encode(Array.from({ length: 40 }, (_, i) => base(i)));

    const alerts = now(bytes);
    expect(alerts).toEqual(before(bytes));
    expect(JSON.stringify(alerts)).toBe(JSON.stringify(before(bytes)));
    expect(alerts).toHaveLength(40);
  });

  it('gives the same alerts with `generated` as their last field when asked, and refuses the same', () => {
    const bytes = encode(Array.from({ length: 40 }, (_, i) => base(i)));
    const marked = (generated: boolean): unknown =>
      (before(bytes) as object[]).map((a) => ({ ...a, generated }));

    for (const generated of [false, true]) {
      const alerts = alertsFromBatch(bytes, 'plant-a', 'alerts', generated);
      expect(alerts).toEqual(marked(generated));
      expect(JSON.stringify(alerts)).toBe(JSON.stringify(marked(generated)));
    }
    const bad = encode([base(0), base(1, { severity: 'urgent' })]);
    expect(outcome(() => alertsFromBatch(bad, 'plant-a', 'm', false))).toBe(before(bad, 'm'));
  });

  it('gives texts that repeat across alerts as they were sent, non-ASCII and broken UTF-8 included', () => {
    const texts = ['rules', 'règles', 'rules ', 'Rules', 'x'.repeat(96), 'x'.repeat(97), '🚨', ''];
    const bytes = encode(
      Array.from({ length: 3 * texts.length }, (_, i) =>
        base(1, { description: texts[i % texts.length], correlation_summary: texts[(i + 1) % texts.length] }),
      ),
    );
    // U+00E8 is 0xC3 0xA8 in UTF-8: a lone 0xA8 is not UTF-8 and reads as U+FFFD, of the same length as its bytes
    const broken = Buffer.from(bytes);
    for (
      let at = broken.indexOf('r\u00e8gles', 0, 'utf8');
      at >= 0;
      at = broken.indexOf('r\u00e8gles', at + 1, 'utf8')
    )
      broken[at + 1] = 0xa8;

    expect(now(bytes)).toEqual(before(bytes));
    expect(now(broken)).toEqual(before(broken));
    expect(JSON.stringify(now(broken))).toContain('r\ufffd\ufffdgles');
  });

  it('gives each of more distinct repeating texts than it keeps the text they were sent as', () => {
    // 6,000 texts of one length in 4,096 slots: some share a slot
    const texts = Array.from({ length: 6000 }, (_, i) => `rule ${String(i).padStart(5, '0')}`);
    const bytes = encode(texts.map((description) => base(1, { description })));

    const alerts = now(bytes) as { description: string }[];
    expect(alerts.map((a) => a.description).join()).toBe(texts.join());
  });

  it('refuses a bad alert naming the same field with the same words', () => {
    const source = base(2).sources[0]!;
    const point = base(3).context_analysis!.timeline[1]!;
    const context = base(3).context_analysis!;
    const bad: Partial<PbAlert>[] = [
      { id: 'not-a-uuid' },
      { id: '' },
      { attack_type: 'X1' },
      { timestamp: 'yesterday' },
      { severity: 'urgent' },
      { title: '' },
      { title: 'a\0b' },
      { description: 'd'.repeat(16 * 1024 + 1) },
      { sources: [source, { ...source, layer: 0 }] },
      { sources: [{ ...source, layer: 4 }] },
      { sources: [{ ...source, model_name: '' }] },
      { sources: [{ ...source, confidence: 1.5 }] },
      { sources: [{ ...source, confidence: NaN }] },
      { sources: [{ ...source, detection_time: '2026-13-01T00:00:00.000Z' }] },
      { sources: [{ ...source, context_evidence: 'x\0' }] },
      { sources: Array.from({ length: 65 }, () => source) },
      { correlation_confidence: -0.1 },
      { attack_name: 'n'.repeat(513) },
      { context_analysis: { ...context, duration: 'd'.repeat(513) } },
      { context_analysis: { ...context, timeline: [point, { ...point, status: 'odd' }] } },
      { context_analysis: { ...context, timeline: [{ ...point, time: '' }] } },
      { context_analysis: { ...context, timeline: [{ ...point, packets_per_sec: Infinity }] } },
      { context_analysis: { ...context, timeline: [{ ...point, protocol_distribution: { tcp: -1 } }] } },
      {
        context_analysis: {
          ...context,
          timeline: [{ ...point, protocol_distribution: { ['k'.repeat(65)]: 1 } }],
        },
      },
      { context_analysis: { ...context, timeline: Array.from({ length: 601 }, () => point) } },
      { context_analysis: { ...context, evidence: { 'k\0': 'v' } } },
      { context_analysis: { ...context, evidence: { k: 'v\0' } } },
      {
        context_analysis: {
          ...context,
          evidence: Object.fromEntries(Array.from({ length: 257 }, (_, k) => [`k${k}`, 'v'])),
        },
      },
      // several bad fields: the first in alertFromPb's order is named
      { severity: 'urgent', title: '' },
      { id: 'bad', attack_type: 'X1' },
      { timestamp: 'x', severity: 'y', sources: Array.from({ length: 65 }, () => source) },
      { sources: [{ ...source, layer: 0, model_name: '' }], correlation_confidence: 2 },
      { correlation_confidence: 2, correlation_summary: 's\0', attack_name: 'n'.repeat(513) },
      { attack_name: 'n'.repeat(513), context_analysis: { ...context, duration: 'd'.repeat(513) } },
      {
        context_analysis: {
          ...context,
          behavior: 'b\0',
          timeline: [{ ...point, status: 'odd' }],
          evidence: { k: 'v\0' },
        },
      },
      {
        context_analysis: {
          ...context,
          timeline: [
            { ...point, time: '', packets_per_sec: -1, protocol_distribution: { x: -1 }, status: 'odd' },
          ],
        },
      },
    ];
    for (const over of bad) {
      const bytes = encode([base(1), base(2, over), base(3, { id: 'also-bad' })]);

      const refusal = now(bytes, 'message 9: alerts');
      expect(refusal, JSON.stringify(over).slice(0, 80)).toMatch(/^refused: message 9: alerts\[1\]\./);
      expect(refusal).toBe(before(bytes, 'message 9: alerts'));
    }
  });

  it('reads wire forms the agent does not send as protobufjs does: unknown fields, repeats, missing map keys', () => {
    const w = protobuf.Writer.create();
    const alert = w.uint32(0x0a).fork(); // AlertBatch.alerts
    alert.uint32(0x0a).string('0b6f6a8e-3c1e-4d3b-9a57-000000000001'); // id
    alert.uint32(0x12).string('2026-03-01T10:00:00.000Z');
    alert.uint32(0x1a).string('low');
    alert.uint32(0x1a).string('high'); // a repeated singular field: the last counts
    alert.uint32(0x22).string('title');
    alert.uint32(0xf8).uint32(7); // field 31, a varint: unknown
    alert.uint32(0xfd).fixed32(7); // field 31, 32-bit: unknown
    alert.uint32(0xfa).string('unknown'); // field 31, bytes: unknown
    alert.uint32(0x5a).fork().uint32(0x0a).string('first context').ldelim(); // replaced by the next one
    const ctx = alert.uint32(0x5a).fork();
    ctx.uint32(0x0a).string('12 s');
    ctx.uint32(0x2a).fork().uint32(0x12).string('a value without a key').ldelim();
    ctx.uint32(0x2a).fork().uint32(0x0a).string('a key without a value').ldelim();
    ctx.ldelim();
    alert.ldelim();
    const bytes = Buffer.from(w.finish());

    const alerts = now(bytes);
    expect(alerts).toEqual(before(bytes));
    expect(alerts).toMatchObject([
      {
        severity: 'high',
        context_analysis: {
          duration: '12 s',
          evidence: { '': 'a value without a key', 'a key without a value': '' },
        },
      },
    ]);
  });

  it('skips a known field sent with another wire type, as an unknown one', () => {
    const w = protobuf.Writer.create();
    const alert = w.uint32(0x0a).fork();
    alert.uint32(0x0a).string('0b6f6a8e-3c1e-4d3b-9a57-000000000001');
    alert.uint32(0x12).string('2026-03-01T10:00:00.000Z');
    alert.uint32(0x1a).string('high');
    alert.uint32(0x22).string('title');
    alert.uint32(0x38).uint32(5); // correlation_confidence (a double) as a varint
    const point = alert.uint32(0x5a).fork().uint32(0x22).fork();
    point.uint32(0x0a).string('2026-03-01T10:00:00.000Z').uint32(0x2a).string('normal');
    point.uint32(0x22).fork().uint32(0x0a).string('tcp').uint32(0x10).uint32(3).ldelim(); // a double as a varint
    point.ldelim().ldelim();
    alert.ldelim();

    expect(now(Buffer.from(w.finish()))).toMatchObject([
      { correlation_confidence: 0, context_analysis: { timeline: [{ protocol_distribution: { tcp: 0 } }] } },
    ]);
  });

  it('refuses an alert whose bytes are not a protobuf encoding, naming it', () => {
    const good = encode([base(1), base(2)]);
    const cases = [
      good.subarray(0, good.length - 3), // the second alert cut short
      Buffer.concat([good, Buffer.from([0x0a, 0x05, 0x0a, 0x09, 0x61])]), // a third whose id runs past its end
      Buffer.concat([good, Buffer.from([0x0a, 0x02, 0x0b, 0x00])]), // a group (wire type 3)
      Buffer.concat([good, Buffer.from([0x0a, 0x0b, 0x08, ...Array<number>(10).fill(0xff)])]), // an 11-byte varint
    ];
    for (const bytes of cases) {
      const refusal = now(bytes);
      expect(refusal).toMatch(/^refused: alerts\[(1|2)\]: not a protobuf Alert/);
    }
  });
});
