// Where the models live and what travels with them. The committed artifacts (models/artifacts/, trained by
// `npm run train`) are the shared Layer 1b and Layer 2 models plus one Layer 1a forest per training facility; a
// plant's own baseline (`vigil-agent models train --pcap FILE --data-dir DIR`) goes to DIR/models/. Each model is an
// .onnx file plus a .json of what the detector needs (thresholds, scaler, classes, schema hashes); the .md model
// card next to a committed model is for people.
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  writeSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { UsageError } from '@vigil/shared';
import type { Sequential } from '@vigil/models';
import { MODEL_FEATURE_SCHEMAS } from './features.js';
import { buildL1b, buildL2 } from './models.js';

/** models/artifacts of this checkout (the committed models). */
export const ARTIFACTS_DIR = fileURLToPath(new URL('../../../../models/artifacts/', import.meta.url));

export const L1B_FILE = 'l1b-lstm-ae';
export const L2_FILE = 'l2-classifier';
export const L1A_FILE = 'l1a-iforest';
/** A facility's own baseline in its data dir: L1a forest, L1b threshold, scaler, known pairs. */
export const LOCAL_DIR = 'models';
export const LOCAL_FILE = 'local-baseline';

const schemas = z.object({ packet: z.string(), flow: z.string(), window: z.string(), l2: z.string() });

export const l1bMetaSchema = z.object({
  kind: z.literal('l1b-lstm-autoencoder'),
  schemas,
  hidden: z.number().int().positive(),
  steps: z.number().int().positive(),
  features: z.number().int().positive(),
  /** Reconstruction MSE above this is anomalous (calibrated on held-out normal windows). */
  threshold: z.number().positive(),
  targetFalseAlarmRate: z.number().positive(),
  trainedAt: z.string(),
  parameterNames: z.array(z.string()),
});
export type L1bMeta = z.infer<typeof l1bMetaSchema>;

export const l2MetaSchema = z.object({
  kind: z.literal('l2-classifier'),
  schemas,
  inputs: z.number().int().positive(),
  hidden: z.number().int().positive(),
  classes: z.array(z.string()).min(2),
  /** A class other than normal is reported when its probability is at least this. */
  minProbability: z.number().min(0).max(1),
  trainedAt: z.string(),
  parameterNames: z.array(z.string()),
});
export type L2Meta = z.infer<typeof l2MetaSchema>;

export const localMetaSchema = z.object({
  kind: z.literal('local-baseline'),
  schemas,
  facility: z.string(),
  /** Isolation Forest score above this is anomalous (held-out normal flow-seconds). */
  l1aThreshold: z.number().positive(),
  /** The facility's own L1b threshold (held-out normal windows of its capture). */
  l1bThreshold: z.number().positive(),
  targetFalseAlarmRate: z.number().positive(),
  scaler: z.object({ mean: z.array(z.number()), std: z.array(z.number()) }),
  /** Per-feature mean and deviation of the forest's training rows (names the features that drove a score). */
  flowMean: z.array(z.number()),
  flowStd: z.array(z.number()),
  /** Layer 2's per-class probability floors learnt on this facility's normal traffic (calibrateL2). */
  l2ClassMin: z.record(z.string(), z.number()).optional(),
  knownPairs: z.array(z.string()),
  knownServices: z.array(z.string()),
  /**
   * `client|topic`: the MQTT topics each client published on while learning (mqtt_new_topics). A default, so that a
   * file of an older agent is refused for its feature schema (said, relearnt), not as a malformed file.
   */
  knownTopics: z.array(z.string()).default([]),
  trainedAt: z.string(),
  source: z.string(),
  flowRows: z.number().int(),
  windows: z.number().int(),
});
export type LocalMeta = z.infer<typeof localMetaSchema>;

export interface ModelFile<M> {
  onnx: Uint8Array;
  meta: M;
}

function readModel<M>(dir: string, name: string, schema: z.ZodType<M>): ModelFile<M> {
  const onnxPath = join(dir, `${name}.onnx`);
  const metaPath = join(dir, `${name}.json`);
  if (!existsSync(onnxPath) || !existsSync(metaPath)) {
    throw new UsageError(
      `model ${name} not found in ${dir} (run npm run train, or vigil-agent models train)`,
    );
  }
  const parsed = schema.safeParse(JSON.parse(readFileSync(metaPath, 'utf8')));
  if (!parsed.success)
    throw new UsageError(`${metaPath}: not a Vigil model description (${parsed.error.message})`);
  const meta = parsed.data as M & { schemas: Record<string, string> };
  for (const [k, v] of Object.entries(MODEL_FEATURE_SCHEMAS)) {
    if (meta.schemas[k] !== v) {
      throw new UsageError(
        `${metaPath}: trained on feature schema ${k}=${meta.schemas[k]}, this agent has ${v}; retrain the model`,
      );
    }
  }
  return { onnx: new Uint8Array(readFileSync(onnxPath)), meta };
}

export const readL1b = (dir: string): ModelFile<L1bMeta> => readModel(dir, L1B_FILE, l1bMetaSchema);
export const readL2 = (dir: string): ModelFile<L2Meta> => readModel(dir, L2_FILE, l2MetaSchema);
export const readLocal = (dir: string): ModelFile<LocalMeta> => readModel(dir, LOCAL_FILE, localMetaSchema);

/**
 * The facility's local baseline in `dataDir`, or why it cannot serve (absent, another feature schema, damaged):
 * never throws, so that a stale or damaged file is relearnt instead of stopping the agent.
 */
export function tryReadLocal(
  dataDir: string,
): { ok: true; local: ModelFile<LocalMeta> } | { ok: false; absent: boolean; reason: string } {
  if (!hasLocal(dataDir)) return { ok: false, absent: true, reason: 'absent' };
  try {
    return { ok: true, local: readLocal(join(dataDir, LOCAL_DIR)) };
  } catch (err) {
    return { ok: false, absent: false, reason: (err as Error).message };
  }
}

export function hasLocal(dataDir: string): boolean {
  return existsSync(join(dataDir, LOCAL_DIR, `${LOCAL_FILE}.json`));
}

/**
 * Writes a file so that a reader (or a restart after a crash) sees the old content or the new, never a part: a
 * temporary file beside it, flushed, then renamed over it.
 */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

export function writeModel(
  dir: string,
  name: string,
  onnx: Uint8Array,
  meta: unknown,
  weights?: Sequential,
): void {
  mkdirSync(dir, { recursive: true });
  // The description last: a model is found by its .json (hasLocal), so it is not read before its .onnx is whole.
  writeFileAtomic(join(dir, `${name}.onnx`), onnx);
  if (weights !== undefined) {
    const w = weights.flatValues;
    writeFileAtomic(join(dir, `${name}.weights`), new Uint8Array(w.buffer, w.byteOffset, w.byteLength));
  }
  writeFileAtomic(join(dir, `${name}.json`), JSON.stringify(meta, null, 2) + '\n');
}

/**
 * Loads a model's trained parameters (`<name>.weights`: every parameter, float32 little-endian, in
 * parameterNames order) into `model`, built with the same options; throws when the sizes differ.
 */
export function loadWeights(dir: string, name: string, model: Sequential): Sequential {
  const path = join(dir, `${name}.weights`);
  if (!existsSync(path)) throw new UsageError(`${path} not found (run npm run train)`);
  const b = readFileSync(path);
  if (b.byteLength !== model.flatValues.byteLength) {
    throw new UsageError(`${path}: ${b.byteLength / 4} parameters, the model has ${model.parameterCount}`);
  }
  model.flatValues.set(new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)));
  return model;
}

/**
 * The threshold (flag when score > threshold) at which at most a share `far` of `scores` (held-out normal) is
 * flagged: exactly floor(far * n) of them when no scores tie there, fewer when they do; above the maximum when
 * far * n < 1.
 */
export function calibrate(scores: readonly number[], far: number): number {
  if (scores.length === 0) throw new Error('calibrate: no held-out scores');
  const s = [...scores].sort((a, b) => a - b);
  const m = Math.floor(far * s.length);
  if (m === 0) return s[s.length - 1]! * 1.0001 + 1e-9;
  return s[s.length - m - 1]!;
}

/**
 * Layer 1b's threshold from a facility's normal windows: the calibrated quantile times L1B_MARGIN. Consecutive
 * windows share 59 of their 60 steps, so a 10-minute learning period holds only about ten independent windows and
 * its empirical tail is too short; without the margin, held-out plants flagged a quarter of their normal windows
 * (errors 0.375-0.419 against a learnt maximum of 0.414 on water-b).
 */
export const L1B_MARGIN = 1.15;
export function l1bThreshold(errors: readonly number[], far: number): number {
  return calibrate(errors, far) * L1B_MARGIN;
}

/** The shared Layer 1b as a learning-core model with its trained weights (federated learning starts here). */
export function loadL1bModel(dir: string = ARTIFACTS_DIR): Sequential {
  const m = readL1b(dir).meta;
  return loadWeights(dir, L1B_FILE, buildL1b({ hidden: m.hidden, steps: m.steps, features: m.features }));
}

/** The shared Layer 2 as a learning-core model with its trained weights. */
export function loadL2Model(dir: string = ARTIFACTS_DIR): Sequential {
  const m = readL2(dir).meta;
  return loadWeights(
    dir,
    L2_FILE,
    buildL2({ inputs: m.inputs, hidden: m.hidden, classes: m.classes.length }),
  );
}
