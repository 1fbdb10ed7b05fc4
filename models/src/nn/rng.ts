// Seeded pseudo-random numbers, so that initialisation, sampling and DP noise are reproducible in tests.
// Generator: mulberry32 (Tommy Ettinger's public-domain 32-bit generator), period 2^32, ample for init and sampling.
// Normal deviates: Box-Muller transform (Box & Muller 1958). DP noise in production should come from a
// cryptographic source: see `cryptoRng` below.
import { randomBytes } from 'node:crypto';

export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Standard normal deviate. */
  normal(): number;
}

class BoxMuller {
  private spare: number | null = null;
  constructor(private readonly uniform: () => number) {}
  normal(): number {
    if (this.spare !== null) {
      const s = this.spare;
      this.spare = null;
      return s;
    }
    let u = 0;
    while (u === 0) u = this.uniform();
    const v = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }
}

/** Deterministic generator from a 32-bit seed. */
export function seededRng(seed: number): Rng {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const bm = new BoxMuller(next);
  return { next, normal: () => bm.normal() };
}

/** Generator backed by the operating system's CSPRNG (53-bit uniforms), for DP noise outside tests. */
export function cryptoRng(): Rng {
  let buf = randomBytes(4096);
  let pos = 0;
  const next = (): number => {
    if (pos + 8 > buf.length) {
      buf = randomBytes(4096);
      pos = 0;
    }
    const hi = buf.readUInt32BE(pos) >>> 5; // 27 bits
    const lo = buf.readUInt32BE(pos + 4) >>> 6; // 26 bits
    pos += 8;
    return (hi * 67108864 + lo) / 9007199254740992;
  };
  const bm = new BoxMuller(next);
  return { next, normal: () => bm.normal() };
}
