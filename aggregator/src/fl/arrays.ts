// Named float32 tensors (transport.ts's Arrays) as the round engine handles them: checking that a client's reply has
// the global model's layout, flattening to the list the pure aggregation functions take, and one byte format for the
// model registry and the link's model push.
import { createHash } from 'node:crypto';
import type { Arrays, Tensor } from './transport.js';

/** The registry's and model push's format name for serializeArrays() bytes. */
export const ARRAYS_FORMAT = 'vigil-arrays-v1';

function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Why `got` cannot be averaged with `expected` (other names, order, shapes or non-finite values); null when it can. */
export function layoutMismatch(expected: Arrays, got: Arrays): string | null {
  if (got.size !== expected.size) return `${got.size} arrays, expected ${expected.size}`;
  const names = [...expected.keys()];
  let i = 0;
  for (const [name, t] of got) {
    if (name !== names[i]) return `array ${i} is "${name}", expected "${names[i] ?? ''}"`;
    const want = expected.get(name)!;
    if (t.shape.length !== want.shape.length || t.shape.some((d, k) => d !== want.shape[k]))
      return `array "${name}" has shape [${t.shape.join(', ')}], expected [${want.shape.join(', ')}]`;
    if (t.data.length !== want.data.length)
      return `array "${name}" has ${t.data.length} values, expected ${want.data.length}`;
    for (let k = 0; k < t.data.length; k++)
      if (!Number.isFinite(t.data[k])) return `array "${name}" holds a non-finite value at ${k}`;
    i++;
  }
  return null;
}

export function toList(a: Arrays): Float32Array[] {
  return [...a.values()].map((t) => t.data);
}

/** Arrays with `layout`'s names and shapes and the given data (one Float32Array per tensor, same order). */
export function withData(layout: Arrays, data: readonly Float32Array[]): Arrays {
  const out: Arrays = new Map();
  let i = 0;
  for (const [name, t] of layout) {
    const d = data[i++];
    if (d?.length !== t.data.length) throw new Error(`withData: tensor "${name}" has the wrong length`);
    out.set(name, { shape: [...t.shape], data: d });
  }
  return out;
}

export function parameterCount(a: Arrays): number {
  let n = 0;
  for (const t of a.values()) n += t.data.length;
  return n;
}

/**
 * Bytes: u32 LE header length, the JSON header [{name, shape}], then every tensor's float32 values (LE) in order.
 */
export function serializeArrays(a: Arrays): Uint8Array {
  const header = Buffer.from(JSON.stringify([...a].map(([name, t]) => ({ name, shape: t.shape }))), 'utf8');
  const out = new Uint8Array(4 + header.length + parameterCount(a) * 4);
  const view = new DataView(out.buffer);
  view.setUint32(0, header.length, true);
  out.set(header, 4);
  let off = 4 + header.length;
  for (const t of a.values()) {
    for (let k = 0; k < t.data.length; k++, off += 4) view.setFloat32(off, t.data[k]!, true);
  }
  return out;
}

/** Inverse of serializeArrays; throws a clear Error on bytes that are not in that format. */
export function deserializeArrays(bytes: Uint8Array): Arrays {
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
  if (!Array.isArray(header)) throw bad('header is not a list');
  const out: Arrays = new Map();
  let off = 4 + hlen;
  for (const entry of header as unknown[]) {
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
    out.set(e.name, t);
  }
  if (off !== bytes.length) throw bad(`${bytes.length - off} bytes after the last tensor`);
  return out;
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
