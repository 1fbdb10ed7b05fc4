// The byte format of a federated global model as the aggregator's registry stores it and the link's model push
// carries it (ModelPush.format "vigil-arrays-v1"): named float32 tensors in model order, plus an optional description
// of the model (which model it is, the feature schemas it was trained on) that the agent checks before it swaps the
// model into its detector.
//
// Bytes: u32 LE header length, the JSON header, then every tensor's float32 values (LE) in order. The header is
// either the list [{name, shape}] (no description) or {"tensors": [{name, shape}], "meta": {key: string}}.
import type { NamedTensors, Tensor } from './flower/records.js';

/** The registry's and model push's format name for serializeArrays() bytes. */
export const ARRAYS_FORMAT = 'vigil-arrays-v1';

/** What a model says about itself (e.g. kind "l2-classifier", schemas JSON); strings only. */
export type ModelMeta = Record<string, string>;

function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function count(a: NamedTensors): number {
  let n = 0;
  for (const t of a.values()) n += t.data.length;
  return n;
}

export function serializeArrays(a: NamedTensors, meta?: ModelMeta): Uint8Array {
  const tensors = [...a].map(([name, t]) => ({ name, shape: t.shape }));
  const header = Buffer.from(JSON.stringify(meta === undefined ? tensors : { tensors, meta }), 'utf8');
  const out = new Uint8Array(4 + header.length + count(a) * 4);
  const view = new DataView(out.buffer);
  view.setUint32(0, header.length, true);
  out.set(header, 4);
  let off = 4 + header.length;
  for (const t of a.values()) {
    for (let k = 0; k < t.data.length; k++, off += 4) view.setFloat32(off, t.data[k]!, true);
  }
  return out;
}

/** Inverse of serializeArrays, description included ({} when none); throws a clear Error on other bytes. */
export function deserializeModel(bytes: Uint8Array): { arrays: NamedTensors; meta: ModelMeta } {
  const bad = (why: string): Error => new Error(`not ${ARRAYS_FORMAT} bytes: ${why}`);
  if (bytes.length < 4) throw bad('shorter than its header length');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const hlen = view.getUint32(0, true);
  if (4 + hlen > bytes.length) throw bad('header runs past the end');
  let header: unknown;
  try {
    header = JSON.parse(Buffer.from(bytes.subarray(4, 4 + hlen)).toString('utf8'));
  } catch {
    throw bad('header is not JSON');
  }
  let entries: unknown = header;
  const meta: ModelMeta = {};
  if (!Array.isArray(header)) {
    const h = header as { tensors?: unknown; meta?: unknown } | null;
    if (h === null || typeof h !== 'object' || !Array.isArray(h.tensors))
      throw bad('header is neither a list nor {tensors, meta}');
    entries = h.tensors;
    if (h.meta !== undefined) {
      if (h.meta === null || typeof h.meta !== 'object' || Array.isArray(h.meta))
        throw bad('meta is not an object');
      for (const [k, v] of Object.entries(h.meta as Record<string, unknown>)) {
        if (typeof v !== 'string') throw bad(`meta "${k}" is not a string`);
        meta[k] = v;
      }
    }
  }
  const arrays: NamedTensors = new Map();
  let off = 4 + hlen;
  for (const entry of entries as unknown[]) {
    const e = entry as { name?: unknown; shape?: unknown };
    if (
      typeof e.name !== 'string' ||
      !Array.isArray(e.shape) ||
      !e.shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)
    )
      throw bad('a header entry is not {name, shape}');
    const shape = e.shape as number[];
    const n = sizeOf(shape);
    if (off + n * 4 > bytes.length) throw bad(`tensor "${e.name}" runs past the end`);
    const data = new Float32Array(n);
    for (let k = 0; k < n; k++, off += 4) data[k] = view.getFloat32(off, true);
    const t: Tensor = { shape, data };
    arrays.set(e.name, t);
  }
  if (off !== bytes.length) throw bad(`${bytes.length - off} bytes after the last tensor`);
  return { arrays, meta };
}

/** The tensors of serializeArrays() bytes (the description dropped). */
export function deserializeArrays(bytes: Uint8Array): NamedTensors {
  return deserializeModel(bytes).arrays;
}
