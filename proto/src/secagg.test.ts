import { describe, expect, it } from 'vitest';
import {
  applyMasks,
  bytesToWords,
  decodeFixedPoint,
  defaultBound,
  encodeFixedPoint,
  fixedPointFor,
  newRoundKeyPair,
  sumWords,
  wordsToBytes,
  type Participant,
} from './secagg.js';

/** Deterministic values in [-amp, amp] (a plain LCG; the tests need repeatable vectors, not randomness). */
function values(n: number, seed: number, amp: number): Float64Array {
  let x = seed >>> 0;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    out[i] = (x / 2 ** 32 - 0.5) * 2 * amp;
  }
  return out;
}

function round(ids: string[]) {
  const keys = ids.map(() => newRoundKeyPair());
  const participants: Participant[] = ids.map((nodeId, i) => ({ nodeId, publicKey: keys[i]!.publicKey }));
  return { keys, participants };
}

/** Every plant of `ids` masks its `plain` vector for the same round, as the agents do: the masked words, in order. */
function maskedRound(
  ids: string[],
  plain: readonly Float64Array[],
  fp: ReturnType<typeof fixedPointFor>,
  ctx: { runId: string; round: number },
): Uint32Array[] {
  const { keys, participants } = round(ids);
  return plain.map((v, i) =>
    applyMasks(
      encodeFixedPoint(v, fp),
      { nodeId: ids[i]!, privateKey: keys[i]!.privateKey },
      participants,
      ctx,
    ),
  );
}

describe('secure aggregation masks', () => {
  it('cancel exactly: the sum of masked vectors decodes to the sum of the plain values within the rounding', () => {
    const ids = ['18446744073709551000', '7', '123456789012'];
    const plain = ids.map((_, i) => values(1000, 11 + i, 50));
    const fp = fixedPointFor(ids.length, defaultBound(1));

    const masked = maskedRound(ids, plain, fp, { runId: 'r1', round: 3 });
    const sum = decodeFixedPoint(sumWords(masked), fp);
    const unmaskedSum = sumWords(plain.map((v) => encodeFixedPoint(v, fp)));

    expect(sumWords(masked)).toEqual(unmaskedSum); // exact in the ring
    for (let k = 0; k < 1000; k++) {
      const truth = plain[0]![k]! + plain[1]![k]! + plain[2]![k]!;
      expect(Math.abs(sum[k]! - truth)).toBeLessThanOrEqual(ids.length / (2 * fp.scale) + 1e-12);
    }
  });

  it('an extreme sum (every value at the bound, all one sign) does not wrap', () => {
    const n = 5;
    const fp = fixedPointFor(n, 10);
    const enc = [1, 2, 3, 4, 5].map(() => encodeFixedPoint([1e9, -1e9], fp)); // clamped to +-10
    const sum = decodeFixedPoint(sumWords(enc), fp);
    expect(sum[0]).toBeCloseTo(50, 4);
    expect(sum[1]).toBeCloseTo(-50, 4);
  });

  it('a single masked vector reveals nothing useful: it looks uniform and is uncorrelated with the plain one', () => {
    const ids = ['2', '3', '4'];
    const fp = fixedPointFor(3, defaultBound(1));
    const plain = new Float64Array(20_000).fill(0.25); // a constant update: its encoding is one repeated word
    const { keys, participants } = round(ids);
    const encoded = encodeFixedPoint(plain, fp);
    const masked = applyMasks(
      encoded.slice(),
      { nodeId: '3', privateKey: keys[1]!.privateKey },
      participants,
      {
        runId: 'r',
        round: 1,
      },
    );

    // the plain encoding is a single value; the masked words spread over the whole ring: chi-square over 16 bins
    const bins = new Array<number>(16).fill(0);
    for (const w of masked) bins[w >>> 28]!++;
    const e = masked.length / 16;
    const chi2 = bins.reduce((t, b) => t + (b - e) ** 2 / e, 0);
    expect(chi2).toBeLessThan(37.7); // 15 degrees of freedom, p = 0.001
    expect(new Set(masked).size).toBeGreaterThan(19_900);
    expect(masked.filter((w, i) => w === encoded[i]).length).toBeLessThan(3);
    // decoding the masked vector alone gives values spread over the whole range, nowhere near 0.25
    const alone = decodeFixedPoint(masked, fp);
    const near = alone.filter((v) => Math.abs(v - 0.25) < 1).length;
    expect(near).toBeLessThan(20);
  });

  it('without one participant the masks do not cancel (a dropout leaves the sum unusable, so rounds abort)', () => {
    const ids = ['2', '3', '4'];
    const fp = fixedPointFor(3, defaultBound(1));
    const plain = ids.map((_, i) => values(500, 40 + i, 1));
    const masked = maskedRound(ids, plain, fp, { runId: 'r', round: 1 });
    const partial = decodeFixedPoint(sumWords(masked.slice(0, 2)), fp);
    const truth = plain[0]!.map((v, k) => v + plain[1]![k]!);
    const close = partial.filter((v, k) => Math.abs(v - truth[k]!) < 1).length;
    expect(close).toBeLessThan(5);
  });

  it('masks depend on the round: the same keys in another round give other words', () => {
    const ids = ['2', '3'];
    const fp = fixedPointFor(2, 1);
    const { keys, participants } = round(ids);
    const self = { nodeId: '2', privateKey: keys[0]!.privateKey };
    const a = applyMasks(encodeFixedPoint([0, 0, 0, 0], fp), self, participants, { runId: 'r', round: 1 });
    const b = applyMasks(encodeFixedPoint([0, 0, 0, 0], fp), self, participants, { runId: 'r', round: 2 });
    expect(a).not.toEqual(b);
  });

  it('refuses a participant list that repeats an id or leaves the sender out, and a short public key', () => {
    const fp = fixedPointFor(2, 1);
    const { keys, participants } = round(['2', '3']);
    const self = { nodeId: '2', privateKey: keys[0]!.privateKey };
    const ctx = { runId: 'r', round: 1 };
    expect(() =>
      applyMasks(encodeFixedPoint([1], fp), self, [participants[0]!, participants[0]!], ctx),
    ).toThrow(/repeat/);
    expect(() => applyMasks(encodeFixedPoint([1], fp), self, [participants[1]!], ctx)).toThrow(
      /not a participant/,
    );
    expect(() =>
      applyMasks(
        encodeFixedPoint([1], fp),
        self,
        [participants[0]!, { nodeId: '3', publicKey: new Uint8Array(5) }],
        ctx,
      ),
    ).toThrow(/32 bytes/);
  });

  it('words survive the wire form; a torn byte string is refused', () => {
    const w = new Uint32Array([0, 1, 0xffffffff, 0x80000000]);
    expect(bytesToWords(wordsToBytes(w))).toEqual(w);
    expect(() => bytesToWords(new Uint8Array(7))).toThrow(/multiple of 4/);
  });

  it('refuses a bound too large for 32 bits and a bad participant count', () => {
    expect(() => fixedPointFor(3, 2 ** 31)).toThrow(/too large/);
    expect(() => fixedPointFor(0, 1)).toThrow(/n >= 1/);
  });
});
