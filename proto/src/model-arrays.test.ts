import { describe, expect, it } from 'vitest';
import { deserializeArrays, deserializeModel, serializeArrays } from './model-arrays.js';

const arrays = () =>
  new Map([
    ['0.dense.weight', { shape: [2, 2], data: Float32Array.from([1, -2, 0.5, 3]) }],
    ['1.dense.bias', { shape: [2], data: Float32Array.from([0.25, -1]) }],
  ]);

describe('model arrays', () => {
  it('carries a model description beside the tensors, and reads bytes written without one', () => {
    const described = serializeArrays(arrays(), { kind: 'l2-classifier', schemas: '{"flow":"abc"}' });
    const plain = serializeArrays(arrays());

    expect(deserializeModel(described)).toEqual({
      arrays: arrays(),
      meta: { kind: 'l2-classifier', schemas: '{"flow":"abc"}' },
    });
    expect(deserializeModel(plain)).toEqual({ arrays: arrays(), meta: {} });
    expect(deserializeArrays(described)).toEqual(arrays());
  });

  it('refuses a header that is neither form, and a description that is not strings', () => {
    const withHeader = (h: unknown): Uint8Array => {
      const b = Buffer.from(JSON.stringify(h));
      const out = new Uint8Array(4 + b.length);
      new DataView(out.buffer).setUint32(0, b.length, true);
      out.set(b, 4);
      return out;
    };

    expect(() => deserializeModel(withHeader({ x: 1 }))).toThrow(/neither a list nor \{tensors, meta\}/);
    expect(() => deserializeModel(withHeader({ tensors: [], meta: { n: 1 } }))).toThrow(
      /meta "n" is not a string/,
    );
    expect(deserializeModel(withHeader({ tensors: [] }))).toEqual({ arrays: new Map(), meta: {} });
  });
});
