// Link -> network -> transport for one frame, into a reused PacketView.
import { LinkType, type RawPacket } from '../capture/types.js';
import { u8 } from './bytes.js';
import { decodeEthernet, EtherType } from './ethernet.js';
import { decodeIcmp } from './icmp.js';
import { decodeIpv4 } from './ipv4.js';
import { decodeIpv6 } from './ipv6.js';
import { decodeSll, decodeSll2 } from './sll.js';
import { decodeTcp } from './tcp.js';
import { IpProto, type Counters, type PacketView } from './types.js';
import { decodeUdp } from './udp.js';

/** BSD loopback (LINKTYPE_NULL) address families meaning IPv6 on the various BSDs and macOS. */
const NULL_AF_INET = 2;
const NULL_AF_INET6 = [24, 28, 30];

/**
 * Decodes the headers of one frame. Returns true when the transport header was decoded (pkt.ipProto tells which;
 * pkt.payloadOff/payloadLen then delimit the transport payload). Problems are counted in `c`, never thrown.
 */
export function decodeFrame(raw: RawPacket, pkt: PacketView, c: Counters): boolean {
  pkt.reset();
  pkt.frame = raw.frame;
  pkt.tsSec = raw.tsSec;
  pkt.tsNsec = raw.tsNsec;
  pkt.buf = raw.buf;
  const end = raw.off + raw.capLen;
  let off = raw.off;
  switch (raw.linkType) {
    case LinkType.ETHERNET:
      off = decodeEthernet(pkt, off, end, c);
      break;
    case LinkType.LINUX_SLL:
      off = decodeSll(pkt, off, end, c);
      break;
    case LinkType.LINUX_SLL2:
      off = decodeSll2(pkt, off, end, c);
      break;
    case LinkType.RAW:
    case LinkType.RAW_BSD:
    case LinkType.RAW_OPENBSD:
    case LinkType.IPV4:
    case LinkType.IPV6: {
      const v = raw.capLen > 0 ? u8(raw.buf, off) >> 4 : 0;
      pkt.etherType = v === 4 ? EtherType.IPV4 : v === 6 ? EtherType.IPV6 : 0;
      break;
    }
    case LinkType.NULL: {
      if (raw.capLen < 4) {
        c.inc('null.truncated');
        return false;
      }
      const fam = raw.buf.readUInt32LE(off) > 0xffff ? raw.buf.readUInt32BE(off) : raw.buf.readUInt32LE(off);
      pkt.etherType =
        fam === NULL_AF_INET ? EtherType.IPV4 : NULL_AF_INET6.includes(fam) ? EtherType.IPV6 : 0;
      off += 4;
      break;
    }
    default:
      c.inc('link.unsupported_link_type');
      return false;
  }
  if (off < 0) return false;
  pkt.ipOff = off;
  if (pkt.etherType === EtherType.IPV4) {
    if (!decodeIpv4(pkt, off, end, c)) return false;
  } else if (pkt.etherType === EtherType.IPV6) {
    if (!decodeIpv6(pkt, off, end, c)) return false;
  } else {
    return false;
  }
  return decodeTransport(pkt, c);
}

/** Decodes the transport header of the IP payload pkt delimits (also after IPv4 reassembly). */
export function decodeTransport(pkt: PacketView, c: Counters): boolean {
  switch (pkt.ipProto) {
    case IpProto.TCP:
      return decodeTcp(pkt, c);
    case IpProto.UDP:
      return decodeUdp(pkt, c);
    case IpProto.ICMP:
      return decodeIcmp(pkt, c, false);
    case IpProto.ICMPV6:
      return decodeIcmp(pkt, c, true);
    default:
      return false;
  }
}
