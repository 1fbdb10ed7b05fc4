// Big-endian reads without bounds exceptions: callers check lengths first; a read past the end yields 0, never throws.

export function u8(b: Buffer, o: number): number {
  return b[o] ?? 0;
}

export function u16(b: Buffer, o: number): number {
  return ((b[o] ?? 0) << 8) | (b[o + 1] ?? 0);
}

export function u32(b: Buffer, o: number): number {
  return (((b[o] ?? 0) << 24) | ((b[o + 1] ?? 0) << 16) | ((b[o + 2] ?? 0) << 8) | (b[o + 3] ?? 0)) >>> 0;
}

/**
 * An empty array that holds objects or strings in V8's terms from the start. An empty `[]` starts as an array of small
 * integers and changes kind at its first object; a decoder's long-lived array made later (a second pipeline) would
 * start as integers again, and code compiled for the first decoder's array would be dropped at its first read.
 */
export function objectArray<T>(): T[] {
  const a: (T | undefined)[] = [undefined];
  a.pop();
  return a as T[];
}

/**
 * Copies src[from, from + n) to dst at `at` (both ranges inside their buffers). Short runs byte by byte: Buffer.copy
 * makes a view of the source and calls the runtime, hundreds of instructions for the few bytes of a split PDU's start.
 */
export function copyBytes(src: Buffer, from: number, n: number, dst: Buffer, at: number): void {
  if (n > 64) {
    src.copy(dst, at, from, from + n);
    return;
  }
  for (let i = 0; i < n; i++) dst[at + i] = src[from + i] ?? 0;
}

/** Start value of a TextCache hash (FNV-1a's offset basis). */
export const TEXT_HASH_SEED = 0x811c9dc5;

/** One byte into a TextCache hash (FNV-1a's step). */
export function textHashStep(h: number, byte: number): number {
  return Math.imul(h ^ byte, 0x01000193);
}

/** A DataView of the buffer texts were last read from (made again only when the buffer changes). */
let viewOf: Buffer | undefined;
let view: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(0));

function viewFor(b: Buffer): DataView<ArrayBufferLike> {
  if (b !== viewOf) {
    viewOf = b;
    view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  }
  return view;
}

/**
 * Texts of short byte strings made once and reused: decoders read the same topics, names, methods and header values
 * over and over (a plant's few MQTT topics, DNS names, HTTP hosts), and a string made from the bytes each time is an
 * allocation (two with the Buffer slice) and garbage per PDU. A direct-mapped table keyed by a hash of the bytes:
 * a hit compares the bytes (so the text is always exactly what the bytes decode to); a miss decodes, and replaces
 * the slot's entry. Bounded: `entries` texts of at most `maxBytes` bytes each; longer byte strings are decoded every
 * time. Strings are immutable, so handing the same one out twice changes nothing a consumer can see.
 */
export class TextCache {
  private readonly slab: Uint8Array;
  private readonly slabView: DataView;
  /** Byte length of each slot's key, -1 when empty. */
  private readonly lens: Int16Array;
  private readonly hashes: Int32Array;
  private readonly texts: string[];
  private readonly mask: number;

  constructor(
    private readonly encoding: 'utf8' | 'latin1',
    entries = 1024,
    private readonly maxBytes = 64,
  ) {
    let n = 1;
    while (n < entries) n <<= 1;
    this.mask = n - 1;
    this.slab = new Uint8Array(n * maxBytes);
    this.slabView = new DataView(this.slab.buffer);
    this.lens = new Int16Array(n).fill(-1);
    this.hashes = new Int32Array(n);
    this.texts = new Array<string>(n).fill('');
  }

  /** The text of b[start, end) in this cache's encoding. */
  text(b: Buffer, start: number, end: number): string {
    const len = end - start;
    if (len > this.maxBytes || len < 0) return b.toString(this.encoding, start, end);
    // Hashed four bytes a step (one load each), the last 0-3 bytes one by one.
    const v = viewFor(b);
    let h = TEXT_HASH_SEED;
    let i = start;
    for (; i + 4 <= end; i += 4) h = textHashStep(h, v.getUint32(i));
    for (; i < end; i++) h = textHashStep(h, b[i] ?? 0);
    return this.hashed(b, start, end, h);
  }

  /**
   * text(), for a caller that hashed b[start, end) itself while writing it (h: TEXT_HASH_SEED, then textHashStep
   * over every byte), which saves a pass over the bytes. (A hash made otherwise than text() makes it can only cost
   * a miss: a hit needs the same bytes.) `bv`: a DataView of b, if the caller keeps one.
   */
  hashed(b: Buffer, start: number, end: number, hash: number, bv?: DataView<ArrayBufferLike>): string {
    const len = end - start;
    if (len > this.maxBytes || len < 0) return b.toString(this.encoding, start, end);
    let h = hash ^ len;
    h ^= h >>> 13;
    const slot = h & this.mask;
    const base = slot * this.maxBytes;
    const slab = this.slab;
    if (this.lens[slot] === len && this.hashes[slot] === h) {
      // Compared four bytes a step, then the last 0-3 one by one.
      const v = bv ?? viewFor(b);
      const sv = this.slabView;
      let same = true;
      let i = 0;
      for (; i + 4 <= len; i += 4) {
        if (sv.getUint32(base + i) !== v.getUint32(start + i)) {
          same = false;
          break;
        }
      }
      for (; same && i < len; i++) if (slab[base + i] !== b[start + i]) same = false;
      if (same) return this.texts[slot] ?? '';
    }
    const s = b.toString(this.encoding, start, end);
    for (let i = 0; i < len; i++) slab[base + i] = b[start + i] ?? 0;
    this.lens[slot] = len;
    this.hashes[slot] = h;
    this.texts[slot] = s;
    return s;
  }
}

/**
 * A copy of a reused event as a fresh object with only its defined fields, in its field order. A decoder whose
 * reused event has one fixed field order switches to the copy when a PDU makes it set a field out of that order
 * (as the JSON output lists fields in the order they were set), and goes on setting fields on the copy.
 */
export function detached<T extends object>(e: T): T {
  const out: Record<string, unknown> = {};
  const src = e as unknown as Record<string, unknown>;
  for (const k in src) {
    const v = src[k];
    if (v !== undefined) out[k] = v;
  }
  return out as T;
}
