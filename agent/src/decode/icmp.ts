// ICMP and ICMPv6: type and code (echo identifiers and quoted headers are left in the payload).
import { u8 } from './bytes.js';
import type { Counters, PacketView } from './types.js';

const HEADER = 4;

export const IcmpType = { ECHO_REPLY: 0, DEST_UNREACHABLE: 3, ECHO_REQUEST: 8, TIME_EXCEEDED: 11 } as const;
export const Icmpv6Type = { DEST_UNREACHABLE: 1, ECHO_REQUEST: 128, ECHO_REPLY: 129 } as const;

export function decodeIcmp(pkt: PacketView, c: Counters, v6: boolean): boolean {
  if (pkt.payloadLen < HEADER) {
    c.inc(v6 ? 'icmpv6.truncated' : 'icmp.truncated');
    return false;
  }
  pkt.icmpType = u8(pkt.buf, pkt.payloadOff);
  pkt.icmpCode = u8(pkt.buf, pkt.payloadOff + 1);
  pkt.payloadOff += HEADER;
  pkt.payloadLen -= HEADER;
  return true;
}
