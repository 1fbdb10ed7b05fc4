import { describe, expect, it } from 'vitest';
import { Activation } from './activation.js';
import { Dense } from './dense.js';
import { softmax, softmaxCrossEntropy } from './loss.js';
import { Sequential, type Example } from './model.js';
import { Adam, Sgd } from './optim.js';
import { seededRng, type Rng } from './rng.js';
import { Trainer } from './trainer.js';

/** Two Gaussian blobs in 2-D, labelled by blob. */
export function blobs(n: number, rng: Rng): Example[] {
  const out: Example[] = [];
  for (let i = 0; i < n; i++) {
    const k = i % 2;
    const c = k === 0 ? -1.5 : 1.5;
    const x = Float32Array.of(c + rng.normal() * 0.5, c + rng.normal() * 0.5);
    const y = new Float32Array(2);
    y[k] = 1;
    out.push({ x, y });
  }
  return out;
}

function classifier(seed: number): Sequential {
  const rng = seededRng(seed);
  return new Sequential([
    new Dense({ inputSize: 2, outputSize: 8, rng }),
    new Activation('relu'),
    new Dense({ inputSize: 8, outputSize: 2, rng }),
  ]);
}

function accuracy(model: Sequential, data: readonly Example[]): number {
  let ok = 0;
  for (const ex of data) {
    const p = softmax(model.forward(ex.x));
    if ((p[1]! > p[0]! ? 1 : 0) === (ex.y[1] === 1 ? 1 : 0)) ok++;
  }
  return ok / data.length;
}

describe('training', () => {
  it('same seed gives the same initial weights, another seed different ones', () => {
    expect(classifier(11).getWeights()).toEqual(classifier(11).getWeights());
    expect(classifier(11).getWeights()).not.toEqual(classifier(12).getWeights());
  });

  for (const [name, make] of [
    ['sgd with momentum', () => new Sgd({ learningRate: 0.1, momentum: 0.9 })],
    ['adam', () => new Adam({ learningRate: 0.02 })],
  ] as const) {
    it(`${name} learns two separable blobs`, () => {
      const rng = seededRng(21);
      const data = blobs(200, rng);
      const model = classifier(1);
      const trainer = new Trainer({ model, loss: softmaxCrossEntropy, optimizer: make() });
      const before = trainer.evaluate(data);
      const losses = trainer.fit(data, { epochs: 10, batchSize: 16, rng });
      expect(losses.at(-1)!).toBeLessThan(before / 4);
      expect(accuracy(model, blobs(100, seededRng(99)))).toBeGreaterThan(0.95);
    });
  }

  it('getWeights/setWeights round-trip copies, and a shape mismatch changes nothing', () => {
    const a = classifier(1);
    const b = classifier(2);
    b.setWeights(a.getWeights());
    const x = Float32Array.of(0.3, -0.7);
    expect(b.forward(x)).toEqual(a.forward(x));
    const w = a.getWeights();
    w[0]![0] = 123;
    expect(a.getWeights()[0]![0]).not.toBe(123);
    const before = b.getWeights();
    const bad = a.getWeights();
    bad[3] = new Float32Array(1);
    expect(() => b.setWeights(bad)).toThrow(/tensor 3/);
    expect(b.getWeights()).toEqual(before);
  });

  it('the batch gradient is the mean of the per-example gradients', () => {
    const data = blobs(4, seededRng(3));
    const model = classifier(5);
    const trainer = new Trainer({
      model,
      loss: softmaxCrossEntropy,
      optimizer: new Sgd({ learningRate: 1 }),
    });
    const mean = new Float32Array(model.parameterCount);
    for (const ex of data) {
      const { grad } = trainer.exampleGradient(ex);
      for (let i = 0; i < mean.length; i++) mean[i]! += grad[i]! / data.length;
    }
    const before = model.flatValues.slice();
    trainer.step(data);
    for (let i = 0; i < mean.length; i++) expect(before[i]! - model.flatValues[i]!).toBeCloseTo(mean[i]!, 5);
  });
});
