// A federated global model, pushed by the aggregator over the link, put into service in the agent's detector. The
// push carries the model's arrays in the registry's format (vigil-arrays-v1) with a description of the model (kind,
// feature schemas, classes). Before the running onnxruntime session is swapped the model is checked: it is a model
// this agent serves, trained on this agent's feature schemas and classes, with the parameter layout of the served
// network and finite weights, and its ONNX export answers a smoke inference with probabilities equal to the
// network's own. A model that fails any check is refused (the push is answered with the reason, the old model keeps
// serving, and the heartbeat reports it as model_error); nothing here throws past the push handler.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  INPUT_NAME,
  OUTPUT_NAME,
  SwappableSession,
  exportSequential,
  seededRng,
  softmax,
  type Sequential,
} from '@vigil/models';
import type { PbModelPush } from '@vigil/proto/link';
import { ARRAYS_FORMAT, deserializeModel, type ModelMeta } from '@vigil/proto/model-arrays';
import type { L2Meta } from '../detect/ml/artifacts.js';
import type { ModelDetector } from '../detect/ml/detector.js';
import { MODEL_FEATURE_SCHEMAS } from '../detect/ml/features.js';
import { buildL2 } from '../detect/ml/models.js';
import { modelVersions } from '../link/pushes.js';
import { parameterNames } from './local-trainer.js';

/** The registry name of the federated global model (the aggregator's GLOBAL_MODEL). */
export const GLOBAL_MODEL_NAME = 'fl-global';
export const L2_KIND = 'l2-classifier';

/** Feature schemas as one comparable string (keys sorted). */
export function schemasKey(s: Readonly<Record<string, string>>): string {
  return JSON.stringify(Object.fromEntries(Object.entries(s).sort(([a], [b]) => a.localeCompare(b))));
}

/** The description the aggregator records with every federated Layer 2 it produces (checked by servableL2). */
export function l2ModelMeta(meta: L2Meta): ModelMeta {
  return {
    kind: L2_KIND,
    schemas: schemasKey(meta.schemas),
    classes: meta.classes.join(','),
    inputs: String(meta.inputs),
    hidden: String(meta.hidden),
  };
}

export class ModelRefusedError extends Error {
  override readonly name = 'ModelRefusedError';
}

/** Rows of the smoke inference: zeros, ones and a fixed pseudo-random batch. */
function probeRows(inputs: number): Float32Array[] {
  const rng = seededRng(99);
  return [
    new Float32Array(inputs),
    new Float32Array(inputs).fill(1),
    ...Array.from({ length: 6 }, () => Float32Array.from({ length: inputs }, () => 2 * rng.normal())),
  ];
}

/** Runs `onnx` on the probe rows and compares it with the network's own softmax output. */
async function smokeInference(onnx: Uint8Array, model: Sequential, base: L2Meta): Promise<void> {
  const rows = probeRows(base.inputs);
  const data = new Float32Array(rows.length * base.inputs);
  rows.forEach((r, i) => data.set(r, i * base.inputs));
  let session: SwappableSession;
  try {
    session = await SwappableSession.create(onnx);
  } catch (e) {
    throw new ModelRefusedError(
      `its ONNX export does not load: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
  try {
    const [probs] = (await session.runRows(INPUT_NAME, data, [base.inputs], [OUTPUT_NAME])).outputs;
    const C = base.classes.length;
    if (probs?.length !== rows.length * C)
      throw new ModelRefusedError(
        `smoke inference gave ${probs?.length ?? 0} values for ${rows.length} rows of ${C} classes`,
      );
    rows.forEach((r, i) => {
      const want = softmax(model.forward(r));
      let sum = 0;
      for (let c = 0; c < C; c++) {
        const p = probs[i * C + c]!;
        if (!Number.isFinite(p) || p < 0 || p > 1)
          throw new ModelRefusedError(`smoke inference gave probability ${p} (row ${i}, class ${c})`);
        if (Math.abs(p - want[c]!) > 1e-3)
          throw new ModelRefusedError(
            `smoke inference differs from the network (row ${i}, class ${c}: ${p} vs ${want[c]})`,
          );
        sum += p;
      }
      if (Math.abs(sum - 1) > 1e-3)
        throw new ModelRefusedError(`smoke inference probabilities of row ${i} sum to ${sum}`);
    });
  } finally {
    await session.close();
  }
}

/**
 * The ONNX model the detector can serve for a pushed federated Layer 2 (`payload`: vigil-arrays-v1 bytes), checked
 * against the served model's description `base`; throws ModelRefusedError saying why it cannot be served.
 */
export async function servableL2(payload: Uint8Array, base: L2Meta): Promise<Uint8Array> {
  let parsed: ReturnType<typeof deserializeModel>;
  try {
    parsed = deserializeModel(payload);
  } catch (e) {
    throw new ModelRefusedError(e instanceof Error ? e.message : String(e));
  }
  const { arrays, meta } = parsed;
  if (meta.kind !== L2_KIND)
    throw new ModelRefusedError(
      `it is ${meta.kind === undefined ? 'an undescribed model' : `a "${meta.kind}" model`}; this agent serves federated "${L2_KIND}" models`,
    );
  const schemas = schemasKey(MODEL_FEATURE_SCHEMAS);
  if (meta.schemas !== schemas)
    throw new ModelRefusedError(
      `it was trained on feature schemas ${meta.schemas ?? '(none recorded)'}, this agent computes ${schemas}`,
    );
  if (meta.classes !== base.classes.join(','))
    throw new ModelRefusedError(
      `its classes are ${meta.classes ?? '(none recorded)'}, the detector's are ${base.classes.join(',')}`,
    );
  const model = buildL2({ inputs: base.inputs, hidden: base.hidden, classes: base.classes.length });
  const names = parameterNames(model);
  if (arrays.size !== names.length)
    throw new ModelRefusedError(
      `it has ${arrays.size} arrays, the served network ${names.length} parameters`,
    );
  const values: Float32Array[] = [];
  let i = 0;
  for (const [name, t] of arrays) {
    const p = model.params[i]!;
    if (name !== names[i])
      throw new ModelRefusedError(`array ${i} is "${name}", the network's parameter ${i} is "${names[i]}"`);
    if (t.shape.join(',') !== p.shape.join(','))
      throw new ModelRefusedError(
        `array "${name}" has shape [${t.shape.join(', ')}], the network's is [${p.shape.join(', ')}]`,
      );
    const bad = t.data.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) throw new ModelRefusedError(`array "${name}" holds a non-finite value at ${bad}`);
    values.push(t.data);
    i++;
  }
  model.setWeights(values);
  const onnx = exportSequential(model, {
    inputShape: [base.inputs],
    name: 'vigil_l2_classifier',
    softmax: true,
    metadata: { classes: base.classes.join(','), schemas: JSON.stringify(MODEL_FEATURE_SCHEMAS) },
  });
  await smokeInference(onnx, model, base);
  return onnx;
}

export interface GlobalModelsOptions {
  dataDir: string;
  /** The served Layer 2's description (its classes, sizes). */
  l2: L2Meta;
  /** The detectors to swap (read at each install: they may be created after the link). */
  detectors: () => readonly ModelDetector[];
  log: (line: string) => void;
}

/** Puts pushed global models into service and says what the detector serves (for the heartbeat). */
export class GlobalModels {
  private lastError = '';

  constructor(private readonly o: GlobalModelsOptions) {}

  /**
   * For the push handler, before the model is stored: checks a pushed global model and swaps it into the detectors;
   * rejects (nothing swapped, the old model serving) when it cannot be served. Other models are left alone.
   */
  async install(
    m: Pick<PbModelPush, 'name' | 'version' | 'format'> & { payload: Uint8Array },
  ): Promise<void> {
    if (m.name !== GLOBAL_MODEL_NAME || m.format !== ARRAYS_FORMAT) return;
    const label = `${m.name} v${m.version}`;
    try {
      const onnx = await servableL2(m.payload, this.o.l2);
      for (const d of this.o.detectors()) await d.swapModel('l2', onnx, label);
      this.lastError = '';
      if (this.o.detectors().length > 0) this.o.log(`models: Layer 2 now serves ${label}`);
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      this.lastError = `${label} refused: ${why}`;
      this.o.log(`models: ${this.lastError}; the current Layer 2 keeps serving`);
      throw new ModelRefusedError(`${label} not served: ${why}`);
    }
  }

  /** At start: serves the global model stored by an earlier run (pushes.ts's manifest), if it still passes the checks. */
  async restore(): Promise<void> {
    const version = modelVersions(this.o.dataDir)[GLOBAL_MODEL_NAME];
    if (version === undefined) return;
    const file = join(this.o.dataDir, 'models', GLOBAL_MODEL_NAME, `${version}.${ARRAYS_FORMAT}`);
    let payload: Buffer;
    try {
      payload = readFileSync(file);
    } catch (e) {
      this.lastError = `${GLOBAL_MODEL_NAME} v${version} refused: ${file} unreadable (${e instanceof Error ? e.message : String(e)})`;
      this.o.log(`models: ${this.lastError}`);
      return;
    }
    await this.install({ name: GLOBAL_MODEL_NAME, version, format: ARRAYS_FORMAT, payload }).catch(
      () => undefined,
    );
  }

  health(): { models_serving: Record<string, string>; model_error: string } {
    const d = this.o.detectors()[0];
    return { models_serving: d === undefined ? {} : { ...d.serving }, model_error: this.lastError };
  }
}
