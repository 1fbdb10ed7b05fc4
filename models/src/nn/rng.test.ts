import { describe, expect, it } from 'vitest';
import { cryptoRng, seededRng, type Rng } from './rng.js';

function moments(
  rng: Rng,
  n: number,
): { uMin: number; uMax: number; uMean: number; zMean: number; zVar: number } {
  let uMin = 1;
  let uMax = 0;
  let uSum = 0;
  let zSum = 0;
  let zSq = 0;
  for (let i = 0; i < n; i++) {
    const u = rng.next();
    uMin = Math.min(uMin, u);
    uMax = Math.max(uMax, u);
    uSum += u;
    const z = rng.normal();
    zSum += z;
    zSq += z * z;
  }
  return { uMin, uMax, uMean: uSum / n, zMean: zSum / n, zVar: zSq / n - (zSum / n) ** 2 };
}

describe('random numbers', () => {
  it('a seed reproduces its sequence', () => {
    const a = seededRng(123);
    const b = seededRng(123);
    for (let i = 0; i < 100; i++) expect(a.next()).toBe(b.next());
    expect(seededRng(124).next()).not.toBe(seededRng(123).next());
  });

  for (const [name, make] of [
    ['seeded', () => seededRng(7)],
    ['crypto', () => cryptoRng()],
  ] as const) {
    it(`${name}: uniforms in [0, 1) with mean 1/2, normals with mean 0 and variance 1`, () => {
      const m = moments(make(), 50_000);
      expect(m.uMin).toBeGreaterThanOrEqual(0);
      expect(m.uMax).toBeLessThan(1);
      expect(Math.abs(m.uMean - 0.5)).toBeLessThan(0.01);
      expect(Math.abs(m.zMean)).toBeLessThan(0.03);
      expect(Math.abs(m.zVar - 1)).toBeLessThan(0.03);
    });
  }
});
