import { describe, expect, it } from 'vitest';
import { IsolationForest, averagePathLength } from './iforest.js';
import { seededRng } from './nn/rng.js';

describe('isolation forest', () => {
  it('c(n) follows Liu et al.: 0 for n <= 1, 1 for n = 2, about 10.24 for n = 256', () => {
    expect(averagePathLength(1)).toBe(0);
    expect(averagePathLength(2)).toBe(1);
    expect(averagePathLength(256)).toBeCloseTo(2 * (Math.log(255) + 0.5772156649) - (2 * 255) / 256, 9);
    expect(averagePathLength(256)).toBeCloseTo(10.24, 1);
  });

  it('scores a far-away point above 0.6 and typical points below 0.5', () => {
    const rng = seededRng(1);
    const F = 3;
    const data = Float32Array.from({ length: 2000 * F }, () => rng.normal());
    const forest = IsolationForest.fit(data, F, { trees: 100, sampleSize: 256, rng });
    expect(forest.score(Float32Array.of(6, -6, 6))).toBeGreaterThan(0.6);
    let typical = 0;
    for (let r = 0; r < 200; r++) typical += forest.score(data.subarray(r * F, (r + 1) * F));
    expect(typical / 200).toBeLessThan(0.5);
    expect(forest.pathLength(Float32Array.of(6, -6, 6))).toBeLessThan(
      forest.pathLength(Float32Array.of(0, 0, 0)),
    );
  });

  it('the same seed grows the same forest', () => {
    const data = Float32Array.from({ length: 300 }, (_, i) => Math.sin(i));
    const a = IsolationForest.fit(data, 3, { trees: 5, rng: seededRng(9) });
    const b = IsolationForest.fit(data, 3, { trees: 5, rng: seededRng(9) });
    expect(a.trees).toEqual(b.trees);
  });

  it('rebuilt from its trees, a forest scores the same (how a stored forest is loaded)', () => {
    const data = Float32Array.from({ length: 600 }, (_, i) => Math.cos(i * 0.7));
    const a = IsolationForest.fit(data, 3, { trees: 10, sampleSize: 64, rng: seededRng(3) });
    const copy = JSON.parse(
      JSON.stringify(a.trees, (_k, v: unknown) =>
        ArrayBuffer.isView(v) ? Array.from(v as Float32Array) : v,
      ),
    ) as {
      feature: number[];
      threshold: number[];
      left: number[];
      right: number[];
      leafValue: number[];
    }[];
    const b = IsolationForest.fromTrees(
      3,
      64,
      copy.map((t) => ({
        feature: Int32Array.from(t.feature),
        threshold: Float32Array.from(t.threshold),
        left: Int32Array.from(t.left),
        right: Int32Array.from(t.right),
        leafValue: Float32Array.from(t.leafValue),
      })),
    );
    for (let r = 0; r < 200; r += 7) {
      const row = data.subarray(r * 3, r * 3 + 3);
      expect(b.score(row)).toBe(a.score(row));
    }
  });

  it('scoring many rows at once gives each row the score it gets alone', () => {
    const rng = seededRng(5);
    const F = 4;
    const data = Float32Array.from({ length: 500 * F }, () => Math.round(rng.normal() * 20) / 10);
    const forest = IsolationForest.fit(data, F, { trees: 30, sampleSize: 64, rng });
    const scores = forest.scoreRows(data);
    expect(scores).toHaveLength(500);
    for (let r = 0; r < 500; r++) expect(scores[r]).toBe(forest.score(data.subarray(r * F, (r + 1) * F)));
    expect(() => forest.scoreRows(new Float32Array(F + 1))).toThrow(/4 values per row/);
  });

  it('constant data gives single-leaf trees rather than failing', () => {
    const forest = IsolationForest.fit(new Float32Array(40).fill(2), 2, {
      trees: 3,
      sampleSize: 16,
      rng: seededRng(2),
    });
    expect(forest.trees.every((t) => t.feature.length === 1)).toBe(true);
    expect(forest.pathLength(Float32Array.of(2, 2))).toBeCloseTo(averagePathLength(16), 5);
  });

  it('rejects rows that do not fit the feature count', () => {
    expect(() => IsolationForest.fit(new Float32Array(5), 2, { rng: seededRng(1) })).toThrow(/features/);
    const f = IsolationForest.fit(new Float32Array(8), 2, { rng: seededRng(1) });
    expect(() => f.pathLength(new Float32Array(3))).toThrow(/expected 2/);
  });
});
