// Named float32 tensors (transport.ts's Arrays) as the round engine handles them: checking that a client's reply has
// the global model's layout, flattening to the list the pure aggregation functions take, and one byte format for the
// model registry and the link's model push (@vigil/proto/model-arrays, which the agent reads too).
import { createHash } from 'node:crypto';
import type { Arrays } from './transport.js';

export {
  ARRAYS_FORMAT,
  deserializeArrays,
  deserializeModel,
  serializeArrays,
  type ModelMeta,
} from '@vigil/proto/model-arrays';

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

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
