// Every simulated attack class raises an alert with a fitting ATT&CK for ICS technique within 5 s of its first
// packet, and normal traffic raises none. Topologies and seeds here (water-b / pipeline-d, seeds 101 and 202) were
// never used to tune the rules (tuning used the shared real captures and water-b seed 7 is the README's example).
import { describe, expect, it } from 'vitest';
import { ATTACK_NAMES, type AttackName } from '../sim/attacks.js';
import { runScenario } from './scenario.js';

/** Techniques that fit each attack (the first alert must name one of them). */
const FITTING: Record<AttackName, readonly string[]> = {
  'port-scan': ['T0846'],
  'modbus-recon': ['T0888', 'T0861'],
  'modbus-coil-write': ['T0855'],
  'modbus-setpoint-write': ['T0836'],
  'modbus-flood': ['T0814'],
  'syn-flood': ['T0814'],
  'mqtt-bruteforce': ['T0812'],
  'mqtt-spoof-publish': ['T0856'],
  'dns-tunnel': ['T0869'],
  'http-bruteforce': ['T0859'],
  'program-download': ['T0843'],
  'multi-stage': ['T0846'],
};

const LEARN_S = 600;
const ATTACK_AT_S = 720;

const cases: [string, AttackName][] = [
  ...ATTACK_NAMES.map((a): [string, AttackName] => ['water-b', a]),
  ...ATTACK_NAMES.filter((a) => !a.startsWith('mqtt')).map((a): [string, AttackName] => ['pipeline-d', a]),
];

describe('detection on held-out simulated plants', () => {
  it.each(cases)('%s: %s raises a fitting alert within 5 s and nothing before', async (topology, attack) => {
    const r = await runScenario({
      topology,
      seed: 101,
      durationS: ATTACK_AT_S + 120,
      learnS: LEARN_S,
      attacks: [{ attack, atS: ATTACK_AT_S }],
    });

    const first = r.firstFrameMs[0];
    expect(first).toBeDefined();
    const start = first ?? 0;
    const before = r.alerts.filter((a) => Date.parse(a.last_seen) < start);
    expect(before.map((a) => a.title)).toEqual([]);
    const fitting = r.alerts.find((a) => FITTING[attack].includes(a.attack_type));
    expect(fitting, `alerts: ${r.alerts.map((a) => a.attack_type).join(',')}`).toBeDefined();
    const delayMs = Date.parse(fitting?.timestamp ?? '') - start;
    expect(delayMs).toBeGreaterThanOrEqual(0);
    expect(delayMs).toBeLessThanOrEqual(5000);
    expect(Date.parse(fitting?.first_seen ?? '')).toBeGreaterThanOrEqual(start);
  });

  it('the multi-stage chain raises one alert per stage: scan, recon, coil and setpoint writes', async () => {
    const r = await runScenario({
      topology: 'water-b',
      seed: 202,
      durationS: ATTACK_AT_S + 300,
      learnS: LEARN_S,
      attacks: [{ attack: 'multi-stage', atS: ATTACK_AT_S }],
    });

    const kinds = new Set(r.alerts.map((a) => a.attack_type));
    for (const t of ['T0846', 'T0888', 'T0855', 'T0836']) expect(kinds).toContain(t);
  });

  it.each([
    ['water-b', 202],
    ['pipeline-d', 202],
  ])('%s seed %i: 30 minutes of normal traffic after learning raise no alert', async (topology, seed) => {
    const r = await runScenario({ topology, seed, durationS: LEARN_S + 1800, learnS: LEARN_S, attacks: [] });

    expect(r.frames).toBeGreaterThan(10_000);
    expect(r.alerts.map((a) => `${a.attack_type} ${a.correlation_summary}`)).toEqual([]);
  });
});
