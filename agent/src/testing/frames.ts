// Builds frames for tests and benchmarks: Ethernet (optionally VLAN-tagged) / IPv4 or IPv6 / TCP or UDP with a
// payload, and Modbus/TCP ADUs. Checksums are left zero (the decoders do not verify them, as tshark by default).
import { LinkType, type RawPacket } from '../capture/types.js';

export interface TcpFrameSpec {
  src?: string;
  dst?: string;
  sport: number;
  dport: number;
  seq?: number;
  ack?: number;
  /** TCP flags byte (default PSH|ACK). */
  flags?: number;
  window?: number;
  /** Raw TCP options (padded to 4 bytes here). */
  options?: Buffer;
  payload?: Buffer;
  /** VLAN ids, outermost first (802.1ad for the outer one when there are two). */
  vlans?: number[];
}

export function ipv4Bytes(a: string): Buffer {
  return Buffer.from(a.split('.').map(Number));
}

export function ipv6Bytes(a: string): Buffer {
  const [head = '', tail] = a.split('::');
  const parse = (s: string): number[] => (s === '' ? [] : s.split(':').map((x) => parseInt(x, 16)));
  const h = parse(head);
  const t = tail === undefined ? [] : parse(tail);
  const groups = [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
  const b = Buffer.alloc(16);
  groups.forEach((g, i) => b.writeUInt16BE(g, i * 2));
  return b;
}

export function tcpSegment(s: TcpFrameSpec): Buffer {
  const opts = s.options ?? Buffer.alloc(0);
  const optLen = (opts.length + 3) & ~3;
  const payload = s.payload ?? Buffer.alloc(0);
  const t = Buffer.alloc(20 + optLen + payload.length);
  t.writeUInt16BE(s.sport, 0);
  t.writeUInt16BE(s.dport, 2);
  t.writeUInt32BE((s.seq ?? 1000) >>> 0, 4);
  t.writeUInt32BE((s.ack ?? 1) >>> 0, 8);
  t[12] = ((20 + optLen) / 4) << 4;
  t[13] = s.flags ?? 0x18;
  t.writeUInt16BE(s.window ?? 8192, 14);
  opts.copy(t, 20);
  payload.copy(t, 20 + optLen);
  return t;
}

export function ipv4Packet(
  src: string,
  dst: string,
  proto: number,
  l4: Buffer,
  extra: { flagsFrag?: number } = {},
): Buffer {
  const ip = Buffer.alloc(20 + l4.length);
  ip[0] = 0x45;
  ip.writeUInt16BE(20 + l4.length, 2);
  ip.writeUInt16BE(extra.flagsFrag ?? 0x4000, 6);
  ip[8] = 64;
  ip[9] = proto;
  ipv4Bytes(src).copy(ip, 12);
  ipv4Bytes(dst).copy(ip, 16);
  l4.copy(ip, 20);
  return ip;
}

export function ipv6Packet(
  src: string,
  dst: string,
  next: number,
  l4: Buffer,
  ext: Buffer = Buffer.alloc(0),
): Buffer {
  const ip = Buffer.alloc(40 + ext.length + l4.length);
  ip[0] = 0x60;
  ip.writeUInt16BE(ext.length + l4.length, 4);
  ip[6] = next;
  ip[7] = 64;
  ipv6Bytes(src).copy(ip, 8);
  ipv6Bytes(dst).copy(ip, 24);
  ext.copy(ip, 40);
  l4.copy(ip, 40 + ext.length);
  return ip;
}

export function ethernet(etherType: number, payload: Buffer, vlans: number[] = []): Buffer {
  const head = Buffer.alloc(12 + vlans.length * 4 + 2);
  Buffer.from([2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2]).copy(head, 0);
  let o = 12;
  vlans.forEach((id, i) => {
    head.writeUInt16BE(vlans.length > 1 && i === 0 ? 0x88a8 : 0x8100, o);
    head.writeUInt16BE(id, o + 2);
    o += 4;
  });
  head.writeUInt16BE(etherType, o);
  const frame = Buffer.concat([head, payload]);
  // Ethernet pads to 60 bytes: the decoders must use the IP length, not the frame length.
  return frame.length < 60 ? Buffer.concat([frame, Buffer.alloc(60 - frame.length)]) : frame;
}

/** Ethernet / IPv4 / TCP. */
export function tcpFrame(s: TcpFrameSpec): Buffer {
  return ethernet(0x0800, ipv4Packet(s.src ?? '10.0.0.1', s.dst ?? '10.0.0.2', 6, tcpSegment(s)), s.vlans);
}

/** A Modbus/TCP ADU: MBAP header (protocol id 0 unless given) and the PDU bytes. */
export function mbap(transId: number, unitId: number, pdu: number[] | Buffer, protocolId = 0): Buffer {
  const p = Buffer.isBuffer(pdu) ? pdu : Buffer.from(pdu);
  const b = Buffer.alloc(7 + p.length);
  b.writeUInt16BE(transId, 0);
  b.writeUInt16BE(protocolId, 2);
  b.writeUInt16BE(p.length + 1, 4);
  b[6] = unitId;
  p.copy(b, 7);
  return b;
}

/** An Ethernet frame as a capture source hands it over: frame number `frame`, captured whole at tsSec + tsNsec. */
export function capturedFrame(frame: number, tsSec: number, tsNsec: number, buf: Buffer): RawPacket {
  return {
    frame,
    tsSec,
    tsNsec,
    linkType: LinkType.ETHERNET,
    buf,
    off: 0,
    capLen: buf.length,
    origLen: buf.length,
  };
}
