// Linux "cooked" capture headers: SLL (LINKTYPE_LINUX_SLL, 16 bytes) and SLL2 (LINKTYPE_LINUX_SLL2, 20 bytes),
// what `tcpdump -i any` writes.
import { u16 } from './bytes.js';
import type { Counters, PacketView } from './types.js';

const SLL_HEADER = 16;
const SLL2_HEADER = 20;

export function decodeSll(pkt: PacketView, off: number, end: number, c: Counters): number {
  if (end - off < SLL_HEADER) {
    c.inc('sll.truncated');
    return -1;
  }
  pkt.etherType = u16(pkt.buf, off + 14);
  return off + SLL_HEADER;
}

export function decodeSll2(pkt: PacketView, off: number, end: number, c: Counters): number {
  if (end - off < SLL2_HEADER) {
    c.inc('sll2.truncated');
    return -1;
  }
  pkt.etherType = u16(pkt.buf, off);
  return off + SLL2_HEADER;
}
