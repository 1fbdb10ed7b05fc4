// MQTT 3.1, 3.1.1 and 5.0 over TCP: fixed header framing (remaining length as a variable byte integer of at most
// four bytes; a fifth continuation byte is an overflow and broken framing), every control packet type (1-15), the
// CONNECT fields (protocol version, client id, username/password present, will), topics of PUBLISH, SUBSCRIBE and
// UNSUBSCRIBE, QoS, retain, dup, packet ids, return/reason codes, payload size and the v5 properties.
// The protocol version of a flow comes from its CONNECT (v5 packets carry properties, older ones do not); a flow
// picked up mid-session is read as 3.1.1 until a CONNECT says otherwise.
import { TextCache, detached, u16 as bytesU16, u8 as bytesU8 } from './bytes.js';
import { Counters, type Decoder, type EventBase, type EventSink, type Segment } from './types.js';

export const MQTT_PORT = 1883;

export const MqttType = {
  CONNECT: 1,
  CONNACK: 2,
  PUBLISH: 3,
  PUBACK: 4,
  PUBREC: 5,
  PUBREL: 6,
  PUBCOMP: 7,
  SUBSCRIBE: 8,
  SUBACK: 9,
  UNSUBSCRIBE: 10,
  UNSUBACK: 11,
  PINGREQ: 12,
  PINGRESP: 13,
  DISCONNECT: 14,
  AUTH: 15,
} as const;

/** CONNECT protocol levels. */
export const MqttVersion = { V31: 3, V311: 4, V5: 5 } as const;

/** Topics kept per SUBSCRIBE/UNSUBSCRIBE event; more are counted, not listed. */
// The per-PDU path's constants and byte readers as this module's own: an imported or exported binding (u16, u8,
// MqttType, MqttVersion) is read through its module cell, with a check for the uninitialised hole (and, for an
// object, a map check) at every use, also inside this module; a local constant compiles to its value.
const u16 = bytesU16;
const u8 = bytesU8;
const TYPE = MqttType;
const VERSION = MqttVersion;

const MAX_TOPICS = 64;
/** Properties kept per packet. */
const MAX_PROPERTIES = 64;

type PropType = 'byte' | 'u16' | 'u32' | 'varint' | 'string' | 'binary' | 'pair';

/** MQTT 5.0 property identifiers: name and value type (spec section 2.2.2.2). */
export const MQTT5_PROPERTIES: Readonly<Record<number, readonly [string, PropType]>> = {
  1: ['payload_format_indicator', 'byte'],
  2: ['message_expiry_interval', 'u32'],
  3: ['content_type', 'string'],
  8: ['response_topic', 'string'],
  9: ['correlation_data', 'binary'],
  11: ['subscription_identifier', 'varint'],
  17: ['session_expiry_interval', 'u32'],
  18: ['assigned_client_identifier', 'string'],
  19: ['server_keep_alive', 'u16'],
  21: ['authentication_method', 'string'],
  22: ['authentication_data', 'binary'],
  23: ['request_problem_information', 'byte'],
  24: ['will_delay_interval', 'u32'],
  25: ['request_response_information', 'byte'],
  26: ['response_information', 'string'],
  28: ['server_reference', 'string'],
  31: ['reason_string', 'string'],
  33: ['receive_maximum', 'u16'],
  34: ['topic_alias_maximum', 'u16'],
  35: ['topic_alias', 'u16'],
  36: ['maximum_qos', 'byte'],
  37: ['retain_available', 'byte'],
  38: ['user_property', 'pair'],
  39: ['maximum_packet_size', 'u32'],
  40: ['wildcard_subscription_available', 'byte'],
  41: ['subscription_identifier_available', 'byte'],
  42: ['shared_subscription_available', 'byte'],
};

export interface MqttProperty {
  id: number;
  name: string;
  /** Numbers for integer properties, text for strings, hex for binary data, "key=value" for user properties. */
  value: number | string;
}

/** One MQTT control packet. Field names follow the JSONL oracle format; absent fields are undefined. */
export interface MqttEvent extends EventBase {
  protocol: 'mqtt';
  /** Control packet type 1-15 (as tshark's mqtt.msgtype). */
  msgtype: number;
  is_response: boolean;
  remaining_length: number;
  /** PUBLISH flags (other types carry fixed flag bits). */
  qos?: number | undefined;
  retain?: boolean | undefined;
  dup?: boolean | undefined;
  /** CONNECT: protocol name and level (3 = 3.1, 4 = 3.1.1, 5 = 5.0). */
  proto_name?: string | undefined;
  version?: number | undefined;
  clean_session?: boolean | undefined;
  keep_alive?: number | undefined;
  client_id?: string | undefined;
  username_present?: boolean | undefined;
  password_present?: boolean | undefined;
  will_topic?: string | undefined;
  will_qos?: number | undefined;
  will_retain?: boolean | undefined;
  /** CONNACK. */
  session_present?: boolean | undefined;
  /** CONNACK return code (3.x) or the reason code of v5 packets that carry one. */
  reason_code?: number | undefined;
  packet_id?: number | undefined;
  /** PUBLISH topic. */
  topic?: string | undefined;
  /** SUBSCRIBE/UNSUBSCRIBE topic filters. */
  topics?: string[] | undefined;
  /** SUBSCRIBE requested QoS per topic; SUBACK/UNSUBACK return/reason codes. */
  qos_list?: number[] | undefined;
  reason_codes?: number[] | undefined;
  /** PUBLISH application payload bytes; CONNECT payload bytes. */
  payload_size?: number | undefined;
  properties?: MqttProperty[] | undefined;
  malformed?: string | undefined;
}

/** Bytes the last varInt() read (valid when it returned a value >= 0). */
let varIntBytes = 0;

/**
 * Reads a variable byte integer at buf[o] within end: the value (and its byte count in varIntBytes), -1 when cut,
 * -2 on overflow. No allocation (it runs twice per PDU).
 */
function varInt(b: Buffer, o: number, end: number): number {
  let value = 0;
  let mult = 1;
  for (let i = 0; i < 4; i++) {
    if (o + i >= end) return -1;
    const x = b[o + i] ?? 0;
    value += (x & 0x7f) * mult;
    if ((x & 0x80) === 0) {
      varIntBytes = i + 1;
      return value;
    }
    mult *= 128;
  }
  return -2;
}

/** Topics, client ids and protocol names: a plant's few recur in every PDU. */
const TEXTS = new TextCache('utf8', 2048);

/**
 * The decoder's one reused event (see DecodedEvent: valid only during onEvent), every field present in one fixed
 * order: the order in which every control packet sets its fields, so that the JSON output (fields in the order
 * they were set) is what a fresh event per PDU gave. A PDU found malformed half-way sets `malformed` before later
 * fields: the decoder then goes on with a detached copy (fields set so far, then the rest in the order set).
 */
function reusableEvent(): MqttEvent {
  return {
    protocol: 'mqtt',
    frame: 0,
    ts: -0, // a double field from the start (see PacketView.tsSec)
    flow: 0,
    msgtype: 0,
    is_response: false,
    remaining_length: 0,
    qos: undefined,
    retain: undefined,
    dup: undefined,
    proto_name: undefined,
    version: undefined,
    clean_session: undefined,
    keep_alive: undefined,
    session_present: undefined,
    topic: undefined,
    packet_id: undefined,
    reason_code: undefined,
    properties: undefined,
    client_id: undefined,
    username_present: undefined,
    password_present: undefined,
    will_qos: undefined,
    will_retain: undefined,
    will_topic: undefined,
    topics: undefined,
    qos_list: undefined,
    reason_codes: undefined,
    payload_size: undefined,
    malformed: undefined,
  };
}

/** A bounded cursor over one packet: every read checks the end and sets `bad` instead of throwing. */
class Reader {
  bad: string | undefined;
  constructor(
    public b: Buffer,
    public o: number,
    public end: number,
  ) {}
  /** Points the reader at another packet (one reader serves every PDU). */
  reset(b: Buffer, o: number, end: number): void {
    this.b = b;
    this.o = o;
    this.end = end;
    this.bad = undefined;
  }
  get left(): number {
    return this.end - this.o;
  }
  byte(): number {
    if (this.o + 1 > this.end) return this.fail('truncated');
    return u8(this.b, this.o++);
  }
  u16(): number {
    if (this.o + 2 > this.end) return this.fail('truncated');
    const v = u16(this.b, this.o);
    this.o += 2;
    return v;
  }
  u32(): number {
    if (this.o + 4 > this.end) return this.fail('truncated');
    const v = this.b.readUInt32BE(this.o);
    this.o += 4;
    return v;
  }
  varint(): number {
    const v = varInt(this.b, this.o, this.end);
    if (v < 0) return this.fail(v === -2 ? 'varint_overflow' : 'truncated');
    this.o += varIntBytes;
    return v;
  }
  bytes(): Buffer {
    const n = this.u16();
    if (this.bad !== undefined) return Buffer.alloc(0);
    if (this.o + n > this.end) {
      this.fail('truncated');
      return Buffer.alloc(0);
    }
    const s = this.b.subarray(this.o, this.o + n);
    this.o += n;
    return s;
  }
  /** A length-prefixed string (as bytes() reads it), made through the text cache. */
  str(): string {
    const n = this.u16();
    if (this.bad !== undefined) return '';
    if (this.o + n > this.end) {
      this.fail('truncated');
      return '';
    }
    const s = TEXTS.text(this.b, this.o, this.o + n);
    this.o += n;
    return s;
  }
  /** Steps over a length-prefixed field (as bytes() reads it) whose value is not kept. */
  skip(): void {
    const n = this.u16();
    if (this.bad !== undefined) return;
    if (this.o + n > this.end) this.fail('truncated');
    else this.o += n;
  }
  private fail(reason: string): number {
    this.bad ??= reason;
    this.o = this.end;
    return 0;
  }
}

export class MqttDecoder implements Decoder {
  readonly protocol = 'mqtt' as const;
  readonly transport = 'tcp' as const;
  readonly ports: readonly number[] = [MQTT_PORT];
  readonly counters = new Counters();

  /** Protocol level per flow id (0: no CONNECT seen, read as 3.1.1), grown as flow ids come. */
  private versions = new Uint8Array(1024);
  private readonly ev = reusableEvent();
  private readonly reader = new Reader(Buffer.alloc(0), 0, 0);

  pduLength(buf: Buffer, off: number, avail: number): number {
    if (avail < 2) return 0;
    const type = u8(buf, off) >> 4;
    if (type === 0) return -1;
    const rl = varInt(buf, off + 1, off + avail);
    if (rl === -2) {
      this.counters.inc('mqtt.remaining_length_overflow');
      return -1;
    }
    if (rl < 0) return 0;
    return 1 + varIntBytes + rl;
  }

  release(flow: number): void {
    if (flow < this.versions.length) this.versions[flow] = 0;
  }

  private version(flow: number): number {
    return this.versions[flow] || VERSION.V311;
  }

  private setVersion(flow: number, v: number): void {
    if (flow >= this.versions.length) {
      let n = this.versions.length;
      while (n <= flow) n *= 2;
      const bigger = new Uint8Array(n);
      bigger.set(this.versions);
      this.versions = bigger;
    }
    this.versions[flow] = v;
  }

  decode(seg: Segment, emit: EventSink): void {
    const b = seg.buf;
    const end = seg.off + seg.len;
    const h = u8(b, seg.off);
    const rl = varInt(b, seg.off + 1, end);
    const n = varIntBytes;
    if (rl < 0 || 1 + n + rl !== seg.len) {
      this.counters.inc(rl === -2 ? 'mqtt.remaining_length_overflow' : 'mqtt.bad_length');
      return;
    }
    let ev = this.ev;
    ev.frame = seg.pkt.frame;
    ev.ts = seg.pkt.ts;
    ev.flow = seg.flow;
    ev.msgtype = h >> 4;
    // Compared with true: a boolean field is of unknown type to the optimizing compiler (see modbus.ts).
    ev.is_response = seg.toServer !== true;
    ev.remaining_length = rl;
    ev.qos = undefined;
    ev.retain = undefined;
    ev.dup = undefined;
    ev.proto_name = undefined;
    ev.version = undefined;
    ev.clean_session = undefined;
    ev.keep_alive = undefined;
    ev.session_present = undefined;
    ev.topic = undefined;
    ev.packet_id = undefined;
    ev.reason_code = undefined;
    ev.properties = undefined;
    ev.client_id = undefined;
    ev.username_present = undefined;
    ev.password_present = undefined;
    ev.will_qos = undefined;
    ev.will_retain = undefined;
    ev.will_topic = undefined;
    ev.topics = undefined;
    ev.qos_list = undefined;
    ev.reason_codes = undefined;
    ev.payload_size = undefined;
    ev.malformed = undefined;
    const r = this.reader;
    r.reset(b, seg.off + 1 + n, end);
    ev = this.body(ev, h & 15, r, seg.flow);
    if (r.bad !== undefined) ev.malformed ??= r.bad;
    if (ev.malformed !== undefined) this.counters.inc(`mqtt.${ev.malformed}`);
    emit(ev);
  }

  /** Reads the packet's variable header and payload into ev; returns the event to emit (ev or a detached copy). */
  private body(ev: MqttEvent, flags: number, r: Reader, flow: number): MqttEvent {
    const v5 = this.version(flow) === VERSION.V5;
    switch (ev.msgtype) {
      case TYPE.CONNECT:
        return this.connect(ev, r, flow);
      case TYPE.CONNACK:
        ev.session_present = (r.byte() & 1) === 1;
        ev.reason_code = r.byte();
        if (v5 && r.left > 0) ev.properties = this.properties(r);
        return ev;
      case TYPE.PUBLISH: {
        const qos = (flags >> 1) & 3;
        ev.qos = qos;
        ev.retain = (flags & 1) === 1;
        ev.dup = (flags & 8) === 8;
        if (qos === 3) {
          ev = detached(ev);
          ev.malformed = 'bad_qos';
        }
        ev.topic = r.str();
        if (qos > 0) ev.packet_id = r.u16();
        if (v5) ev.properties = this.properties(r);
        ev.payload_size = Math.max(0, r.left);
        return ev;
      }
      case TYPE.PUBACK:
      case TYPE.PUBREC:
      case TYPE.PUBREL:
      case TYPE.PUBCOMP:
        ev.packet_id = r.u16();
        if (v5 && r.left > 0) {
          ev.reason_code = r.byte();
          if (r.left > 0) ev.properties = this.properties(r);
        }
        return ev;
      case TYPE.SUBSCRIBE:
      case TYPE.UNSUBSCRIBE: {
        const sub = ev.msgtype === TYPE.SUBSCRIBE;
        if ((flags & 15) !== 2) {
          ev = detached(ev);
          ev.malformed = 'bad_fixed_header_flags';
        }
        ev.packet_id = r.u16();
        if (v5) ev.properties = this.properties(r);
        const topics: string[] = [];
        const qos: number[] = [];
        while (r.left > 0 && r.bad === undefined) {
          const t = r.str();
          const opt = sub ? r.byte() : 0;
          if (topics.length < MAX_TOPICS) {
            topics.push(t);
            if (sub) qos.push(opt & 3);
          } else this.counters.inc('mqtt.topics_not_listed');
        }
        if (topics.length === 0 && r.bad === undefined) {
          if (ev.malformed === undefined) ev = detached(ev);
          ev.malformed = 'no_topics';
        }
        ev.topics = topics;
        if (sub) ev.qos_list = qos;
        return ev;
      }
      case TYPE.SUBACK:
      case TYPE.UNSUBACK: {
        ev.packet_id = r.u16();
        if (v5) ev.properties = this.properties(r);
        if (ev.msgtype === TYPE.SUBACK || v5) {
          const codes: number[] = [];
          while (r.left > 0 && r.bad === undefined && codes.length < MAX_TOPICS) codes.push(r.byte());
          ev.reason_codes = codes;
        }
        return ev;
      }
      case TYPE.PINGREQ:
      case TYPE.PINGRESP:
        if (r.left > 0) ev.malformed = 'unexpected_data';
        return ev;
      case TYPE.DISCONNECT:
      case TYPE.AUTH:
        if (ev.msgtype === TYPE.AUTH && !v5) this.counters.inc('mqtt.auth_before_v5');
        if (r.left > 0) {
          ev.reason_code = r.byte();
          if (r.left > 0) ev.properties = this.properties(r);
        }
        return ev;
      default:
        ev.malformed = 'reserved_type';
        return ev;
    }
  }

  private connect(ev: MqttEvent, r: Reader, flow: number): MqttEvent {
    ev.proto_name = r.str();
    const version = r.byte();
    ev.version = version;
    if (r.bad !== undefined) return ev;
    if (version === VERSION.V31 || version === VERSION.V311 || version === VERSION.V5) {
      this.setVersion(flow, version);
    } else {
      ev = detached(ev);
      ev.malformed = 'unknown_version';
    }
    const f = r.byte();
    ev.clean_session = (f & 2) === 2;
    ev.keep_alive = r.u16();
    const v5 = this.version(flow) === VERSION.V5;
    if (v5) ev.properties = this.properties(r);
    const payloadStart = r.o;
    ev.client_id = r.str();
    ev.username_present = (f & 0x80) === 0x80;
    ev.password_present = (f & 0x40) === 0x40;
    if (f & 4) {
      ev.will_qos = (f >> 3) & 3;
      ev.will_retain = (f & 0x20) === 0x20;
      if (v5) this.properties(r);
      ev.will_topic = r.str();
      r.skip();
    }
    if (f & 0x80) r.skip();
    if (f & 0x40) r.skip();
    ev.payload_size = Math.max(0, r.o - payloadStart);
    if (r.bad === undefined && r.left > 0) ev.malformed = 'trailing_data';
    return ev;
  }

  private properties(r: Reader): MqttProperty[] {
    const len = r.varint();
    const props: MqttProperty[] = [];
    if (r.bad !== undefined) return props;
    if (len > r.left) {
      r.o = r.end;
      r.bad = 'properties_truncated';
      return props;
    }
    const sub = new Reader(r.b, r.o, r.o + len);
    r.o += len;
    while (sub.left > 0 && sub.bad === undefined) {
      const id = sub.varint();
      const def = MQTT5_PROPERTIES[id];
      if (def === undefined) {
        r.bad = 'unknown_property';
        break;
      }
      const [name, type] = def;
      let value: number | string;
      switch (type) {
        case 'byte':
          value = sub.byte();
          break;
        case 'u16':
          value = sub.u16();
          break;
        case 'u32':
          value = sub.u32();
          break;
        case 'varint':
          value = sub.varint();
          break;
        case 'string':
          value = sub.str();
          break;
        case 'binary':
          value = sub.bytes().toString('hex');
          break;
        case 'pair':
          value = `${sub.str()}=${sub.str()}`;
          break;
      }
      if (sub.bad !== undefined) break;
      if (props.length < MAX_PROPERTIES) props.push({ id, name, value });
    }
    if (sub.bad !== undefined) r.bad ??= `property_${sub.bad}`;
    return props;
  }
}
