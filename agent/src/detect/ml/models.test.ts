// The models as the detector runs them: the ONNX exports of Layer 1b, Layer 2 and a facility forest, run in
// onnxruntime-node through the detector's batching helpers, give the TypeScript models' outputs; the parameter
// names federated learning relies on stay as documented; trained weights round-trip through the artifact files.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  INPUT_NAME,
  IsolationForest,
  OUTPUT_NAME,
  SCORE_NAME,
  SwappableSession,
  exportIsolationForest,
  exportSequential,
  seededRng,
  softmax,
} from '@vigil/models';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { L2_FILE, loadWeights, writeModel } from './artifacts.js';
import { l1bErrorsOf } from './detector.js';
import { NF, NL2, NW, WINDOW_STEPS } from './features.js';
import { L2_CLASSES, buildL1b, buildL2, reconstructionError } from './models.js';

let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vigil-ml-'));
});
afterAll(async () => {
  if (dir !== '') await rm(dir, { recursive: true, force: true });
});

function randomRows(n: number, width: number, seed: number): Float32Array[] {
  const rng = seededRng(seed);
  return Array.from({ length: n }, () => Float32Array.from({ length: width }, () => rng.normal()));
}

describe('detection models in ONNX Runtime', () => {
  it('Layer 1b: the batched ORT reconstruction error equals the TypeScript model', async () => {
    const model = buildL1b({ hidden: 6, rng: seededRng(3) });
    const windows = randomRows(5, WINDOW_STEPS * NW, 4);
    const session = await SwappableSession.create(
      exportSequential(model, { inputShape: [WINDOW_STEPS, NW] }),
    );
    const ort = await l1bErrorsOf(session, windows);
    await session.close();
    const ts = windows.map((w) => reconstructionError(w, model.forward(w)));
    expect(ort).toHaveLength(5);
    ort.forEach((e, i) => expect(e).toBeCloseTo(ts[i]!, 5));
  });

  it('Layer 2: ORT class probabilities equal the softmax of the TypeScript logits', async () => {
    const model = buildL2({ hidden: 8, rng: seededRng(5) });
    const rows = randomRows(7, NL2, 6);
    const session = await SwappableSession.create(
      exportSequential(model, { inputShape: [NL2], softmax: true }),
    );
    const data = new Float32Array(rows.length * NL2);
    rows.forEach((r, i) => data.set(r, i * NL2));
    const [probs] = (await session.runRows(INPUT_NAME, data, [NL2], [OUTPUT_NAME])).outputs;
    await session.close();
    const C = L2_CLASSES.length;
    rows.forEach((r, i) => {
      const p = softmax(model.forward(r));
      for (let c = 0; c < C; c++) expect(probs![i * C + c]).toBeCloseTo(p[c]!, 5);
    });
  });

  it('Layer 1a: the facility forest scores flow-seconds in ORT as in TypeScript', async () => {
    const rows = randomRows(300, NF, 7);
    const flat = new Float32Array(rows.length * NF);
    rows.forEach((r, i) => flat.set(r, i * NF));
    const forest = IsolationForest.fit(flat, NF, { trees: 20, sampleSize: 64, rng: seededRng(8) });
    const session = await SwappableSession.create(exportIsolationForest(forest));
    const [scores] = (await session.runRows(INPUT_NAME, flat.subarray(0, 50 * NF), [NF], [SCORE_NAME]))
      .outputs;
    await session.close();
    for (let i = 0; i < 50; i++) expect(scores![i]).toBeCloseTo(forest.score(rows[i]!), 5);
  });
});

describe('learning-core models for federated learning', () => {
  it('keeps the documented parameter names, in getWeights order', () => {
    expect(buildL1b().parameterNames()).toEqual([
      '0.lstm.w',
      '1.lstm.r',
      '2.lstm.b',
      '3.lstm.w',
      '4.lstm.r',
      '5.lstm.b',
      '6.dense.weight',
      '7.dense.bias',
    ]);
    const l2 = buildL2();
    expect(l2.parameterNames()).toEqual(['0.dense.weight', '1.dense.bias', '2.dense.weight', '3.dense.bias']);
    expect(l2.getWeights().map((w) => w.length)).toEqual([
      NL2 * 32,
      32,
      32 * L2_CLASSES.length,
      L2_CLASSES.length,
    ]);
  });

  it('trained weights written with a model load into a fresh model of the same shape, and a wrong shape is refused', () => {
    const trained = buildL2({ hidden: 8, rng: seededRng(9) });
    writeModel(dir, L2_FILE, new Uint8Array([1]), {}, trained);
    const fresh = loadWeights(dir, L2_FILE, buildL2({ hidden: 8, rng: seededRng(10) }));
    const x = randomRows(1, NL2, 11)[0]!;
    expect(Array.from(fresh.forward(x))).toEqual(Array.from(trained.forward(x)));
    expect(() => loadWeights(dir, L2_FILE, buildL2({ hidden: 9 }))).toThrow(/parameters/);
  });
});
