// IPv6 with extension headers (hop-by-hop, routing, fragment, destination options, AH, mobility, HIP, shim6).
import { u16, u32, u8 } from './bytes.js';
import type { Fragment } from './fragments.js';
import type { Counters, PacketView } from './types.js';

const HEADER = 40;
export const Ipv6Ext = {
  HOP_BY_HOP: 0,
  ROUTING: 43,
  FRAGMENT: 44,
  ESP: 50,
  AH: 51,
  NO_NEXT: 59,
  DEST_OPTS: 60,
  MOBILITY: 135,
  HIP: 139,
  SHIM6: 140,
} as const;
/** A chain longer than this is treated as malformed (real stacks use a handful). */
const MAX_EXT = 8;

export function decodeIpv6(pkt: PacketView, off: number, end: number, c: Counters): boolean {
  const b = pkt.buf;
  if (end - off < HEADER) {
    c.inc('ipv6.truncated');
    return false;
  }
  if (u8(b, off) >> 4 !== 6) {
    c.inc('ipv6.bad_version');
    return false;
  }
  let stop = off + HEADER + u16(b, off + 4);
  if (stop > end) {
    c.inc('ipv6.truncated_payload');
    stop = end;
  }
  pkt.ipVersion = 6;
  pkt.ttl = u8(b, off + 7);
  pkt.src6Off = off + 8;
  pkt.dst6Off = off + 24;
  let next = u8(b, off + 6);
  let o = off + HEADER;
  for (let n = 0; ; n++) {
    if (
      next === Ipv6Ext.HOP_BY_HOP ||
      next === Ipv6Ext.ROUTING ||
      next === Ipv6Ext.DEST_OPTS ||
      next === Ipv6Ext.MOBILITY ||
      next === Ipv6Ext.HIP ||
      next === Ipv6Ext.SHIM6 ||
      next === Ipv6Ext.FRAGMENT ||
      next === Ipv6Ext.AH
    ) {
      if (n >= MAX_EXT) {
        c.inc('ipv6.too_many_extension_headers');
        return false;
      }
      if (stop - o < 8) {
        c.inc('ipv6.truncated_extension_header');
        return false;
      }
      const len =
        next === Ipv6Ext.FRAGMENT ? 8 : next === Ipv6Ext.AH ? (u8(b, o + 1) + 2) * 4 : (u8(b, o + 1) + 1) * 8;
      if (stop - o < len) {
        c.inc('ipv6.truncated_extension_header');
        return false;
      }
      // A real fragment (offset or M flag set; an atomic fragment is a whole packet): what follows the fragment
      // header is only decodable after reassembly (the pipeline's), so the walk stops here.
      if (next === Ipv6Ext.FRAGMENT && (u16(b, o + 2) & 0xfff9) !== 0) {
        pkt.fragment = true;
        pkt.fragHdrOff = o;
        next = u8(b, o);
        o += len;
        break;
      }
      next = u8(b, o);
      o += len;
      continue;
    }
    break;
  }
  pkt.ipProto = next;
  pkt.payloadOff = o;
  pkt.payloadLen = stop - o;
  if (pkt.fragment) {
    c.inc('ipv6.fragment');
    return false;
  }
  return true;
}

/**
 * The fragment pkt holds (pkt.fragment set by decodeIpv6), keyed by addresses and identification. The fragment at
 * offset 0 gives the header of the reassembled datagram: the fixed header with the fragment header's next header
 * (the unfragmentable extension headers before it are left out; the payload length is set on completion).
 */
export function ipv6Fragment(pkt: PacketView): Fragment {
  const b = pkt.buf;
  const f = pkt.fragHdrOff;
  const offset = u16(b, f + 2) & 0xfff8;
  let header: Buffer | undefined;
  if (offset === 0) {
    header = Buffer.from(b.subarray(pkt.ipOff, pkt.ipOff + HEADER));
    header[6] = u8(b, f);
  }
  return {
    key: `${b.toString('hex', pkt.src6Off, pkt.src6Off + 32)}/${u32(b, f + 4)}`,
    offset,
    more: (u8(b, f + 3) & 1) !== 0,
    data: b.subarray(pkt.payloadOff, pkt.payloadOff + pkt.payloadLen),
    header,
  };
}
