import { describe, expect, it } from 'vitest';
import { Activation } from '../nn/activation.js';
import { Dense } from '../nn/dense.js';
import { softmaxCrossEntropy } from '../nn/loss.js';
import { Sequential, type Example } from '../nn/model.js';
import { Sgd } from '../nn/optim.js';
import { seededRng } from '../nn/rng.js';
import { Trainer } from '../nn/trainer.js';
import { DpSgd, distributedNoiseStd, noisyClippedSum } from './dpsgd.js';

function data(n: number): Example[] {
  const rng = seededRng(8);
  return Array.from({ length: n }, (_, i) => {
    const k = i % 2;
    const c = k === 0 ? -1.5 : 1.5;
    const y = new Float32Array(2);
    y[k] = 1;
    return { x: Float32Array.of(c + rng.normal() * 0.5, c + rng.normal() * 0.5), y };
  });
}

function setup(lr = 0.5): Trainer {
  const rng = seededRng(1);
  const model = new Sequential([
    new Dense({ inputSize: 2, outputSize: 8, rng }),
    new Activation('tanh'),
    new Dense({ inputSize: 8, outputSize: 2, rng }),
  ]);
  return new Trainer({ model, loss: softmaxCrossEntropy, optimizer: new Sgd({ learningRate: lr }) });
}

describe('DP-SGD', () => {
  it('clipping scales a long gradient to norm C and leaves a short one alone', () => {
    const g = Float32Array.of(3, 4);
    expect(DpSgd.clip(g, 1)).toBe(true);
    expect(Math.hypot(g[0]!, g[1]!)).toBeCloseTo(1, 6);
    const s = Float32Array.of(0.3, 0.4);
    expect(DpSgd.clip(s, 1)).toBe(false);
    expect(Array.from(s)).toEqual([Float32Array.of(0.3)[0], Float32Array.of(0.4)[0]]);
  });

  it('without noise, with everyone sampled, a step moves by the mean clipped gradient', () => {
    const trainer = setup(1);
    const ds = data(6);
    const expected = new Float32Array(trainer.model.parameterCount);
    for (const ex of ds) {
      const { grad } = trainer.exampleGradient(ex);
      DpSgd.clip(grad, 0.1);
      for (let i = 0; i < expected.length; i++) expected[i]! += grad[i]! / ds.length;
    }
    const before = trainer.model.flatValues.slice();
    const dp = new DpSgd({ trainer, clipNorm: 0.1, noiseMultiplier: 0, sampleRate: 1, rng: seededRng(2) });
    const r = dp.step(ds);
    expect(r.batchSize).toBe(6);
    expect(r.clipped).toBeGreaterThan(0);
    for (let i = 0; i < expected.length; i++) {
      expect(before[i]! - trainer.model.flatValues[i]!).toBeCloseTo(expected[i]!, 6);
    }
  });

  it('noise has standard deviation sigma*C/(qN) on every coordinate', () => {
    const sigma = 2;
    const C = 0.5;
    const q = 1e-9; // practically nobody is sampled: the step is pure noise
    const trainer = setup(1);
    const dp = new DpSgd({ trainer, clipNorm: C, noiseMultiplier: sigma, sampleRate: q, rng: seededRng(4) });
    const ds = data(1000);
    const d: number[] = [];
    for (let s = 0; s < 3; s++) {
      const before = trainer.model.flatValues.slice();
      expect(dp.step(ds).batchSize).toBe(0);
      for (let i = 0; i < before.length; i++) d.push(before[i]! - trainer.model.flatValues[i]!);
    }
    const sd = Math.sqrt(d.reduce((a, b) => a + b * b, 0) / d.length);
    const want = (sigma * C) / (q * ds.length);
    expect(sd / want).toBeGreaterThan(0.85);
    expect(sd / want).toBeLessThan(1.15);
  });

  it('Poisson sampling takes about qN examples per step', () => {
    const trainer = setup();
    const dp = new DpSgd({ trainer, clipNorm: 1, noiseMultiplier: 1, sampleRate: 0.1, rng: seededRng(5) });
    const ds = data(500);
    let total = 0;
    for (let s = 0; s < 20; s++) total += dp.step(ds).batchSize;
    expect(total / 20).toBeGreaterThan(40);
    expect(total / 20).toBeLessThan(60);
    expect(dp.steps).toBe(20);
  });

  it('still learns the blobs with moderate noise', () => {
    const trainer = setup(0.5);
    const ds = data(400);
    const before = trainer.evaluate(ds);
    const dp = new DpSgd({ trainer, clipNorm: 1, noiseMultiplier: 1, sampleRate: 0.1, rng: seededRng(6) });
    for (let s = 0; s < 100; s++) dp.step(ds);
    expect(trainer.evaluate(ds)).toBeLessThan(before / 2);
  });

  it('rejects invalid parameters and an empty data set', () => {
    const trainer = setup();
    const dp = new DpSgd({ trainer, clipNorm: 1, noiseMultiplier: 1, sampleRate: 0.1, rng: seededRng(1) });
    const before = trainer.model.getWeights();
    expect(() => dp.step([])).toThrow(/no training data/);
    expect(trainer.model.getWeights()).toEqual(before);
    expect(
      () => new DpSgd({ trainer, clipNorm: 0, noiseMultiplier: 1, sampleRate: 0.1, rng: seededRng(1) }),
    ).toThrow(/clipNorm/);
    expect(
      () => new DpSgd({ trainer, clipNorm: 1, noiseMultiplier: 1, sampleRate: 1.5, rng: seededRng(1) }),
    ).toThrow(/sampleRate/);
  });

  it('distributed DP: the shares of n plants sum to the noise one party faces, sigma C, with its own share known', () => {
    const o = { noiseMultiplier: 1.2, clipNorm: 0.5, participants: 3, known: 1 };
    const share = distributedNoiseStd(o);
    const trainer = setup();
    const rows = data(10);
    // no example sampled (q tiny, seeded): each plant's sum is its noise alone; sum three plants' noise over 2,000 rounds
    const sums = new Float64Array(trainer.model.parameterCount * 2000);
    const rngs = [1, 2, 3].map((k) => seededRng(70 + k));
    let at = 0;
    for (let r = 0; r < 2000; r++) {
      const parts = rngs.map(
        (rng) =>
          noisyClippedSum(trainer, rows, { clipNorm: o.clipNorm, sampleRate: 1e-12, noiseStd: share, rng })
            .sum,
      );
      for (let k = 0; k < parts[0]!.length; k++) sums[at++] = parts[0]![k]! + parts[1]![k]! + parts[2]![k]!;
    }
    const variance = sums.reduce((t, v) => t + v * v, 0) / sums.length;
    // three shares of variance sigma^2 C^2 / 2: the aggregator faces 1.5 sigma^2 C^2, a plant (minus its own) sigma^2 C^2
    expect(share).toBeCloseTo((1.2 * 0.5) / Math.sqrt(2), 12);
    expect(variance / (1.5 * (1.2 * 0.5) ** 2)).toBeGreaterThan(0.97);
    expect(variance / (1.5 * (1.2 * 0.5) ** 2)).toBeLessThan(1.03);
  });

  it('distributed DP refuses a round where one party would know all the noise', () => {
    expect(() => distributedNoiseStd({ noiseMultiplier: 1, clipNorm: 1, participants: 1, known: 1 })).toThrow(
      /more than 1 participant/,
    );
  });

  it('one DpSgd step applies the noisy clipped sum divided by the expected batch', () => {
    const a = setup(1);
    const b = setup(1);
    const rows = data(50);
    const before = b.model.getWeights().map((w) => w.slice());

    new DpSgd({ trainer: a, clipNorm: 1, noiseMultiplier: 0.7, sampleRate: 0.3, rng: seededRng(4) }).step(
      rows,
    );
    const r = noisyClippedSum(b, rows, { clipNorm: 1, sampleRate: 0.3, noiseStd: 0.7, rng: seededRng(4) });

    const flat = before.flatMap((w) => Array.from(w));
    const after = a.model.getWeights().flatMap((w) => Array.from(w));
    after.forEach((v, k) => expect(v).toBeCloseTo(flat[k]! - r.sum[k]! / (0.3 * 50), 5));
  });
});
