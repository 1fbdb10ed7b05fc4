import { describe, expect, it } from 'vitest';
import { ObjectFormatError } from './inflatable.js';
import { fromNpy, toNpy } from './npy.js';

describe('.npy arrays', () => {
  it('round-trip shape and float32 values, with the header padded to 64 bytes', () => {
    const data = Float32Array.from([1.5, -2, 3.25, 0, 1e-7, -1e30]);
    const bytes = toNpy([2, 3], data);
    expect((bytes.length - data.length * 4) % 64).toBe(0);
    expect(fromNpy(bytes)).toEqual({ shape: [2, 3], data });
    expect(fromNpy(toNpy([], Float32Array.from([4])))).toEqual({ shape: [], data: Float32Array.from([4]) });
  });

  it('refuses data that is not a little-endian float32 C-order array, saying why', () => {
    const good = toNpy([2], Float32Array.from([1, 2]));
    const f8 = Buffer.from(Buffer.from(good).toString('latin1').replace("'<f4'", "'<f8'"), 'latin1');
    const fortran = Buffer.from(Buffer.from(good).toString('latin1').replace('False', 'True '), 'latin1');
    expect(() => fromNpy(Uint8Array.from([1, 2, 3]))).toThrow(ObjectFormatError);
    expect(() => fromNpy(f8)).toThrow(/not float32/);
    expect(() => fromNpy(fortran)).toThrow(/Fortran/);
    expect(() => fromNpy(good.subarray(0, good.length - 1))).toThrow(/needs 8/);
    expect(() => toNpy([3], Float32Array.from([1]))).toThrow(/needs 3 values/);
  });
});
