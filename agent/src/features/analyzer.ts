// One facility's analysis of a packet stream: the decode pipeline, the per-packet feature records, the 60-second
// window and the asset inventory, fed frame by frame. Time is the injected clock (packet time in replay).
import type { Clock } from '@vigil/shared';
import { AssetInventory } from '../assets/inventory.js';
import { LinkType, type RawPacket } from '../capture/types.js';
import { objectArray } from '../decode/bytes.js';
import type { FlowTable } from '../decode/flow-table.js';
import { DecodePipeline, TcpState, type PipelineOptions } from '../decode/pipeline.js';
import { TcpFlag } from '../decode/tcp.js';
import { IpProto, type DecodedEvent, type PacketView } from '../decode/types.js';
import { hashBytes16, mix32 } from '../window/hll.js';
import { FacilityWindow, ProtoClass } from '../window/window.js';
import { FeatureExtractor, type FeatureSink } from './extractor.js';

// The imported constants the packet path compares with, as this module's own constants: V8 folds a module's const
// into the compiled code, while every use of an imported binding loads its cell and checks it (about eight
// instructions a use, several per packet).
const TCP = IpProto.TCP;
const UDP = IpProto.UDP;
const ICMP = IpProto.ICMP;
const ICMPV6 = IpProto.ICMPV6;
const RST = TcpFlag.RST;
const SYN_SENT = TcpState.SYN_SENT;
const SYN_RECEIVED = TcpState.SYN_RECEIVED;
const CLASS_TCP = ProtoClass.tcp;
const CLASS_UDP = ProtoClass.udp;
const CLASS_ICMP = ProtoClass.icmp;
const CLASS_OTHER = ProtoClass.other;

const ROLE_MODBUS = 1;
const ROLE_MQTT = 2;
const ROLE_DNS = 3;
const ROLE_HTTP = 4;

/** See Analyzer.flowIds: per flow the two host ids by direction, the role code and a spare (alignment). */
const FLOW_IDS = 4;
const FLOW_ROLE = 2;
/**
 * See Analyzer.flowRec: per flow, per direction d the packets and wire bytes not yet given to the inventory (at
 * FR_PACKETS + 2d and FR_BYTES + 2d), the time of the newest of them, per direction the second whose
 * distinct-address counts hold the packet's two addresses (NaN: none), and 1 once both hosts have a MAC.
 */
const FR = 8;
const FR_PACKETS = 0;
const FR_BYTES = 1;
const FR_LAST_MS = 4;
const FR_SECOND = 5;
const FR_MACS = 7;
/** A role code no PDU has (see ROLE_CODE_PROTO). */
const NO_ROLE = -1;
/**
 * Role codes: what a PDU teaches the inventory, as a number: protocol * ROLE_CODE_PROTO + number (the Modbus unit
 * id) * 2 + the flow direction from client to server; -1 when it carries texts (HTTP, an MQTT CONNECT's client
 * id). Equal codes in one flow teach the same roles to the same two hosts.
 */
const ROLE_CODE_PROTO = 1024;

export interface AnalyzerOptions {
  clock: Clock;
  /** Every packet's feature record (reused: copy to keep). Without it no record is made (the detection engine's
   * analyzer: nothing reads them there). */
  onFeatures?: FeatureSink;
  /** Every decoded event, valid only during the call (see DecodedEvent). */
  onEvent?: (e: DecodedEvent) => void;
  /** Every frame whose transport header decoded, after the window and inventory saw it (`failed`: a refused or
   * unreachable connection attempt). The view is reused: read it inside the call. */
  onPacket?: (pkt: PacketView, ms: number, failed: boolean) => void;
  maxFlows?: number;
  maxHosts?: number;
  pipeline?: Partial<Omit<PipelineOptions, 'clock' | 'onEvent' | 'onPacket' | 'maxFlows'>>;
}

export class Analyzer {
  readonly pipeline: DecodePipeline;
  /** The pipeline's flow table (its flow id, direction and creation flag of the frame being handled). */
  private readonly flows: FlowTable;
  readonly window = new FacilityWindow();
  readonly assets: AssetInventory;
  /** The per-packet feature records, when asked for (AnalyzerOptions.onFeatures). */
  readonly features: FeatureExtractor | undefined;
  private readonly clock: Clock;
  private readonly onEventHook: ((e: DecodedEvent) => void) | undefined;
  private readonly onPacketHook: ((pkt: PacketView, ms: number, failed: boolean) => void) | undefined;
  private readonly tcpClass = new Uint8Array(65536).fill(CLASS_TCP);
  private readonly udpClass = new Uint8Array(65536).fill(CLASS_UDP);
  private raw: RawPacket | undefined;
  /**
   * What the inventory learns from the events of the frame being handled, [0, nEvents): an event is valid only
   * during onEvent, and the inventory takes roles once the packet hook has found the hosts. Per event its protocol,
   * direction, a number (Modbus unit id, MQTT type) and two texts (MQTT client id; HTTP host and user agent).
   */
  private roleProto = new Uint8Array(16);
  private roleToServer = new Uint8Array(16);
  private roleNumber = new Int32Array(16);
  private roleCodes = new Int32Array(16);
  private readonly roleText1 = objectArray<string | undefined>();
  private readonly roleText2 = objectArray<string | undefined>();
  private nEvents = 0;
  /**
   * Per flow id f, from f * FLOW_IDS: the inventory ids of its two hosts by direction (the source of a packet in
   * flow direction d at + d, its destination at + (1 - d)), then the code of the role the inventory last learnt
   * from the flow (see ROLE_CODE_PROTO; NO_ROLE: none); from f * FR, the flow's record (see FR): its packet and byte
   * counts not yet handed to the inventory, per direction the second whose distinct-address counts already hold
   * the packet's two addresses, whether its hosts have their MACs. Set when the pipeline creates the flow (ids are
   * reused only then). A flow's later packets neither look their hosts up nor add their addresses again within a
   * second, and its PDUs do not teach the inventory a role it learnt from the flow already: adding a known address
   * changes no count, a known role no role. Its hosts' counters and last-seen times are added once per flow,
   * direction and second, when the flow's id is reused, and when the inventory is read (sums and a maximum: the
   * same values as counting every packet).
   */
  private flowIds = new Int32Array(1024 * FLOW_IDS);
  private flowRec = new Float64Array(1024 * FR);
  /** Flow ids below this one have been used (flowRec holds counts only there). */
  private flowsUsed = 0;

  constructor(opts: AnalyzerOptions) {
    this.clock = opts.clock;
    this.onEventHook = opts.onEvent;
    this.onPacketHook = opts.onPacket;
    this.assets = new AssetInventory(opts.maxHosts);
    this.assets.beforeRead = () => this.flushAll();
    this.features = opts.onFeatures !== undefined ? new FeatureExtractor(opts.onFeatures) : undefined;
    this.pipeline = new DecodePipeline({
      ...opts.pipeline,
      ...(opts.maxFlows !== undefined ? { maxFlows: opts.maxFlows } : {}),
      clock: opts.clock,
      onEvent: (e) => this.event(e),
      onPacket: (pkt, flow) => this.packet(pkt, flow),
    });
    this.flows = this.pipeline.flows;
    for (const d of this.pipeline.decoders) {
      const map = d.transport === 'tcp' ? this.tcpClass : this.udpClass;
      for (const port of d.ports) map[port] = ProtoClass[d.protocol];
    }
  }

  handle(raw: RawPacket): void {
    // The capture reuses its packet object: stored only when it changes (an object store runs V8's write barrier).
    if (raw !== this.raw) this.raw = raw;
    this.nEvents = 0;
    this.pipeline.handle(raw);
  }

  /** A decoded event to the feature record, the window and (see ROLE_CODE_PROTO) the inventory: one switch for all. */
  private event(e: DecodedEvent): void {
    const sec = this.secondOf(this.clock.now());
    const features = this.features;
    const w = this.window;
    // `=== true` on the events' and flow table's booleans: a plain test compiles to V8's full truthiness check.
    const response = e.is_response === true;
    const clientDir = response ? this.flows.dir ^ 1 : this.flows.dir;
    let code: number;
    switch (e.protocol) {
      case 'modbus':
        features?.modbus(e);
        w.addModbus(sec, e.func_code, response, e.exception_code !== undefined);
        code = ROLE_MODBUS * ROLE_CODE_PROTO + (e.unit_id & 255) * 2 + clientDir;
        break;
      case 'mqtt':
        features?.mqtt(e);
        w.addMqtt(sec, e.msgtype);
        code = e.msgtype === 1 && e.client_id !== undefined ? -1 : ROLE_MQTT * ROLE_CODE_PROTO + clientDir;
        break;
      case 'dns':
        features?.dns(e);
        w.addDns(sec, response, e.rcode);
        code = ROLE_DNS * ROLE_CODE_PROTO + clientDir;
        break;
      case 'http':
        features?.http(e);
        if (!response) w.addHttpRequest(sec);
        code = -1;
        break;
    }
    this.role(e, code);
    this.onEventHook?.(e);
  }

  /**
   * Keeps what event `e` (role code `code`) teaches the inventory, unless the flow taught it already. Roles are
   * learnt once the packet hook has found the hosts (events come before it). The frame's events are the frame's
   * flow's (a flow's first frame: its id may hold another flow's memo until the packet hook).
   */
  private role(e: DecodedEvent, code: number): void {
    if (code < 0 || this.flows.created === true || this.flowIds[e.flow * FLOW_IDS + FLOW_ROLE] !== code)
      this.keepRole(e, code);
  }

  /**
   * Math.floor(ms / 1000), without a division for most packets: a time at least 1 ms inside the last second
   * computed falls in it (the quotient's rounding error is far below 1 ms / 1000 while the second is below 2^31;
   * nearer its edges, and for later seconds, the division decides).
   */
  private secondOf(ms: number): number {
    if (ms >= this.secondLo && ms <= this.secondHi) return this.second;
    const sec = Math.floor(ms / 1000);
    this.second = sec;
    if (sec >= 0 && sec < 2 ** 31) {
      this.secondLo = sec * 1000 + 1;
      this.secondHi = sec * 1000 + 999;
    } else {
      this.secondLo = Infinity;
      this.secondHi = -Infinity;
    }
    return sec;
  }

  private second = 0;
  private secondLo = Infinity;
  private secondHi = -Infinity;

  private keepRole(e: DecodedEvent, code: number): void {
    const k = this.nEvents++;
    if (k === this.roleProto.length) {
      const grow = <T extends Uint8Array | Int32Array>(a: T, b: T): T => (b.set(a), b);
      this.roleProto = grow(this.roleProto, new Uint8Array(k * 2));
      this.roleToServer = grow(this.roleToServer, new Uint8Array(k * 2));
      this.roleNumber = grow(this.roleNumber, new Int32Array(k * 2));
      this.roleCodes = grow(this.roleCodes, new Int32Array(k * 2));
    }
    this.roleCodes[k] = code;
    this.roleToServer[k] = e.is_response === true ? 0 : 1;
    let text1: string | undefined;
    let text2: string | undefined;
    switch (e.protocol) {
      case 'modbus':
        this.roleProto[k] = ROLE_MODBUS;
        this.roleNumber[k] = e.unit_id;
        break;
      case 'mqtt':
        this.roleProto[k] = ROLE_MQTT;
        this.roleNumber[k] = e.msgtype;
        text1 = e.client_id;
        break;
      case 'dns':
        this.roleProto[k] = ROLE_DNS;
        break;
      case 'http':
        this.roleProto[k] = ROLE_HTTP;
        text1 = e.host;
        text2 = e.user_agent;
        break;
    }
    this.roleText1[k] = text1;
    this.roleText2[k] = text2;
  }

  /**
   * The roles kept from the frame's events, to the inventory (after its onPacket found the hosts); the last code
   * learnt to the flow's memo (flow state from `base`).
   */
  private learnRoles(base: number, dir: number): void {
    const assets = this.assets;
    assets.setHosts(this.flowIds[base + dir]!, this.flowIds[base + 1 - dir]!);
    for (let k = 0; k < this.nEvents; k++) {
      const code = this.roleCodes[k] ?? -1;
      if (code >= 0) this.flowIds[base + FLOW_ROLE] = code;
      const toServer = this.roleToServer[k] === 1;
      switch (this.roleProto[k]) {
        case ROLE_MODBUS:
          assets.onModbus(this.roleNumber[k] ?? 0, toServer);
          break;
        case ROLE_MQTT:
          assets.onMqtt(this.roleNumber[k] ?? 0, this.roleText1[k], toServer);
          break;
        case ROLE_DNS:
          assets.onDns(toServer);
          break;
        case ROLE_HTTP:
          assets.onHttp(this.roleText1[k], this.roleText2[k], toServer);
          break;
      }
      this.roleText1[k] = undefined;
      this.roleText2[k] = undefined;
    }
    this.nEvents = 0;
  }

  /**
   * A flow the pipeline just created (or gave a reused id): the counts of the flow that had the id go to its
   * hosts; its hosts, found or added, no second yet, MACs not known.
   */
  private newFlow(pkt: PacketView, flow: number, dir: number, ms: number): void {
    if (flow >= this.flowsUsed) {
      this.flowsUsed = flow + 1;
      if (flow * FLOW_IDS >= this.flowIds.length) {
        const n = Math.max(this.flowIds.length / FLOW_IDS, flow + 1) * 2;
        const ids = new Int32Array(n * FLOW_IDS);
        ids.set(this.flowIds);
        this.flowIds = ids;
        const rec = new Float64Array(n * FR);
        rec.set(this.flowRec);
        this.flowRec = rec;
      }
    } else this.flush(flow);
    const ids = this.flowIds;
    const base = flow * FLOW_IDS;
    this.assets.lookupHosts(pkt, ms);
    ids[base + dir] = this.assets.source;
    ids[base + 1 - dir] = this.assets.destination;
    ids[base + FLOW_ROLE] = NO_ROLE;
    const r = flow * FR;
    this.flowRec[r + FR_SECOND] = NaN;
    this.flowRec[r + FR_SECOND + 1] = NaN;
    this.flowRec[r + FR_MACS] = 0;
    this.flowRec[r + FR_LAST_MS] = -Infinity;
  }

  /** The counts flow `flow` holds, to the inventory (its record's counts then zero). */
  private flush(flow: number): void {
    const fr = this.flowRec;
    const r = flow * FR;
    const ids = this.flowIds;
    const base = flow * FLOW_IDS;
    for (let d = 0; d < 2; d++) {
      const packets = fr[r + FR_PACKETS + 2 * d]!;
      if (packets === 0) continue;
      this.assets.addCounts(
        ids[base + d]!,
        ids[base + 1 - d]!,
        packets,
        fr[r + FR_BYTES + 2 * d]!,
        fr[r + FR_LAST_MS]!,
      );
      fr[r + FR_PACKETS + 2 * d] = 0;
      fr[r + FR_BYTES + 2 * d] = 0;
    }
  }

  /** Every flow's counts to the inventory (before it is read). */
  private flushAll(): void {
    for (let f = 0; f < this.flowsUsed; f++) this.flush(f);
  }

  /**
   * A flow direction's first packet in second `sec` (window slot `slot`): its two addresses into the distinct
   * counts, the flow's counts to the inventory.
   */
  private flowSecond(pkt: PacketView, flow: number, dir: number, sec: number, slot: number): void {
    this.flowRec[flow * FR + FR_SECOND + dir] = sec;
    this.addAddresses(pkt, slot);
    this.flush(flow);
  }

  /**
   * The MACs of a packet of a flow whose hosts lack one (their first packets, or a link without MACs): what the
   * inventory takes from the frame, and whether both hosts now have one (then the flow's packets skip this).
   */
  private macs(flow: number, dir: number, raw: RawPacket): void {
    const ids = this.flowIds;
    const base = flow * FLOW_IDS;
    const s = ids[base + dir]!;
    const d = ids[base + 1 - dir]!;
    const assets = this.assets;
    if (raw.linkType === LinkType.ETHERNET && raw.capLen >= 12) {
      if (s >= 0) assets.learnMac(s, raw.buf, raw.off + 6);
      if (d >= 0) assets.learnMac(d, raw.buf, raw.off);
    }
    if (assets.hasMac(s) && assets.hasMac(d)) this.flowRec[flow * FR + FR_MACS] = 1;
  }

  /** The packet's two addresses into the distinct counts of window slot `slot`. */
  private addAddresses(pkt: PacketView, slot: number): void {
    const srcHash = pkt.ipVersion === 4 ? mix32(pkt.src4) : hashBytes16(pkt.buf, pkt.src6Off);
    const dstHash = pkt.ipVersion === 4 ? mix32(pkt.dst4) : hashBytes16(pkt.buf, pkt.dst6Off);
    this.window.addAddresses(slot, srcHash, dstHash);
  }

  /**
   * The packet hook, in three methods each small enough for V8 to inline (one method was not, and every packet
   * paid a real call): the packet's protocol class and failed-connection test here, its counts in count(), its
   * feature record in record().
   */
  private packet(pkt: PacketView, flow: number): void {
    const proto = pkt.ipProto;
    let failed = false;
    let cls: number = CLASS_OTHER;
    if (proto === TCP) {
      const prev = this.pipeline.previousTcpState;
      failed = (pkt.tcpFlags & RST) !== 0 && (prev === SYN_SENT || prev === SYN_RECEIVED);
      cls =
        this.tcpClass[pkt.dport] !== CLASS_TCP
          ? (this.tcpClass[pkt.dport] ?? 0)
          : (this.tcpClass[pkt.sport] ?? 0);
    } else if (proto === UDP) {
      cls =
        this.udpClass[pkt.dport] !== CLASS_UDP
          ? (this.udpClass[pkt.dport] ?? 0)
          : (this.udpClass[pkt.sport] ?? 0);
    } else if (proto === ICMP || proto === ICMPV6) {
      cls = CLASS_ICMP;
      failed = (proto === ICMP && pkt.icmpType === 3) || (proto === ICMPV6 && pkt.icmpType === 1);
    }
    this.count(pkt, flow, cls, failed);
  }

  /** The packet into the window and its flow's counts, its roles, its feature record, the caller's hook. */
  private count(pkt: PacketView, flow: number, cls: number, failed: boolean): void {
    const ms = this.clock.now();
    const created = this.flows.created === true;
    const raw = this.raw!;
    const size = raw.origLen;
    const dir = this.flows.dir;
    if (created) this.newFlow(pkt, flow, dir, ms);
    const sec = this.secondOf(ms);
    const slot = this.window.countPacket(sec, ms, size, cls, failed);
    const fr = this.flowRec;
    const r = flow * FR;
    if (slot >= 0 && fr[r + FR_SECOND + dir] !== sec) this.flowSecond(pkt, flow, dir, sec, slot);
    if (fr[r + FR_MACS] === 0) this.macs(flow, dir, raw);
    fr[r + FR_PACKETS + 2 * dir] = fr[r + FR_PACKETS + 2 * dir]! + 1;
    fr[r + FR_BYTES + 2 * dir] = fr[r + FR_BYTES + 2 * dir]! + size;
    if (ms > fr[r + FR_LAST_MS]!) fr[r + FR_LAST_MS] = ms;
    if (this.nEvents > 0) this.learnRoles(flow * FLOW_IDS, dir);
    const features = this.features;
    if (features !== undefined) {
      const state = pkt.ipProto === TCP ? this.pipeline.connectionState(flow) : 0;
      features.onPacket(pkt, size, state, created);
    }
    this.onPacketHook?.(pkt, ms, failed);
  }
}
