import { describe, expect, it } from 'vitest';
import { Rng } from './prng.js';

describe('Rng', () => {
  it('repeats the same sequence for the same seed and stream', () => {
    const a = new Rng(42, 'x');
    const b = new Rng(42, 'x');

    const sa = Array.from({ length: 100 }, () => a.u32());
    const sb = Array.from({ length: 100 }, () => b.u32());

    expect(sa).toEqual(sb);
  });

  it('gives different sequences for other seeds and other stream names', () => {
    const base = Array.from(
      { length: 8 },
      (
        (r) => () =>
          r.u32()
      )(new Rng(1, 'x')),
    );
    const otherSeed = Array.from(
      { length: 8 },
      (
        (r) => () =>
          r.u32()
      )(new Rng(2, 'x')),
    );
    const otherStream = Array.from(
      { length: 8 },
      (
        (r) => () =>
          r.u32()
      )(new Rng(1, 'y')),
    );

    expect(otherSeed).not.toEqual(base);
    expect(otherStream).not.toEqual(base);
  });

  it('keeps int and between inside their bounds and covers them', () => {
    const r = new Rng(7);
    const seen = new Set<number>();

    for (let i = 0; i < 10_000; i++) seen.add(r.between(3, 9));

    expect([...seen].sort()).toEqual([3, 4, 5, 6, 7, 8, 9]);
  });

  it('draws uniform numbers with the expected mean and exponential gaps with the given mean', () => {
    const r = new Rng(9);
    let u = 0;
    let e = 0;
    const n = 50_000;

    for (let i = 0; i < n; i++) {
      u += r.next();
      e += r.exp(2);
    }

    expect(u / n).toBeCloseTo(0.5, 2);
    expect(e / n).toBeGreaterThan(1.9);
    expect(e / n).toBeLessThan(2.1);
  });
});
