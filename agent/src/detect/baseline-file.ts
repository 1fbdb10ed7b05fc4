// The learnt baseline kept in the agent's data dir (DATA/baseline.json), so that a restart goes straight to
// detection instead of learning again (a restart that relearnt gave whoever could restart the agent a learning
// period in which their traffic became "normal"). The file carries a format version, the feature schemas of the
// models it was learnt with (the facility's Layer 1a in DATA/models/ is learnt in the same period) and a SHA-256
// of its content: a file of another format or schema, another facility, a bad digest or no JSON at all is refused
// with the reason, and the agent learns again. It is written atomically (a temporary file renamed over it), as the
// models' local baseline is. Only what was learnt is stored; the operator's declared facts come from the config
// at every start.
//
// While the learning period runs, the file is a checkpoint of what was learnt so far (`learning`: how much of the
// period had run and how long it is), written every few minutes and at a clean stop, so that a restart resumes the
// period with its remaining time instead of learning a day again from zero. A checkpoint is never taken as a
// learnt baseline: the agent resumes learning from it (an older agent refuses the field and learns again). The
// models' half of a checkpoint is a sibling file written first (models-checkpoint.ts), named here with its SHA-256
// (`models_learning`): a start with the models on resumes both halves or neither.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { Baseline } from './baseline.js';
import { LOCAL_DIR, LOCAL_FILE, writeFileAtomic } from './ml/artifacts.js';
import { LEARNT_SOURCE } from './ml/detector.js';
import { MODEL_FEATURE_SCHEMAS } from './ml/features.js';
import {
  modelsCheckpointRefSchema,
  removeModelsCheckpoints,
  type ModelsCheckpointRef,
} from './models-checkpoint.js';

export const BASELINE_FILE = 'baseline.json';
/** Bump when BaselineData's layout or meaning changes: older files are then refused and relearnt. */
export const BASELINE_FORMAT = 1;

/** What became of the models' local state (DATA/models/local-baseline.*) in the learning period stored. */
export const modelsStateSchema = z.object({
  /** saved: learnt and stored with it; loaded: the models served a local baseline given before (models train);
   * failed: they could not learn (note says why); off: the agent ran rules only; learning: a checkpoint's, the
   * models were still learning (what they learnt so far is in the file `models_learning` names). */
  state: z.enum(['saved', 'loaded', 'failed', 'off', 'learning']),
  note: z.string(),
});
export type ModelsState = z.infer<typeof modelsStateSchema>;

const int = z.number().int();
const dataSchema = z
  .object({
    hosts: z.array(z.string()),
    masters: z.array(z.string()),
    modbus: z.array(
      z
        .object({
          pair: z.string().regex(/^[^>]+>[^>]+$/),
          functions: z.array(int.min(0).max(255)),
          writes: z.array(z.string()),
          peak_per_second: int.min(0),
          peak_writes: int.min(0),
          read_range: z.array(z.tuple([int, int, int])),
        })
        .strict(),
    ),
    services: z.array(z.string()),
    registers: z.array(z.object({ slave: z.string(), ranges: z.array(int) }).strict()),
    mqtt_publishes: z.array(z.string()),
    dns_longest_name: z.array(z.tuple([z.string(), int.min(0)])),
    packets: int.min(0),
    first_ms: z.number(),
    last_ms: z.number(),
  })
  .strict();

const fileSchema = z
  .object({
    kind: z.literal('vigil-baseline'),
    format: int,
    schemas: z.record(z.string(), z.string()),
    facility: z.string(),
    saved_at: z.string(),
    /** Where it was learnt from, e.g. "the first 1440 minute(s) of --interface eth1". */
    source: z.string(),
    models: modelsStateSchema,
    /** Present in a learning period's checkpoint: how much of the period had run (ms of the engine's clock). */
    learning: z
      .object({ learnt_ms: z.number().min(0), period_ms: z.number().min(0) })
      .strict()
      .optional(),
    /** A checkpoint's models' half (models-checkpoint.ts): absent when the models were off. */
    models_learning: modelsCheckpointRefSchema.optional(),
    sha256: z.string(),
    baseline: z.unknown(),
  })
  .strict();

export interface StoredBaseline {
  baseline: Baseline;
  facility: string;
  savedAt: string;
  source: string;
  models: ModelsState;
  path: string;
  /** A learning period's checkpoint: the baseline is still learning (see saveBaseline's `learning`). */
  learning?: LearningProgress | undefined;
  /** A checkpoint's models' half (absent: the models were off, or an older agent stored it). */
  modelsLearning?: ModelsCheckpointRef | undefined;
}

/** How far a learning period had run when its checkpoint was stored (ms of the engine's clock). */
export interface LearningProgress {
  learntMs: number;
  periodMs: number;
}

export type LoadedBaseline =
  | { ok: true; stored: StoredBaseline }
  | { ok: false; absent: true; path: string }
  | { ok: false; absent: false; path: string; reason: string };

const digest = (text: string): string => createHash('sha256').update(text).digest('hex');

export function baselinePath(dataDir: string): string {
  return join(dataDir, BASELINE_FILE);
}

/**
 * Stores a frozen baseline in `dataDir` (atomically), or with `learning` a checkpoint of one still learning;
 * returns the file's path.
 */
export function saveBaseline(
  dataDir: string,
  o: {
    facility: string;
    baseline: Baseline;
    source: string;
    models: ModelsState;
    now?: Date;
    learning?: LearningProgress | undefined;
    /** With `learning`: the models' half of the checkpoint, written before (saveModelsCheckpoint). */
    modelsLearning?: ModelsCheckpointRef | undefined;
  },
): string {
  const body = JSON.stringify(o.learning === undefined ? o.baseline.toData() : o.baseline.checkpoint());
  const path = baselinePath(dataDir);
  const head = {
    kind: 'vigil-baseline',
    format: BASELINE_FORMAT,
    schemas: MODEL_FEATURE_SCHEMAS,
    facility: o.facility,
    saved_at: (o.now ?? new Date()).toISOString(),
    source: o.source,
    models: o.models,
    ...(o.learning === undefined
      ? {}
      : { learning: { learnt_ms: o.learning.learntMs, period_ms: o.learning.periodMs } }),
    ...(o.learning === undefined || o.modelsLearning === undefined
      ? {}
      : { models_learning: o.modelsLearning }),
    sha256: digest(body),
  };
  // The learnt content as one JSON text at the end, so that its digest is of the very bytes stored.
  const text = `${JSON.stringify(head).slice(0, -1)},"baseline":${body}}\n`;
  writeFileAtomic(path, text);
  return path;
}

/**
 * Reads the stored baseline of `dataDir` for `facility` (any facility when not given). Never throws: a missing file is `absent`, any other
 * problem a refusal with the reason (the caller logs it and learns again).
 */
export function loadBaseline(dataDir: string, facility?: string): LoadedBaseline {
  const path = baselinePath(dataDir);
  if (!existsSync(path)) return { ok: false, absent: true, path };
  const refuse = (reason: string): LoadedBaseline => ({ ok: false, absent: false, path, reason });
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    return refuse(`cannot read it: ${(err as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return refuse(`not valid JSON (${(err as Error).message})`);
  }
  const head = fileSchema.safeParse(raw);
  if (!head.success) return refuse(`not a Vigil baseline file (${head.error.issues[0]?.message ?? 'bad'})`);
  const h = head.data;
  if (h.format !== BASELINE_FORMAT) {
    return refuse(`format ${h.format}, this agent reads format ${BASELINE_FORMAT}`);
  }
  for (const [k, v] of Object.entries(MODEL_FEATURE_SCHEMAS)) {
    if (h.schemas[k] !== v) {
      return refuse(`learnt with feature schema ${k}=${h.schemas[k] ?? 'none'}, this agent has ${v}`);
    }
  }
  if (facility !== undefined && h.facility !== facility)
    return refuse(`learnt for facility ${h.facility}, this agent is ${facility}`);
  const at = text.indexOf(',"baseline":');
  const body = at < 0 ? '' : text.slice(at + ',"baseline":'.length).replace(/}\s*$/, '');
  if (digest(body) !== h.sha256) return refuse('its content does not match its SHA-256 (changed or damaged)');
  const data = dataSchema.safeParse(h.baseline);
  if (!data.success) {
    const issue = data.error.issues[0];
    return refuse(`bad content at ${issue?.path.join('.') ?? '?'}: ${issue?.message ?? 'invalid'}`);
  }
  return {
    ok: true,
    stored: {
      baseline: Baseline.fromData(data.data, { learning: h.learning !== undefined }),
      facility: h.facility,
      savedAt: h.saved_at,
      source: h.source,
      models: h.models,
      path,
      learning:
        h.learning === undefined
          ? undefined
          : { learntMs: h.learning.learnt_ms, periodMs: h.learning.period_ms },
      modelsLearning: h.models_learning,
    },
  };
}

/**
 * Removes the stored baseline, a learning checkpoint's models' half and the models' local baseline learnt with it
 * (the next start learns both again);
 * returns the files removed. A local baseline the operator trained (`vigil-agent models train`) is kept.
 */
export function resetBaseline(dataDir: string): { removed: string[]; kept: string[] } {
  const local = join(dataDir, LOCAL_DIR, `${LOCAL_FILE}.json`);
  const learntLocal = ((): boolean => {
    try {
      const meta = JSON.parse(readFileSync(local, 'utf8')) as { source?: unknown };
      return meta.source === LEARNT_SOURCE;
    } catch {
      return true; // unreadable: of no use to anyone
    }
  })();
  const models = [local, join(dataDir, LOCAL_DIR, `${LOCAL_FILE}.onnx`)];
  const files = [baselinePath(dataDir), ...(learntLocal ? models : [])];
  const removed = files.filter((f) => existsSync(f));
  for (const f of removed) rmSync(f);
  removed.push(...removeModelsCheckpoints(dataDir));
  return { removed, kept: learntLocal ? [] : models.filter((f) => existsSync(f)) };
}
