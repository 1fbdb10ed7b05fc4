// One facility's analysis of a packet stream: the decode pipeline, the per-packet feature records, the 60-second
// window and the asset inventory, fed frame by frame. Time is the injected clock (packet time in replay).
import type { Clock } from '@vigil/shared';
import { AssetInventory } from '../assets/inventory.js';
import { LinkType, type RawPacket } from '../capture/types.js';
import { DecodePipeline, TcpState, type PipelineOptions } from '../decode/pipeline.js';
import { TcpFlag } from '../decode/tcp.js';
import { IpProto, type DecodedEvent, type PacketView } from '../decode/types.js';
import { hashBytes16, mix32 } from '../window/hll.js';
import { FacilityWindow, ProtoClass } from '../window/window.js';
import { FeatureExtractor, type FeatureSink, type PacketContext } from './extractor.js';

const ROLE_MODBUS = 1;
const ROLE_MQTT = 2;
const ROLE_DNS = 3;
const ROLE_HTTP = 4;

/** See Analyzer.flowState. */
const FLOW_FIELDS = 4;
const FLOW_SECOND = 2;

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
  readonly window = new FacilityWindow();
  readonly assets: AssetInventory;
  /** The per-packet feature records, when asked for (AnalyzerOptions.onFeatures). */
  readonly features: FeatureExtractor | undefined;
  private readonly clock: Clock;
  private readonly onEventHook: ((e: DecodedEvent) => void) | undefined;
  private readonly onPacketHook: ((pkt: PacketView, ms: number, failed: boolean) => void) | undefined;
  private readonly tcpClass = new Uint8Array(65536).fill(ProtoClass.tcp);
  private readonly udpClass = new Uint8Array(65536).fill(ProtoClass.udp);
  private raw: RawPacket | undefined;
  /**
   * What the inventory learns from the events of the frame being handled, [0, nEvents): an event is valid only
   * during onEvent, and the inventory takes roles once the packet hook has found the hosts. Per event its protocol,
   * direction, a number (Modbus unit id, MQTT type) and two texts (MQTT client id; HTTP host and user agent).
   */
  private roleProto = new Uint8Array(16);
  private roleToServer = new Uint8Array(16);
  private roleNumber = new Int32Array(16);
  private readonly roleText1: (string | undefined)[] = [];
  private readonly roleText2: (string | undefined)[] = [];
  private nEvents = 0;
  /**
   * Per flow id f, FLOW_FIELDS doubles from f * FLOW_FIELDS: the inventory ids of its two hosts by direction
   * (the source of a packet in flow direction d at + d, its destination at + (d ^ 1)), then per direction the
   * second whose distinct-address counts already hold the packet's two addresses (NaN: none). Set when the
   * pipeline creates the flow (ids are reused only then). A flow's later packets neither look their hosts up nor
   * add their addresses again within a second: adding a known address changes no count.
   */
  private flowState = new Float64Array(1024 * FLOW_FIELDS);
  private readonly context: PacketContext = { wireLength: 0, connState: 0, newFlow: false };

  constructor(opts: AnalyzerOptions) {
    this.clock = opts.clock;
    this.onEventHook = opts.onEvent;
    this.onPacketHook = opts.onPacket;
    this.assets = new AssetInventory(opts.maxHosts);
    this.features = opts.onFeatures !== undefined ? new FeatureExtractor(opts.onFeatures) : undefined;
    this.pipeline = new DecodePipeline({
      ...opts.pipeline,
      ...(opts.maxFlows !== undefined ? { maxFlows: opts.maxFlows } : {}),
      clock: opts.clock,
      onEvent: (e) => this.event(e),
      onPacket: (pkt, flow) => this.packet(pkt, flow),
    });
    for (const d of this.pipeline.decoders) {
      const map = d.transport === 'tcp' ? this.tcpClass : this.udpClass;
      for (const port of d.ports) map[port] = ProtoClass[d.protocol];
    }
  }

  handle(raw: RawPacket): void {
    this.raw = raw;
    this.nEvents = 0;
    this.pipeline.handle(raw);
  }

  private event(e: DecodedEvent): void {
    const ms = this.clock.now();
    this.features?.onEvent(e);
    const w = this.window;
    switch (e.protocol) {
      case 'modbus':
        w.addModbus(ms, e.func_code, e.is_response, e.exception_code !== undefined);
        break;
      case 'mqtt':
        w.addMqtt(ms, e.msgtype);
        break;
      case 'dns':
        w.addDns(ms, e.is_response, e.rcode);
        break;
      case 'http':
        if (!e.is_response) w.addHttpRequest(ms);
        break;
    }
    // Roles are learnt once the packet hook has found the hosts (events come before it).
    this.keepRole(e);
    this.onEventHook?.(e);
  }

  private keepRole(e: DecodedEvent): void {
    const k = this.nEvents++;
    if (k === this.roleProto.length) {
      const grow = <T extends Uint8Array | Int32Array>(a: T, b: T): T => (b.set(a), b);
      this.roleProto = grow(this.roleProto, new Uint8Array(k * 2));
      this.roleToServer = grow(this.roleToServer, new Uint8Array(k * 2));
      this.roleNumber = grow(this.roleNumber, new Int32Array(k * 2));
    }
    this.roleToServer[k] = e.is_response ? 0 : 1;
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

  /** The roles kept from the frame's events, to the inventory (after its onPacket found the hosts). */
  private learnRoles(): void {
    const assets = this.assets;
    for (let k = 0; k < this.nEvents; k++) {
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

  /** A flow the pipeline just created (or gave a reused id): its hosts, found or added, and no second yet. */
  private newFlow(pkt: PacketView, flow: number, k: number, ms: number): void {
    const base = flow * FLOW_FIELDS;
    if (base + FLOW_FIELDS > this.flowState.length) {
      const grown = new Float64Array(Math.max(this.flowState.length * 2, base + FLOW_FIELDS));
      grown.set(this.flowState);
      this.flowState = grown;
    }
    const fs = this.flowState;
    this.assets.lookupHosts(pkt, ms);
    fs[k] = this.assets.source;
    fs[k ^ 1] = this.assets.destination;
    fs[base + FLOW_SECOND] = NaN;
    fs[base + FLOW_SECOND + 1] = NaN;
  }

  /** The packet's two addresses into the distinct counts of window slot `slot`. */
  private addAddresses(pkt: PacketView, slot: number): void {
    const srcHash = pkt.ipVersion === 4 ? mix32(pkt.src4) : hashBytes16(pkt.buf, pkt.src6Off);
    const dstHash = pkt.ipVersion === 4 ? mix32(pkt.dst4) : hashBytes16(pkt.buf, pkt.dst6Off);
    this.window.addAddresses(slot, srcHash, dstHash);
  }

  private packet(pkt: PacketView, flow: number): void {
    const ms = this.clock.now();
    const created = this.pipeline.flows.created;
    const proto = pkt.ipProto;
    let failed = false;
    let cls: number = ProtoClass.other;
    let state = 0;
    if (proto === IpProto.TCP) {
      const prev = this.pipeline.previousTcpState;
      state = this.pipeline.connectionState(flow);
      failed =
        (pkt.tcpFlags & TcpFlag.RST) !== 0 && (prev === TcpState.SYN_SENT || prev === TcpState.SYN_RECEIVED);
      cls =
        this.tcpClass[pkt.dport] !== ProtoClass.tcp
          ? (this.tcpClass[pkt.dport] ?? 0)
          : (this.tcpClass[pkt.sport] ?? 0);
    } else if (proto === IpProto.UDP) {
      cls =
        this.udpClass[pkt.dport] !== ProtoClass.udp
          ? (this.udpClass[pkt.dport] ?? 0)
          : (this.udpClass[pkt.sport] ?? 0);
    } else if (proto === IpProto.ICMP || proto === IpProto.ICMPV6) {
      cls = ProtoClass.icmp;
      failed =
        (proto === IpProto.ICMP && pkt.icmpType === 3) || (proto === IpProto.ICMPV6 && pkt.icmpType === 1);
    }
    const raw = this.raw;
    const size = raw?.origLen ?? 0;
    const flows = this.pipeline.flows;
    const k = flow * FLOW_FIELDS + flows.dir;
    if (created) this.newFlow(pkt, flow, k, ms);
    const fs = this.flowState;
    const sec = Math.floor(ms / 1000);
    const slot = this.window.countPacket(sec, ms, size, cls, failed);
    if (slot >= 0 && fs[k + FLOW_SECOND] !== sec) {
      fs[k + FLOW_SECOND] = sec;
      this.addAddresses(pkt, slot);
    }
    const macs = raw !== undefined && raw.linkType === LinkType.ETHERNET && raw.capLen >= 12;
    this.assets.countPacket(fs[k]!, fs[k ^ 1]!, macs ? raw.buf : undefined, raw?.off ?? 0, size, ms);
    if (this.nEvents > 0) this.learnRoles();
    const features = this.features;
    if (features !== undefined) {
      const ctx = this.context;
      ctx.wireLength = size;
      ctx.connState = state;
      ctx.newFlow = created;
      features.onPacket(pkt, ctx);
    }
    this.onPacketHook?.(pkt, ms, failed);
  }
}
