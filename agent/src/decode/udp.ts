// UDP header; the payload is bounded by the UDP length field.
import { u16 } from './bytes.js';
import type { Counters, PacketView } from './types.js';

const HEADER = 8;

export function decodeUdp(pkt: PacketView, c: Counters): boolean {
  const b = pkt.buf;
  const off = pkt.payloadOff;
  const avail = pkt.payloadLen;
  if (avail < HEADER) {
    c.inc('udp.truncated');
    return false;
  }
  pkt.sport = u16(b, off);
  pkt.dport = u16(b, off + 2);
  const len = u16(b, off + 4);
  let payload = avail - HEADER;
  if (len < HEADER) c.inc('udp.bad_length');
  else if (len - HEADER < payload) payload = len - HEADER;
  else if (len - HEADER > payload) c.inc('udp.truncated_payload');
  pkt.payloadOff = off + HEADER;
  pkt.payloadLen = payload;
  return true;
}
