import { describe, expect, it } from 'vitest';
import { Activation } from './activation.js';
import { Dense } from './dense.js';
import { gradientCheck } from './gradcheck.js';
import { GraphSage, meanAdjacency } from './graph.js';
import { Skip } from './skip.js';
import { meanSquaredError, softmaxCrossEntropy } from './loss.js';
import { Lstm, RepeatVector } from './lstm.js';
import { Sequential } from './model.js';
import { seededRng, type Rng } from './rng.js';

const TOL = 2e-3;

function randomVector(n: number, rng: Rng, scale = 1): Float32Array {
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = rng.normal() * scale;
  return v;
}

function oneHot(n: number, k: number): Float32Array {
  const v = new Float32Array(n);
  v[k] = 1;
  return v;
}

describe('gradients match finite differences', () => {
  it('dense layer with softmax cross-entropy', () => {
    const rng = seededRng(1);
    const model = new Sequential([new Dense({ inputSize: 5, outputSize: 3, rng })]);
    const r = gradientCheck(model, softmaxCrossEntropy, { x: randomVector(5, rng), y: oneHot(3, 1) });
    expect(r.paramError).toBeLessThan(TOL);
    expect(r.inputError).toBeLessThan(TOL);
  });

  it('dense applied row-wise to a sequence, with mse', () => {
    const rng = seededRng(2);
    const model = new Sequential([new Dense({ inputSize: 3, outputSize: 2, rng })]);
    const r = gradientCheck(model, meanSquaredError, { x: randomVector(12, rng), y: randomVector(8, rng) });
    expect(r.paramError).toBeLessThan(TOL);
    expect(r.inputError).toBeLessThan(TOL);
  });

  for (const kind of ['relu', 'tanh', 'sigmoid'] as const) {
    it(`${kind} activation between dense layers`, () => {
      const rng = seededRng(3);
      const model = new Sequential([
        new Dense({ inputSize: 4, outputSize: 6, rng }),
        new Activation(kind),
        new Dense({ inputSize: 6, outputSize: 3, rng }),
      ]);
      const r = gradientCheck(model, softmaxCrossEntropy, { x: randomVector(4, rng), y: oneHot(3, 2) });
      expect(r.paramError).toBeLessThan(TOL);
      expect(r.inputError).toBeLessThan(TOL);
    });
  }

  it('lstm returning the last state (backpropagation through time)', () => {
    const rng = seededRng(4);
    const model = new Sequential([
      new Lstm({ inputSize: 3, hiddenSize: 4, returnSequences: false, rng }),
      new Dense({ inputSize: 4, outputSize: 2, rng }),
    ]);
    const r = gradientCheck(model, softmaxCrossEntropy, { x: randomVector(5 * 3, rng), y: oneHot(2, 0) });
    expect(r.paramError).toBeLessThan(TOL);
    expect(r.inputError).toBeLessThan(TOL);
  });

  it('lstm autoencoder (sequences, repeat vector, row-wise dense) with mse', () => {
    const rng = seededRng(5);
    const T = 4;
    const F = 3;
    const model = new Sequential([
      new Lstm({ inputSize: F, hiddenSize: 5, returnSequences: false, rng }),
      new RepeatVector(T),
      new Lstm({ inputSize: 5, hiddenSize: 4, returnSequences: true, rng }),
      new Dense({ inputSize: 4, outputSize: F, rng }),
    ]);
    const x = randomVector(T * F, rng);
    const r = gradientCheck(model, meanSquaredError, { x, y: x });
    expect(r.paramError).toBeLessThan(TOL);
    expect(r.inputError).toBeLessThan(TOL);
  });

  it('graphsage mean aggregation over a normalised adjacency', () => {
    const rng = seededRng(6);
    const nodes = 5;
    const sage = new GraphSage({ inputSize: 3, outputSize: 4, rng });
    sage.setAdjacency(
      meanAdjacency(nodes, [
        [0, 1],
        [1, 2],
        [2, 3],
        [0, 3],
        [3, 4],
      ]),
      nodes,
    );
    const model = new Sequential([
      sage,
      new Activation('tanh'),
      new Dense({ inputSize: 4, outputSize: 2, rng }),
    ]);
    const r = gradientCheck(model, meanSquaredError, {
      x: randomVector(nodes * 3, rng),
      y: randomVector(nodes * 2, rng),
    });
    expect(r.paramError).toBeLessThan(TOL);
    expect(r.inputError).toBeLessThan(TOL);
  });

  it('skip passes its input through next to its inner graph layers (gradients of both paths)', () => {
    const rng = seededRng(9);
    const nodes = 4;
    const sage = new GraphSage({ inputSize: 3, outputSize: 2, rng });
    sage.setAdjacency(
      meanAdjacency(nodes, [
        [0, 1],
        [1, 2],
        [2, 3],
      ]),
      nodes,
    );
    const skip = new Skip({ inputSize: 3, innerSize: 2, layers: [sage, new Activation('tanh')] });
    const model = new Sequential([skip, new Dense({ inputSize: 5, outputSize: 1, rng })]);
    const x = randomVector(nodes * 3, rng);

    const out = skip.forward(x);
    const r = gradientCheck(model, meanSquaredError, { x, y: randomVector(nodes, rng) });

    expect(out).toHaveLength(nodes * 5);
    for (let v = 0; v < nodes; v++)
      expect([...out.subarray(v * 5, v * 5 + 3)]).toEqual([...x.subarray(v * 3, v * 3 + 3)]);
    expect(model.parameterCount).toBe(3 * 2 * 2 + 2 + 5 + 1);
    expect(r.paramError).toBeLessThan(TOL);
    expect(r.inputError).toBeLessThan(TOL);
  });

  it('graphsage follows the adjacency it was last given when switching between graphs', () => {
    const rng = seededRng(8);
    const nodes = 4;
    const sage = new GraphSage({ inputSize: 2, outputSize: 3, rng });
    const path = meanAdjacency(nodes, [
      [0, 1],
      [1, 2],
      [2, 3],
    ]);
    const star = meanAdjacency(nodes, [
      [0, 1],
      [0, 2],
      [0, 3],
    ]);
    const x = randomVector(nodes * 2, rng);

    sage.setAdjacency(path, nodes);
    const onPath = sage.forward(x);
    sage.setAdjacency(star, nodes);
    const onStar = sage.forward(x);
    sage.setAdjacency(path, nodes);
    const onPathAgain = sage.forward(x);

    expect(onPathAgain).toEqual(onPath);
    expect(onStar).not.toEqual(onPath);
  });

  it('a wrong gradient is caught (the check can fail)', () => {
    const rng = seededRng(7);
    const dense = new Dense({ inputSize: 3, outputSize: 2, rng });
    const model = new Sequential([dense]);
    const ex = { x: randomVector(3, rng), y: randomVector(2, rng) };
    const broken: typeof meanSquaredError = (p, y, g) => {
      const l = meanSquaredError(p, y, g);
      g[0] = g[0]! * 2;
      return l;
    };
    expect(gradientCheck(model, broken, ex).paramError).toBeGreaterThan(0.05);
  });
});

describe('graph adjacency', () => {
  it('rows average over the neighbours and isolated nodes aggregate nothing', () => {
    const a = meanAdjacency(4, [
      [0, 1],
      [0, 2],
    ]);
    expect(Array.from(a.subarray(0, 4))).toEqual([0, 0.5, 0.5, 0]);
    expect(Array.from(a.subarray(4, 8))).toEqual([1, 0, 0, 0]);
    expect(Array.from(a.subarray(12, 16))).toEqual([0, 0, 0, 0]);
  });

  it('rejects an edge outside the node range', () => {
    expect(() => meanAdjacency(2, [[0, 2]])).toThrow(/outside/);
  });
});
