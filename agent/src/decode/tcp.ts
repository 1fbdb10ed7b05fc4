// TCP header with flags, sequence numbers, window and the common options (MSS, window scale, SACK-permitted,
// timestamps). Per-flow connection state and reassembly live in flow-table.ts and pipeline.ts.
import { u16, u32, u8 } from './bytes.js';
import type { Counters, PacketView } from './types.js';

export const TcpFlag = {
  FIN: 0x01,
  SYN: 0x02,
  RST: 0x04,
  PSH: 0x08,
  ACK: 0x10,
  URG: 0x20,
  ECE: 0x40,
  CWR: 0x80,
} as const;

const MIN_HEADER = 20;
const OPT_END = 0;
const OPT_NOP = 1;
const OPT_MSS = 2;
const OPT_WSCALE = 3;
const OPT_SACK_PERMITTED = 4;
const OPT_TIMESTAMP = 8;

/** Decodes the TCP header in pkt's payload; leaves pkt.payloadOff/payloadLen on the TCP payload. */
export function decodeTcp(pkt: PacketView, c: Counters): boolean {
  const b = pkt.buf;
  const off = pkt.payloadOff;
  const avail = pkt.payloadLen;
  if (avail < MIN_HEADER) {
    c.inc('tcp.truncated');
    return false;
  }
  const hlen = (u8(b, off + 12) >> 4) * 4;
  if (hlen < MIN_HEADER) {
    c.inc('tcp.bad_header_length');
    return false;
  }
  if (hlen > avail) {
    c.inc('tcp.truncated');
    return false;
  }
  pkt.sport = u16(b, off);
  pkt.dport = u16(b, off + 2);
  pkt.seq = u32(b, off + 4);
  pkt.ack = u32(b, off + 8);
  pkt.tcpFlags = u8(b, off + 13);
  pkt.window = u16(b, off + 14);
  if (hlen > MIN_HEADER) decodeOptions(pkt, off + MIN_HEADER, off + hlen, c);
  pkt.payloadOff = off + hlen;
  pkt.payloadLen = avail - hlen;
  return true;
}

function decodeOptions(pkt: PacketView, o: number, end: number, c: Counters): void {
  const b = pkt.buf;
  while (o < end) {
    const kind = u8(b, o);
    if (kind === OPT_END) return;
    if (kind === OPT_NOP) {
      o++;
      continue;
    }
    if (o + 1 >= end) break;
    const len = u8(b, o + 1);
    if (len < 2 || o + len > end) break;
    if (kind === OPT_MSS && len === 4) pkt.mss = u16(b, o + 2);
    else if (kind === OPT_WSCALE && len === 3) pkt.wscale = u8(b, o + 2);
    else if (kind === OPT_SACK_PERMITTED && len === 2) pkt.sackPermitted = true;
    else if (kind === OPT_TIMESTAMP && len === 10) {
      pkt.tsVal = u32(b, o + 2);
      pkt.tsEcr = u32(b, o + 6);
    }
    o += len;
  }
  if (o < end) c.inc('tcp.bad_option');
}
