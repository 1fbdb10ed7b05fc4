import { describe, expect, it } from 'vitest';
import { UNIQUE_COUNT_STANDARD_ERROR } from '@vigil/shared';
import { HLL_REGISTERS, hashBytes16, hllAdd, hllEstimate, mix32 } from './hll.js';

function estimate(n: number, start: number): number {
  const regs = new Uint8Array(HLL_REGISTERS);
  for (let i = 0; i < n; i++) hllAdd(regs, 0, mix32(start + i));
  return hllEstimate(regs, 0);
}

describe('HyperLogLog distinct count', () => {
  it('states the standard error of its register count', () => {
    expect(UNIQUE_COUNT_STANDARD_ERROR).toBeCloseTo(1.04 / Math.sqrt(HLL_REGISTERS), 3);
  });

  it('is off by at most one for small counts (linear counting) and within three standard errors up to a thousand', () => {
    expect(estimate(0, 0)).toBe(0);
    for (let n = 1; n <= 60; n++)
      expect(Math.abs(estimate(n, 0x0a000001) - n), `n=${n}`).toBeLessThanOrEqual(1);
    for (const n of [100, 500, 1000])
      expect(Math.abs(estimate(n, 0xc0a80000) - n) / n).toBeLessThan(3 * UNIQUE_COUNT_STANDARD_ERROR);
  });

  it('stays within three standard errors for large counts over many address ranges', () => {
    const errors: number[] = [];
    for (const n of [5_000, 20_000, 100_000]) {
      for (let k = 0; k < 8; k++) errors.push((estimate(n, k * 0x01000000 + 7) - n) / n);
    }
    for (const e of errors) expect(Math.abs(e)).toBeLessThan(3 * UNIQUE_COUNT_STANDARD_ERROR);
    // The errors scatter around zero as the bound says (not all on one side, not far beyond 1 sigma on average).
    const rms = Math.sqrt(errors.reduce((s, e) => s + e * e, 0) / errors.length);
    expect(rms).toBeLessThan(1.5 * UNIQUE_COUNT_STANDARD_ERROR);
  });

  it('counts a repeated address once', () => {
    const regs = new Uint8Array(HLL_REGISTERS);
    for (let i = 0; i < 10_000; i++) hllAdd(regs, 0, mix32(0x0a000000 + (i % 3)));
    expect(hllEstimate(regs, 0)).toBe(3);
  });

  it('reads only the bits of a hash: a signed hash and its unsigned value fill the same registers', () => {
    const signed = new Uint8Array(HLL_REGISTERS);
    const unsigned = new Uint8Array(HLL_REGISTERS);
    let negatives = 0;
    for (let i = 0; i < 5_000; i++) {
      const h = mix32(0x0a000000 + i * 7);
      if (h < 0) negatives++;
      hllAdd(signed, 0, h);
      hllAdd(unsigned, 0, h >>> 0);
    }
    expect(negatives).toBeGreaterThan(1_000);
    expect(signed).toEqual(unsigned);
  });

  it('hashes IPv6 addresses to unsigned 32-bit values', () => {
    const b = Buffer.alloc(16 * 64);
    for (let i = 0; i < b.length; i++) b[i] = (i * 37) & 255;
    const hashes = Array.from({ length: 64 }, (_, k) => hashBytes16(b, k * 16));
    for (const h of hashes) expect(h >>> 0).toBe(h);
    expect(hashes.some((h) => h >= 2 ** 31)).toBe(true);
  });
});
