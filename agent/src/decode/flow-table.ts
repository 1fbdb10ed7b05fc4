// The flow table: bidirectional 5-tuple -> flow id, in typed arrays (open addressing with linear probing and
// backward-shift deletion, an intrusive LRU list). No allocation per packet. Bounded: when full the least recently
// used flow is evicted; flows idle longer than the timeout are expired as time passes. Every eviction is counted and
// reported to onEvict so per-flow state elsewhere is released with it.
import type { PacketView } from './types.js';

/** Words of a canonical key: address A (4), address B (4), ports A<<16|B, ip version<<8|protocol. */
const KW = 10;
const NONE = -1;
/** Slots of the hash index at the start. */
const INITIAL_INDEX = 4096;

function mix(h: number, w: number): number {
  h = Math.imul(h ^ w, 0x01000193);
  return h ^ (h >>> 15);
}

export interface FlowTableOptions {
  maxFlows: number;
  idleTimeoutMs: number;
  /** Called before a flow id is reused (eviction or expiry). */
  onEvict?: (flow: number) => void;
}

export interface FlowTableStats {
  active: number;
  created: number;
  evictedFull: number;
  expiredIdle: number;
}

export class FlowTable {
  readonly maxFlows: number;
  private readonly idleMs: number;
  private readonly onEvict: ((flow: number) => void) | undefined;
  private readonly keys: Uint32Array;
  private readonly hashes: Uint32Array;
  /**
   * Hash slots, one word each (0: empty): flow id + 1 in the high `idBits` bits, the top `tagBits` bits of the
   * flow's hash in the low ones, so that a probe past other flows reads no other array and the index is half the
   * size of an id-and-hash pair per slot (a new flow's probe is a cache miss; the smaller the index, the more of it
   * the caches hold). Grown (doubled, up to maxCap slots) to stay at most half full.
   */
  private index: Int32Array;
  /** Bits of an index word holding flow id + 1, and the rest, holding the hash's top bits (see index). */
  private readonly idBits: number;
  private readonly tagBits: number;
  private readonly tagMask: number;
  private mask: number;
  private readonly maxCap: number;
  private readonly prev: Int32Array;
  private readonly next: Int32Array;
  /** Last activity per flow, milliseconds of the injected clock. */
  readonly lastSeen: Float64Array;
  /** Ids given back (a stack: the last one given back is reused first). */
  private readonly free: Int32Array;
  private freeTop = 0;
  /** Ids below this have been handed out; a new flow takes this one when none was given back (ids go up from 0). */
  private fresh = 0;
  private head = NONE;
  private tail = NONE;
  private readonly k = new Uint32Array(KW);
  /**
   * The IPv4 flow the last lookup found or made, with its key (request, response and acknowledgement of one exchange
   * usually follow each other: the next packet then needs no hash and no probe). -1 when unset or removed.
   */
  private lastId = NONE;
  // -0 (equal to 0): addresses and port pairs reach past V8's small integers, so these are double fields from the
  // start (see PacketView).
  private lastA = -0;
  private lastB = -0;
  private lastPorts = -0;
  private lastProto = 0;
  /** After lookup(): 0 when the packet travels from endpoint A to B, 1 for B to A. */
  dir = 0;
  /** After lookup(): true when the flow was created by this packet. */
  created = false;
  readonly stats: FlowTableStats = { active: 0, created: 0, evictedFull: 0, expiredIdle: 0 };

  constructor(opts: FlowTableOptions) {
    if (!Number.isInteger(opts.maxFlows) || opts.maxFlows < 1) throw new RangeError('maxFlows must be >= 1');
    this.maxFlows = opts.maxFlows;
    this.idleMs = opts.idleTimeoutMs;
    this.onEvict = opts.onEvict;
    let cap = 1;
    while (cap < opts.maxFlows * 2) cap <<= 1;
    this.maxCap = cap;
    // Start small: a lookup's probe lands in a table that fits the caches while few flows are active (the full-size
    // index of the default 262,144 flows is 2 MB).
    const start = Math.min(cap, INITIAL_INDEX);
    this.mask = start - 1;
    this.index = new Int32Array(start);
    let idBits = 1;
    while (2 ** idBits <= opts.maxFlows) idBits++;
    if (idBits > 31) throw new RangeError('maxFlows must be below 2^31');
    this.idBits = idBits;
    this.tagBits = 32 - idBits;
    this.tagMask = 2 ** this.tagBits - 1;
    this.keys = new Uint32Array(opts.maxFlows * KW);
    this.hashes = new Uint32Array(opts.maxFlows);
    // Written by insert() before any read: no fill (a new table is made per capture, and per benchmark rep).
    this.prev = new Int32Array(opts.maxFlows);
    this.next = new Int32Array(opts.maxFlows);
    this.lastSeen = new Float64Array(opts.maxFlows);
    this.free = new Int32Array(opts.maxFlows);
  }

  get size(): number {
    return this.stats.active;
  }

  /**
   * The time of the lookup in progress (ms). It goes to lookup4/lookup6 by a field, not as an argument: they are too
   * large for V8 to inline, and a fractional number passed to a call that is not inlined is boxed (a 16-byte heap
   * number per packet, a third of the mixed capture's garbage). NaN at first, so that the field holds doubles from
   * the start and never changes representation.
   */
  private now = NaN;

  /** Finds or creates the flow of a decoded IP packet; sets `dir` and `created`. */
  lookup(pkt: PacketView, now: number): number {
    this.now = now;
    return pkt.ipVersion === 4 ? this.lookup4(pkt) : this.lookup6(pkt);
  }

  /** IPv4: the key's other address words are zero, so only four words are hashed and compared (in locals). */
  private lookup4(pkt: PacketView): number {
    const now = this.now;
    const s = pkt.src4;
    const d = pkt.dst4;
    const swap = s > d || (s === d && pkt.sport > pkt.dport);
    const a = swap ? d : s;
    const b = swap ? s : d;
    const ports = swap ? ((pkt.dport << 16) | pkt.sport) >>> 0 : ((pkt.sport << 16) | pkt.dport) >>> 0;
    const proto = (4 << 8) | (pkt.ipProto & 255);
    this.dir = swap ? 1 : 0;
    const last = this.lastId;
    if (
      last !== NONE &&
      a === this.lastA &&
      b === this.lastB &&
      ports === this.lastPorts &&
      proto === this.lastProto
    ) {
      this.created = false;
      this.touch(last, now);
      return last;
    }
    this.lastA = a;
    this.lastB = b;
    this.lastPorts = ports;
    this.lastProto = proto;
    const h = mix(mix(mix(mix(0x811c9dc5, a), b), ports), proto) >>> 0;
    const index = this.index;
    const keys = this.keys;
    const tag = h >>> this.idBits;
    const tagMask = this.tagMask;
    const mask = this.mask;
    let slot = h & mask;
    for (;;) {
      const e = index[slot] ?? 0;
      if (e === 0) break;
      if ((e & tagMask) === tag) {
        const id = (e >>> this.tagBits) - 1;
        const base = id * KW;
        if (
          keys[base] === a &&
          keys[base + 4] === b &&
          keys[base + 8] === ports &&
          keys[base + 9] === proto
        ) {
          this.created = false;
          this.touch(id, now);
          this.lastId = id;
          return id;
        }
      }
      slot = (slot + 1) & mask;
    }
    // The key's words written in place (a fill and a typed-array copy are runtime calls, once per new flow).
    const id = this.insert(h | 0);
    const base = id * KW;
    keys[base] = a;
    keys[base + 1] = keys[base + 2] = keys[base + 3] = 0;
    keys[base + 4] = b;
    keys[base + 5] = keys[base + 6] = keys[base + 7] = 0;
    keys[base + 8] = ports;
    keys[base + 9] = proto;
    this.lastId = id;
    return id;
  }

  private lookup6(pkt: PacketView): number {
    const now = this.now;
    const k = this.k;
    const buf = pkt.buf;
    let swap = false;
    let decided = false;
    for (let i = 0; i < 4; i++) {
      const s = buf.readUInt32BE(pkt.src6Off + i * 4);
      const d = buf.readUInt32BE(pkt.dst6Off + i * 4);
      if (!decided && s !== d) {
        swap = s > d;
        decided = true;
      }
      k[i] = s;
      k[4 + i] = d;
    }
    if (!decided) swap = pkt.sport > pkt.dport;
    if (swap) {
      for (let i = 0; i < 4; i++) {
        const t = k[i] ?? 0;
        k[i] = k[4 + i] ?? 0;
        k[4 + i] = t;
      }
    }
    k[8] = swap ? ((pkt.dport << 16) | pkt.sport) >>> 0 : ((pkt.sport << 16) | pkt.dport) >>> 0;
    k[9] = (6 << 8) | (pkt.ipProto & 255);
    this.dir = swap ? 1 : 0;
    let h = 0x811c9dc5;
    for (let i = 0; i < KW; i++) h = mix(h, k[i] ?? 0);
    h >>>= 0;
    const index = this.index;
    const keys = this.keys;
    const mask = this.mask;
    const tag = h >>> this.idBits;
    const tagMask = this.tagMask;
    let slot = h & mask;
    for (;;) {
      const e = index[slot] ?? 0;
      if (e === 0) break;
      if ((e & tagMask) === tag) {
        const id = (e >>> this.tagBits) - 1;
        const base = id * KW;
        let same = true;
        for (let i = 0; i < KW; i++) {
          if (keys[base + i] !== k[i]) {
            same = false;
            break;
          }
        }
        if (same) {
          this.created = false;
          this.touch(id, now);
          return id;
        }
      }
      slot = (slot + 1) & mask;
    }
    const id = this.insert(h | 0);
    keys.set(k, id * KW);
    return id;
  }

  /**
   * Adds a new flow of hash h (its 32 bits as a signed integer, which V8 passes unboxed; the caller writes its key)
   * at time this.now, evicting the least recently used one when full.
   */
  private insert(h: number): number {
    if (this.freeTop === 0 && this.fresh === this.maxFlows) {
      this.stats.evictedFull++;
      this.remove(this.tail);
    }
    const slots = this.index.length;
    if ((this.stats.active + 1) * 2 > slots && slots < this.maxCap) this.growIndex();
    const index = this.index;
    const mask = this.mask;
    let slot = h & mask;
    while ((index[slot] ?? 0) !== 0) slot = (slot + 1) & mask;
    const id = this.freeTop > 0 ? (this.free[--this.freeTop] ?? 0) : this.fresh++;
    this.hashes[id] = h;
    index[slot] = ((id + 1) << this.tagBits) | (h >>> this.idBits);
    this.stats.active++;
    this.stats.created++;
    this.created = true;
    this.prev[id] = NONE;
    this.next[id] = NONE;
    this.link(id);
    this.lastSeen[id] = this.now;
    return id;
  }

  /** Doubles the hash index and places every flow again (by its stored hash). */
  private growIndex(): void {
    const old = this.index;
    const index = new Int32Array(old.length * 2);
    const mask = index.length - 1;
    const hashes = this.hashes;
    for (let i = 0; i < old.length; i++) {
      const e = old[i] ?? 0;
      if (e === 0) continue;
      let slot = (hashes[(e >>> this.tagBits) - 1] ?? 0) & mask;
      while ((index[slot] ?? 0) !== 0) slot = (slot + 1) & mask;
      index[slot] = e;
    }
    this.index = index;
    this.mask = mask;
  }

  /** Expires up to `budget` flows idle for longer than the timeout (oldest first). */
  expire(now: number, budget = 4): void {
    while (budget-- > 0 && this.tail !== NONE && now - (this.lastSeen[this.tail] ?? 0) > this.idleMs) {
      this.stats.expiredIdle++;
      this.remove(this.tail);
    }
  }

  private touch(id: number, now: number): void {
    this.lastSeen[id] = now;
    const head = this.head;
    if (head === id) return;
    // unlink + link in one: a listed flow that is not the head has a previous one, and the list a head. (Small
    // enough for V8 to inline into the lookups, which it did not do with the two calls.)
    const prev = this.prev;
    const next = this.next;
    const p = prev[id] ?? NONE;
    const n = next[id] ?? NONE;
    next[p] = n;
    if (n !== NONE) prev[n] = p;
    else this.tail = p;
    next[id] = head;
    prev[id] = NONE;
    prev[head] = id;
    this.head = id;
  }

  private link(id: number): void {
    this.next[id] = this.head;
    this.prev[id] = NONE;
    if (this.head !== NONE) this.prev[this.head] = id;
    this.head = id;
    if (this.tail === NONE) this.tail = id;
  }

  private unlink(id: number): void {
    const p = this.prev[id] ?? NONE;
    const n = this.next[id] ?? NONE;
    if (p !== NONE) this.next[p] = n;
    else this.head = n;
    if (n !== NONE) this.prev[n] = p;
    else this.tail = p;
  }

  private remove(id: number): void {
    if (id === this.lastId) this.lastId = NONE;
    this.onEvict?.(id);
    this.unlink(id);
    const index = this.index;
    const mask = this.mask;
    const tagBits = this.tagBits;
    let i = (this.hashes[id] ?? 0) & mask;
    while ((index[i] ?? 0) >>> tagBits !== id + 1) i = (i + 1) & mask;
    index[i] = 0;
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      const e = index[j] ?? 0;
      if (e === 0) break;
      const want = (this.hashes[(e >>> tagBits) - 1] ?? 0) & mask;
      // Move e back into the hole at i unless its wanted slot lies cyclically in (i, j].
      const inRange = i <= j ? want > i && want <= j : want > i || want <= j;
      if (!inRange) {
        index[i] = e;
        index[j] = 0;
        i = j;
      }
    }
    this.free[this.freeTop++] = id;
    this.stats.active--;
  }
}
