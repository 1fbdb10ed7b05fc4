// Pushed global models into the detector: what is checked before a swap, and that the served ONNX then answers with
// the pushed weights (its probabilities are the network's own, and differ from the shipped model's).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { INPUT_NAME, OUTPUT_NAME, SwappableSession, seededRng, softmax } from '@vigil/models';
import { ARRAYS_FORMAT, serializeArrays } from '@vigil/proto/model-arrays';
import { loadL1bModel, loadL2Model, readL1b, readL2, ARTIFACTS_DIR } from '../detect/ml/artifacts.js';
import { loadModelDetectors } from '../detect/ml/detector.js';
import { runScenario } from '../detect/scenario.js';
import {
  GLOBAL_L1B_NAME,
  GLOBAL_MODEL_NAME,
  GlobalModels,
  l1bModelMeta,
  l2ModelMeta,
  servableL1b,
  servableL2,
} from './global-model.js';
import { modelArrays } from './local-trainer.js';

const base = readL2(ARTIFACTS_DIR).meta;
const meta = l2ModelMeta(base);
const base1b = readL1b(ARTIFACTS_DIR).meta;
const meta1b = l1bModelMeta(base1b);

/** The shipped Layer 1b's arrays with seeded noise and its output bias moved by `shift` (reconstructions move away). */
function l1bArrays(shift: number, seed = 6) {
  const rng = seededRng(seed);
  const arrays = modelArrays(loadL1bModel());
  for (const t of arrays.values()) for (let k = 0; k < t.data.length; k++) t.data[k]! += 0.01 * rng.normal();
  const bias = [...arrays.values()].at(-1)!;
  for (let k = 0; k < bias.data.length; k++) bias.data[k]! += shift;
  return arrays;
}
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** The shipped Layer 2's arrays with every weight moved by seeded noise and class 1 favoured (a round's result). */
function trainedArrays(seed = 5) {
  const rng = seededRng(seed);
  const arrays = modelArrays(loadL2Model());
  for (const t of arrays.values()) for (let k = 0; k < t.data.length; k++) t.data[k]! += 0.3 * rng.normal();
  [...arrays.values()][3]!.data[1]! += 10;
  return arrays;
}

async function probabilities(onnx: Uint8Array, rows: Float32Array[]): Promise<Float32Array> {
  const s = await SwappableSession.create(onnx);
  const data = new Float32Array(rows.length * base.inputs);
  rows.forEach((r, i) => data.set(r, i * base.inputs));
  const out = (await s.runRows(INPUT_NAME, data, [base.inputs], [OUTPUT_NAME])).outputs[0]!;
  await s.close();
  return out;
}

describe('servableL2', () => {
  it('turns pushed arrays into an ONNX model that answers with their weights, not the shipped ones', async () => {
    const arrays = trainedArrays();
    const rng = seededRng(11);
    const rows = Array.from({ length: 4 }, () =>
      Float32Array.from({ length: base.inputs }, () => 0.1 * rng.normal()),
    );

    const onnx = await servableL2(serializeArrays(arrays, meta), base);

    const got = await probabilities(onnx, rows);
    const shipped = await probabilities(readL2(ARTIFACTS_DIR).onnx, rows);
    const net = loadL2Model();
    net.setWeights([...arrays.values()].map((t) => t.data));
    const C = base.classes.length;
    rows.forEach((r, i) => {
      const want = softmax(net.forward(r));
      for (let c = 0; c < C; c++) expect(got[i * C + c]).toBeCloseTo(want[c]!, 4);
    });
    const diff = got.reduce((m, p, k) => Math.max(m, Math.abs(p - shipped[k]!)), 0);
    expect(diff).toBeGreaterThan(0.01);
  });

  it('refuses a model of another kind, feature schema or class list, a wrong layout and non-finite weights', async () => {
    const arrays = trainedArrays();
    const withNaN = trainedArrays();
    [...withNaN.values()][2]!.data[7] = NaN;
    const reshaped = trainedArrays();
    const first = [...reshaped.keys()][0]!;
    reshaped.set(first, { shape: [1, 1], data: new Float32Array(1) });

    const cases: [Uint8Array, RegExp][] = [
      [serializeArrays(arrays), /an undescribed model/],
      [serializeArrays(arrays, { ...meta, kind: 'l1b-lstm-autoencoder' }), /"l1b-lstm-autoencoder" model/],
      [serializeArrays(arrays, { ...meta, schemas: '{"flow":"old"}' }), /feature schemas \{"flow":"old"\}/],
      [serializeArrays(arrays, { ...meta, classes: 'normal,T0846' }), /its classes are normal,T0846/],
      [serializeArrays(withNaN, meta), /array "2\.[^"]+" holds a non-finite value at 7/],
      [serializeArrays(reshaped, meta), /has shape \[1, 1\]/],
      [new Uint8Array([1, 2, 3]), /not vigil-arrays-v1 bytes/],
    ];
    for (const [payload, why] of cases) await expect(servableL2(payload, base)).rejects.toThrow(why);
  });
});

describe('servableL1b', () => {
  it('turns pushed Layer 1b arrays into an ONNX autoencoder that reconstructs as the network does', async () => {
    const arrays = l1bArrays(0.5);
    const per = base1b.steps * base1b.features;
    const rng = seededRng(12);
    const window = Float32Array.from({ length: per }, () => 0.5 * rng.normal());

    const onnx = await servableL1b(serializeArrays(arrays, meta1b), base1b);

    const s = await SwappableSession.create(onnx);
    const got = (await s.runRows(INPUT_NAME, window, [base1b.steps, base1b.features], [OUTPUT_NAME]))
      .outputs[0]!;
    await s.close();
    const net = loadL1bModel();
    net.setWeights([...arrays.values()].map((t) => t.data));
    const want = net.forward(window);
    expect(got.length).toBe(per);
    for (let k = 0; k < per; k += 37) expect(got[k]).toBeCloseTo(want[k]!, 4);
  });

  it('refuses an undescribed, Layer 2 or differently sized model and non-finite weights, saying why', async () => {
    const withNaN = l1bArrays(0);
    [...withNaN.values()][1]!.data[2] = NaN;
    const cases: [Uint8Array, RegExp][] = [
      [serializeArrays(l1bArrays(0)), /undescribed model \(stored before models carried a kind/],
      [serializeArrays(modelArrays(loadL2Model()), meta), /"l2-classifier" model/],
      [
        serializeArrays(l1bArrays(0), { ...meta1b, hidden: '32' }),
        /its hidden is 32, the served Layer 1b's is 16/,
      ],
      [serializeArrays(withNaN, meta1b), /array "1\.lstm\.r" holds a non-finite value at 2/],
    ];
    for (const [payload, why] of cases) await expect(servableL1b(payload, base1b)).rejects.toThrow(why);
  });
});

describe('GlobalModels', () => {
  it("recalibrates the facility's L1b threshold and Layer 2 floors on its own normal traffic before serving", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'vigil-global-'));
    dirs.push(dataDir);
    // a detector that learnt this facility in this run (2 minutes of normal traffic), then serves
    const detectors = loadModelDetectors({ facility: 'water-a-5' });
    const normal = (durationS: number, learnS: number) =>
      runScenario({ topology: 'water-a', seed: 5, durationS, learnS, attacks: [], detectors });
    await normal(140, 120);
    const d = detectors[0]!;
    const before = { threshold: d.stats.l1bThreshold, floors: d.classFloors() };
    const lines: string[] = [];
    const globals = new GlobalModels({
      dataDir,
      l2: base,
      l1b: base1b,
      detectors: () => detectors,
      log: (l) => lines.push(l),
    });
    // a Layer 1b whose reconstructions are all off by 1.5 (every window's error grows by about 2.25), and a
    // Layer 2 that leans to class 1 (T0846) on everything
    await globals.install({
      name: GLOBAL_L1B_NAME,
      version: '7',
      format: ARRAYS_FORMAT,
      payload: serializeArrays(l1bArrays(1.5), meta1b),
    });
    const after = d.stats.l1bThreshold;
    const leaning = modelArrays(loadL2Model());
    [...leaning.values()][3]!.data[1]! += 12;
    await globals.install({
      name: GLOBAL_MODEL_NAME,
      version: '8',
      format: ARRAYS_FORMAT,
      payload: serializeArrays(leaning, meta),
    });
    const floors = d.classFloors();
    const flaggedBefore = d.stats.l1bFlagged;
    const windowsBefore = d.stats.windows;
    await normal(30, 0);
    const flagged = d.stats.l1bFlagged - flaggedBefore;
    const windows = d.stats.windows - windowsBefore;
    await Promise.all(detectors.map((x) => x.close()));

    expect(d.serving).toEqual({ l1b: 'fl-global-l1b v7', l2: 'fl-global v8' });
    expect(after).toBeGreaterThan(before.threshold + 2);
    // the shifted model with the old threshold would flag every window; recalibrated, normal traffic stays quiet
    expect(windows).toBeGreaterThan(20);
    expect(flagged).toBe(0);
    expect(floors.T0846).toBeGreaterThan(Math.max(before.floors.T0846 ?? 0, base.minProbability));
    expect(lines.join('\n')).toMatch(/L1b threshold [\d.]+ -> [\d.]+ on \d+ normal windows/);
    expect(lines.join('\n')).toMatch(/Layer 2 floors recalibrated on \d+ normal rows/);
  });

  it('refuses a Layer 1b when the baseline was loaded without normal windows to recalibrate on', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'vigil-global-'));
    dirs.push(dataDir);
    const detectors = loadModelDetectors({
      facility: 'water-a',
      dataDir: join(ARTIFACTS_DIR, 'facilities', 'water-a'),
    });
    await runScenario({ topology: 'water-a', seed: 3, durationS: 3, learnS: 0, attacks: [], detectors });
    const threshold = detectors[0]!.stats.l1bThreshold;
    const globals = new GlobalModels({
      dataDir,
      l2: base,
      l1b: base1b,
      detectors: () => detectors,
      log: () => undefined,
    });

    const refused = globals.install({
      name: GLOBAL_L1B_NAME,
      version: '2',
      format: ARRAYS_FORMAT,
      payload: serializeArrays(l1bArrays(1.5), meta1b),
    });

    await expect(refused).rejects.toThrow(/fl-global-l1b v2 not served: no normal windows of this facility/);
    expect(detectors[0]!.serving.l1b).toBe('shipped');
    expect(detectors[0]!.stats.l1bThreshold).toBe(threshold);
    expect(globals.health().model_error).toMatch(/^fl-global-l1b v2 refused: no normal windows/);
    await Promise.all(detectors.map((d) => d.close()));
  });

  it('swaps a checked global model into a running detector, and keeps it serving when the next one is refused', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'vigil-global-'));
    dirs.push(dataDir);
    // a detector with live ORT sessions: the committed water-a baseline, a few seconds of its traffic
    const detectors = loadModelDetectors({
      facility: 'water-a',
      dataDir: join(ARTIFACTS_DIR, 'facilities', 'water-a'),
    });
    await runScenario({ topology: 'water-a', seed: 3, durationS: 3, learnS: 0, attacks: [], detectors });
    expect(detectors[0]!.stats.ready).toBe(true);
    const lines: string[] = [];
    const globals = new GlobalModels({
      dataDir,
      l2: base,
      detectors: () => detectors,
      log: (l) => lines.push(l),
    });
    const push = (version: string, payload: Uint8Array) => ({
      name: GLOBAL_MODEL_NAME,
      version,
      format: ARRAYS_FORMAT,
      payload,
    });

    await globals.install(push('4', serializeArrays(trainedArrays(), meta)));
    const served = detectors[0]!.serving.l2;
    const bad = trainedArrays();
    [...bad.values()][0]!.data[0] = Infinity;
    const refused = globals.install(push('5', serializeArrays(bad, meta)));

    await expect(refused).rejects.toThrow(/fl-global v5 not served: .*non-finite/);
    expect(served).toBe('fl-global v4');
    const health = globals.health();
    expect(health.models_serving).toEqual({ l1b: 'shipped', l2: 'fl-global v4' });
    expect(health.model_error).toMatch(
      /^fl-global v5 refused: array "0\.[^"]+" holds a non-finite value at 0$/,
    );
    expect(lines.join('\n')).toMatch(
      /Layer 2 now serves fl-global v4[\s\S]*the current Layer 2 keeps serving/,
    );
    await Promise.all(detectors.map((d) => d.close()));
  });
});
