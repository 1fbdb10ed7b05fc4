// Per-packet feature records in the shared schema (@vigil/shared FEATURE_FIELDS, versioned by
// FEATURE_SCHEMA_VERSION). One reused Float64Array: the pipeline emits a frame's events before its packet hook, so
// the first PDU a packet completes fills the application block, then the packet hook fills the transport block
// and hands the record to the sink. Copy the record to keep it.
import {
  APP_PROTOCOL_CODES,
  FEATURE_COUNT,
  FEATURE_INDEX,
  HTTP_METHOD_CODES,
  HTTP_METHOD_OTHER,
} from '@vigil/shared';
import type { DnsEvent } from '../decode/dns.js';
import type { HttpEvent } from '../decode/http.js';
import type { ModbusEvent } from '../decode/modbus.js';
import type { MqttEvent } from '../decode/mqtt.js';
import type { DecodedEvent, PacketView } from '../decode/types.js';

function idx(name: string): number {
  const i = FEATURE_INDEX[name];
  if (i === undefined) throw new Error(`feature ${name} is not in the shared schema`);
  return i;
}

const F = {
  ipVersion: idx('ip_version'),
  ipProto: idx('ip_proto'),
  srcPort: idx('src_port'),
  dstPort: idx('dst_port'),
  packetSize: idx('packet_size'),
  payloadSize: idx('payload_size'),
  tcpFlags: idx('tcp_flags'),
  tcpWindow: idx('tcp_window'),
  connState: idx('conn_state'),
  newFlow: idx('new_flow'),
  toServer: idx('to_server'),
  app: idx('app_protocol'),
  pdus: idx('app_pdus'),
  malformed: idx('malformed'),
  mbTrans: idx('modbus_trans_id'),
  mbUnit: idx('modbus_unit_id'),
  mbFc: idx('modbus_func_code'),
  mbExc: idx('modbus_exception_code'),
  mbLen: idx('modbus_length'),
  mbAddr: idx('modbus_address'),
  mbResp: idx('modbus_is_response'),
  mqType: idx('mqtt_type'),
  mqQos: idx('mqtt_qos'),
  mqTopicLen: idx('mqtt_topic_length'),
  mqPayload: idx('mqtt_payload_size'),
  dnsNameLen: idx('dns_name_length'),
  dnsType: idx('dns_qtype'),
  dnsRcode: idx('dns_rcode'),
  dnsResp: idx('dns_is_response'),
  dnsAnswers: idx('dns_answers'),
  dnsRetrans: idx('dns_retransmission'),
  httpMethod: idx('http_method'),
  httpUriLen: idx('http_uri_length'),
  httpStatus: idx('http_status'),
  httpLen: idx('http_length'),
} as const;

export type FeatureSink = (record: Float64Array, pkt: PacketView) => void;

/**
 * The fields of the application block each protocol's events write, [first, end): every event writes all of its
 * protocol's fields and the three common ones (app_protocol, app_pdus, malformed), and no other.
 */
const BLOCK = {
  modbus: [F.mbTrans, F.mbResp + 1],
  mqtt: [F.mqType, F.mqPayload + 1],
  dns: [F.dnsNameLen, F.dnsRetrans + 1],
  http: [F.httpMethod, F.httpLen + 1],
} as const satisfies Record<DecodedEvent['protocol'], readonly [number, number]>;

const APP_MODBUS = APP_PROTOCOL_CODES.modbus;
const APP_MQTT = APP_PROTOCOL_CODES.mqtt;
const APP_DNS = APP_PROTOCOL_CODES.dns;
const APP_HTTP = APP_PROTOCOL_CODES.http;

// Zeroing one protocol's block of the record, field by field: a loop over the range cost a dozen instructions a
// field, and every packet without a PDU after one with clears a block. One function per protocol, so that V8 inlines
// only the ones a capture's traffic calls.

function clearModbus(r: Float64Array): void {
  r[F.mbTrans] = 0;
  r[F.mbUnit] = 0;
  r[F.mbFc] = 0;
  r[F.mbExc] = 0;
  r[F.mbLen] = 0;
  r[F.mbAddr] = 0;
  r[F.mbResp] = 0;
}

function clearMqtt(r: Float64Array): void {
  r[F.mqType] = 0;
  r[F.mqQos] = 0;
  r[F.mqTopicLen] = 0;
  r[F.mqPayload] = 0;
}

function clearDns(r: Float64Array): void {
  r[F.dnsNameLen] = 0;
  r[F.dnsType] = 0;
  r[F.dnsRcode] = 0;
  r[F.dnsResp] = 0;
  r[F.dnsAnswers] = 0;
  r[F.dnsRetrans] = 0;
}

function clearHttp(r: Float64Array): void {
  r[F.httpMethod] = 0;
  r[F.httpUriLen] = 0;
  r[F.httpStatus] = 0;
  r[F.httpLen] = 0;
}

/** Zeroes the block of app code `code` (see BLOCK). */
function clearBlock(r: Float64Array, code: number): void {
  if (code === APP_MODBUS) clearModbus(r);
  else if (code === APP_MQTT) clearMqtt(r);
  else if (code === APP_DNS) clearDns(r);
  else if (code === APP_HTTP) clearHttp(r);
}

/**
 * Every field from app_protocol on is a common field or in exactly one block, and clearBlock zeroes exactly its
 * protocol's block: clearing relies on both.
 */
function checkBlocks(): void {
  const owners = new Uint8Array(FEATURE_COUNT);
  for (const i of [F.app, F.pdus, F.malformed]) owners[i] = (owners[i] ?? 0) + 1;
  for (const [from, to] of Object.values(BLOCK))
    for (let i = from; i < to; i++) owners[i] = (owners[i] ?? 0) + 1;
  for (let i = F.app; i < FEATURE_COUNT; i++) {
    if (owners[i] !== 1) throw new Error(`feature ${i} is not written by exactly one event kind`);
  }
  for (const [protocol, [from, to]] of Object.entries(BLOCK)) {
    const r = new Float64Array(FEATURE_COUNT).fill(1);
    clearBlock(r, APP_PROTOCOL_CODES[protocol as keyof typeof BLOCK]);
    if (r.some((v, i) => (v === 0) !== (i >= from && i < to)))
      throw new Error(`clearBlock does not zero exactly the ${protocol} block`);
  }
}
checkBlocks();

export class FeatureExtractor {
  readonly record = new Float64Array(FEATURE_COUNT);
  private eventFrame = -1;
  /**
   * The app code of the event whose values the application block holds (0: none, all zero, so a packet without a
   * PDU skips clearing it).
   */
  private appCode = 0;

  constructor(private readonly sink: FeatureSink) {}

  // Every decoded event goes to the method of its protocol (the caller switches on the protocol once for all its
  // consumers; one small method per protocol is also what V8 inlines).

  /** Whether `e` is a later PDU of the packet whose record holds an earlier one (then it is only counted). */
  private later(e: DecodedEvent): boolean {
    if (e.frame !== this.eventFrame) {
      this.eventFrame = e.frame;
      return false;
    }
    const r = this.record;
    r[F.pdus] = r[F.pdus]! + 1;
    return true;
  }

  /**
   * The record for the first PDU of a packet: the common fields set, the application block now protocol `code`'s.
   * The event writes all of its protocol's fields: only another protocol's block need zeroing.
   */
  private begin(code: number, malformed: boolean): Float64Array {
    const r = this.record;
    if (this.appCode !== code && this.appCode !== 0) clearBlock(r, this.appCode);
    this.appCode = code;
    r[F.app] = code;
    r[F.pdus] = 1;
    r[F.malformed] = malformed ? 1 : 0;
    return r;
  }

  modbus(e: ModbusEvent): void {
    if (this.later(e)) return;
    const r = this.begin(APP_MODBUS, e.malformed !== undefined);
    r[F.mbTrans] = e.trans_id;
    r[F.mbUnit] = e.unit_id;
    r[F.mbFc] = e.func_code;
    r[F.mbExc] = e.exception_code ?? 0;
    r[F.mbLen] = e.quantity ?? e.values?.length ?? 0;
    r[F.mbAddr] = e.address ?? 0;
    r[F.mbResp] = e.is_response === true ? 1 : 0;
  }

  mqtt(e: MqttEvent): void {
    if (this.later(e)) return;
    const r = this.begin(APP_MQTT, e.malformed !== undefined);
    r[F.mqType] = e.msgtype;
    r[F.mqQos] = e.qos ?? 0;
    r[F.mqTopicLen] = e.topic !== undefined ? e.topic.length : topicsLength(e.topics);
    r[F.mqPayload] = e.msgtype === 3 ? (e.payload_size ?? 0) : 0;
  }

  dns(e: DnsEvent): void {
    if (this.later(e)) return;
    const r = this.begin(APP_DNS, e.malformed !== undefined);
    r[F.dnsNameLen] = e.qry_name?.length ?? 0;
    r[F.dnsType] = e.qry_type ?? 0;
    r[F.dnsRcode] = e.rcode;
    r[F.dnsResp] = e.is_response === true ? 1 : 0;
    r[F.dnsAnswers] = e.ancount;
    r[F.dnsRetrans] = e.retransmission === true ? 1 : 0;
  }

  http(e: HttpEvent): void {
    if (this.later(e)) return;
    const r = this.begin(APP_HTTP, e.malformed !== undefined);
    r[F.httpMethod] = e.method === undefined ? 0 : (HTTP_METHOD_CODES[e.method] ?? HTTP_METHOD_OTHER);
    r[F.httpUriLen] = e.uri?.length ?? 0;
    r[F.httpStatus] = e.status ?? 0;
    r[F.httpLen] = e.body_size;
  }

  /**
   * The packet's record to the sink: `wireLength`, the frame's length on the wire; `connState`, its TCP
   * connection's state (0 for other transports); `newFlow`, whether it started a flow.
   */
  onPacket(pkt: PacketView, wireLength: number, connState: number, newFlow: boolean): void {
    const r = this.record;
    if (pkt.frame !== this.eventFrame && this.appCode !== 0) {
      r[F.app] = 0;
      r[F.pdus] = 0;
      r[F.malformed] = 0;
      clearBlock(r, this.appCode);
      this.appCode = 0;
    }
    this.eventFrame = -1;
    const tcp = pkt.ipProto === 6;
    r[F.ipVersion] = pkt.ipVersion;
    r[F.ipProto] = pkt.ipProto;
    r[F.srcPort] = pkt.sport;
    r[F.dstPort] = pkt.dport;
    r[F.packetSize] = wireLength;
    r[F.payloadSize] = pkt.payloadLen;
    r[F.tcpFlags] = tcp ? pkt.tcpFlags : 0;
    r[F.tcpWindow] = tcp ? pkt.window : 0;
    r[F.connState] = connState;
    r[F.newFlow] = newFlow ? 1 : 0;
    r[F.toServer] = pkt.dport < pkt.sport ? 1 : 0;
    this.sink(r, pkt);
  }
}

function topicsLength(topics: readonly string[] | undefined): number {
  let n = 0;
  if (topics !== undefined) for (const t of topics) n += t.length;
  return n;
}
