// IPv4. Fragments are flagged (pkt.fragment) and counted; their transport layer is not decoded (no reassembly yet).
import { u16, u32, u8 } from './bytes.js';
import type { Counters, PacketView } from './types.js';

const MIN_HEADER = 20;
const FLAG_MF = 0x2000;
const OFFSET_MASK = 0x1fff;

/** Decodes the IPv4 header at `off`; on success sets the addresses and pkt.payloadOff/payloadLen. */
export function decodeIpv4(pkt: PacketView, off: number, end: number, c: Counters): boolean {
  const b = pkt.buf;
  if (end - off < MIN_HEADER) {
    c.inc('ipv4.truncated');
    return false;
  }
  const vihl = u8(b, off);
  if (vihl >> 4 !== 4) {
    c.inc('ipv4.bad_version');
    return false;
  }
  const hlen = (vihl & 15) * 4;
  if (hlen < MIN_HEADER) {
    c.inc('ipv4.bad_header_length');
    return false;
  }
  const total = u16(b, off + 2);
  if (total < hlen) {
    c.inc('ipv4.bad_total_length');
    return false;
  }
  if (end - off < hlen) {
    c.inc('ipv4.truncated');
    return false;
  }
  // Ethernet pads short frames: the IP total length, not the frame, says where the packet ends.
  let stop = off + total;
  if (stop > end) {
    c.inc('ipv4.truncated_payload');
    stop = end;
  }
  const frag = u16(b, off + 6);
  pkt.ipVersion = 4;
  pkt.ttl = u8(b, off + 8);
  pkt.ipProto = u8(b, off + 9);
  pkt.src4 = u32(b, off + 12);
  pkt.dst4 = u32(b, off + 16);
  pkt.payloadOff = off + hlen;
  pkt.payloadLen = stop - (off + hlen);
  if ((frag & (FLAG_MF | OFFSET_MASK)) !== 0) {
    pkt.fragment = true;
    c.inc('ipv4.fragment');
    return false;
  }
  return true;
}

export interface Ipv4ReassemblyOptions {
  /** Datagrams being reassembled at once; a new one beyond this is dropped (counted). */
  maxDatagrams?: number;
  /** A datagram not complete within this time (injected clock) is dropped (counted). */
  timeoutMs?: number;
}

interface Partial {
  firstSeen: number;
  /** Total payload length, known once the last fragment (MF clear) arrived; -1 before. */
  total: number;
  /** The first fragment's IP header (offset 0), copied. */
  header: Buffer | undefined;
  parts: { off: number; data: Buffer }[];
  bytes: number;
}

const MAX_DATAGRAM = 65_535;

/**
 * Reassembles IPv4 fragments (bounded: table size, datagram size and age). Fragments are copied (they are rare);
 * a complete datagram is handed back as one buffer holding the first fragment's header and the whole payload.
 */
export class Ipv4Reassembler {
  private readonly table = new Map<string, Partial>();
  private readonly max: number;
  private readonly timeoutMs: number;

  constructor(opts: Ipv4ReassemblyOptions = {}) {
    this.max = opts.maxDatagrams ?? 256;
    this.timeoutMs = opts.timeoutMs ?? 30_000;
  }

  get size(): number {
    return this.table.size;
  }

  /**
   * Adds the fragment pkt describes (pkt.fragment set by decodeIpv4). Returns true when it completed a datagram:
   * pkt then points at the reassembled datagram (buf, payloadOff, payloadLen) and can be decoded further.
   */
  add(pkt: PacketView, ipOff: number, now: number, c: Counters): boolean {
    this.expire(now, c);
    const b = pkt.buf;
    const hlen = (u8(b, ipOff) & 15) * 4;
    const frag = u16(b, ipOff + 6);
    const offset = (frag & OFFSET_MASK) * 8;
    const more = (frag & FLAG_MF) !== 0;
    const key = `${pkt.src4}/${pkt.dst4}/${pkt.ipProto}/${u16(b, ipOff + 4)}`;
    let d = this.table.get(key);
    if (d === undefined) {
      if (this.table.size >= this.max) {
        c.inc('ipv4.fragment_table_full');
        return false;
      }
      d = { firstSeen: now, total: -1, header: undefined, parts: [], bytes: 0 };
      this.table.set(key, d);
    }
    const len = pkt.payloadLen;
    if (offset + len > MAX_DATAGRAM || d.bytes + len > MAX_DATAGRAM * 2) {
      c.inc('ipv4.fragment_too_large');
      this.table.delete(key);
      return false;
    }
    if (!more) {
      if (d.total >= 0 && d.total !== offset + len) c.inc('ipv4.fragment_inconsistent_length');
      d.total = offset + len;
    }
    if (offset === 0) d.header = Buffer.from(b.subarray(ipOff, ipOff + hlen));
    d.parts.push({ off: offset, data: Buffer.from(b.subarray(pkt.payloadOff, pkt.payloadOff + len)) });
    d.bytes += len;
    if (d.total < 0 || d.header === undefined) return false;
    // Complete when the parts cover [0, total) without a hole.
    const parts = [...d.parts].sort((x, y) => x.off - y.off);
    let covered = 0;
    for (const p of parts) {
      if (p.off > covered) return false;
      if (p.off < covered) c.inc('ipv4.fragment_overlap');
      covered = Math.max(covered, p.off + p.data.length);
    }
    if (covered < d.total) return false;
    this.table.delete(key);
    const h = d.header;
    const out = Buffer.alloc(h.length + d.total);
    h.copy(out, 0);
    // Later arrivals overwrite earlier ones where they overlap (as the parts were received).
    for (const p of d.parts) p.data.copy(out, h.length + p.off, 0, Math.min(p.data.length, d.total - p.off));
    c.inc('ipv4.reassembled');
    pkt.buf = out;
    pkt.fragment = false;
    pkt.payloadOff = h.length;
    pkt.payloadLen = d.total;
    return true;
  }

  private expire(now: number, c: Counters): void {
    for (const [key, d] of this.table) {
      if (now - d.firstSeen <= this.timeoutMs) break;
      c.inc('ipv4.fragment_timeout');
      this.table.delete(key);
    }
  }
}
