// MQTT 3.1, 3.1.1 and 5.0 over TCP: fixed header framing (remaining length as a variable byte integer of at most
// four bytes; a fifth continuation byte is an overflow and broken framing), every control packet type (1-15), the
// CONNECT fields (protocol version, client id, username/password present, will), topics of PUBLISH, SUBSCRIBE and
// UNSUBSCRIBE, QoS, retain, dup, packet ids, return/reason codes, payload size and the v5 properties.
// The protocol version of a flow comes from its CONNECT (v5 packets carry properties, older ones do not); a flow
// picked up mid-session is read as 3.1.1 until a CONNECT says otherwise.
import { u16, u8 } from './bytes.js';
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

interface FlowState {
  version: number;
}

/** Reads a variable byte integer at buf[o] within end: [value, bytes] or [-1, 0] when cut, [-2, 0] on overflow. */
export function readVarInt(b: Buffer, o: number, end: number): [number, number] {
  let value = 0;
  let mult = 1;
  for (let i = 0; i < 4; i++) {
    if (o + i >= end) return [-1, 0];
    const x = b[o + i] ?? 0;
    value += (x & 0x7f) * mult;
    if ((x & 0x80) === 0) return [value, i + 1];
    mult *= 128;
  }
  return [-2, 0];
}

/** A bounded cursor over one packet: every read checks the end and sets `bad` instead of throwing. */
class Reader {
  bad: string | undefined;
  constructor(
    readonly b: Buffer,
    public o: number,
    readonly end: number,
  ) {}
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
    const [v, n] = readVarInt(this.b, this.o, this.end);
    if (v < 0) return this.fail(v === -2 ? 'varint_overflow' : 'truncated');
    this.o += n;
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
  str(): string {
    return this.bytes().toString('utf8');
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

  pduLength(buf: Buffer, off: number, avail: number): number {
    if (avail < 2) return 0;
    const type = u8(buf, off) >> 4;
    if (type === 0) return -1;
    const [rl, n] = readVarInt(buf, off + 1, off + avail);
    if (rl === -2) {
      this.counters.inc('mqtt.remaining_length_overflow');
      return -1;
    }
    if (rl < 0) return 0;
    return 1 + n + rl;
  }

  decode(seg: Segment, emit: EventSink): void {
    const b = seg.buf;
    const end = seg.off + seg.len;
    const h = u8(b, seg.off);
    const [rl, n] = readVarInt(b, seg.off + 1, end);
    if (rl < 0 || 1 + n + rl !== seg.len) {
      this.counters.inc(rl === -2 ? 'mqtt.remaining_length_overflow' : 'mqtt.bad_length');
      return;
    }
    let state = seg.appState as FlowState | undefined;
    if (state === undefined) {
      state = { version: MqttVersion.V311 };
      seg.appState = state;
    }
    const ev: MqttEvent = {
      protocol: 'mqtt',
      frame: seg.pkt.frame,
      ts: seg.pkt.ts,
      flow: seg.flow,
      msgtype: h >> 4,
      is_response: !seg.toServer,
      remaining_length: rl,
    };
    const r = new Reader(b, seg.off + 1 + n, end);
    this.body(ev, h & 15, r, state);
    if (r.bad !== undefined) ev.malformed ??= r.bad;
    if (ev.malformed !== undefined) this.counters.inc(`mqtt.${ev.malformed}`);
    emit(ev);
  }

  private body(ev: MqttEvent, flags: number, r: Reader, state: FlowState): void {
    const v5 = state.version === MqttVersion.V5;
    switch (ev.msgtype) {
      case MqttType.CONNECT:
        this.connect(ev, r, state);
        return;
      case MqttType.CONNACK:
        ev.session_present = (r.byte() & 1) === 1;
        ev.reason_code = r.byte();
        if (v5 && r.left > 0) ev.properties = this.properties(r);
        return;
      case MqttType.PUBLISH: {
        ev.qos = (flags >> 1) & 3;
        ev.retain = (flags & 1) === 1;
        ev.dup = (flags & 8) === 8;
        if (ev.qos === 3) ev.malformed = 'bad_qos';
        ev.topic = r.str();
        if (ev.qos > 0) ev.packet_id = r.u16();
        if (v5) ev.properties = this.properties(r);
        ev.payload_size = Math.max(0, r.left);
        return;
      }
      case MqttType.PUBACK:
      case MqttType.PUBREC:
      case MqttType.PUBREL:
      case MqttType.PUBCOMP:
        ev.packet_id = r.u16();
        if (v5 && r.left > 0) {
          ev.reason_code = r.byte();
          if (r.left > 0) ev.properties = this.properties(r);
        }
        return;
      case MqttType.SUBSCRIBE:
      case MqttType.UNSUBSCRIBE: {
        const sub = ev.msgtype === MqttType.SUBSCRIBE;
        if ((flags & 15) !== 2) ev.malformed = 'bad_fixed_header_flags';
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
        if (topics.length === 0 && r.bad === undefined) ev.malformed = 'no_topics';
        ev.topics = topics;
        if (sub) ev.qos_list = qos;
        return;
      }
      case MqttType.SUBACK:
      case MqttType.UNSUBACK: {
        ev.packet_id = r.u16();
        if (v5) ev.properties = this.properties(r);
        if (ev.msgtype === MqttType.SUBACK || v5) {
          const codes: number[] = [];
          while (r.left > 0 && r.bad === undefined && codes.length < MAX_TOPICS) codes.push(r.byte());
          ev.reason_codes = codes;
        }
        return;
      }
      case MqttType.PINGREQ:
      case MqttType.PINGRESP:
        if (r.left > 0) ev.malformed = 'unexpected_data';
        return;
      case MqttType.DISCONNECT:
      case MqttType.AUTH:
        if (ev.msgtype === MqttType.AUTH && !v5) this.counters.inc('mqtt.auth_before_v5');
        if (r.left > 0) {
          ev.reason_code = r.byte();
          if (r.left > 0) ev.properties = this.properties(r);
        }
        return;
      default:
        ev.malformed = 'reserved_type';
    }
  }

  private connect(ev: MqttEvent, r: Reader, state: FlowState): void {
    ev.proto_name = r.str();
    ev.version = r.byte();
    if (r.bad !== undefined) return;
    if (ev.version === MqttVersion.V31 || ev.version === MqttVersion.V311 || ev.version === MqttVersion.V5) {
      state.version = ev.version;
    } else {
      ev.malformed = 'unknown_version';
    }
    const f = r.byte();
    ev.clean_session = (f & 2) === 2;
    ev.keep_alive = r.u16();
    const v5 = state.version === MqttVersion.V5;
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
      r.bytes();
    }
    if (f & 0x80) r.bytes();
    if (f & 0x40) r.bytes();
    ev.payload_size = Math.max(0, r.o - payloadStart);
    if (r.bad === undefined && r.left > 0) ev.malformed = 'trailing_data';
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
