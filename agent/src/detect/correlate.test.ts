import { describe, expect, it } from 'vitest';
import { alertFromPb, alertToPb } from '@vigil/proto/codec';
import { FacilityWindow } from '../window/window.js';
import {
  Correlator,
  FOLLOW_UP_MS,
  FORGET_MS,
  HOLD_MS,
  MIN_ALERT_CONFIDENCE,
  QUIET_MS,
  type AgentAlert,
} from './correlate.js';
import { DEMOTED_RULE, INVENTORY_RULE, type Detection } from './types.js';

const T0 = Date.UTC(2026, 0, 12, 9, 0, 0);

function det(over: Partial<Detection>): Detection {
  return {
    detector: 'modbus-policy',
    layer: 1,
    rule: 'new-master-write',
    technique: 'T0855',
    confidence: 0.95,
    timeMs: T0,
    frame: 1,
    src: '10.0.0.9',
    dst: '10.0.0.2',
    evidence: 'write',
    features: { func_code: 5 },
    ...over,
  };
}

function model(over: Partial<Detection>): Detection {
  return det({
    detector: 'models',
    layer: 2,
    rule: 'l2-classifier',
    evidence: 'Layer 2 classifier',
    features: { probability: over.confidence ?? 0.9 },
    ...over,
  });
}

function setup(suppress = [] as ConstructorParameters<typeof Correlator>[0]['suppress']): {
  c: Correlator;
  alerts: AgentAlert[];
  w: FacilityWindow;
} {
  const alerts: AgentAlert[] = [];
  const w = new FacilityWindow();
  for (let s = 0; s < 5; s++) w.addPacket(T0 - 4000 + s * 1000, 60, 1, 2, 0, false);
  const c = new Correlator({ facility: 'plant-1', window: w, suppress, onAlert: (a) => alerts.push(a) });
  return { c, alerts, w };
}

describe('Correlator', () => {
  it('decides a strong detection at once, with its technique, evidence times and the window timeline', () => {
    const { c, alerts } = setup();

    c.add(det({}));
    c.tick(T0);

    expect(alerts).toHaveLength(1);
    const a = alerts[0];
    expect(a?.attack_type).toBe('T0855');
    expect(a?.attack_name).toBe('Unauthorized Command Message');
    expect(a?.severity).toBe('critical');
    expect(a?.timestamp).toBe(new Date(T0).toISOString());
    expect(a?.first_seen).toBe(new Date(T0).toISOString());
    expect(a?.sources[0]?.context_evidence).toContain('func_code=5');
    const timeline = a?.context_analysis.timeline ?? [];
    expect(timeline).toHaveLength(60);
    expect(timeline.at(-1)?.status).toBe('attack');
    expect(timeline.at(-1)?.packets_per_sec).toBe(1);
    expect(timeline.filter((p) => p.status === 'attack')).toHaveLength(1);
  });

  it('escapes control characters of packet-derived evidence and cuts an over-long one, so the alert is deliverable', () => {
    const { c, alerts } = setup();
    const long = `mqtt client id ${'A'.repeat(20_000)}`;

    c.add(det({ evidence: 'http header "x\u0000y\u001b[2J"' }));
    c.add(det({ rule: 'mqtt-client', timeMs: T0 + 10, src: '10.0.0.9', evidence: long }));
    c.tick(T0 + 10);

    const a = alerts[0];
    expect(a?.description).toBe('http header "x\\x00y\\x1b[2J"');
    expect(a?.sources[0]?.evidence).toBe('http header "x\\x00y\\x1b[2J"');
    expect(a?.context_analysis.evidence['1. modbus-policy/new-master-write']).toBe(
      'http header "x\\x00y\\x1b[2J"',
    );
    const cut = a?.sources[1]?.evidence ?? '';
    expect(cut).toHaveLength(16 * 1024);
    expect(cut.endsWith(` [cut ${long.length} chars]`)).toBe(true);
    expect(() => alertFromPb(alertToPb(a!), 'plant-1')).not.toThrow();
  });

  it("lists at most the link's 64 sources of a scan, keeping the lead and every rule, and counts them all", () => {
    const { c, alerts } = setup();
    const probes = Array.from({ length: 95 }, (_, i) =>
      det({ rule: 'scan', technique: 'T0846', confidence: 0.7, timeMs: T0 + i * 10, dst: `10.0.1.${i}` }),
    );

    for (const d of probes.slice(0, 90)) c.add(d);
    c.add(det({ rule: 'new-service', technique: 'T0886', confidence: 0.45, timeMs: T0 + 905 }));
    c.add(det({ timeMs: T0 + 910 }));
    for (const d of probes.slice(90)) c.add(d);
    c.tick(T0 + HOLD_MS, true);

    expect(alerts).toHaveLength(1);
    const a = alerts[0]!;
    expect(a.sources).toHaveLength(64);
    expect(a.attack_type).toBe('T0855');
    expect(a.sources.map((s) => s.model_name)).toContain('modbus-policy/new-master-write');
    expect(a.sources.map((s) => s.model_name)).toContain('modbus-policy/new-service');
    expect(a.sources.filter((s) => s.model_name === 'modbus-policy/scan')).toHaveLength(62);
    const times = a.sources.map((s) => Date.parse(s.detection_time));
    expect(times).toEqual([...times].sort((x, y) => x - y));
    expect(a.correlation_summary).toMatch(/^97 detection\(s\) \(64 listed\) by /);
    expect(() => alertFromPb(alertToPb(a), 'plant-1')).not.toThrow();
  });

  it('forgets alerted sources once they can fold or follow nothing, so its memory stays bounded', () => {
    const { c, alerts } = setup();
    for (let i = 0; i < 300; i++) c.add(det({ src: `10.9.${i >> 8}.${i & 255}`, timeMs: T0 + i * 100 }));
    c.tick(T0 + 30_000);
    const full = c.remembered;

    const later = T0 + 30_000 + FORGET_MS;
    c.add(det({ src: '10.0.0.77', timeMs: later }));
    c.tick(later);

    expect(alerts).toHaveLength(301);
    expect(full).toBe(900);
    expect(c.remembered).toBe(3);
  });

  it('gives one alert per activity the rules saw surely in one incident, in the order they began', () => {
    const { c, alerts } = setup();
    // a scan from the engineering workstation, and its routine change of a PLC (a read, then a write) in the hold
    const scan = (i: number): Detection =>
      det({
        detector: 'network-scan',
        rule: 'scan',
        technique: 'T0846',
        confidence: 0.7,
        timeMs: T0 + i * 100,
        dst: `10.0.0.${i + 1}`,
      });
    c.add(scan(0));
    c.add(
      det({ rule: 'new-service', technique: 'T0886', confidence: 0.45, timeMs: T0 + 150, dst: '10.0.0.1' }),
    );
    c.add(
      det({ rule: 'new-master', technique: 'T0888', confidence: 0.6, timeMs: T0 + 300, dst: '10.0.0.9' }),
    );
    c.add(det({ timeMs: T0 + 400, dst: '10.0.0.9' }));
    c.add(model({ technique: 'T0836', confidence: 0.4, timeMs: T0 + 450, dst: '10.0.0.9' }));
    c.add(scan(5));
    c.tick(T0 + HOLD_MS);
    // the scan goes on: folded into its own alert, which told T0846
    c.add(scan(30));
    c.tick(T0 + 3_500);

    expect(alerts.map((a) => a.attack_type)).toEqual(['T0846', 'T0855']);
    expect(alerts.map((a) => a.sources.map((s) => s.model_name))).toEqual([
      ['network-scan/scan', 'modbus-policy/new-service', 'network-scan/scan'],
      ['modbus-policy/new-master', 'modbus-policy/new-master-write', 'models/l2-classifier'],
    ]);
    expect(c.folded).toBe(1);
  });

  it('holds a weak detection, folds what joins in the hold and leads with the most severe technique', () => {
    const { c, alerts } = setup();

    c.add(det({ rule: 'new-service', technique: 'T0886', confidence: 0.45 }));
    c.tick(T0 + 500);
    const heldBack = alerts.length;
    c.add(det({ rule: 'scan', technique: 'T0846', confidence: 0.7, timeMs: T0 + 800 }));
    c.tick(T0 + HOLD_MS);

    expect(heldBack).toBe(0);
    expect(alerts).toHaveLength(1);
    expect(alerts[0]?.attack_type).toBe('T0846');
    expect(alerts[0]?.sources).toHaveLength(2);
    expect(alerts[0]?.last_seen).toBe(new Date(T0 + 800).toISOString());
    expect(alerts[0]?.correlation_confidence).toBeCloseTo(1 - 0.55 * 0.3, 3);
  });

  it('decides at once when two detectors name the same technique, and says so', () => {
    const { c, alerts } = setup();

    c.add(det({ rule: 'new-modbus-pair', confidence: 0.45 }));
    c.tick(T0 + 100);
    const alone = alerts.length;
    c.add(det({ detector: 'models', rule: 'l1b-lstm-ae', confidence: 0.3, timeMs: T0 + 200 }));
    c.tick(T0 + 200);

    expect(alone).toBe(0);
    expect(alerts.map((a) => [a.attack_type, a.timestamp])).toEqual([
      ['T0855', new Date(T0 + 200).toISOString()],
    ]);
    expect(alerts[0]?.correlation_summary).toContain('two pieces of evidence named the same technique');
    expect(c.decided).toEqual({ strong: 0, agreement: 1, hold: 0 });
  });

  it('holds a lone medium detection until the hold ends, so that what follows can name the alert', () => {
    const { c, alerts } = setup();

    c.add(det({ rule: 'new-master', technique: 'T0888', confidence: 0.8 }));
    c.tick(T0 + HOLD_MS - 1);
    const during = alerts.length;
    c.add(det({ rule: 'new-service', technique: 'T0886', confidence: 0.45, timeMs: T0 + 10 }));
    c.tick(T0 + HOLD_MS);

    expect(during).toBe(0);
    expect(alerts.map((a) => a.attack_type)).toEqual(['T0888']);
    expect(alerts[0]?.correlation_summary).toContain(`decided ${HOLD_MS / 1000} s after the first detection`);
    expect(c.decided).toEqual({ strong: 0, agreement: 0, hold: 1 });
  });

  it('drops an incident below the alert threshold and counts its detections', () => {
    const { c, alerts } = setup();

    c.add(det({ rule: 'new-service', technique: 'T0886', confidence: MIN_ALERT_CONFIDENCE - 0.1 }));
    c.tick(T0 + HOLD_MS);

    expect(alerts).toEqual([]);
    expect(c.belowThreshold).toBe(1);
  });

  it('alerts a weak detection against a target its source was alerted for as the next stage', () => {
    const { c, alerts } = setup();
    c.add(det({ rule: 'scan', technique: 'T0846', confidence: 0.9, dst: '10.0.0.3,10.0.0.2' }));
    c.tick(T0);
    const weak = { rule: 'new-modbus-pair', confidence: 0.45 };

    c.add(det({ ...weak, timeMs: T0 + 90_000 }));
    c.tick(T0 + 90_000 + HOLD_MS);
    c.add(det({ ...weak, technique: 'T0836', timeMs: T0 + 100_000, dst: '10.0.0.4' }));
    c.tick(T0 + 100_000 + HOLD_MS);

    expect(alerts.map((a) => a.attack_type)).toEqual(['T0846', 'T0855']);
    expect(alerts[1]?.correlation_confidence).toBeCloseTo(1 - 0.55 * 0.5, 3);
    expect(alerts[1]?.correlation_summary).toContain(
      'follows the alert T0846 against 10.0.0.2 90.0 s earlier',
    );
    expect(c.belowThreshold).toBe(1);
  });

  it('no longer counts an earlier alert as corroboration after FOLLOW_UP_MS', () => {
    const { c, alerts } = setup();
    c.add(det({}));
    c.tick(T0);
    const later = T0 + FOLLOW_UP_MS + 1;

    c.add(det({ rule: 'new-modbus-pair', technique: 'T0836', confidence: 0.45, timeMs: later }));
    c.tick(later + HOLD_MS);

    expect(alerts).toHaveLength(1);
    expect(c.belowThreshold).toBe(1);
  });

  it('folds repeats of an alerted technique until the source is quiet, then alerts again', () => {
    const { c, alerts } = setup();

    c.add(det({}));
    c.tick(T0);
    c.add(det({ timeMs: T0 + 10_000 }));
    c.tick(T0 + 10_000);
    c.add(det({ timeMs: T0 + 10_000 + QUIET_MS + 1 }));
    c.tick(T0 + 10_000 + QUIET_MS + 1);

    expect(alerts).toHaveLength(2);
    expect(c.folded).toBe(1);
  });

  it('gives its alerts version-7 ids that sort in the order the alerts were raised', () => {
    const { c, alerts } = setup();

    c.add(det({}));
    c.tick(T0);
    c.add(det({ timeMs: T0 + QUIET_MS + 1 }));
    c.tick(T0 + QUIET_MS + 1);

    const ids = alerts.map((a) => a.id);
    expect(ids).toHaveLength(2);
    expect(ids.every((id) => id[14] === '7')).toBe(true);
    expect([...ids].sort()).toEqual(ids);
  });

  it('after endIncidents decides the open incident and alerts a repeat at once instead of folding it', () => {
    const { c, alerts } = setup();
    c.add(det({}));
    c.tick(T0);
    c.add(det({ timeMs: T0 + 5_000, confidence: 0.6 }));

    c.endIncidents(T0 + 6_000);
    c.add(det({ timeMs: T0 + 10_000 }));
    c.tick(T0 + 10_000);

    expect(alerts).toHaveLength(2);
    expect(c.folded).toBe(1);
  });

  it("names the alert after a model's confident class, not after a weak rule hint that came with it", () => {
    const { c, alerts } = setup();

    c.add(det({ rule: 'new-service', technique: 'T0886', confidence: 0.45 }));
    c.add(model({ technique: 'T0846', confidence: 0.9, timeMs: T0 + 300 }));
    c.tick(T0 + 300);

    expect(alerts.map((a) => a.attack_type)).toEqual(['T0846']);
    expect(alerts[0]?.context_analysis.behavior).toContain('T0886');
  });

  it('alerts on a sure rule detection of a technique the earlier alert of that source did not stand for', () => {
    const { c, alerts } = setup();
    c.add(det({ rule: 'scan', technique: 'T0846', confidence: 0.9 }));
    c.add(model({ technique: 'T0888', confidence: 0.9, timeMs: T0 + 200 }));
    c.tick(T0 + HOLD_MS);

    // the recon stage 50 s later: the models' T0888 guess during the scan was not what the alert told
    c.add(det({ rule: 'modbus-recon', technique: 'T0888', confidence: 0.8, timeMs: T0 + 50_000 }));
    c.tick(T0 + 50_000 + HOLD_MS);

    expect(alerts.map((a) => a.attack_type)).toEqual(['T0846', 'T0888']);
  });

  it("folds a rule's detection into the models' alert of that technique, but not into one it did not name", () => {
    const { c, alerts } = setup();
    c.add(model({ technique: 'T0846', confidence: 0.9 }));
    c.add(model({ technique: 'T0888', confidence: 0.6, src: '10.0.0.9', timeMs: T0 + 100 }));
    c.tick(T0 + HOLD_MS);

    // the scan rule confirms the scan; the recon rule's T0888 is the first the operator hears of recon
    c.add(det({ rule: 'scan', technique: 'T0846', confidence: 0.8, timeMs: T0 + 3_000 }));
    c.add(model({ technique: 'T0846', confidence: 0.9, timeMs: T0 + 4_000 }));
    c.add(det({ rule: 'modbus-recon', technique: 'T0888', confidence: 0.8, timeMs: T0 + 20_000 }));
    c.tick(T0 + 20_000 + HOLD_MS);

    expect(alerts.map((a) => a.attack_type)).toEqual(['T0846', 'T0888']);
    expect(c.folded).toBe(2);
  });

  it('keeps folding the models of a source while the rules still see its attack', () => {
    const { c, alerts } = setup();
    c.add(det({ rule: 'scan', technique: 'T0846', confidence: 0.9 }));
    c.tick(T0);

    c.add(det({ rule: 'scan', technique: 'T0846', confidence: 0.9, timeMs: T0 + 50_000 }));
    c.add(model({ technique: 'T0814', confidence: 0.9, timeMs: T0 + 80_000 }));
    c.tick(T0 + 80_000);

    expect(alerts).toHaveLength(1);
    expect(c.folded).toBe(2);
  });

  it('folds weak hints and models that follow a rule alert on the same source into it', () => {
    const { c, alerts } = setup();
    c.add(det({ rule: 'scan', technique: 'T0846', confidence: 0.9 }));
    c.tick(T0);

    // the scan reaches a new service and a new Modbus pair; the models see the source's flows
    c.add(det({ rule: 'new-service', technique: 'T0886', confidence: 0.45, timeMs: T0 + 1_000 }));
    c.add(det({ rule: 'new-modbus-pair', technique: 'T0861', confidence: 0.45, timeMs: T0 + 1_000 }));
    c.add(model({ technique: 'T0888', confidence: 0.9, timeMs: T0 + 1_100 }));
    c.tick(T0 + 1_100 + HOLD_MS);

    expect(alerts).toHaveLength(1);
    expect(c.folded).toBe(3);
  });

  it('after endIncidents folds late evidence of the ended activity instead of opening an incident', () => {
    const { c, alerts } = setup();
    c.add(det({ rule: 'scan', technique: 'T0846', confidence: 0.9 }));
    c.tick(T0);

    c.endIncidents(T0 + 6_000);
    // a model's answer about the second before the end arrives after it
    c.add(model({ technique: 'T0846', confidence: 0.9, timeMs: T0 + 5_000 }));
    c.tick(T0 + 6_500);
    c.add(det({ rule: 'scan', technique: 'T0846', confidence: 0.9, timeMs: T0 + 20_000 }));
    c.tick(T0 + 20_000);

    expect(alerts.map((a) => a.first_seen)).toEqual([
      new Date(T0).toISOString(),
      new Date(T0 + 20_000).toISOString(),
    ]);
    expect(c.folded).toBe(1);
  });

  it('suppresses by facility, host pair, rule and technique, counting what it drops', () => {
    const { c, alerts } = setup([
      { pair: '10.0.0.9<>10.0.0.2', rule: 'new-master-write' },
      { facility: 'plant-1', technique: 'T0846' },
      { facility: 'other', technique: 'T0888' },
    ]);

    c.add(det({ src: '10.0.0.2', dst: '10.0.0.9' }));
    c.add(det({ rule: 'scan', technique: 'T0846', src: '10.0.0.7' }));
    c.add(det({ rule: 'new-master', technique: 'T0888', src: '10.0.0.8' }));
    c.tick(T0 + HOLD_MS);

    expect(Object.fromEntries(c.suppressed)).toEqual({ 'new-master-write/T0855': 1, 'scan/T0846': 1 });
    expect(alerts.map((a) => a.attack_type)).toEqual(['T0888']);
  });

  it('a demoted model finding opens no incident, and in one it is listed but adds and names nothing', () => {
    const { c, alerts } = setup();
    const demoted = (timeMs: number, src: string): Detection =>
      model({ rule: DEMOTED_RULE, technique: 'T0843', confidence: 0.2, timeMs, src });

    // alone, even after an earlier stage's alert against its target: nothing
    c.add(det({ timeMs: T0 }));
    c.tick(T0);
    c.add(demoted(T0 + 1_000, '10.0.0.9'));
    c.tick(T0 + 1_000 + HOLD_MS);
    // with a rule's weak hint of the same source: still the hint alone (0.45), below the alert threshold
    c.add(
      det({ rule: 'new-modbus-pair', technique: 'T0888', confidence: 0.45, timeMs: T0, src: '10.0.0.7' }),
    );
    c.add(demoted(T0, '10.0.0.7'));
    // with a rule's medium finding: its alert, the demoted finding listed as evidence
    c.add(det({ rule: 'new-master', technique: 'T0888', confidence: 0.6, timeMs: T0, src: '10.0.0.6' }));
    c.add(demoted(T0, '10.0.0.6'));
    c.tick(T0 + HOLD_MS);

    expect(alerts.map((a) => [a.attack_type, a.sources.map((x) => x.model_name)])).toEqual([
      ['T0855', ['modbus-policy/new-master-write']],
      ['T0888', ['modbus-policy/new-master', `models/${DEMOTED_RULE}`]],
    ]);
    expect(alerts[1]?.correlation_confidence).toBe(0.6);
    expect(c.belowThreshold).toBe(3);
  });

  it("a known host's device-identification read is evidence only: with a new service no alert, with a sweep listed", () => {
    const { c, alerts } = setup();
    const read = (src: string, timeMs: number): Detection =>
      det({
        rule: INVENTORY_RULE,
        technique: 'T0888',
        confidence: 0.35,
        timeMs,
        src,
        evidence: 'identification',
      });
    const service = (src: string): Detection =>
      det({ rule: 'new-service', technique: 'T0886', confidence: 0.45, timeMs: T0, src });

    // the inventory read's connection: a new service (0.45) and the read, still below the alert threshold
    c.add(service('10.0.0.20'));
    c.add(read('10.0.0.20', T0 + 20));
    // a recon's first probe is the same read; the sweep that follows names the alert
    c.add(service('10.0.0.66'));
    c.add(read('10.0.0.66', T0 + 20));
    c.add(
      det({
        rule: 'new-master',
        technique: 'T0888',
        confidence: 0.8,
        timeMs: T0 + 400,
        src: '10.0.0.66',
        evidence: 'sweep',
      }),
    );
    c.tick(T0 + HOLD_MS);

    expect(alerts.map((a) => [a.attack_type, a.sources.map((x) => x.model_name)])).toEqual([
      ['T0888', ['modbus-policy/new-service', `modbus-policy/${INVENTORY_RULE}`, 'modbus-policy/new-master']],
    ]);
    expect(alerts[0]?.correlation_confidence).toBe(0.89);
    expect(alerts[0]?.description).toBe('sweep');
    expect(c.belowThreshold).toBe(2);
  });
});
