// Secure aggregation with pairwise masks (Bonawitz et al. 2017, without its self-masks and secret sharing: a round
// with a dropout is aborted, see below), between Vigil agents through the Vigil aggregator. The aggregator learns
// the SUM of the plants' vectors and nothing else about any one of them.
//
// Per round, every participant makes a fresh X25519 key pair and sends its public key to the aggregator, which
// relays all of them to all participants (the agents are mTLS-authenticated facilities; the aggregator is trusted to
// relay keys faithfully: honest-but-curious, not malicious). Each pair (u, v) then shares a secret by X25519; HKDF
// turns it, with the run, round and both node ids, into an AES-256 key whose CTR keystream is the pair's mask: a
// vector of uint32. u adds the mask when u < v and subtracts it otherwise, so in the sum over all participants every
// mask cancels exactly (arithmetic modulo 2^32).
//
// The vectors are fixed-point encodings: each value clamped to [-bound, bound], times `scale`, rounded, as a 32-bit
// two's-complement integer. scale = floor((2^31 - 1) / (n bound)) - 1 keeps the true sum of n encoded values inside
// int32, so the modular sum read as an int32 is the exact integer sum: it cannot wrap. Decoding divides by scale; the
// rounding error of the decoded sum is at most n / (2 scale) per value.
//
// Dropouts: a participant whose masked vector does not arrive leaves its pairwise masks in the others' vectors, and
// without its private key nobody can remove them. The policy (implemented by the caller, the round engine) is to
// abort the round: the masked vectors received are dropped unread, nothing is revealed. Recovering via Shamir shares
// of the mask seeds (SecAgg+) would let the aggregator unmask a survivor set but, with 3 facilities, needs a
// threshold of 2 of 3: the aggregator plus one curious plant could then rebuild a third plant's masks. A key that
// never arrived (first stage) is no dropout: the participants are those whose keys were relayed.
import {
  createCipheriv,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  type KeyObject,
} from 'node:crypto';

/** Raw X25519 public keys are 32 bytes. */
export const PUBLIC_KEY_BYTES = 32;

/** Config keys of the secure-aggregation messages (the Fleet API's ConfigRecord; the Vigil agent and aggregator). */
export const SECAGG_KEYS = {
  /** 'keys' (query: send a fresh public key) or 'masked-train' (train: reply with the masked vector). */
  stage: 'secagg-stage',
  /** Reply of 'keys': the raw X25519 public key (bytes). */
  publicKey: 'secagg-public-key',
  /** 'masked-train': the participants' node ids (decimal strings) and their public keys, in the same order. */
  peerIds: 'secagg-peer-ids',
  peerKeys: 'secagg-peer-keys',
  /** 'masked-train': the clamp bound of every encoded value. */
  bound: 'secagg-bound',
  /** Reply of 'masked-train': the masked vector, little-endian uint32 (bytes). */
  masked: 'secagg-masked',
} as const;

export interface RoundKeyPair {
  privateKey: KeyObject;
  /** Raw 32-byte public key. */
  publicKey: Uint8Array;
}

/** A fresh X25519 key pair (one per participant and round: masks never repeat across rounds). */
export function newRoundKeyPair(): RoundKeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('x25519');
  const jwk = publicKey.export({ format: 'jwk' });
  return { privateKey, publicKey: new Uint8Array(Buffer.from(jwk.x!, 'base64url')) };
}

function x25519Public(raw: Uint8Array): KeyObject {
  if (raw.length !== PUBLIC_KEY_BYTES)
    throw new RangeError(`an X25519 public key has ${PUBLIC_KEY_BYTES} bytes, got ${raw.length}`);
  return createPublicKey({
    key: { kty: 'OKP', crv: 'X25519', x: Buffer.from(raw).toString('base64url') },
    format: 'jwk',
  });
}

/** What binds a pair's mask to one use: the Fleet run, the round, and the two node ids. */
export interface MaskContext {
  runId: string;
  round: number;
}

/** The AES-256 key of the pair (self, peer) for this round: HKDF-SHA256 of their X25519 shared secret. */
export function pairKey(
  self: { nodeId: string; privateKey: KeyObject },
  peer: { nodeId: string; publicKey: Uint8Array },
  ctx: MaskContext,
): Buffer {
  const secret = diffieHellman({ privateKey: self.privateKey, publicKey: x25519Public(peer.publicKey) });
  const [a, b] = [self.nodeId, peer.nodeId].sort();
  const info = `vigil-secagg-v1|${ctx.runId}|${ctx.round}|${a}|${b}`;
  return Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), info, 32));
}

/** `length` uint32 mask words: the AES-256-CTR keystream of `key` (IV 0; each key is used for one mask only). */
export function maskWords(key: Buffer, length: number): Uint32Array {
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  const bytes = Buffer.concat([cipher.update(Buffer.alloc(4 * length)), cipher.final()]);
  const out = new Uint32Array(length);
  for (let i = 0; i < length; i++) out[i] = bytes.readUInt32LE(4 * i);
  return out;
}

export interface FixedPoint {
  /** Every value is clamped to [-bound, bound] before encoding. */
  bound: number;
  /** Encoded integer = round(value * scale). */
  scale: number;
}

/**
 * The clamp bound of a round whose plants send clipped gradient sums: 4096 C. A coordinate of a sum of b clipped
 * per-example gradients is at most b C, and no plant samples thousands of rows into one step (a coordinate past the
 * bound is clamped: post-processing of the noised value, a bias, no privacy loss). With 3 plants the resolution is
 * then 1.7e-5 C per plant (2^31 / (3 * 4096) = 174,761 steps per C), far below the noise (sigma C / sqrt 2).
 */
export function defaultBound(clipNorm: number): number {
  return 4096 * clipNorm;
}

/** The fixed-point code for sums of `n` values within `bound`: the largest scale whose sum cannot leave int32. */
export function fixedPointFor(n: number, bound: number): FixedPoint {
  if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`secure aggregation needs n >= 1, got ${n}`);
  if (!(bound > 0) || !Number.isFinite(bound)) throw new RangeError(`bound must be > 0, got ${bound}`);
  // n values each of |round(v s)| <= bound s + 1/2: the sum stays below 2^31 when bound s <= (2^31 - 1) / n - 1
  const scale = Math.floor((2 ** 31 - 1) / n / bound - 1);
  if (scale < 1) throw new RangeError(`bound ${bound} is too large for ${n} participants in 32 bits`);
  return { bound, scale };
}

/** Clamps, scales and rounds `values` into 32-bit two's-complement words (the plain, unmasked encoding). */
export function encodeFixedPoint(values: ArrayLike<number>, fp: FixedPoint): Uint32Array {
  const out = new Uint32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    const c = Number.isNaN(v) ? 0 : v > fp.bound ? fp.bound : v < -fp.bound ? -fp.bound : v;
    out[i] = Math.round(c * fp.scale) >>> 0;
  }
  return out;
}

/** The values a sum of encodings stands for (the words read as int32, divided by scale). */
export function decodeFixedPoint(words: Uint32Array, fp: FixedPoint): Float64Array {
  const out = new Float64Array(words.length);
  for (let i = 0; i < words.length; i++) out[i] = (words[i]! | 0) / fp.scale;
  return out;
}

export interface Participant {
  nodeId: string;
  publicKey: Uint8Array;
}

/**
 * `encoded` plus the pairwise masks of `self` with every other participant (in place; returned). `participants`
 * lists everyone of the round, `self` included (its own entry is skipped); node ids must be distinct.
 */
export function applyMasks(
  encoded: Uint32Array,
  self: { nodeId: string; privateKey: KeyObject },
  participants: readonly Participant[],
  ctx: MaskContext,
): Uint32Array {
  const ids = new Set(participants.map((p) => p.nodeId));
  if (ids.size !== participants.length) throw new RangeError('secure aggregation: node ids repeat');
  if (!ids.has(self.nodeId))
    throw new RangeError(`secure aggregation: node ${self.nodeId} is not a participant`);
  for (const peer of participants) {
    if (peer.nodeId === self.nodeId) continue;
    const mask = maskWords(pairKey(self, peer, ctx), encoded.length);
    // the smaller id adds, the larger subtracts: every pair's two masks cancel in the sum
    const add = compareIds(self.nodeId, peer.nodeId) < 0;
    for (let i = 0; i < encoded.length; i++)
      encoded[i] = add ? (encoded[i]! + mask[i]!) >>> 0 : (encoded[i]! - mask[i]!) >>> 0;
  }
  return encoded;
}

/** Node ids are decimal uint64 strings: compare as numbers (same order on both sides of a pair). */
function compareIds(a: string, b: string): number {
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** The modular sum of the participants' masked vectors: the sum of their plain encodings once all are in. */
export function sumWords(vectors: readonly Uint32Array[]): Uint32Array {
  if (vectors.length === 0) throw new RangeError('sumWords: no vectors');
  const len = vectors[0]!.length;
  const out = new Uint32Array(len);
  for (const v of vectors) {
    if (v.length !== len) throw new RangeError(`sumWords: vectors of ${v.length} and ${len} words`);
    for (let i = 0; i < len; i++) out[i] = (out[i]! + v[i]!) >>> 0;
  }
  return out;
}

/** Little-endian bytes of a word vector (the wire form) and back. */
export function wordsToBytes(words: Uint32Array): Uint8Array {
  const out = new Uint8Array(4 * words.length);
  const view = new DataView(out.buffer);
  for (let i = 0; i < words.length; i++) view.setUint32(4 * i, words[i]!, true);
  return out;
}

export function bytesToWords(bytes: Uint8Array): Uint32Array {
  if (bytes.length % 4 !== 0)
    throw new RangeError(`a word vector has a multiple of 4 bytes, got ${bytes.length}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Uint32Array(bytes.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = view.getUint32(4 * i, true);
  return out;
}
