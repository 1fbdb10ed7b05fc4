// The models' half of a learning period's checkpoint (the rules' half is DATA/baseline.json, baseline-file.ts): what
// the model detectors have learnt so far (ModelLearningState: the kept learning flow-seconds, the period's window
// steps, the sets the flow-seconds learnt), so that a restart resumes their learning as the rules' baseline
// resumes, and the forest, the scalers and the L1b threshold learn from the whole period.
//
// One binary file, DATA/baseline-models-<first 16 hex of its SHA-256>.bin: the rows and steps are float arrays (at
// the default one-day period about 9 MB: 30,000 rows of 28 features, 87,424 steps of 15; as JSON text three times
// that and slow to write every 5 minutes). It is written first (atomically, a new name each time) and baseline.json
// last, naming it with its SHA-256 and size: a start finds both halves of one checkpoint, or refuses both and learns
// again. A crash between the two leaves the older pair whole (its file is removed only after the new baseline.json).
//
// Layout: MAGIC, a u32 (little-endian) header length, the header (JSON: format, feature schemas, facility, the array
// sizes and the learnt sets), then the arrays, each at an 8-byte aligned offset in the order of SECTIONS.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { endianness } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from './ml/artifacts.js';
import type { KeptRows, ModelLearningState } from './ml/detector.js';
import { MODEL_FEATURE_SCHEMAS, NF, NW } from './ml/features.js';

/** Bump when the layout or meaning changes: older files are then refused (and both halves relearnt). */
export const MODELS_CHECKPOINT_FORMAT = 1;
const MAGIC = Buffer.from('VIGILMLC');
const FILE_RE = /^baseline-models-[0-9a-f]{16}\.bin$/;

/** What baseline.json says of its models' half: the file, its SHA-256 and size. */
export const modelsCheckpointRefSchema = z
  .object({
    file: z.string().regex(FILE_RE),
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
    bytes: z.number().int(),
  })
  .strict();
export type ModelsCheckpointRef = z.infer<typeof modelsCheckpointRefSchema>;

const count = z.number().int().min(0);
const rowsHead = z.object({ rows: count, seen: count }).strict();
const headSchema = z
  .object({
    kind: z.literal('vigil-models-learning'),
    format: z.number().int(),
    endianness: z.enum(['LE', 'BE']),
    schemas: z.record(z.string(), z.string()),
    facility: z.string(),
    nf: count,
    nw: count,
    detectors: z.array(
      z
        .object({
          fit: rowsHead,
          held: rowsHead,
          steps: count,
          steps_end_sec: z.number().int(),
          sets: z.record(z.string(), z.array(z.string())),
        })
        .strict(),
    ),
  })
  .strict();
type Head = z.infer<typeof headSchema>;

/** The arrays of one detector, in file order. */
function sections(s: ModelLearningState): (Float32Array | Float64Array)[] {
  return [s.fit.x, s.fit.sec, s.fit.program, s.held.x, s.held.sec, s.held.program, s.steps];
}

/** The element counts and sizes of sections() as a header gives them. */
function lengths(d: Head['detectors'][number], nf: number, nw: number): { n: number; bytes: 4 | 8 }[] {
  const rows = (r: { rows: number }): { n: number; bytes: 4 | 8 }[] => [
    { n: r.rows * nf, bytes: 4 },
    { n: r.rows, bytes: 8 },
    { n: r.rows, bytes: 8 },
  ];
  return [...rows(d.fit), ...rows(d.held), { n: d.steps * nw, bytes: 4 }];
}

const align8 = (n: number): number => (n + 7) & ~7;
const digest = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** The file's bytes for the detectors' states (exported for the size and cost benchmark). */
export function encodeModelsCheckpoint(facility: string, states: readonly ModelLearningState[]): Buffer {
  const head: Head = {
    kind: 'vigil-models-learning',
    format: MODELS_CHECKPOINT_FORMAT,
    endianness: endianness(),
    schemas: { ...MODEL_FEATURE_SCHEMAS },
    facility,
    nf: NF,
    nw: NW,
    detectors: states.map((s) => ({
      fit: { rows: s.fit.sec.length, seen: s.fit.seen },
      held: { rows: s.held.sec.length, seen: s.held.seen },
      steps: Math.floor(s.steps.length / NW),
      steps_end_sec: s.stepsEndSec,
      sets: s.sets,
    })),
  };
  const headBytes = Buffer.from(JSON.stringify(head));
  let size = align8(MAGIC.length + 4 + headBytes.length);
  for (const s of states) for (const a of sections(s)) size += align8(a.byteLength);
  const out = Buffer.alloc(size);
  MAGIC.copy(out, 0);
  out.writeUInt32LE(headBytes.length, MAGIC.length);
  headBytes.copy(out, MAGIC.length + 4);
  let off = align8(MAGIC.length + 4 + headBytes.length);
  for (const s of states) {
    for (const a of sections(s)) {
      out.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), off);
      off += align8(a.byteLength);
    }
  }
  return out;
}

/**
 * Writes the models' half of a checkpoint into `dataDir` under a new name (atomically); returns what baseline.json
 * records of it. Write baseline.json next, then removeModelsCheckpoints(dataDir, ref.file).
 */
export function saveModelsCheckpoint(
  dataDir: string,
  facility: string,
  states: readonly ModelLearningState[],
): ModelsCheckpointRef {
  const bytes = encodeModelsCheckpoint(facility, states);
  const sha256 = digest(bytes);
  const file = `baseline-models-${sha256.slice(0, 16)}.bin`;
  writeFileAtomic(join(dataDir, file), bytes);
  return { file, sha256, bytes: bytes.length };
}

export type LoadedModelsCheckpoint =
  { ok: true; states: ModelLearningState[] } | { ok: false; reason: string };

/**
 * Reads the models' half named by baseline.json (`ref`) for `facility`. Never throws: a missing, damaged or foreign
 * file, another format, feature schema or byte order is a refusal with the reason.
 */
export function loadModelsCheckpoint(
  dataDir: string,
  ref: ModelsCheckpointRef,
  facility: string,
): LoadedModelsCheckpoint {
  const path = join(dataDir, ref.file);
  const refuse = (reason: string): LoadedModelsCheckpoint => ({ ok: false, reason: `${path}: ${reason}` });
  if (!existsSync(path)) return refuse('missing');
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (err) {
    return refuse(`cannot read it: ${(err as Error).message}`);
  }
  if (buf.length !== ref.bytes || digest(buf) !== ref.sha256)
    return refuse('its content does not match the SHA-256 baseline.json records (changed or damaged)');
  if (buf.length < MAGIC.length + 4 || !buf.subarray(0, MAGIC.length).equals(MAGIC))
    return refuse("not a Vigil models' learning checkpoint");
  const headLength = buf.readUInt32LE(MAGIC.length);
  const headEnd = MAGIC.length + 4 + headLength;
  if (headEnd > buf.length) return refuse('its header runs past the end of the file');
  let raw: unknown;
  try {
    raw = JSON.parse(buf.subarray(MAGIC.length + 4, headEnd).toString('utf8'));
  } catch (err) {
    return refuse(`its header is not valid JSON (${(err as Error).message})`);
  }
  const parsed = headSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return refuse(`bad header at ${issue?.path.join('.') ?? '?'}: ${issue?.message ?? 'invalid'}`);
  }
  const h = parsed.data;
  if (h.format !== MODELS_CHECKPOINT_FORMAT)
    return refuse(`format ${h.format}, this agent reads format ${MODELS_CHECKPOINT_FORMAT}`);
  if (h.endianness !== endianness())
    return refuse(`written on a ${h.endianness} machine, this one is ${endianness()}`);
  for (const [k, v] of Object.entries(MODEL_FEATURE_SCHEMAS)) {
    if (h.schemas[k] !== v)
      return refuse(`learnt with feature schema ${k}=${h.schemas[k] ?? 'none'}, this agent has ${v}`);
  }
  if (h.nf !== NF || h.nw !== NW)
    return refuse(`rows of ${h.nf}/${h.nw} features, this agent has ${NF}/${NW}`);
  if (h.facility !== facility) return refuse(`learnt for facility ${h.facility}, this agent is ${facility}`);
  let off = align8(headEnd);
  const states: ModelLearningState[] = [];
  for (const d of h.detectors) {
    const arrays: (Float32Array | Float64Array)[] = [];
    for (const { n, bytes } of lengths(d, NF, NW)) {
      if (off + n * bytes > buf.length) return refuse('shorter than its header says');
      const a = bytes === 4 ? new Float32Array(n) : new Float64Array(n);
      new Uint8Array(a.buffer).set(buf.subarray(off, off + n * bytes));
      arrays.push(a);
      off += align8(n * bytes);
    }
    const [fx, fs, fp, hx, hs, hp, steps] = arrays as [
      Float32Array,
      Float64Array,
      Float64Array,
      Float32Array,
      Float64Array,
      Float64Array,
      Float32Array,
    ];
    const rows = (x: Float32Array, sec: Float64Array, program: Float64Array, seen: number): KeptRows => ({
      x,
      sec,
      program,
      seen,
    });
    states.push({
      fit: rows(fx, fs, fp, d.fit.seen),
      held: rows(hx, hs, hp, d.held.seen),
      steps,
      stepsEndSec: d.steps_end_sec,
      sets: d.sets,
    });
  }
  if (off !== buf.length) return refuse('longer than its header says');
  return { ok: true, states };
}

/** A checkpoint file, or what a writer killed before its rename left of one. */
const LEFT_RE = /^baseline-models-[0-9a-f]{16}\.bin(\.tmp-\d+)?$/;

/**
 * Removes the models' checkpoint files of `dataDir` but `keep` (and any a killed writer left half written); returns
 * the paths removed.
 */
export function removeModelsCheckpoints(dataDir: string, keep?: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dataDir);
  } catch {
    return [];
  }
  const gone = names.filter((n) => LEFT_RE.test(n) && n !== keep).map((n) => join(dataDir, n));
  for (const p of gone) rmSync(p, { force: true });
  return gone;
}
