// Pushed global models into the detector: what is checked before a swap, and that the served ONNX then answers with
// the pushed weights (its probabilities are the network's own, and differ from the shipped model's).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { INPUT_NAME, OUTPUT_NAME, SwappableSession, seededRng, softmax } from '@vigil/models';
import { ARRAYS_FORMAT, serializeArrays } from '@vigil/proto/model-arrays';
import { loadL2Model, readL2, ARTIFACTS_DIR } from '../detect/ml/artifacts.js';
import { loadModelDetectors } from '../detect/ml/detector.js';
import { runScenario } from '../detect/scenario.js';
import { GLOBAL_MODEL_NAME, GlobalModels, l2ModelMeta, servableL2 } from './global-model.js';
import { modelArrays } from './local-trainer.js';

const base = readL2(ARTIFACTS_DIR).meta;
const meta = l2ModelMeta(base);
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

describe('GlobalModels', () => {
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
