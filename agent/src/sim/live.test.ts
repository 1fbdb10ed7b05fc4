import { describe, expect, it } from 'vitest';
import { paced } from './live.js';
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
