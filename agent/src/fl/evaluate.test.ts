import { describe, expect, it } from 'vitest';
import { rdpEpsilon } from '@vigil/models';
import { calibrateSigma, macroF1, weightedAverage } from './evaluate.js';

describe('federated evaluation', () => {
  it('macro-F1 averages the per-class F1 of every class in the truth or the predictions', () => {
    // class 0: tp 2, fp 1, fn 1 -> 4/6; class 1: tp 1, fp 1, fn 2 -> 2/5; class 2: only predicted -> 0
    const truth = [0, 0, 0, 1, 1, 1];
    const pred = [0, 0, 1, 1, 0, 2];

    expect(macroF1(truth, pred)).toBeCloseTo((4 / 6 + 2 / 5 + 0) / 3, 12);
    expect(macroF1([1, 2], [1, 2])).toBe(1);
    expect(() => macroF1([1], [])).toThrow(/differ in length/);
  });

  it('averages client weights by their example counts', () => {
    const avg = weightedAverage([
      { weights: [Float32Array.from([1, 2]), Float32Array.from([0])], n: 1 },
      { weights: [Float32Array.from([3, 6]), Float32Array.from([4])], n: 3 },
    ]);

    expect(avg.map((w) => [...w])).toEqual([[2.5, 5], [3]]);
  });

  it('calibrates the smallest noise multiplier on its grid that keeps every run within the target', () => {
    const runs = [
      { sampleRate: 0.025, steps: 400 },
      { sampleRate: 0.015, steps: 660 },
    ];

    const { sigma, epsilon } = calibrateSigma(runs, 3, 1e-5);

    const eps = (s: number) =>
      Math.max(...runs.map((r) => rdpEpsilon({ sigma: s, delta: 1e-5, ...r }).epsilon));
    expect(epsilon).toBeLessThanOrEqual(3);
    expect(epsilon).toBeCloseTo(eps(sigma), 12);
    expect(eps(sigma - 0.05)).toBeGreaterThan(3);
  });
});
