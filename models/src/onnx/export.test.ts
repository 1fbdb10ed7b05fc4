import { Tensor, InferenceSession } from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { Activation } from '../nn/activation.js';
import { Dense } from '../nn/dense.js';
import { GraphSage, meanAdjacency } from '../nn/graph.js';
import { Skip } from '../nn/skip.js';
import { meanSquaredError, softmax, softmaxCrossEntropy } from '../nn/loss.js';
import { Lstm, RepeatVector } from '../nn/lstm.js';
import { Sequential, type Example } from '../nn/model.js';
import { Adam } from '../nn/optim.js';
import { seededRng, type Rng } from '../nn/rng.js';
import { Trainer } from '../nn/trainer.js';
import { IsolationForest } from '../iforest.js';
import {
  ADJACENCY_NAME,
  INPUT_NAME,
  OUTPUT_NAME,
  PATH_LENGTH_NAME,
  SCORE_NAME,
  exportIsolationForest,
  exportSequential,
} from './export.js';
import { SwappableSession } from './session.js';

function rows(n: number, width: number, rng: Rng): Float32Array {
  return Float32Array.from({ length: n * width }, () => rng.normal());
}

async function runOrt(bytes: Uint8Array, data: Float32Array, shape: number[], outputs = [OUTPUT_NAME]) {
  const s = await InferenceSession.create(bytes);
  try {
    const res = await s.run({ [INPUT_NAME]: new Tensor('float32', data, shape) });
    return outputs.map((o) => res[o]!.data as Float32Array);
  } finally {
    await s.release();
  }
}

/** Our forward pass for each row, concatenated. */
function ours(
  model: Sequential,
  data: Float32Array,
  perRow: number,
  post = (y: Float32Array) => y,
): Float32Array {
  const out: number[] = [];
  for (let r = 0; r < data.length / perRow; r++)
    out.push(...post(model.forward(data.subarray(r * perRow, (r + 1) * perRow))));
  return Float32Array.from(out);
}

function expectClose(actual: Float32Array, expected: Float32Array, tol = 1e-5): void {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  for (let i = 0; i < actual.length; i++)
    worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!) / Math.max(1, Math.abs(expected[i]!)));
  expect(worst).toBeLessThan(tol);
}

function classifier(rng: Rng): Sequential {
  return new Sequential([
    new Dense({ inputSize: 6, outputSize: 16, rng }),
    new Activation('relu'),
    new Dense({ inputSize: 16, outputSize: 8, rng }),
    new Activation('tanh'),
    new Dense({ inputSize: 8, outputSize: 8, rng }),
    new Activation('sigmoid'),
    new Dense({ inputSize: 8, outputSize: 3, rng }),
  ]);
}

function autoencoder(rng: Rng, T: number, F: number): Sequential {
  return new Sequential([
    new Lstm({ inputSize: F, hiddenSize: 6, returnSequences: false, rng }),
    new RepeatVector(T),
    new Lstm({ inputSize: 6, hiddenSize: 5, returnSequences: true, rng }),
    new Dense({ inputSize: 5, outputSize: F, rng }),
  ]);
}

describe('ONNX export runs in onnxruntime and matches our forward pass within 1e-5', () => {
  it('dense classifier with relu, tanh, sigmoid and softmax, after training', async () => {
    const rng = seededRng(1);
    const model = classifier(rng);
    const data: Example[] = Array.from({ length: 64 }, (_, i) => {
      const y = new Float32Array(3);
      y[i % 3] = 1;
      return { x: rows(1, 6, rng).map((v) => v + (i % 3)), y };
    });
    new Trainer({ model, loss: softmaxCrossEntropy, optimizer: new Adam({ learningRate: 0.01 }) }).fit(data, {
      epochs: 3,
      batchSize: 8,
      rng,
    });
    const x = rows(32, 6, rng);
    const logits = await runOrt(exportSequential(model, { inputShape: [6] }), x, [32, 6]);
    expectClose(logits[0]!, ours(model, x, 6));
    const probs = await runOrt(exportSequential(model, { inputShape: [6], softmax: true }), x, [32, 6]);
    expectClose(probs[0]!, ours(model, x, 6, softmax));
  });

  it('LSTM autoencoder over 60 one-second steps (encoder, repeat, decoder, row-wise dense)', async () => {
    const rng = seededRng(2);
    const T = 60;
    const F = 4;
    const model = autoencoder(rng, T, F);
    const train = Array.from({ length: 8 }, () => {
      const x = rows(1, T * F, rng);
      return { x, y: x };
    });
    new Trainer({ model, loss: meanSquaredError, optimizer: new Adam({ learningRate: 0.01 }) }).fit(train, {
      epochs: 2,
      batchSize: 4,
      rng,
    });
    const x = rows(5, T * F, rng);
    const [y] = await runOrt(exportSequential(model, { inputShape: [T, F] }), x, [5, T, F]);
    expectClose(y!, ours(model, x, T * F));
  });

  it('LSTM classifier on the last hidden state', async () => {
    const rng = seededRng(3);
    const model = new Sequential([
      new Lstm({ inputSize: 3, hiddenSize: 7, returnSequences: false, rng }),
      new Dense({ inputSize: 7, outputSize: 2, rng }),
    ]);
    const x = rows(4, 10 * 3, rng);
    const [y] = await runOrt(exportSequential(model, { inputShape: [10, 3] }), x, [4, 10, 3]);
    expectClose(y!, ours(model, x, 30));
  });

  it('isolation forest as a TreeEnsembleRegressor: path lengths and scores', async () => {
    const rng = seededRng(4);
    const F = 5;
    const train = rows(1000, F, rng);
    const forest = IsolationForest.fit(train, F, { trees: 50, sampleSize: 128, rng });
    const test = rows(200, F, rng);
    for (let i = 0; i < 10 * F; i++) test[i] = test[i]! * 6; // some outliers
    const [pl, sc] = await runOrt(
      exportIsolationForest(forest),
      test,
      [200, F],
      [PATH_LENGTH_NAME, SCORE_NAME],
    );
    const wantPl = new Float32Array(200);
    const wantSc = new Float32Array(200);
    for (let r = 0; r < 200; r++) {
      const row = test.subarray(r * F, (r + 1) * F);
      wantPl[r] = forest.pathLength(row);
      wantSc[r] = forest.score(row);
    }
    expectClose(pl!, wantPl);
    expectClose(sc!, wantSc);
  });

  it('GraphSAGE encoder with the adjacency as a second input', async () => {
    const rng = seededRng(8);
    const nodes = 9;
    const adj = meanAdjacency(nodes, [
      [0, 1],
      [1, 2],
      [2, 3],
      [3, 4],
      [4, 0],
      [5, 6],
      [6, 7],
    ]);
    const a = new GraphSage({ inputSize: 4, outputSize: 6, rng });
    const b = new GraphSage({ inputSize: 6, outputSize: 3, rng });
    a.setAdjacency(adj, nodes);
    b.setAdjacency(adj, nodes);
    const model = new Sequential([
      a,
      new Activation('relu'),
      b,
      new Dense({ inputSize: 3, outputSize: 2, rng }),
    ]);
    const x = rows(nodes, 4, rng);
    const s = await InferenceSession.create(exportSequential(model, { inputShape: [4] }));
    try {
      const res = await s.run({
        [INPUT_NAME]: new Tensor('float32', x, [nodes, 4]),
        [ADJACENCY_NAME]: new Tensor('float32', adj, [nodes, nodes]),
      });
      expectClose(res[OUTPUT_NAME]!.data as Float32Array, model.forward(x));
    } finally {
      await s.release();
    }
  });

  it('skip connections around GraphSAGE layers become Concat of input and inner output', async () => {
    const rng = seededRng(11);
    const nodes = 6;
    const adj = meanAdjacency(nodes, [
      [0, 1],
      [1, 2],
      [3, 4],
      [4, 5],
    ]);
    const a = new GraphSage({ inputSize: 3, outputSize: 4, rng });
    const b = new GraphSage({ inputSize: 7, outputSize: 2, rng });
    a.setAdjacency(adj, nodes);
    b.setAdjacency(adj, nodes);
    const model = new Sequential([
      new Skip({ inputSize: 3, innerSize: 4, layers: [a, new Activation('relu')] }),
      new Skip({ inputSize: 7, innerSize: 2, layers: [b, new Activation('relu')] }),
      new Dense({ inputSize: 9, outputSize: 1, rng }),
    ]);
    const x = rows(nodes, 3, rng);
    const s = await InferenceSession.create(exportSequential(model, { inputShape: [3] }));
    try {
      const res = await s.run({
        [INPUT_NAME]: new Tensor('float32', x, [nodes, 3]),
        [ADJACENCY_NAME]: new Tensor('float32', adj, [nodes, nodes]),
      });
      expectClose(res[OUTPUT_NAME]!.data as Float32Array, model.forward(x));
    } finally {
      await s.release();
    }
  });

  it('refuses a layer it cannot express', () => {
    const rng = seededRng(5);
    const model = new Sequential([new RepeatVector(3), new Dense({ inputSize: 2, outputSize: 2, rng })]);
    expect(() => exportSequential(model, { inputShape: [2, 2] })).toThrow(/RepeatVector needs a vector/);
  });
});

describe('swapping the model of a running session', () => {
  it('in-flight runs finish on the old model, later runs use the new one', async () => {
    const rng = seededRng(6);
    const T = 60;
    const F = 4;
    const a = autoencoder(rng, T, F);
    const b = autoencoder(rng, T, F);
    const x = rows(32, T * F, rng);
    const session = await SwappableSession.create(exportSequential(a, { inputShape: [T, F] }));
    try {
      // Runs issued while the new model is loading use the old session. One event-loop turn lets the load start
      // first, so onnxruntime is still running them when the pointer flips: releasing the old session at the flip
      // (instead of after its last run) fails them.
      const swapped = session.swap(exportSequential(b, { inputShape: [T, F] }));
      await new Promise((resolve) => setImmediate(resolve));
      const inflight = Array.from({ length: 4 }, () => session.runRows(INPUT_NAME, x, [T, F], [OUTPUT_NAME]));
      const version = await swapped;
      const after = await session.runRows(INPUT_NAME, x, [T, F], [OUTPUT_NAME]);
      const before = await Promise.all(inflight);
      expect(version).toBe(2);
      const wantA = ours(a, x, T * F);
      for (const r of before) {
        expect(r.version).toBe(1);
        expectClose(r.outputs[0]!, wantA);
      }
      expect(after.version).toBe(2);
      expectClose(after.outputs[0]!, ours(b, x, T * F));
    } finally {
      await session.close();
      await session.close();
    }
    await expect(session.runRows(INPUT_NAME, x, [T, F], [OUTPUT_NAME])).rejects.toThrow(/closed/);
  });

  it('a model that does not load leaves the old one serving', async () => {
    const rng = seededRng(7);
    const a = classifier(rng);
    const x = rows(3, 6, rng);
    const session = await SwappableSession.create(exportSequential(a, { inputShape: [6] }));
    try {
      await expect(session.swap(Uint8Array.of(1, 2, 3))).rejects.toThrow();
      const r = await session.runRows(INPUT_NAME, x, [6], [OUTPUT_NAME]);
      expect(r.version).toBe(1);
      expectClose(r.outputs[0]!, ours(a, x, 6));
    } finally {
      await session.close();
    }
  });
});
