// IPv4. Fragments are flagged (pkt.fragment) and counted; the pipeline reassembles them (fragments.ts).
import { u16, u32, u8 } from './bytes.js';
import type { Fragment } from './fragments.js';
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

/** The fragment pkt holds (pkt.fragment set by decodeIpv4), keyed by addresses, protocol and identification. */
export function ipv4Fragment(pkt: PacketView): Fragment {
  const b = pkt.buf;
  const ipOff = pkt.ipOff;
  const frag = u16(b, ipOff + 6);
  const offset = (frag & OFFSET_MASK) * 8;
  return {
    key: `${pkt.src4}/${pkt.dst4}/${pkt.ipProto}/${u16(b, ipOff + 4)}`,
    offset,
    more: (frag & FLAG_MF) !== 0,
    data: b.subarray(pkt.payloadOff, pkt.payloadOff + pkt.payloadLen),
    header: offset === 0 ? b.subarray(ipOff, pkt.payloadOff) : undefined,
  };
}
