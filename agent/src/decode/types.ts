// Types of the decode pipeline: the per-frame packet view, the application segment handed to a decoder, the
// decoded events, and the Decoder interface every application protocol implements (one file per protocol, listed
// once in registry.ts).
import type { DnsEvent } from './dns.js';
import type { HttpEvent } from './http.js';
import type { ModbusEvent } from './modbus.js';
import type { MqttEvent } from './mqtt.js';

/** Application protocols with a decoder. The next decoders (mqtt, dns, http) add their names here. */
export type Protocol = 'modbus' | 'mqtt' | 'dns' | 'http';

/**
 * Every event a decoder can emit (a discriminated union on `protocol`).
 *
 * **An event is valid only during the `onEvent` call that hands it out.** A decoder may reuse one event object for
 * every PDU, and a list in an event (Modbus `values`) may be a view that reads the frame's bytes, which the pipeline
 * reuses too. A consumer that keeps anything of an event past the call copies it then: numbers and strings as they
 * are (they are immutable), arrays and objects with `copyEvent` (the whole event) or field by field. Never keep the
 * event, a list of it or a Buffer of the packet. `decode/event-contract.test.ts` runs the agent's consumers with
 * events that are overwritten as soon as the call returns and fails if any result changes.
 */
export type DecodedEvent = ModbusEvent | MqttEvent | DnsEvent | HttpEvent;

/**
 * A numbers list of an event (`ModbusEvent.values`): an array, or a view over the PDU's bytes that reads them on
 * demand. Valid only during onEvent, like the event; its JSON is the array.
 */
export interface NumberList {
  readonly length: number;
  /** The i-th number (undefined outside 0..length-1). */
  at(i: number): number | undefined;
}

/**
 * A deep copy of an event that stays valid after onEvent: its own fields in their order, lists as plain arrays
 * (a view's numbers read now), nested objects copied.
 */
export function copyEvent<T extends DecodedEvent>(e: T): T {
  return copyValue(e) as T;
}

function copyValue(v: unknown): unknown {
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map(copyValue);
  const json = (v as { toJSON?: () => unknown }).toJSON;
  if (typeof json === 'function') return copyValue(json.call(v));
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(v)) out[k] = copyValue((v as Record<string, unknown>)[k]);
  return out;
}

/** Fields every decoded event carries. */
export interface EventBase {
  protocol: Protocol;
  /** Frame that completed the PDU (1-based). */
  frame: number;
  /** Time of that frame, epoch seconds. */
  ts: number;
  /** Flow the PDU belongs to (stable while the flow lives in the flow table). */
  flow: number;
}

/** Where a Counters reads the frame being decoded (the pipeline shares one and moves it per frame). */
export interface FrameSource {
  frame: number;
}

/**
 * Named counters of malformed input and drops: `reason` -> count, and the first frame each reason was seen in, so
 * that a problem can be found in the capture. Cheap enough for the error path only.
 */
export class Counters {
  /** The pipeline points this at its current frame (see DecodePipeline). */
  source: FrameSource = { frame: 0 };
  private readonly map = new Map<string, number>();
  private readonly first = new Map<string, number>();
  inc(reason: string, by = 1): void {
    const n = this.map.get(reason);
    if (n === undefined) this.first.set(reason, this.source.frame);
    this.map.set(reason, (n ?? 0) + by);
  }
  get(reason: string): number {
    return this.map.get(reason) ?? 0;
  }
  snapshot(): Record<string, number> {
    return Object.fromEntries([...this.map.entries()].sort(([a], [b]) => a.localeCompare(b)));
  }
  /** reason -> the first frame it was counted in. */
  firstFrames(): Record<string, number> {
    return Object.fromEntries([...this.first.entries()].sort(([a], [b]) => a.localeCompare(b)));
  }
}

export const IpProto = { ICMP: 1, TCP: 6, UDP: 17, ICMPV6: 58 } as const;

/**
 * One frame's decoded link/network/transport headers. The pipeline reuses one PacketView for every frame (no
 * allocation per packet); read it inside the callback, copy what you keep.
 */
export class PacketView {
  frame = 0;
  // -0 (equal to 0) in the fields that take numbers outside V8's small-integer range (epoch seconds, IPv4 addresses,
  // sequence numbers): V8 stores them as doubles, so the fields hold doubles from the first view on. From 0 they would
  // change representation at the first such packet (V8 then gives the view a new shape), and every object made
  // later that holds one (a second pipeline's view, segment, flow table) would make V8 drop the code compiled for
  // the first. The same for the other long-lived objects of the packet path (events, clock, flow table, pools).
  tsSec = -0;
  tsNsec = 0;
  buf: Buffer = Buffer.alloc(0);
  /** Ethertype of the network layer (after VLAN tags), 0 if none. */
  etherType = 0;
  /** Outer and inner VLAN ids (-1 when untagged). */
  vlanOuter = -1;
  vlanInner = -1;
  /** Offset of the network-layer header in buf. */
  ipOff = 0;
  /** 4 or 6 when an IP header was decoded, else 0. */
  ipVersion = 0;
  /** IPv4 addresses as unsigned 32-bit numbers. */
  src4 = -0;
  dst4 = -0;
  /** IPv6 addresses: offsets of the 16 bytes in buf. */
  src6Off = 0;
  dst6Off = 0;
  ipProto = -1;
  ttl = 0;
  /** True when the IP packet is a fragment (its transport header is decoded after reassembly). */
  fragment = false;
  /** IPv6: offset of the fragment extension header in buf, when `fragment` is set. */
  fragHdrOff = 0;
  sport = 0;
  dport = 0;
  tcpFlags = 0;
  seq = -0;
  ack = -0;
  window = 0;
  /** TCP options, -1 when absent. */
  mss = -1;
  wscale = -1;
  sackPermitted = false;
  tsVal = -1;
  tsEcr = -1;
  icmpType = -1;
  icmpCode = -1;
  /** Transport payload: buf[payloadOff, payloadOff + payloadLen). */
  payloadOff = 0;
  payloadLen = 0;

  reset(): void {
    this.etherType = 0;
    this.vlanOuter = -1;
    this.vlanInner = -1;
    this.ipVersion = 0;
    this.ipProto = -1;
    this.fragment = false;
    this.sport = 0;
    this.dport = 0;
    this.tcpFlags = 0;
    this.mss = -1;
    this.wscale = -1;
    this.sackPermitted = false;
    this.tsVal = -1;
    this.tsEcr = -1;
    this.icmpType = -1;
    this.icmpCode = -1;
    this.payloadOff = 0;
    this.payloadLen = 0;
  }

  /** Frame time in epoch seconds. */
  get ts(): number {
    return this.tsSec + this.tsNsec / 1e9;
  }

  // The text of the last IPv4 addresses asked for: detectors ask for a packet's addresses several times, and a
  // conversation's packets carry the same two.
  private src4Text = '0.0.0.0';
  private src4Of = 0;
  private dst4Text = '0.0.0.0';
  private dst4Of = 0;

  srcAddr(): string {
    if (this.ipVersion === 4) {
      if (this.src4 !== this.src4Of) {
        this.src4Of = this.src4;
        this.src4Text = ipv4Text(this.src4);
      }
      return this.src4Text;
    }
    return this.ipVersion === 6 ? formatIpv6(this.buf, this.src6Off) : '';
  }

  dstAddr(): string {
    if (this.ipVersion === 4) {
      if (this.dst4 !== this.dst4Of) {
        this.dst4Of = this.dst4;
        this.dst4Text = ipv4Text(this.dst4);
      }
      return this.dst4Text;
    }
    return this.ipVersion === 6 ? formatIpv6(this.buf, this.dst6Off) : '';
  }
}

export function formatIpv4(a: number): string {
  return `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
}

/** IPv4 texts made so far, bounded (cleared when full): a plant's addresses are few and recur. */
const IPV4_TEXTS = new Map<number, string>();
const IPV4_TEXTS_MAX = 65_536;

/** formatIpv4 through IPV4_TEXTS (one flat string per address, cheap to hash as a Map key). */
export function ipv4Text(a: number): string {
  let s = IPV4_TEXTS.get(a);
  if (s === undefined) {
    if (IPV4_TEXTS.size >= IPV4_TEXTS_MAX) IPV4_TEXTS.clear();
    s = formatIpv4(a);
    IPV4_TEXTS.set(a, s);
  }
  return s;
}

/** RFC 5952 text form (longest run of zero groups compressed, lower case). */
export function formatIpv6(buf: Buffer, off: number): string {
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push(buf.readUInt16BE(off + i * 2));
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (a: number[]): string => a.map((x) => x.toString(16)).join(':');
  if (bestStart < 0) return hex(g);
  return `${hex(g.slice(0, bestStart))}::${hex(g.slice(bestStart + bestLen))}`;
}

/** One application PDU (TCP: reassembled to its framing; UDP: one datagram) handed to a decoder. */
export interface Segment {
  /** The frame that completed the PDU. */
  pkt: PacketView;
  /** The PDU is buf[off, off + len); valid only during decode(). */
  buf: Buffer;
  off: number;
  len: number;
  /** True when the PDU travels from client to server (towards the decoder's port). */
  toServer: boolean;
  flow: number;
}

/** Where a decoder's events go; the event is valid only during the call (see DecodedEvent). */
export type EventSink = (e: DecodedEvent) => void;

/**
 * An application-protocol decoder. Never throws: malformed input is counted per reason in `counters` and, where
 * the header is still trustworthy, emitted as an event marked malformed.
 */
export interface Decoder {
  readonly protocol: Protocol;
  readonly transport: 'tcp' | 'udp';
  /** Server ports that select this decoder. */
  readonly ports: readonly number[];
  readonly counters: Counters;
  /**
   * TCP framing: the length of the PDU that starts at buf[off] when `avail` bytes are there. Returns the length
   * (may exceed avail: wait for more), 0 when more bytes are needed to tell, or -1 when the bytes are not a valid
   * PDU start (broken framing: the pipeline drops the rest of the segment and counts it). UDP decoders are handed
   * whole datagrams and never asked; they return `avail`.
   */
  pduLength(buf: Buffer, off: number, avail: number): number;
  decode(seg: Segment, emit: EventSink): void;
  /**
   * For a decoder that keeps per-flow state (by flow id, in typed arrays of its own where it can: no object per
   * flow): forget the flow's, the flow is gone or its id is about to be reused.
   */
  release?(flow: number): void;
}
