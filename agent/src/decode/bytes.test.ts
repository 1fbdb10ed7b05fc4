import { describe, expect, it } from 'vitest';
import { TEXT_HASH_SEED, TextCache, textHashStep } from './bytes.js';

/** A deterministic pseudo-random generator (xorshift32), so that a failure can be replayed. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 2 ** 32;
  };
}

describe('TextCache', () => {
  it('gives exactly the text of the bytes, for strings that share words and differ in one byte anywhere', () => {
    // A small cache (16 slots) and a small alphabet: slots are shared and replaced, and many strings differ from a
    // cached one only in their last 0-3 bytes or in one word, which the four-byte compare must still tell apart.
    const cache = new TextCache('latin1', 16, 40);
    const next = rng(12345);
    const base = Buffer.from('plant/line1/sensor0/temperature/value-01', 'latin1');
    const buf = Buffer.alloc(4096);
    for (let n = 0; n < 20_000; n++) {
      const len = Math.floor(next() * 42);
      const start = Math.floor(next() * 64);
      base.copy(buf, start, 0, Math.min(len, base.length));
      for (let i = base.length; i < len; i++) buf[start + i] = 0x61;
      if (next() < 0.7 && len > 0) buf[start + Math.floor(next() * len)] = 0x30 + Math.floor(next() * 3);
      const text = cache.text(buf, start, start + len);
      expect(text).toBe(buf.toString('latin1', start, start + len));
    }
  });

  it('takes a hash the caller made byte by byte, and a foreign hash only costs a miss', () => {
    const cache = new TextCache('utf8', 64, 64);
    const b = Buffer.from('xxhistorian.plant.local', 'utf8');
    let h = TEXT_HASH_SEED;
    for (let i = 2; i < b.length; i++) h = textHashStep(h, b[i] ?? 0);
    expect(cache.hashed(b, 2, b.length, h)).toBe('historian.plant.local');
    expect(cache.text(b, 2, b.length)).toBe('historian.plant.local');
    // A wrong hash for other bytes of the same length never returns the cached text.
    const other = Buffer.from('xxhistorian.plant.locaX', 'utf8');
    expect(cache.hashed(other, 2, other.length, h)).toBe('historian.plant.locaX');
  });
});
