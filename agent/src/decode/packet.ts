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

/** Ethernet (14) + IPv4 without options (20) + TCP without options (20). */
const PLAIN_TCP4 = 54;
/** Ethernet (14) + IPv4 without options (20) + UDP (8). */
const PLAIN_UDP4 = 42;

// The fast path's constants as this module's own: an imported binding is read through its module cell (a load, a
// check for the uninitialised hole and, for an object, a map check per use), a local constant compiles to its value.
const ETHERNET = LinkType.ETHERNET;
const IPV4 = EtherType.IPV4;
const TCP = IpProto.TCP;
const UDP = IpProto.UDP;

/**
 * A view of the capture buffer the last frame came from (made again only when the buffer changes). In a constant
 * object rather than module `let`s, whose every read checks for the uninitialised hole.
 */
const last: { of: Buffer | undefined; view: DataView<ArrayBufferLike> } = {
  of: undefined,
  view: new DataView(new ArrayBuffer(0)),
};

/** The fast path's network layer (decodeFrame): what decodeEthernet and decodeIpv4 set for a plain IPv4 packet. */
function plainIpv4(
  raw: RawPacket,
  pkt: PacketView,
  b: Buffer,
  v: DataView,
  ip: number,
  proto: number,
  ttl: number,
): void {
  // PacketView.reset(), less the fields this path sets below and its callers set after it.
  pkt.vlanOuter = -1;
  pkt.vlanInner = -1;
  pkt.fragment = false;
  pkt.tcpFlags = 0;
  pkt.mss = -1;
  pkt.wscale = -1;
  pkt.sackPermitted = false;
  pkt.tsVal = -1;
  pkt.tsEcr = -1;
  pkt.icmpType = -1;
  pkt.icmpCode = -1;
  pkt.frame = raw.frame;
  pkt.tsSec = raw.tsSec;
  pkt.tsNsec = raw.tsNsec;
  // Stored only when it changes (once per capture chunk): a pointer store into the long-lived view from a
  // young buffer goes through V8's write barrier slow path.
  if (pkt.buf !== b) pkt.buf = b;
  pkt.etherType = IPV4;
  pkt.ipOff = ip;
  pkt.ipVersion = 4;
  pkt.ttl = ttl;
  pkt.ipProto = proto;
  pkt.src4 = v.getUint32(ip + 12);
  pkt.dst4 = v.getUint32(ip + 16);
}

/**
 * Decodes the headers of one frame. Returns true when the transport header was decoded (pkt.ipProto tells which;
 * pkt.payloadOff/payloadLen then delimit the transport payload). Problems are counted in `c`, never thrown.
 */
export function decodeFrame(raw: RawPacket, pkt: PacketView, c: Counters): boolean {
  const b = raw.buf;
  const off = raw.off;
  const end = off + raw.capLen;
  // The common frames, untagged Ethernet + IPv4 (no options, not a fragment) + TCP without options or UDP whose
  // length matches the IP packet's, all of it captured: read in one go, with the same results as the layer-by-layer
  // path below. Read through a DataView a word at a time, several header fields from one word (each read costs an
  // offset and a bounds check): every read is inside the frame. Anything else goes to the layered path.
  if (raw.linkType === ETHERNET && end - off >= PLAIN_UDP4) {
    if (b !== last.of) {
      last.of = b;
      last.view = new DataView(b.buffer, b.byteOffset, b.byteLength);
    }
    const v = last.view;
    const ip = off + 14;
    // Version and header length, type of service, total length.
    const w0 = v.getUint32(ip);
    if (v.getUint16(off + 12) === IPV4 && w0 >>> 24 === 0x45 && (v.getUint32(ip + 4) & 0x3fff) === 0) {
      // TTL, protocol, header checksum.
      const w2 = v.getUint32(ip + 8);
      const proto = (w2 >>> 16) & 0xff;
      const stop = ip + (w0 & 0xffff);
      const t = ip + 20;
      if (proto === TCP) {
        if (end - off >= PLAIN_TCP4 && stop >= t + 20 && stop <= end) {
          // Data offset, flags, window.
          const w3 = v.getUint32(t + 12);
          if (w3 >>> 28 === 5) {
            plainIpv4(raw, pkt, b, v, ip, TCP, w2 >>> 24);
            const ports = v.getUint32(t);
            pkt.sport = ports >>> 16;
            pkt.dport = ports & 0xffff;
            pkt.seq = v.getUint32(t + 4);
            pkt.ack = v.getUint32(t + 8);
            pkt.tcpFlags = (w3 >>> 16) & 0xff;
            pkt.window = w3 & 0xffff;
            pkt.payloadOff = t + 20;
            pkt.payloadLen = stop - (t + 20);
            return true;
          }
        }
      } else if (proto === UDP && stop <= end && stop - t >= 8) {
        // Ports, then length and checksum.
        const ports = v.getUint32(t);
        if (v.getUint32(t + 4) >>> 16 === stop - t) {
          plainIpv4(raw, pkt, b, v, ip, UDP, w2 >>> 24);
          pkt.sport = ports >>> 16;
          pkt.dport = ports & 0xffff;
          pkt.payloadOff = t + 8;
          pkt.payloadLen = stop - (t + 8);
          return true;
        }
      }
    }
  }
  return decodeLayers(raw, pkt, c);
}

/** decodeFrame, layer by layer. */
function decodeLayers(raw: RawPacket, pkt: PacketView, c: Counters): boolean {
  pkt.reset();
  pkt.frame = raw.frame;
  pkt.tsSec = raw.tsSec;
  pkt.tsNsec = raw.tsNsec;
  if (pkt.buf !== raw.buf) pkt.buf = raw.buf;
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
