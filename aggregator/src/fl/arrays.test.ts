import { describe, expect, it } from 'vitest';
import { deserializeArrays, layoutMismatch, serializeArrays, sha256Hex } from './arrays.js';
import type { Arrays } from './transport.js';

function model(): Arrays {
  return new Map([
    ['dense.weight', { shape: [2, 3], data: Float32Array.from([1, -2, 3.5, 0, 1e-7, -1e30]) }],
    ['dense.bias', { shape: [2], data: Float32Array.from([0.25, -0.5]) }],
  ]);
}

describe('arrays', () => {
  it('serializes and reads back names, shapes and values exactly', () => {
    const bytes = serializeArrays(model());

    const back = deserializeArrays(bytes);

    expect(back).toEqual(model());
    expect(sha256Hex(bytes)).toBe(sha256Hex(serializeArrays(back)));
  });

  it('refuses truncated or trailing bytes with a clear error', () => {
    const bytes = serializeArrays(model());

    expect(() => deserializeArrays(bytes.subarray(0, bytes.length - 1))).toThrow(/runs past the end/);
    expect(() => deserializeArrays(new Uint8Array([...bytes, 0]))).toThrow(/1 bytes after the last tensor/);
    expect(() => deserializeArrays(new Uint8Array([1, 0]))).toThrow(/shorter than its header/);
  });

  it('names what differs between a reply and the global layout', () => {
    const renamed: Arrays = new Map([...model()].map(([n, t], i) => [i === 1 ? 'other' : n, t]));
    const reshaped = model();
    reshaped.set('dense.bias', { shape: [1, 2], data: Float32Array.from([0, 0]) });
    const nan = model();
    nan.get('dense.bias')!.data[1] = NaN;

    expect(layoutMismatch(model(), model())).toBeNull();
    expect(layoutMismatch(model(), renamed)).toMatch(/array 1 is "other", expected "dense.bias"/);
    expect(layoutMismatch(model(), reshaped)).toMatch(/shape \[1, 2\], expected \[2\]/);
    expect(layoutMismatch(model(), nan)).toMatch(/non-finite value at 1/);
    expect(layoutMismatch(model(), new Map())).toMatch(/0 arrays, expected 2/);
  });
});
