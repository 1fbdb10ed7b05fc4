// Builds application payloads and UDP frames for the MQTT, DNS and HTTP tests, fuzzing and the mixed benchmark.
import { ethernet, ipv4Packet } from './frames.js';

export interface UdpFrameSpec {
  src?: string;
  dst?: string;
  sport: number;
  dport: number;
  payload: Buffer;
}

/** Ethernet / IPv4 / UDP. */
export function udpFrame(s: UdpFrameSpec): Buffer {
  const u = Buffer.alloc(8 + s.payload.length);
  u.writeUInt16BE(s.sport, 0);
  u.writeUInt16BE(s.dport, 2);
  u.writeUInt16BE(8 + s.payload.length, 4);
  s.payload.copy(u, 8);
  return ethernet(0x0800, ipv4Packet(s.src ?? '10.0.0.1', s.dst ?? '10.0.0.2', 17, u));
}

/** An MQTT variable byte integer. */
export function varInt(n: number): Buffer {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return Buffer.from(out);
}

/** An MQTT length-prefixed string. */
export function mqttStr(s: string): Buffer {
  const b = Buffer.from(s, 'utf8');
  const l = Buffer.alloc(2);
  l.writeUInt16BE(b.length);
  return Buffer.concat([l, b]);
}

/** An MQTT control packet: fixed header (type, flags, remaining length) and body. */
export function mqttPacket(type: number, flags: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([(type << 4) | flags]), varInt(body.length), body]);
}

/** An MQTT CONNECT (v3.1.1 by default) with a client id and optional username/password. */
export function mqttConnect(
  clientId: string,
  opts: { version?: number; username?: string; password?: string; properties?: Buffer } = {},
): Buffer {
  const version = opts.version ?? 4;
  let flags = 2;
  if (opts.username !== undefined) flags |= 0x80;
  if (opts.password !== undefined) flags |= 0x40;
  const parts = [
    mqttStr(version === 3 ? 'MQIsdp' : 'MQTT'),
    Buffer.from([version, flags, 0, 60]),
    ...(version === 5 ? [opts.properties ?? Buffer.from([0])] : []),
    mqttStr(clientId),
    ...(opts.username !== undefined ? [mqttStr(opts.username)] : []),
    ...(opts.password !== undefined ? [mqttStr(opts.password)] : []),
  ];
  return mqttPacket(1, 0, Buffer.concat(parts));
}

/** An MQTT PUBLISH (QoS 0 unless given; v5 adds an empty property list unless properties are given). */
export function mqttPublish(
  topic: string,
  payload: Buffer,
  opts: { qos?: number; packetId?: number; retain?: boolean; v5?: boolean; properties?: Buffer } = {},
): Buffer {
  const qos = opts.qos ?? 0;
  const id = Buffer.alloc(qos > 0 ? 2 : 0);
  if (qos > 0) id.writeUInt16BE(opts.packetId ?? 1);
  const props = opts.v5 === true ? (opts.properties ?? Buffer.from([0])) : Buffer.alloc(0);
  const flags = (qos << 1) | (opts.retain === true ? 1 : 0);
  return mqttPacket(3, flags, Buffer.concat([mqttStr(topic), id, props, payload]));
}

/** DNS name in wire format (no compression). */
export function dnsName(name: string): Buffer {
  const parts = name === '' ? [] : name.split('.');
  return Buffer.concat([
    ...parts.map((p) => Buffer.concat([Buffer.from([p.length]), Buffer.from(p, 'latin1')])),
    Buffer.from([0]),
  ]);
}

/** A DNS message with one question (and `answers` empty answer records counted in the header only). */
export function dnsMessage(opts: {
  id: number;
  name: string;
  type?: number;
  response?: boolean;
  rcode?: number;
  ancount?: number;
  rest?: Buffer;
}): Buffer {
  const h = Buffer.alloc(12);
  h.writeUInt16BE(opts.id, 0);
  h.writeUInt16BE((opts.response === true ? 0x8180 : 0x0100) | (opts.rcode ?? 0), 2);
  h.writeUInt16BE(1, 4);
  h.writeUInt16BE(opts.ancount ?? 0, 6);
  const q = Buffer.alloc(4);
  q.writeUInt16BE(opts.type ?? 1, 0);
  q.writeUInt16BE(1, 2);
  return Buffer.concat([h, dnsName(opts.name), q, opts.rest ?? Buffer.alloc(0)]);
}

/** The two-byte length prefix of DNS over TCP. */
export function dnsTcp(msg: Buffer): Buffer {
  const l = Buffer.alloc(2);
  l.writeUInt16BE(msg.length);
  return Buffer.concat([l, msg]);
}
