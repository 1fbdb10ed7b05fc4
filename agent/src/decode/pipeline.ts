// The decode pipeline: frame -> headers -> flow -> TCP reassembly -> application decoders -> events.
// Allocation-aware: one reused PacketView and Segment, typed-array per-flow state, PDUs decoded straight from the
// capture buffer unless they span segments (then only the partial PDU is copied into a capped per-flow buffer).
// Time comes from the injected clock (packet time in replay, wall time live); nothing here reads Date.now().
import type { Clock } from '@vigil/shared';
import type { RawPacket } from '../capture/types.js';
import { copyBytes } from './bytes.js';
import { FlowTable, type FlowTableStats } from './flow-table.js';
import { FragmentReassembler } from './fragments.js';
import { ipv4Fragment } from './ipv4.js';
import { decodeIpv6, ipv6Fragment } from './ipv6.js';
import { decodeFrame as packetDecodeFrame, decodeTransport } from './packet.js';
import { createDecoders } from './registry.js';
import { TcpFlag } from './tcp.js';
import {
  Counters,
  IpProto,
  PacketView,
  type Decoder,
  type EventSink,
  type FrameSource,
  type Segment,
} from './types.js';

export const DEFAULT_MAX_FLOWS = 262_144;
export const DEFAULT_IDLE_TIMEOUT_MS = 600_000;
/** Per-direction reassembly buffer cap: a PDU that needs more is dropped (counted). */
export const DEFAULT_MAX_FLOW_BUFFER = 65_536;
/** A segment further than this from the expected sequence number is out of window: ignored, counted. */
const OUT_OF_WINDOW = 1 << 24;
/** After this many consecutive out-of-window segments the direction resynchronises on the next one. */
const RESYNC_AFTER = 8;
/** Bytes taken at a time while a buffered PDU start is still too short to tell its length. */
const MAX_HEADER_PROBE = 16;
/** Flow directions the reassembly buffers' list has room for at the start (it doubles as higher flow ids come). */
const INITIAL_PEND = 1024;

/** TCP connection states tracked per flow. */
export const TcpState = {
  NONE: 0,
  SYN_SENT: 1,
  SYN_RECEIVED: 2,
  ESTABLISHED: 3,
  CLOSING: 4,
  CLOSED: 5,
  RESET: 6,
} as const;

// The per-packet path's constants and decodeFrame as this module's own: an imported or exported binding (TcpFlag,
// IpProto, TcpState, decodeFrame) is read through its module cell, with a check for the uninitialised hole and a map
// or identity check at every use; a local constant compiles to its value.
const { FIN, SYN, RST, ACK } = TcpFlag;
const { TCP, UDP } = IpProto;
const { NONE, SYN_SENT, SYN_RECEIVED, ESTABLISHED, CLOSING, CLOSED, RESET } = TcpState;
const decodeFrame = packetDecodeFrame;

export interface PipelineOptions {
  clock: Clock;
  onEvent: EventSink;
  /** Every frame whose transport header decoded, after flow lookup (hook for feature extraction). */
  onPacket?: (pkt: PacketView, flow: number) => void;
  decoders?: readonly Decoder[];
  maxFlows?: number;
  idleTimeoutMs?: number;
  maxFlowBuffer?: number;
}

export interface PipelineStats {
  frames: number;
  transportDecoded: number;
  tcp: number;
  udp: number;
  icmp: number;
  events: number;
  flows: FlowTableStats;
  /** Malformed input and drops by reason (link, network, transport, reassembly and every decoder). */
  counters: Record<string, number>;
  /** The first frame each reason was counted in. */
  firstFrames: Record<string, number>;
  /** First internal failure (a bug, never expected): message and frame. */
  internalError?: { frame: number; message: string };
}

export class DecodePipeline {
  readonly counters = new Counters();
  readonly flows: FlowTable;
  readonly decoders: readonly Decoder[];
  private readonly clock: Clock;
  private readonly onEvent: EventSink;
  private readonly onPacket: ((pkt: PacketView, flow: number) => void) | undefined;
  private readonly maxBuf: number;
  private readonly pkt = new PacketView();
  /** The frame being decoded, shared with every Counters so that each reason remembers its first frame. */
  private readonly current: FrameSource = { frame: 0 };
  private readonly fragments4 = new FragmentReassembler('ipv4');
  private readonly fragments6 = new FragmentReassembler('ipv6');
  private readonly tcpPort = new Int16Array(65536).fill(-1);
  private readonly udpPort = new Int16Array(65536).fill(-1);
  // Per flow.
  private readonly app: Int16Array;
  /** The direction (0/1, see FlowTable.dir) that travels towards the server port. */
  private readonly srvDir: Uint8Array;
  private readonly tcpState: Uint8Array;
  // Per flow and direction (index flow * 2 + dir).
  private readonly nextSeq: Uint32Array;
  private readonly seqKnown: Uint8Array;
  private readonly outOfWindow: Uint8Array;
  /** Per flow direction with bytes waiting: their buffer (by key; grown by doubling as keys come, up to 2 per flow). */
  private pend: (Buffer | undefined)[] = new Array<Buffer | undefined>(INITIAL_PEND).fill(undefined);
  private readonly pendLen: Int32Array;
  private readonly seg: Segment;
  private frames = 0;
  private transportDecoded = 0;
  private tcp = 0;
  private udp = 0;
  private icmp = 0;
  private events = 0;
  private internalError: { frame: number; message: string } | undefined;
  /** The connection state of the current packet's TCP flow before the packet (valid inside onPacket). */
  previousTcpState = 0;

  constructor(opts: PipelineOptions) {
    const maxFlows = opts.maxFlows ?? DEFAULT_MAX_FLOWS;
    this.clock = opts.clock;
    this.onPacket = opts.onPacket;
    this.maxBuf = opts.maxFlowBuffer ?? DEFAULT_MAX_FLOW_BUFFER;
    this.decoders = opts.decoders ?? createDecoders();
    const sink = opts.onEvent;
    this.onEvent = (e) => {
      this.events++;
      sink(e);
    };
    this.counters.source = this.current;
    this.decoders.forEach((d, i) => {
      d.counters.source = this.current;
      const map = d.transport === 'tcp' ? this.tcpPort : this.udpPort;
      for (const p of d.ports) map[p] = i;
    });
    this.flows = new FlowTable({
      maxFlows,
      idleTimeoutMs: opts.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
      onEvict: (f) => this.release(f),
    });
    this.app = new Int16Array(maxFlows);
    this.srvDir = new Uint8Array(maxFlows);
    this.tcpState = new Uint8Array(maxFlows);
    this.nextSeq = new Uint32Array(maxFlows * 2);
    this.seqKnown = new Uint8Array(maxFlows * 2);
    this.outOfWindow = new Uint8Array(maxFlows * 2);
    this.pendLen = new Int32Array(maxFlows * 2);
    this.seg = {
      pkt: this.pkt,
      buf: this.pkt.buf,
      off: 0,
      len: 0,
      toServer: true,
      flow: 0,
    };
  }

  /** Decodes one frame. Never throws. */
  handle(raw: RawPacket): void {
    this.frames++;
    this.current.frame = raw.frame;
    try {
      this.decode(raw);
    } catch (err) {
      // A bug, not bad input: count it and keep going, the capture must not stop.
      this.counters.inc('internal_error');
      this.internalError ??= { frame: raw.frame, message: err instanceof Error ? err.message : String(err) };
    }
  }

  /** The view of the frame being handled (valid inside onEvent/onPacket). */
  get packet(): PacketView {
    return this.pkt;
  }

  /** The connection state of a TCP flow (TcpState). */
  connectionState(flow: number): number {
    return this.tcpState[flow] ?? NONE;
  }

  stats(): PipelineStats {
    const counters = this.counters.snapshot();
    const firstFrames = this.counters.firstFrames();
    for (const d of this.decoders) {
      Object.assign(counters, d.counters.snapshot());
      Object.assign(firstFrames, d.counters.firstFrames());
    }
    const s: PipelineStats = {
      frames: this.frames,
      transportDecoded: this.transportDecoded,
      tcp: this.tcp,
      udp: this.udp,
      icmp: this.icmp,
      events: this.events,
      flows: { ...this.flows.stats },
      counters,
      firstFrames,
    };
    if (this.internalError) s.internalError = this.internalError;
    return s;
  }

  /** Adds the fragment pkt holds; true when it completed its datagram, which pkt then describes. */
  private reassemble(pkt: PacketView): boolean {
    const now = this.clock.now();
    if (pkt.ipVersion === 4) {
      const r = this.fragments4.add(ipv4Fragment(pkt), now, this.counters);
      if (r === null) return false;
      pkt.buf = r.datagram;
      pkt.ipOff = 0;
      pkt.fragment = false;
      pkt.payloadOff = r.headerLength;
      pkt.payloadLen = r.datagram.length - r.headerLength;
      return true;
    }
    const r = this.fragments6.add(ipv6Fragment(pkt), now, this.counters);
    if (r === null) return false;
    r.datagram.writeUInt16BE(r.datagram.length - r.headerLength, 4);
    pkt.buf = r.datagram;
    pkt.ipOff = 0;
    pkt.fragment = false;
    // The fixed header now names what followed the fragment header: walk the rest of the chain.
    return decodeIpv6(pkt, 0, r.datagram.length, this.counters);
  }

  private decode(raw: RawPacket): void {
    const pkt = this.pkt;
    // Compared with true: the result of a call the optimizing compiler does not inline is of unknown type, and `!x`
    // would test it against every falsy kind of value.
    if (decodeFrame(raw, pkt, this.counters) !== true) {
      // An IP fragment: reassembled here; the frame that completes the datagram carries it on.
      if (!pkt.fragment || !this.reassemble(pkt)) return;
      if (!decodeTransport(pkt, this.counters)) return;
    }
    this.transportDecoded++;
    const now = this.clock.now();
    const flows = this.flows;
    flows.expire(now);
    const flow = flows.lookup(pkt, now);
    const dir = flows.dir;
    const proto = pkt.ipProto;
    if (flows.created) this.init(flow, dir, proto);
    if (proto === TCP) {
      this.tcp++;
      this.trackTcp(flow, dir);
    } else if (proto === UDP) {
      this.udp++;
      const a = this.app[flow] ?? -1;
      if (a >= 0 && pkt.payloadLen > 0) this.deliver(a, flow, dir, pkt.buf, pkt.payloadOff, pkt.payloadLen);
    } else {
      this.icmp++;
    }
    this.onPacket?.(pkt, flow);
  }

  private init(flow: number, dir: number, proto: number): void {
    const pkt = this.pkt;
    let a = -1;
    let toServer = true;
    const ports = proto === TCP ? this.tcpPort : proto === UDP ? this.udpPort : undefined;
    if (ports !== undefined) {
      a = ports[pkt.dport] ?? -1;
      if (a < 0) {
        a = ports[pkt.sport] ?? -1;
        toServer = false;
      }
    }
    this.app[flow] = a;
    if (a >= 0) this.decoders[a]?.release?.(flow);
    this.srvDir[flow] = toServer ? dir : dir ^ 1;
    this.tcpState[flow] = NONE;
    const k = flow * 2;
    this.seqKnown[k] = this.seqKnown[k + 1] = 0;
    this.outOfWindow[k] = this.outOfWindow[k + 1] = 0;
    this.pendLen[k] = this.pendLen[k + 1] = 0;
  }

  private release(flow: number): void {
    const k = flow * 2;
    const dropped = (this.pendLen[k] ?? 0) + (this.pendLen[k + 1] ?? 0);
    if (dropped > 0) this.counters.inc('reassembly.bytes_dropped_on_flow_eviction', dropped);
    if (k < this.pend.length) this.pend[k] = this.pend[k + 1] = undefined;
    this.pendLen[k] = this.pendLen[k + 1] = 0;
    const a = this.app[flow] ?? -1;
    if (a >= 0) this.decoders[a]?.release?.(flow);
  }

  private trackTcp(flow: number, dir: number): void {
    const pkt = this.pkt;
    const flags = pkt.tcpFlags;
    const st = this.tcpState[flow] ?? 0;
    this.previousTcpState = st;
    // Connection state: enough to tell handshakes, established, closing and reset flows apart.
    if (flags & RST) this.tcpState[flow] = RESET;
    else if (flags & SYN) {
      this.tcpState[flow] = flags & ACK ? SYN_RECEIVED : SYN_SENT;
    } else if (flags & FIN) {
      this.tcpState[flow] = st === CLOSING ? CLOSED : CLOSING;
    } else if (st === NONE || st === SYN_RECEIVED || st === SYN_SENT) {
      this.tcpState[flow] = ESTABLISHED;
    }
    const a = this.app[flow] ?? -1;
    if (a < 0) return;
    const key = flow * 2 + dir;
    let n = pkt.payloadLen;
    if (flags & SYN) {
      this.dropPending(key, 'reassembly.bytes_dropped_on_new_connection');
      this.nextSeq[key] = (pkt.seq + 1) >>> 0;
      this.seqKnown[key] = 1;
      if (n === 0) return;
    }
    let p = pkt.payloadOff;
    if (n > 0) {
      let s = flags & SYN ? (pkt.seq + 1) >>> 0 : pkt.seq;
      if (this.seqKnown[key] === 0) {
        this.seqKnown[key] = 1;
        this.nextSeq[key] = s;
      }
      const delta = (s - (this.nextSeq[key] ?? 0)) | 0;
      if (delta !== 0) {
        if (delta > OUT_OF_WINDOW || delta < -OUT_OF_WINDOW) {
          const seen = (this.outOfWindow[key] ?? 0) + 1;
          this.counters.inc('tcp.out_of_window');
          if (seen < RESYNC_AFTER) {
            this.outOfWindow[key] = seen;
            return;
          }
          this.counters.inc('tcp.resync');
          this.dropPending(key, 'reassembly.bytes_dropped_on_gap');
        } else if (delta < 0) {
          if (-delta >= n) {
            this.counters.inc('tcp.retransmission');
            return;
          }
          this.counters.inc('tcp.overlap');
          p -= delta;
          n += delta;
          s = this.nextSeq[key] ?? 0;
        } else {
          this.counters.inc('tcp.gap');
          this.dropPending(key, 'reassembly.bytes_dropped_on_gap');
        }
      }
      this.outOfWindow[key] = 0;
      this.nextSeq[key] = (s + n) >>> 0;
      this.feed(a, flow, dir, key, p, n);
    }
    if (flags & FIN) this.nextSeq[key] = ((this.nextSeq[key] ?? 0) + 1) >>> 0;
  }

  private dropPending(key: number, reason: string): void {
    const len = this.pendLen[key] ?? 0;
    if (len > 0) {
      this.counters.inc(reason, len);
      this.pendLen[key] = 0;
    }
  }

  /**
   * Takes in-order stream bytes and decodes every PDU they complete. PDUs that lie wholly inside the segment are
   * decoded in place; only a PDU that spans segments is copied, and only up to its own end.
   */
  private feed(a: number, flow: number, dir: number, key: number, p: number, n: number): void {
    const buf = this.pkt.buf;
    const dec = this.decoders[a];
    if (dec === undefined) return;
    // After a header probe took the segment's last bytes, look once more: they may complete a PDU.
    let probed = false;
    while (n > 0 || probed) {
      probed = false;
      const plen = this.pendLen[key] ?? 0;
      // The buffer array is read only when bytes wait (its typed length says so): most segments start a PDU.
      const pend = plen === 0 ? undefined : this.pend[key];
      if (pend === undefined) {
        if (n === 0) return;
        const used = this.decodePdus(a, flow, dir, buf, p, n);
        if (used < n) this.keep(key, buf, p + used, n - used);
        return;
      }
      const want = dec.pduLength(pend, 0, plen);
      if (want < 0) {
        dec.counters.inc(`${dec.protocol}.bad_framing`);
        this.dropPending(key, 'reassembly.bytes_dropped_on_bad_framing');
        continue;
      }
      if (want > 0 && plen >= want) {
        // A header probe took bytes past this PDU's end: they belong to the next PDU, give them back.
        const surplus = plen - want;
        p -= surplus;
        n += surplus;
        this.pendLen[key] = 0;
        this.deliver(a, flow, dir, pend, 0, want);
        continue;
      }
      if (n === 0) return;
      // Unknown length yet: take just enough to read the header; known: take up to the PDU's end.
      const take = Math.min(n, want === 0 ? MAX_HEADER_PROBE : want - plen, this.maxBuf - plen);
      if (take <= 0) {
        this.counters.inc('reassembly.buffer_overflow');
        this.dropPending(key, 'reassembly.bytes_dropped_on_overflow');
        continue;
      }
      const target = this.room(key, pend, plen, plen + take);
      copyBytes(buf, p, take, target, plen);
      p += take;
      n -= take;
      if (want > 0 && plen + take === want) {
        this.pendLen[key] = 0;
        this.deliver(a, flow, dir, target, 0, want);
      } else {
        this.pendLen[key] = plen + take;
        probed = want === 0;
      }
    }
  }

  /** The flow direction's buffer, grown (up to the cap) to hold `size` bytes. */
  private room(key: number, pend: Buffer, plen: number, size: number): Buffer {
    if (pend.length >= size) return pend;
    const bigger = Buffer.allocUnsafe(Math.min(this.maxBuf, Math.max(size, pend.length * 2)));
    pend.copy(bigger, 0, 0, plen);
    this.setPend(key, bigger);
    return bigger;
  }

  private setPend(key: number, b: Buffer): void {
    if (key >= this.pend.length) {
      let n = this.pend.length;
      while (n <= key) n *= 2;
      const bigger = new Array<Buffer | undefined>(n).fill(undefined);
      for (let i = 0; i < this.pend.length; i++) bigger[i] = this.pend[i];
      this.pend = bigger;
    }
    this.pend[key] = b;
  }

  /** Keeps the start of an incomplete PDU for the next segment. */
  private keep(key: number, src: Buffer, p: number, n: number): void {
    if (n > this.maxBuf) {
      this.counters.inc('reassembly.buffer_overflow');
      this.counters.inc('reassembly.bytes_dropped_on_overflow', n);
      return;
    }
    let pend = key < this.pend.length ? this.pend[key] : undefined;
    if (pend === undefined || pend.length < n) {
      pend = Buffer.allocUnsafe(Math.min(this.maxBuf, Math.max(n * 2, 64)));
      this.setPend(key, pend);
    }
    copyBytes(src, p, n, pend, 0);
    this.pendLen[key] = n;
  }

  /** Decodes the complete PDUs at buf[p, p + n); returns the bytes consumed (the rest is an incomplete PDU). */
  private decodePdus(a: number, flow: number, dir: number, buf: Buffer, p: number, n: number): number {
    const dec = this.decoders[a];
    if (dec === undefined) return n;
    let used = 0;
    while (used < n) {
      const len = dec.pduLength(buf, p + used, n - used);
      if (len < 0) {
        dec.counters.inc(`${dec.protocol}.bad_framing`);
        this.counters.inc('reassembly.bytes_dropped_on_bad_framing', n - used);
        return n;
      }
      if (len > this.maxBuf) {
        this.counters.inc('reassembly.pdu_too_large');
        this.counters.inc('reassembly.bytes_dropped_on_overflow', n - used);
        return n;
      }
      if (len === 0 || len > n - used) return used;
      this.deliver(a, flow, dir, buf, p + used, len);
      used += len;
    }
    return used;
  }

  private deliver(a: number, flow: number, dir: number, buf: Buffer, off: number, len: number): void {
    const dec = this.decoders[a];
    if (dec === undefined) return;
    const seg = this.seg;
    if (seg.buf !== buf) seg.buf = buf;
    seg.off = off;
    seg.len = len;
    seg.flow = flow;
    seg.toServer = dir === this.srvDir[flow];
    dec.decode(seg, this.onEvent);
  }
}
