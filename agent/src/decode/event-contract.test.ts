// The event contract (see DecodedEvent): an event is valid only during onEvent. The agent's consumers (features,
// window, inventory, baseline, rules, the models' flow-seconds, the correlator's alerts) run twice over the same
// simulated plant: once with the real decoders, once with decoders whose every event (its fields, lists and
// nested objects) is overwritten as soon as onEvent returns. A consumer that keeps an event, or a list of it, past
// the call sees the overwritten values in the second run, and its results differ.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { PacketClock } from '../capture/packet-clock.js';
import type { AgentAlert } from '../detect/correlate.js';
import { DetectionEngine } from '../detect/engine.js';
import { FrameFeeder } from '../detect/feeder.js';
import { loadModelDetectors } from '../detect/ml/detector.js';
import { Analyzer } from '../features/analyzer.js';
import type { AttackSpec } from '../sim/attacks.js';
import { RawFrames } from '../sim/raw-frames.js';
import { Simulator } from '../sim/simulator.js';
import { createDecoders } from './registry.js';
import { copyEvent, type Decoder, type DecodedEvent } from './types.js';

const START_MS = Date.UTC(2026, 0, 14, 10, 0, 0);
const ATTACKS: AttackSpec[] = [
  { attack: 'multi-stage', atS: 300 },
  { attack: 'mqtt-spoof-publish', atS: 500 },
  { attack: 'dns-tunnel', atS: 560 },
  { attack: 'http-bruteforce', atS: 620 },
  { attack: 'modbus-setpoint-write', atS: 680 },
];

/**
 * Overwrites everything an event holds: numbers, texts, flags, and in place its lists and nested objects; all but
 * `protocol`, the type of the decoder's events (a reused event keeps it).
 */
function poison(v: Record<string, unknown>, seen = new Set<object>()): void {
  if (seen.has(v)) return;
  seen.add(v);
  for (const k of Object.keys(v)) {
    const x = v[k];
    if (k === 'protocol') continue;
    if (typeof x === 'number') v[k] = -7777;
    else if (typeof x === 'string') v[k] = 'poisoned';
    else if (typeof x === 'boolean') v[k] = !x;
    else if (Buffer.isBuffer(x)) v[k] = Buffer.alloc(0);
    else if (Array.isArray(x)) {
      const list = x as unknown[];
      for (let i = 0; i < list.length; i++) if (typeof list[i] !== 'object') list[i] = -7777;
    }
    if (Array.isArray(x) || (typeof x === 'object' && x !== null && !Buffer.isBuffer(x)))
      poison(x as Record<string, unknown>, seen);
  }
}

/** A real decoder whose events are overwritten once onEvent returns. */
function poisoning(inner: Decoder): Decoder {
  return {
    protocol: inner.protocol,
    transport: inner.transport,
    ports: inner.ports,
    counters: inner.counters,
    pduLength: (buf, off, avail) => inner.pduLength(buf, off, avail),
    decode: (seg, emit) =>
      inner.decode(seg, (e) => {
        emit(e);
        poison(e as unknown as Record<string, unknown>);
      }),
    ...(inner.release !== undefined ? { release: (flow: number) => inner.release?.(flow) } : {}),
  };
}

function frames(): Simulator {
  return new Simulator({
    topology: 'water-b',
    seed: 515,
    startMs: START_MS,
    durationS: 740,
    attacks: ATTACKS,
  });
}

/** Features, window rows, inventory and (copied) events of one analyzer run. */
function analyze(poisoned: boolean): Record<string, string> {
  const clock = new PacketClock();
  const digest = {
    features: createHash('sha256'),
    rows: createHash('sha256'),
    events: createHash('sha256'),
  };
  let sec = -1;
  let modbusValues = 0;
  const decoders = poisoned ? createDecoders().map(poisoning) : createDecoders();
  const a: Analyzer = new Analyzer({
    clock,
    pipeline: { decoders },
    onFeatures: (r) => digest.features.update(new Uint8Array(r.buffer, r.byteOffset, r.byteLength)),
    onEvent: (e: DecodedEvent) => {
      if (e.protocol === 'modbus' && e.values !== undefined) modbusValues++;
      digest.events.update(JSON.stringify(copyEvent(e)));
    },
    onPacket: (_pkt, ms) => {
      const s = Math.floor(ms / 1000);
      if (s !== sec && sec >= 0) digest.rows.update(JSON.stringify(a.window.row(sec)));
      sec = s;
    },
  });
  const raw = new RawFrames();
  let n = 0;
  for (const f of frames()) {
    const p = raw.of(f, ++n);
    clock.observe(p.tsSec, p.tsNsec);
    a.handle(p);
  }
  return {
    features: digest.features.digest('hex'),
    rows: digest.rows.digest('hex'),
    events: digest.events.digest('hex'),
    inventory: JSON.stringify(a.assets.toJson()),
    modbusValues: String(modbusValues),
    stats: JSON.stringify(a.pipeline.stats()),
  };
}

/** The alerts (without their random ids) and detector stats of a detection run with the models. */
async function detect(poisoned: boolean): Promise<{ alerts: unknown[]; stats: unknown }> {
  const clock = new PacketClock();
  const alerts: AgentAlert[] = [];
  const engine = new DetectionEngine({
    facility: 'water-b-515',
    clock,
    learnMs: 240_000,
    detectors: loadModelDetectors({ facility: 'water-b-515' }),
    onAlert: (al) => alerts.push(al),
    decoders: poisoned ? createDecoders().map(poisoning) : createDecoders(),
  });
  const feeder = new FrameFeeder(engine, clock);
  const raw = new RawFrames();
  let n = 0;
  for (const f of frames()) {
    feeder.push(raw.of(f, ++n));
    if (n % 4096 === 0) await feeder.drain();
  }
  await feeder.drain();
  await engine.finish();
  return { alerts: alerts.map(({ id: _id, ...rest }) => rest), stats: engine.stats() };
}

describe('events valid only during onEvent', () => {
  it('features, window rows and the inventory are the same when every event is overwritten after onEvent', () => {
    const clean = analyze(false);
    const poisoned = analyze(true);

    expect(Number(clean.modbusValues)).toBeGreaterThan(1000);
    for (const role of ['modbus_server', 'mqtt_client', 'dns_server', 'http_server', 'http_client'])
      expect(clean.inventory).toContain(`"${role}"`);
    expect(poisoned).toEqual(clean);
  });

  it('the alerts, their evidence and the detectors’ stats are the same when every event is overwritten', async () => {
    const clean = await detect(false);
    const poisoned = await detect(true);

    expect(clean.alerts.length).toBeGreaterThanOrEqual(4);
    expect(poisoned).toEqual(clean);
  }, 120_000);
});
