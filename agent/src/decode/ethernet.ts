// Ethernet II with 802.1Q / 802.1ad (QinQ) tags.
import { u16 } from './bytes.js';
import type { Counters, PacketView } from './types.js';

export const EtherType = {
  IPV4: 0x0800,
  ARP: 0x0806,
  VLAN: 0x8100,
  QINQ: 0x88a8,
  QINQ_OLD: 0x9100,
  IPV6: 0x86dd,
} as const;

const ETH_HEADER = 14;
const TAG = 4;
/** More stacked tags than this is malformed (QinQ uses two; three tolerates a provider's extra). */
const MAX_TAGS = 3;

function isTag(t: number): boolean {
  return t === EtherType.VLAN || t === EtherType.QINQ || t === EtherType.QINQ_OLD;
}

/** Decodes the Ethernet header at `off`; returns the network-layer offset, or -1 (counted). */
export function decodeEthernet(pkt: PacketView, off: number, end: number, c: Counters): number {
  if (end - off < ETH_HEADER) {
    c.inc('ethernet.truncated');
    return -1;
  }
  const b = pkt.buf;
  let type = u16(b, off + 12);
  let o = off + ETH_HEADER;
  let tags = 0;
  while (isTag(type)) {
    if (++tags > MAX_TAGS) {
      c.inc('ethernet.too_many_vlan_tags');
      return -1;
    }
    if (end - o < TAG) {
      c.inc('ethernet.truncated_vlan_tag');
      return -1;
    }
    const vid = u16(b, o) & 0x0fff;
    if (tags === 1) pkt.vlanOuter = vid;
    else pkt.vlanInner = vid;
    type = u16(b, o + 2);
    o += TAG;
  }
  pkt.etherType = type;
  return o;
}
