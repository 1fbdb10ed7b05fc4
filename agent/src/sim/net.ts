// Frames on the wire: Ethernet II / IPv4 / TCP or UDP with correct IPv4, TCP and UDP checksums, and TCP connections
// that keep real sequence and acknowledgment numbers through the handshake, data (split at the MSS), delayed ACKs
// and the FIN teardown, so that tshark and our decoders see ordinary sessions.

/** Who an emitted frame belongs to: undefined for normal traffic, else the attack and its ATT&CK technique. */
export interface Label {
  attack: string;
  technique: string;
}

/** Where frames go: the engine orders them by time. `tUs` is simulated time, microseconds since the epoch. */
export interface FrameSink {
  emit(tUs: number, frame: Buffer, label: Label | undefined): void;
}

export interface Host {
  name: string;
  ip: string;
  /** The address as an unsigned 32-bit number. */
  ip4: number;
  mac: Buffer;
  /** Initial TTL of the host's operating system (64 Linux/embedded, 128 Windows). */
  ttl: number;
  /** Next IPv4 identification. */
  ipId: number;
  /** Next ephemeral port. */
  nextPort: number;
}

export function parseIp4(ip: string): number {
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) {
    throw new Error(`not an IPv4 address: ${ip}`);
  }
  return (((parts[0] ?? 0) << 24) | ((parts[1] ?? 0) << 16) | ((parts[2] ?? 0) << 8) | (parts[3] ?? 0)) >>> 0;
}

export function makeHost(
  name: string,
  ip: string,
  opts: { windows?: boolean; vendorOui?: number } = {},
): Host {
  const ip4 = parseIp4(ip);
  const mac = Buffer.alloc(6);
  // A vendor-like OUI (locally administered bit clear, as real NICs) and the address's low 24 bits.
  mac.writeUIntBE(opts.vendorOui ?? 0x00_1d_9c, 0, 3);
  mac.writeUIntBE(ip4 & 0xffffff, 3, 3);
  return {
    name,
    ip,
    ip4,
    mac,
    ttl: opts.windows ? 128 : 64,
    ipId: (ip4 * 2654435761) & 0xffff,
    nextPort: opts.windows ? 49152 + (ip4 % 1000) : 32768 + (ip4 % 1000),
  };
}

/** The next ephemeral port of a host (Windows and Linux ranges, wrapping). */
export function ephemeralPort(h: Host): number {
  const p = h.nextPort;
  const windows = h.ttl === 128;
  h.nextPort = p >= 65535 ? (windows ? 49152 : 32768) : p + 1;
  return p;
}

export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;

const ETH = 14;
const IP = 20;

/** Ones' complement sum of buf[off, off+len) added to `sum` (not folded). */
function sum16(buf: Buffer, off: number, len: number, sum: number): number {
  let i = off;
  const end = off + len - 1;
  for (; i < end; i += 2) sum += (buf[i]! << 8) | buf[i + 1]!;
  if (i === end) sum += buf[i]! << 8;
  return sum;
}

function fold(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return ~sum & 0xffff;
}

/** Internet checksum of buf[off, off+len) (RFC 1071). */
export function internetChecksum(buf: Buffer, off: number, len: number, initial = 0): number {
  return fold(sum16(buf, off, len, initial));
}

function writeHeaders(src: Host, dst: Host, proto: number, l4Len: number): Buffer {
  const f = Buffer.allocUnsafe(ETH + IP + l4Len);
  dst.mac.copy(f, 0);
  src.mac.copy(f, 6);
  f.writeUInt16BE(0x0800, 12);
  f[14] = 0x45;
  f[15] = 0;
  f.writeUInt16BE(IP + l4Len, 16);
  f.writeUInt16BE(src.ipId, 18);
  src.ipId = (src.ipId + 1) & 0xffff;
  f.writeUInt16BE(0x4000, 20); // don't fragment
  f[22] = src.ttl;
  f[23] = proto;
  f.writeUInt16BE(0, 24);
  f.writeUInt32BE(src.ip4, 26);
  f.writeUInt32BE(dst.ip4, 30);
  f.writeUInt16BE(internetChecksum(f, ETH, IP), 24);
  return f;
}

function pseudoSum(src: Host, dst: Host, proto: number, len: number): number {
  return (src.ip4 >>> 16) + (src.ip4 & 0xffff) + (dst.ip4 >>> 16) + (dst.ip4 & 0xffff) + proto + len;
}

/** MSS option (kind 2) announced in SYNs. */
const MSS_OPTION = Buffer.from([2, 4, 0x05, 0xb4]);
export const MSS = 1460;

export interface TcpSegmentSpec {
  sport: number;
  dport: number;
  seq: number;
  ack: number;
  flags: number;
  window: number;
  payload?: Buffer | undefined;
}

export function tcpFrame(src: Host, dst: Host, s: TcpSegmentSpec): Buffer {
  const syn = (s.flags & TCP_SYN) !== 0;
  const hdr = syn ? 24 : 20;
  const plen = s.payload?.length ?? 0;
  const l4 = hdr + plen;
  const f = writeHeaders(src, dst, 6, l4);
  const o = ETH + IP;
  f.writeUInt16BE(s.sport, o);
  f.writeUInt16BE(s.dport, o + 2);
  f.writeUInt32BE(s.seq >>> 0, o + 4);
  f.writeUInt32BE(s.flags & TCP_ACK ? s.ack >>> 0 : 0, o + 8);
  f[o + 12] = (hdr / 4) << 4;
  f[o + 13] = s.flags;
  f.writeUInt16BE(s.window, o + 14);
  f.writeUInt32BE(0, o + 16); // checksum, urgent pointer
  if (syn) MSS_OPTION.copy(f, o + 20);
  if (s.payload) s.payload.copy(f, o + hdr);
  f.writeUInt16BE(internetChecksum(f, o, l4, pseudoSum(src, dst, 6, l4)), o + 16);
  return f;
}

export function udpFrame(src: Host, dst: Host, sport: number, dport: number, payload: Buffer): Buffer {
  const l4 = 8 + payload.length;
  const f = writeHeaders(src, dst, 17, l4);
  const o = ETH + IP;
  f.writeUInt16BE(sport, o);
  f.writeUInt16BE(dport, o + 2);
  f.writeUInt16BE(l4, o + 4);
  f.writeUInt16BE(0, o + 6);
  payload.copy(f, o + 8);
  const c = internetChecksum(f, o, l4, pseudoSum(src, dst, 17, l4));
  f.writeUInt16BE(c === 0 ? 0xffff : c, o + 6);
  return f;
}

/** Microseconds a LAN hop takes (one way), used between a segment and the peer's reaction. */
export const LAN_US = 150;

/**
 * One TCP connection between a client and a server. Every method emits frames at the given time (and a little
 * later for the peer's reaction) and returns the time of its last frame, so callers chain exchanges in time.
 */
export class TcpConn {
  private cSeq: number;
  private sSeq: number;
  open = false;

  constructor(
    private readonly sink: FrameSink,
    readonly client: Host,
    readonly server: Host,
    readonly cport: number,
    readonly sport: number,
    isn: { client: number; server: number },
    private readonly label: Label | undefined,
    private readonly window = { client: 64240, server: 8192 },
  ) {
    this.cSeq = isn.client >>> 0;
    this.sSeq = isn.server >>> 0;
  }

  private seg(t: number, fromClient: boolean, flags: number, payload?: Buffer, label = this.label): void {
    const [src, dst, sp, dp] = fromClient
      ? [this.client, this.server, this.cport, this.sport]
      : [this.server, this.client, this.sport, this.cport];
    const seq = fromClient ? this.cSeq : this.sSeq;
    const ack = fromClient ? this.sSeq : this.cSeq;
    const window = fromClient ? this.window.client : this.window.server;
    this.sink.emit(t, tcpFrame(src, dst, { sport: sp, dport: dp, seq, ack, flags, window, payload }), label);
    let adv = payload?.length ?? 0;
    if (flags & (TCP_SYN | TCP_FIN)) adv += 1;
    if (fromClient) this.cSeq = (this.cSeq + adv) >>> 0;
    else this.sSeq = (this.sSeq + adv) >>> 0;
  }

  /** Three-way handshake starting at t; returns when the client's ACK is sent. */
  connect(t: number, label = this.label): number {
    this.seg(t, true, TCP_SYN, undefined, label);
    this.seg(t + LAN_US, false, TCP_SYN | TCP_ACK, undefined, label);
    this.seg(t + 2 * LAN_US, true, TCP_ACK, undefined, label);
    this.open = true;
    return t + 2 * LAN_US;
  }

  /** SYN answered by RST/ACK (closed port). */
  refused(t: number, label = this.label): number {
    this.seg(t, true, TCP_SYN, undefined, label);
    this.seg(t + LAN_US, false, TCP_RST | TCP_ACK, undefined, label);
    return t + LAN_US;
  }

  /** SYN, SYN/ACK, then the client resets (a half-open scan probe of an open port). */
  halfOpen(t: number, label = this.label): number {
    this.seg(t, true, TCP_SYN, undefined, label);
    this.seg(t + LAN_US, false, TCP_SYN | TCP_ACK, undefined, label);
    this.seg(t + 2 * LAN_US, true, TCP_RST, undefined, label);
    return t + 2 * LAN_US;
  }

  /** Data from one side, split at the MSS (PSH on the last segment). Returns the time of the last segment. */
  send(t: number, fromClient: boolean, data: Buffer, label = this.label): number {
    let off = 0;
    let at = t;
    while (off < data.length) {
      const n = Math.min(MSS, data.length - off);
      const last = off + n === data.length;
      this.seg(at, fromClient, TCP_ACK | (last ? TCP_PSH : 0), data.subarray(off, off + n), label);
      off += n;
      if (!last) at += 12; // back-to-back segments at 100 Mbit/s
    }
    return at;
  }

  /** A pure ACK from one side. */
  ack(t: number, fromClient: boolean, label = this.label): number {
    this.seg(t, fromClient, TCP_ACK, undefined, label);
    return t;
  }

  /** Orderly close started by one side: FIN/ACK, FIN/ACK, ACK. */
  close(t: number, fromClient: boolean, label = this.label): number {
    this.seg(t, fromClient, TCP_FIN | TCP_ACK, undefined, label);
    this.seg(t + LAN_US, !fromClient, TCP_FIN | TCP_ACK, undefined, label);
    this.seg(t + 2 * LAN_US, fromClient, TCP_ACK, undefined, label);
    this.open = false;
    return t + 2 * LAN_US;
  }

  /** Request from the client, the server's response after `delayUs` (it acknowledges the request), and the
   *  client's ACK of the response. Returns the time of that ACK. */
  exchange(
    t: number,
    request: Buffer,
    response: Buffer | undefined,
    delayUs: number,
    label = this.label,
  ): number {
    let at = this.send(t, true, request, label);
    if (response === undefined) return this.ack(at + LAN_US, false, label);
    at = this.send(at + delayUs, false, response, label);
    return this.ack(at + LAN_US, true, label);
  }
}
