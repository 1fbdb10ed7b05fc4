import { describe, expect, it } from 'vitest';
import { seededRng } from '@vigil/models';
import { toList, withData } from './arrays.js';
import {
  CentralDp,
  FedAvg,
  FedProx,
  TrimmedMean,
  clipUpdate,
  fedAvg,
  trimmedMean,
  type ClientUpdate,
} from './strategy.js';
import type { Arrays } from './transport.js';

const f32 = (...v: number[]): Float32Array => Float32Array.from(v);

function arrays(w: number[], b: number[]): Arrays {
  return new Map([
    ['w', { shape: [w.length], data: f32(...w) }],
    ['b', { shape: [b.length], data: f32(...b) }],
  ]);
}

function update(id: string, a: Arrays, numExamples: number): ClientUpdate {
  return { nodeId: id, facilityId: `plant-${id}`, arrays: a, numExamples, metrics: {} };
}

describe('fedAvg', () => {
  it('weights each update by its example count', () => {
    const out = fedAvg([
      { weights: [f32(1, 2), f32(10)], numExamples: 1 },
      { weights: [f32(4, 8), f32(40)], numExamples: 2 },
    ]);

    // (1*1 + 2*4)/3 = 3, (1*2 + 2*8)/3 = 6, (10 + 80)/3 = 30
    expect([...out[0]!]).toEqual([3, 6]);
    expect([...out[1]!]).toEqual([30]);
  });

  it('averages more updates than one pass groups (four) with the remainder included', () => {
    const ups = [1, 2, 3, 4, 5, 6].map((v) => ({ weights: [f32(v, -v)], numExamples: v }));

    // sum v*v / sum v = 91 / 21
    const out = fedAvg(ups)[0]!;

    expect(out[0]).toBeCloseTo(91 / 21, 6);
    expect(out[1]).toBeCloseTo(-91 / 21, 6);
  });

  it('gives the same result in any order of the updates', () => {
    const rng = seededRng(7);
    const ups = Array.from({ length: 9 }, (_, i) => ({
      weights: [Float32Array.from({ length: 50 }, () => rng.normal())],
      numExamples: 1 + i * 13,
    }));
    const reversed = [...ups].reverse();
    const rotated = [...ups.slice(4), ...ups.slice(0, 4)];

    const a = fedAvg(ups)[0]!;

    expect(fedAvg(reversed)[0]).toEqual(a);
    expect(fedAvg(rotated)[0]).toEqual(a);
  });

  it('returns one update unchanged and equal updates unchanged', () => {
    const w = f32(0.5, -1.25, 3);

    expect(fedAvg([{ weights: [w], numExamples: 17 }])[0]).toEqual(w);
    expect(
      fedAvg([
        { weights: [w], numExamples: 3 },
        { weights: [w], numExamples: 1000 },
      ])[0],
    ).toEqual(w);
  });

  it('refuses no updates, zero examples and mismatched layouts', () => {
    expect(() => fedAvg([])).toThrow(/no updates/);
    expect(() => fedAvg([{ weights: [f32(1)], numExamples: 0 }])).toThrow(/numExamples 0/);
    expect(() =>
      fedAvg([
        { weights: [f32(1, 2)], numExamples: 1 },
        { weights: [f32(1)], numExamples: 1 },
      ]),
    ).toThrow(/tensor 0 has 1 values, expected 2/);
  });
});

describe('trimmedMean', () => {
  it('drops the extremes of every coordinate and averages the rest', () => {
    const out = trimmedMean(
      [
        { weights: [f32(1, 50)] },
        { weights: [f32(2, 10)] },
        { weights: [f32(3, 20)] },
        { weights: [f32(100, 30)] },
      ],
      1,
    );

    // coordinate 0: 1 2 3 100 -> mean(2, 3); coordinate 1: 10 20 30 50 -> mean(20, 30)
    expect([...out[0]!]).toEqual([2.5, 25]);
  });

  it('keeps one poisoned client from moving the model outside the honest range', () => {
    const rng = seededRng(3);
    const honest = Array.from({ length: 4 }, () => ({
      weights: [Float32Array.from({ length: 20 }, () => 1 + 0.1 * rng.normal())],
    }));
    const poisoned = { weights: [new Float32Array(20).fill(1e6)] };

    const robust = trimmedMean([...honest, poisoned], 1)[0]!;
    const averaged = fedAvg([...honest, poisoned].map((u) => ({ ...u, numExamples: 1 })))[0]!;

    for (let k = 0; k < 20; k++) {
      const col = honest.map((h) => h.weights[0]![k]!);
      expect(robust[k]).toBeGreaterThanOrEqual(Math.min(...col) - 1e-6);
      expect(robust[k]).toBeLessThanOrEqual(Math.max(...col) + 1e-6);
    }
    expect(Math.min(...averaged)).toBeGreaterThan(1e5);
  });

  it('refuses to trim away every update', () => {
    expect(() => trimmedMean([{ weights: [f32(1)] }, { weights: [f32(2)] }], 1)).toThrow(/cannot trim 1/);
  });
});

describe('strategies', () => {
  const global = arrays([0, 0], [0]);

  it('FedAvg keeps the global layout and sends no extra config', () => {
    const s = new FedAvg();

    const out = s.aggregate(1, global, [
      update('a', arrays([2, 4], [1]), 1),
      update('b', arrays([4, 8], [3]), 3),
    ]);

    expect(s.configureFit()).toEqual({});
    expect([...out!.keys()]).toEqual(['w', 'b']);
    expect([...out!.get('w')!.data]).toEqual([3.5, 7]);
    expect(out!.get('b')).toEqual({ shape: [1], data: f32(2.5) });
    expect(s.aggregate(1, global, [])).toBeNull();
  });

  it('FedProx sends its proximal mu to the clients and averages like FedAvg', () => {
    const s = new FedProx(0.01);
    const ups = [update('a', arrays([2, 4], [1]), 1), update('b', arrays([4, 8], [3]), 3)];

    expect(s.configureFit()).toEqual({ 'proximal-mu': 0.01 });
    expect(s.aggregate(1, global, ups)).toEqual(new FedAvg().aggregate(1, global, ups));
    expect(() => new FedProx(-1)).toThrow(/proximal mu/);
  });

  it('TrimmedMean trims at least one per end from three clients on', () => {
    const s = new TrimmedMean(0.1);

    expect([s.trimFor(2), s.trimFor(3), s.trimFor(10), s.trimFor(30)]).toEqual([0, 1, 1, 3]);
    const out = s.aggregate(1, global, [
      update('a', arrays([1, 1], [1]), 5),
      update('b', arrays([2, 2], [2]), 5),
      update('c', arrays([-900, 900], [900]), 5),
    ]);
    // w0: 1, 2, -900 -> 1; w1: 1, 2, 900 -> 2; b: 1, 2, 900 -> 2
    expect([...out!.get('w')!.data]).toEqual([1, 2]);
    expect([...out!.get('b')!.data]).toEqual([2]);
  });
});

describe('central DP wrapper', () => {
  it('clips an update to the norm bound and leaves a small one alone', () => {
    const big = [f32(3), f32(4)];
    const small = [f32(0.3), f32(0.4)];

    expect(clipUpdate(big, 1)).toBeCloseTo(0.2);
    expect(clipUpdate(small, 1)).toBe(1);
    expect([...big[0]!, ...big[1]!].map((v) => +v.toFixed(6))).toEqual([0.6, 0.8]);
    expect([...small[0]!, ...small[1]!]).toEqual([f32(0.3)[0], f32(0.4)[0]]);
  });

  it('without noise equals the inner strategy on clipped updates', () => {
    const s = new CentralDp(new FedAvg(), { clipNorm: 1, noiseMultiplier: 0, rng: seededRng(1) });
    const g = arrays([1, 1], [0]);

    // update a: delta (3, 4, 0) has norm 5 -> clipped to (0.6, 0.8, 0); update b: delta (0, 0, 0.5) is kept
    const out = s.aggregate(1, g, [
      update('a', arrays([4, 5], [0]), 1),
      update('b', arrays([1, 1], [0.5]), 1),
    ]);

    expect(toList(out!).map((t) => [...t].map((v) => +v.toFixed(5)))).toEqual([[1.3, 1.4], [0.25]]);
  });

  it('adds Gaussian noise of std z*C/n around the clipped average', () => {
    const n = 4;
    const s = new CentralDp(new FedAvg(), { clipNorm: 2, noiseMultiplier: 1.5, rng: seededRng(11) });
    const size = 20_000;
    const g = withData(new Map([['w', { shape: [size], data: new Float32Array(size) }]]), [
      new Float32Array(size),
    ]);
    const ups = Array.from({ length: n }, (_, i) => update(String(i), g, 10));

    const out = s.aggregate(1, g, ups)!.get('w')!.data;

    const mean = out.reduce((a, b) => a + b, 0) / size;
    const std = Math.sqrt(out.reduce((a, b) => a + (b - mean) ** 2, 0) / size);
    expect(Math.abs(mean)).toBeLessThan(0.02);
    expect(std).toBeGreaterThan(0.75 * 0.97);
    expect(std).toBeLessThan(0.75 * 1.03);
    expect(s.name).toBe('central-dp(fedavg)');
  });

  it("tells the ledger each facility's noise multiplier from its weight, and none for a trimmed mean", () => {
    const g = arrays([0, 0], [0]);
    const z = 3;
    const ups = [update('1', g, 100), update('2', g, 300), { ...update('3', g, 100), facilityId: 'plant-1' }];
    const dp = (inner: FedAvg | TrimmedMean, noise = z) =>
      new CentralDp(inner, { clipNorm: 2, noiseMultiplier: noise, rng: seededRng(1) });

    const fedavg = dp(new FedAvg()).centralNoise(ups);

    // std z C / 3; one example of plant-1 (weight 200/500) moves the average by 2 C 0.4
    expect([...fedavg!.entries()]).toEqual([
      ['plant-1', z / (2 * 3 * 0.4)],
      ['plant-2', z / (2 * 3 * 0.6)],
    ]);
    expect(dp(new TrimmedMean(0)).centralNoise(ups)!.get('plant-2')).toBeCloseTo(z / (2 * 3 * (1 / 3)), 12);
    expect(dp(new TrimmedMean(0.2)).centralNoise(ups)).toBeNull();
    expect(dp(new FedAvg(), 0).centralNoise(ups)).toBeNull();
  });
});
