// Layer 2's class must fit what the flow carried: on the simulator's real packets, the program download's UMAS
// flow-seconds carry program transfer and the Modbus recon's (device identification, a function-code sweep with a
// UMAS read, register reads) do not, so Program Download is plausible for the one and not for the other; a scan's
// probes are, the HMI web sessions are not, network scanning.
import { describe, expect, it } from 'vitest';
import { collectSimulation } from './collect.js';
import { implausibleFor } from './detector.js';
import { FLOW_FEATURE_FIELDS } from './features.js';

const READS = FLOW_FEATURE_FIELDS.findIndex((f) => f.name === 'modbus_reads');
const WRITES = FLOW_FEATURE_FIELDS.findIndex((f) => f.name === 'modbus_writes');
const SERVICE = FLOW_FEATURE_FIELDS.findIndex((f) => f.name === 'service');
const PUBLISHES = FLOW_FEATURE_FIELDS.findIndex((f) => f.name === 'mqtt_publishes');

describe('Layer 2 plausibility on simulated traffic', () => {
  const c = collectSimulation({
    topology: 'water-b',
    seed: 5,
    durationS: 175,
    learnS: 0,
    attacks: [
      { attack: 'modbus-recon', atS: 2, durationS: 60 },
      { attack: 'program-download', atS: 80, durationS: 60 },
      { attack: 'port-scan', atS: 150, durationS: 20 },
    ],
  });

  it('Program Download fits the UMAS download flow-seconds and not the recon ones', () => {
    const modbusRequests = (r: (typeof c.rows)[number]): boolean => r.x[READS]! + r.x[WRITES]! > 0;
    const download = c.rows.filter((r) => r.label === 'T0843' && modbusRequests(r));
    const recon = c.rows.filter((r) => r.label === 'T0888' && modbusRequests(r));
    const normal = c.rows.filter((r) => r.label === undefined);

    expect(download.length).toBeGreaterThan(10);
    expect(recon.length).toBeGreaterThan(10);
    expect(download.filter((r) => implausibleFor('T0843', r) !== undefined)).toEqual([]);
    expect(recon.map((r) => implausibleFor('T0843', r))).toEqual(
      recon.map(() => 'no program transfer (UMAS reservation/download/stop/start, fc 21)'),
    );
    expect(normal.filter((r) => r.program > 0)).toEqual([]);
    // recon reads but never writes: a write technique does not fit it either; a recon class fits anything
    expect(recon.every((r) => implausibleFor('T0855', r) === 'no Modbus coil write')).toBe(true);
    expect(recon.every((r) => implausibleFor('T0888', r) === undefined)).toBe(true);
  });

  it("a scan fits its probes' flow-seconds, not the HMI web sessions' (a handshake, then requests)", () => {
    const probes = c.rows.filter((r) => r.label === 'T0846');
    const web = c.rows.filter((r) => r.label === undefined && r.x[SERVICE] === 4);

    const fit = probes.filter((r) => implausibleFor('T0846', r) === undefined);
    // a probe whose reset falls in the next second leaves one unreset flow-second: the next one fits
    expect(fit.length).toBeGreaterThan(0.9 * probes.length);
    expect(web.length).toBeGreaterThan(2);
    expect(web.filter((r) => implausibleFor('T0846', r) === undefined)).toEqual([]);
    // nor recon, which asks a PLC over Modbus
    expect(web.map((r) => implausibleFor('T0888', r))).toEqual(web.map(() => 'no Modbus request'));
  });

  it("a spoofed reading fits the spoofing sensor's flow-seconds, not the broker's deliveries of it nor normal publishing", () => {
    // learnt for 120 s, then a sensor host publishes on other sensors' topics
    const spoof = collectSimulation({
      topology: 'water-b',
      seed: 5,
      durationS: 200,
      learnS: 120,
      attacks: [{ attack: 'mqtt-spoof-publish', atS: 130, durationS: 60 }],
    });
    const publishing = (r: (typeof spoof.rows)[number]): boolean => r.x[PUBLISHES]! > 0;
    const attack = spoof.rows.filter((r) => r.label === 'T0856' && publishing(r));
    const normal = spoof.rows.filter(
      (r) => r.label === undefined && publishing(r) && r.sec >= spoof.firstSec + 120,
    );
    const fit = attack.filter((r) => implausibleFor('T0856', r) === undefined);

    expect(fit.length).toBeGreaterThan(5);
    // the rest are the subscriber's deliveries: one client, its usual topics
    expect(new Set(attack.filter((r) => !fit.includes(r)).map((r) => r.client)).size).toBe(1);
    expect(new Set(fit.map((r) => r.client)).size).toBe(1);
    expect(normal.length).toBeGreaterThan(20);
    expect(normal.filter((r) => implausibleFor('T0856', r) === undefined)).toEqual([]);
  });
});
