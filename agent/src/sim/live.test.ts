import { describe, expect, it } from 'vitest';
import { systemClock } from '@vigil/shared';
import { LivePlant, paced } from './live.js';
import { Simulator, type SimFrame } from './simulator.js';

const opts = { topology: 'water-a', seed: 2, startMs: Date.UTC(2026, 0, 5, 8), durationS: 4 };

async function drain(it: AsyncIterable<SimFrame>): Promise<SimFrame[]> {
  const out: SimFrame[] = [];
  for await (const f of it) out.push(f);
  return out;
}

describe('paced', () => {
  it('hands over the same frames as the plain iterator, taking the simulated time divided by the speed', async () => {
    const plain = [...new Simulator(opts)];

    const t0 = performance.now();
    const live = await drain(paced(new Simulator(opts), { speed: 20 }));
    const elapsed = performance.now() - t0;

    expect(live.map((f) => f.tUs)).toEqual(plain.map((f) => f.tUs));
    const simulatedMs = (plain.at(-1)!.tUs - plain[0]!.tUs) / 1000;
    expect(elapsed).toBeGreaterThanOrEqual(simulatedMs / 20 - 5);
  });

  it('runs unpaced at speed Infinity and stops when aborted', async () => {
    const all = await drain(paced(new Simulator(opts), { speed: Infinity }));
    const ac = new AbortController();
    const some: SimFrame[] = [];

    for await (const f of paced(new Simulator({ ...opts, durationS: 600 }), {
      speed: 1,
      signal: ac.signal,
    })) {
      some.push(f);
      if (some.length === 5) ac.abort();
    }

    expect(all.length).toBeGreaterThan(100);
    expect(some).toHaveLength(5);
  });

  it('rejects a speed that is not positive', async () => {
    await expect(drain(paced(new Simulator(opts), { speed: 0 }))).rejects.toThrow(/speed must be positive/);
  });
});

describe('LivePlant', () => {
  it('warms up on past simulated time as fast as it can, then hands frames over at their wall time', async () => {
    const plant = new LivePlant({ topology: 'water-a', seed: 3, warmupMinutes: 0.5, wall: systemClock });
    const warm: number[] = [];
    const live: { tMs: number; wallMs: number }[] = [];
    const ac = new AbortController();
    let wentLive = -1;

    await plant.run({
      signal: ac.signal,
      onFrame: (raw, warmup) => {
        const tMs = raw.tsSec * 1000 + raw.tsNsec / 1e6;
        if (warmup) warm.push(tMs);
        else live.push({ tMs, wallMs: Date.now() });
        if (live.length === 40) ac.abort();
      },
      onLive: () => (wentLive = Date.now()),
      afterBatch: () => Promise.resolve(),
    });

    expect(warm.length).toBeGreaterThan(300);
    expect(warm.every((t) => t < plant.liveFromMs)).toBe(true);
    expect(warm[0]).toBeGreaterThanOrEqual(plant.liveFromMs - 30_000);
    expect(wentLive).toBeGreaterThan(0);
    expect(live).toHaveLength(40);
    expect(live.every((f) => f.tMs >= plant.liveFromMs)).toBe(true);
    // Never handed over early (2 ms of timer slack), whatever the warm-up cost.
    expect(live.every((f) => f.wallMs >= f.tMs - 2)).toBe(true);
  });

  it('injects a named attack at the present, stops them on reset, and refuses unknown names and bad params', () => {
    const plant = new LivePlant({ topology: 'water-a', seed: 3, warmupMinutes: 0.1, wall: systemClock });

    const started = plant.scenario('port-scan', '{"duration_s": 20, "rate": 2}');
    const reset = plant.scenario('reset', '');

    expect(started).toMatch(/^port-scan from [\d.]+ for 20 s \(T0846\)$/);
    expect(plant.sim.attacks[0]!.startUs).toBeGreaterThanOrEqual(plant.liveFromMs * 1000);
    expect(reset).toBe('stopped 1 running attack(s)');
    expect(() => plant.scenario('coffee', '')).toThrow(/unknown scenario coffee \(known: reset, port-scan/);
    expect(() => plant.scenario('port-scan', '{"duration_s": "long"}')).toThrow(/duration_s/);
    expect(() => plant.scenario('port-scan', '{"color": 1}')).toThrow(/keys: src, target, duration_s, rate/);
    expect(() => plant.scenario('port-scan', 'not json')).toThrow(/params_json is not JSON/);
  });
});
