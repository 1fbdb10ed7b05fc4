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
import type { L1bMeta, L2Meta } from '../detect/ml/artifacts.js';
import type { ModelDetector } from '../detect/ml/detector.js';
import { MODEL_FEATURE_SCHEMAS } from '../detect/ml/features.js';
import { buildL1b, buildL2 } from '../detect/ml/models.js';
import { modelVersions } from '../link/pushes.js';

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

/** The registry name of the federated Layer 1b (the aggregator's GLOBAL_L1B_MODEL). */
export const GLOBAL_L1B_NAME = 'fl-global-l1b';
export const L1B_KIND = 'l1b-lstm-autoencoder';

/** The description the aggregator records with every federated Layer 1b it produces (checked by servableL1b). */
export function l1bModelMeta(meta: L1bMeta): ModelMeta {
  return {
    kind: L1B_KIND,
    schemas: schemasKey(meta.schemas),
    hidden: String(meta.hidden),
    steps: String(meta.steps),
    features: String(meta.features),
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

/** What is checked of one kind of pushed model, and how it is rebuilt and exported. */
interface ServableSpec {
  kind: string;
  /** Why the pushed description does not fit the served model (null when it does). */
  mismatch(meta: ModelMeta): string | null;
  build(): Sequential;
  /** One input row's shape (the ONNX input without the batch dimension). */
  inputShape: number[];
  exportName: string;
  softmax: boolean;
  metadata: Record<string, string>;
}

/** Runs `onnx` on the probe rows and compares it with the network's own output. */
async function smokeInference(onnx: Uint8Array, model: Sequential, spec: ServableSpec): Promise<void> {
  const per = spec.inputShape.reduce((a, b) => a * b, 1);
  const rows = probeRows(per);
  const data = new Float32Array(rows.length * per);
  rows.forEach((r, i) => data.set(r, i * per));
  let session: SwappableSession;
  try {
    session = await SwappableSession.create(onnx);
  } catch (e) {
    throw new ModelRefusedError(
      `its ONNX export does not load: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
  try {
    const [out] = (await session.runRows(INPUT_NAME, data, spec.inputShape, [OUTPUT_NAME])).outputs;
    const wants = rows.map((r) => (spec.softmax ? softmax(model.forward(r)) : model.forward(r)));
    const C = wants[0]!.length;
    if (out?.length !== rows.length * C)
      throw new ModelRefusedError(
        `smoke inference gave ${out?.length ?? 0} values for ${rows.length} rows of ${C} outputs`,
      );
    rows.forEach((_, i) => {
      const want = wants[i]!;
      let sum = 0;
      for (let c = 0; c < C; c++) {
        const p = out[i * C + c]!;
        if (!Number.isFinite(p))
          throw new ModelRefusedError(`smoke inference gave ${p} (row ${i}, output ${c})`);
        if (spec.softmax && (p < 0 || p > 1))
          throw new ModelRefusedError(`smoke inference gave probability ${p} (row ${i}, class ${c})`);
        if (Math.abs(p - want[c]!) > 1e-3 * Math.max(1, Math.abs(want[c]!)))
          throw new ModelRefusedError(
            `smoke inference differs from the network (row ${i}, output ${c}: ${p} vs ${want[c]})`,
          );
        sum += p;
      }
      if (spec.softmax && Math.abs(sum - 1) > 1e-3)
        throw new ModelRefusedError(`smoke inference probabilities of row ${i} sum to ${sum}`);
    });
  } finally {
    await session.close();
  }
}

/** The ONNX model for a pushed payload (vigil-arrays-v1 bytes) checked against `spec`; ModelRefusedError says why not. */
async function servable(payload: Uint8Array, spec: ServableSpec): Promise<Uint8Array> {
  let parsed: ReturnType<typeof deserializeModel>;
  try {
    parsed = deserializeModel(payload);
  } catch (e) {
    throw new ModelRefusedError(e instanceof Error ? e.message : String(e));
  }
  const { arrays, meta } = parsed;
  if (meta.kind === undefined)
    throw new ModelRefusedError(
      `it is an undescribed model (stored before models carried a kind and feature schemas, so what it was trained on is unknown); this agent serves federated "${spec.kind}" models: roll back to a version a round made since, or run a round`,
    );
  if (meta.kind !== spec.kind)
    throw new ModelRefusedError(
      `it is a "${meta.kind}" model; this agent serves federated "${spec.kind}" models here`,
    );
  const schemas = schemasKey(MODEL_FEATURE_SCHEMAS);
  if (meta.schemas !== schemas)
    throw new ModelRefusedError(
      `it was trained on feature schemas ${meta.schemas ?? '(none recorded)'}, this agent computes ${schemas}`,
    );
  const why = spec.mismatch(meta);
  if (why !== null) throw new ModelRefusedError(why);
  const model = spec.build();
  const names = model.parameterNames();
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
    inputShape: spec.inputShape,
    name: spec.exportName,
    softmax: spec.softmax,
    metadata: spec.metadata,
  });
  await smokeInference(onnx, model, spec);
  return onnx;
}

/**
 * The ONNX model the detector can serve for a pushed federated Layer 2 (`payload`: vigil-arrays-v1 bytes), checked
 * against the served model's description `base`; throws ModelRefusedError saying why it cannot be served.
 */
export function servableL2(payload: Uint8Array, base: L2Meta): Promise<Uint8Array> {
  return servable(payload, {
    kind: L2_KIND,
    mismatch: (meta) =>
      meta.classes !== base.classes.join(',')
        ? `its classes are ${meta.classes ?? '(none recorded)'}, the detector's are ${base.classes.join(',')}`
        : null,
    build: () => buildL2({ inputs: base.inputs, hidden: base.hidden, classes: base.classes.length }),
    inputShape: [base.inputs],
    exportName: 'vigil_l2_classifier',
    softmax: true,
    metadata: { classes: base.classes.join(','), schemas: JSON.stringify(MODEL_FEATURE_SCHEMAS) },
  });
}

/** The ONNX model for a pushed federated Layer 1b, checked against the served Layer 1b's description `base`. */
export function servableL1b(payload: Uint8Array, base: L1bMeta): Promise<Uint8Array> {
  return servable(payload, {
    kind: L1B_KIND,
    mismatch: (meta) => {
      for (const k of ['hidden', 'steps', 'features'] as const)
        if (meta[k] !== String(base[k]))
          return `its ${k} is ${meta[k] ?? '(none recorded)'}, the served Layer 1b's is ${base[k]}`;
      return null;
    },
    build: () => buildL1b({ hidden: base.hidden, steps: base.steps, features: base.features }),
    inputShape: [base.steps, base.features],
    exportName: 'vigil_l1b_lstm_ae',
    softmax: false,
    metadata: { schemas: JSON.stringify(MODEL_FEATURE_SCHEMAS) },
  });
}

export interface GlobalModelsOptions {
  dataDir: string;
  /** The served Layer 2's description (its classes, sizes). */
  l2: L2Meta;
  /** The served Layer 1b's description (its sizes); without it pushed Layer 1b models are refused. */
  l1b?: L1bMeta;
  /** The detectors to swap (read at each install: they may be created after the link). */
  detectors: () => readonly ModelDetector[];
  log: (line: string) => void;
}

/** Puts pushed global models into service and says what the detector serves (for the heartbeat). */
export class GlobalModels {
  private readonly errors = new Map<string, string>();

  constructor(private readonly o: GlobalModelsOptions) {}

  /**
   * For the push handler, before the model is stored: checks a pushed global model (Layer 2 or Layer 1b) and swaps
   * it into the detectors, each recalibrating its facility's threshold or floors on its own normal traffic first;
   * rejects (nothing swapped, the old model serving) when it cannot be served. Other models are left alone.
   */
  async install(
    m: Pick<PbModelPush, 'name' | 'version' | 'format'> & { payload: Uint8Array },
  ): Promise<void> {
    if (m.format !== ARRAYS_FORMAT || (m.name !== GLOBAL_MODEL_NAME && m.name !== GLOBAL_L1B_NAME)) return;
    const kind = m.name === GLOBAL_MODEL_NAME ? 'l2' : 'l1b';
    const layer = kind === 'l2' ? 'Layer 2' : 'Layer 1b';
    const label = `${m.name} v${m.version}`;
    try {
      let onnx: Uint8Array;
      if (kind === 'l2') onnx = await servableL2(m.payload, this.o.l2);
      else if (this.o.l1b === undefined)
        throw new ModelRefusedError('this agent has no Layer 1b description to check it against');
      else onnx = await servableL1b(m.payload, this.o.l1b);
      // each detector recalibrates on its own facility's data, then swaps (an agent runs one detector)
      const detectors = this.o.detectors();
      const done: ModelDetector[] = [];
      for (const d of detectors) {
        try {
          await d.swapModel(kind, onnx, label);
        } catch (e) {
          throw new ModelRefusedError(
            `${done.length > 0 ? `(${done.length} detector(s) swapped before) ` : ''}${e instanceof Error ? e.message : String(e)}`,
          );
        }
        done.push(d);
        if (d.swapNote !== '') this.o.log(`models: ${d.swapNote}`);
      }
      this.errors.delete(kind);
      if (detectors.length > 0) this.o.log(`models: ${layer} now serves ${label}`);
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      this.errors.set(kind, `${label} refused: ${why}`);
      this.o.log(`models: ${label} refused: ${why}; the current ${layer} keeps serving`);
      throw new ModelRefusedError(`${label} not served: ${why}`);
    }
  }

  /** At start: serves the global models stored by an earlier run (pushes.ts's manifest), if they still pass the checks. */
  async restore(): Promise<void> {
    for (const name of [GLOBAL_MODEL_NAME, GLOBAL_L1B_NAME]) {
      const version = modelVersions(this.o.dataDir)[name];
      if (version === undefined) continue;
      const file = join(this.o.dataDir, 'models', name, `${version}.${ARRAYS_FORMAT}`);
      let payload: Buffer;
      try {
        payload = readFileSync(file);
      } catch (e) {
        const why = `${name} v${version} refused: ${file} unreadable (${e instanceof Error ? e.message : String(e)})`;
        this.errors.set(name === GLOBAL_MODEL_NAME ? 'l2' : 'l1b', why);
        this.o.log(`models: ${why}`);
        continue;
      }
      await this.install({ name, version, format: ARRAYS_FORMAT, payload }).catch(() => undefined);
    }
  }

  health(): { models_serving: Record<string, string>; model_error: string } {
    const d = this.o.detectors()[0];
    return {
      models_serving: d === undefined ? {} : { ...d.serving },
      model_error: [...this.errors.values()].join('; '),
    };
  }
}
