// IP fragment reassembly for IPv4 and IPv6 alike (RFC 791, RFC 8200 section 4.5): fragments of one datagram share a
// key (addresses, protocol, identification); each carries its byte offset and a more-fragments flag; the datagram is
// complete when the parts cover [0, total) with no hole, total being known from the last fragment. Bounded by the
// number of datagrams in progress, the datagram size and an age on the injected clock; every drop is counted under
// the caller's counter prefix (`ipv4.` or `ipv6.`). Fragments are copied (they are rare).
import type { Counters } from './types.js';

export interface FragmentReassemblyOptions {
  /** Datagrams being reassembled at once; a new one beyond this is dropped (counted). */
  maxDatagrams?: number;
  /** A datagram not complete within this time (injected clock) is dropped (counted). */
  timeoutMs?: number;
}

/** One fragment as the IP decoder found it. */
export interface Fragment {
  key: string;
  /** Byte offset of this fragment's data in the datagram's payload. */
  offset: number;
  /** More fragments follow (MF / M flag). */
  more: boolean;
  data: Buffer;
  /** What goes before the payload in the reassembled datagram, given by the fragment at offset 0. */
  header?: Buffer;
}

interface InProgress {
  firstSeen: number;
  /** Total payload length, known once the last fragment arrived; -1 before. */
  total: number;
  header: Buffer | undefined;
  parts: { off: number; data: Buffer }[];
  bytes: number;
}

/** The largest payload an IP datagram can carry (16-bit lengths). */
const MAX_DATAGRAM = 65_535;

export class FragmentReassembler {
  private readonly table = new Map<string, InProgress>();
  private readonly max: number;
  private readonly timeoutMs: number;

  constructor(
    private readonly prefix: 'ipv4' | 'ipv6',
    opts: FragmentReassemblyOptions = {},
  ) {
    this.max = opts.maxDatagrams ?? 256;
    this.timeoutMs = opts.timeoutMs ?? 30_000;
  }

  get size(): number {
    return this.table.size;
  }

  /**
   * Adds a fragment. Returns the reassembled datagram (the first fragment's header, then the whole payload) when this
   * fragment completed it, else null.
   */
  add(f: Fragment, now: number, c: Counters): { datagram: Buffer; headerLength: number } | null {
    this.expire(now, c);
    let d = this.table.get(f.key);
    if (d === undefined) {
      if (this.table.size >= this.max) {
        c.inc(`${this.prefix}.fragment_table_full`);
        return null;
      }
      d = { firstSeen: now, total: -1, header: undefined, parts: [], bytes: 0 };
      this.table.set(f.key, d);
    }
    const len = f.data.length;
    if (f.offset + len > MAX_DATAGRAM || d.bytes + len > MAX_DATAGRAM * 2) {
      c.inc(`${this.prefix}.fragment_too_large`);
      this.table.delete(f.key);
      return null;
    }
    if (!f.more) {
      if (d.total >= 0 && d.total !== f.offset + len) c.inc(`${this.prefix}.fragment_inconsistent_length`);
      d.total = f.offset + len;
    }
    if (f.offset === 0 && f.header !== undefined) d.header = Buffer.from(f.header);
    d.parts.push({ off: f.offset, data: Buffer.from(f.data) });
    d.bytes += len;
    if (d.total < 0 || d.header === undefined) return null;
    // Complete when the parts cover [0, total) without a hole.
    const parts = [...d.parts].sort((x, y) => x.off - y.off);
    let covered = 0;
    for (const p of parts) {
      if (p.off > covered) return null;
      if (p.off < covered) c.inc(`${this.prefix}.fragment_overlap`);
      covered = Math.max(covered, p.off + p.data.length);
    }
    if (covered < d.total) return null;
    this.table.delete(f.key);
    const h = d.header;
    const out = Buffer.alloc(h.length + d.total);
    h.copy(out, 0);
    // Later arrivals overwrite earlier ones where they overlap (as the parts were received).
    for (const p of d.parts) p.data.copy(out, h.length + p.off, 0, Math.min(p.data.length, d.total - p.off));
    c.inc(`${this.prefix}.reassembled`);
    return { datagram: out, headerLength: h.length };
  }

  private expire(now: number, c: Counters): void {
    for (const [key, d] of this.table) {
      if (now - d.firstSeen <= this.timeoutMs) break;
      c.inc(`${this.prefix}.fragment_timeout`);
      this.table.delete(key);
    }
  }
}
