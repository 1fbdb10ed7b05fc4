// HyperLogLog distinct counting over caller-owned registers (a slice of a Uint8Array), so many small sketches live
// in one typed array. 2^10 one-byte registers per sketch: standard error 1.04 / sqrt(1024) = 3.25%, with the
// linear-counting correction for small counts (off by at most one up to 60 addresses, tested).
export const HLL_BITS = 10;
export const HLL_REGISTERS = 1 << HLL_BITS;
const ALPHA = 0.7213 / (1 + 1.079 / HLL_REGISTERS);

/**
 * A 32-bit mixer (murmur3 fmix32): a bijection, so distinct IPv4 addresses never collide. The hash is a signed
 * 32-bit integer (hllAdd reads its bits): a small integer to V8, where an unsigned one above 2^31 is a heap number
 * whenever it is passed to a call V8 does not inline.
 */
export function mix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x | 0;
}

/** Hash of 16 address bytes (IPv6), unsigned 32-bit. */
export function hashBytes16(b: Buffer, o: number): number {
  let h = 0x9747b28c;
  for (let i = 0; i < 16; i += 4) h = mix32(h ^ b.readUInt32BE(o + i));
  return h >>> 0;
}

/** Adds a 32-bit hash (signed or unsigned: only its bits count) to the sketch at regs[base]. */
export function hllAdd(regs: Uint8Array, base: number, hash: number): void {
  const i = hash >>> (32 - HLL_BITS);
  const w = (hash << HLL_BITS) >>> 0;
  const rank = w === 0 ? 32 - HLL_BITS + 1 : Math.clz32(w) + 1;
  if (rank > (regs[base + i] ?? 0)) regs[base + i] = rank;
}

/** 2^-r for every register value r (0..32 - HLL_BITS + 1): a table instead of a power per register. */
const POW2_NEG = Float64Array.from({ length: 64 }, (_, r) => 2 ** -r);

export function hllEstimate(regs: Uint8Array, base: number): number {
  let sum = 0;
  let zeros = 0;
  for (let i = 0; i < HLL_REGISTERS; i++) {
    const r = regs[base + i] ?? 0;
    sum += POW2_NEG[r] ?? 0;
    if (r === 0) zeros++;
  }
  const e = (ALPHA * HLL_REGISTERS * HLL_REGISTERS) / sum;
  if (e <= 2.5 * HLL_REGISTERS && zeros > 0)
    return Math.round(HLL_REGISTERS * Math.log(HLL_REGISTERS / zeros));
  return Math.round(e);
}
