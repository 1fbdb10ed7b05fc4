// IPv6 with extension headers (hop-by-hop, routing, fragment, destination options, AH, mobility, HIP, shim6).
import { u16, u8 } from './bytes.js';
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
      if (next === Ipv6Ext.FRAGMENT && (u16(b, o + 2) & 0xfff9) !== 0) {
        pkt.fragment = true;
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
