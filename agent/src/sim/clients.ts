// Sessions shared by the normal actors and the attacks: a Modbus/TCP client bound to one PLC, MQTT sessions
// through the broker (with forwarding to the historian's subscription), DNS lookups and HTTP exchanges. Each takes
// care that exchanges on one TCP connection never overlap in time (a connection is a strict request/response line).
import type { Engine } from './engine.js';
import { adu, exception, MODBUS_PORT, type Plc } from './modbus.js';
import * as mqtt from './mqtt.js';
import { ephemeralPort, LAN_US, TcpConn, udpFrame, type Host, type Label } from './net.js';
import type { Rng } from './prng.js';

/** Gap (µs) kept between consecutive exchanges on one connection. */
const GAP_US = 100;

export function openConn(
  engine: Engine,
  rng: Rng,
  client: Host,
  server: Host,
  port: number,
  label: Label | undefined,
): TcpConn {
  return new TcpConn(
    engine,
    client,
    server,
    ephemeralPort(client),
    port,
    { client: rng.u32(), server: rng.u32() },
    label,
  );
}

/** Requests per second above which a PLC slows down, and above which it starts answering "server busy". */
const PLC_COMFORT_RPS = 40;
const PLC_BUSY_RPS = 120;

/** Counts a request in the PLC's load and returns the load (requests in about the last second). */
function loadOf(plc: Plc, tUs: number): number {
  const l = plc.load;
  l.rate = l.rate * Math.exp(-Math.max(0, tUs - l.tUs) / 1e6) + 1;
  l.tUs = tUs;
  return l.rate;
}

export class ModbusClient {
  readonly conn: TcpConn;
  private tid: number;
  /** Time the connection is free for the next exchange. */
  freeAt = 0;

  constructor(
    engine: Engine,
    private readonly rng: Rng,
    client: Host,
    readonly plc: Plc,
    label: Label | undefined,
  ) {
    this.conn = openConn(engine, rng, client, plc.host, MODBUS_PORT, label);
    this.tid = rng.int(0x10000);
  }

  connect(t: number, label?: Label): number {
    this.freeAt = this.conn.connect(Math.max(t, this.freeAt), label) + GAP_US;
    return this.freeAt;
  }

  /** One request and the PLC's answer; returns the time the exchange ends. */
  request(t: number, pdu: Buffer, label?: Label, unitId = this.plc.unitId): number {
    const at = Math.max(t, this.freeAt);
    const load = loadOf(this.plc, at);
    let reply = this.plc.respond(pdu, at);
    let delay = this.rng.between(1500, 6000) * (1 + Math.max(0, load - PLC_COMFORT_RPS) / 25);
    if (load > PLC_BUSY_RPS && this.rng.chance(Math.min(0.8, (load - PLC_BUSY_RPS) / 200))) {
      reply = exception(pdu[0] ?? 0, 6);
      delay = this.rng.between(800, 2000);
    }
    this.tid = (this.tid + 1) & 0xffff;
    const end = this.conn.exchange(
      at,
      adu(this.tid, unitId, pdu),
      adu(this.tid, unitId, reply),
      delay,
      label,
    );
    this.freeAt = end + GAP_US;
    return end;
  }

  close(t: number, label?: Label): number {
    this.freeAt = this.conn.close(Math.max(t, this.freeAt), true, label) + GAP_US;
    return this.freeAt;
  }
}

/** One MQTT client session to the broker. */
export class MqttSession {
  readonly conn: TcpConn;
  freeAt = 0;
  private packetId: number;

  constructor(engine: Engine, rng: Rng, client: Host, broker: Host, label: Label | undefined) {
    this.conn = openConn(engine, rng, client, broker, mqtt.MQTT_PORT, label);
    this.packetId = 1 + rng.int(1000);
  }

  nextId(): number {
    this.packetId = (this.packetId % 65535) + 1;
    return this.packetId;
  }

  /** TCP handshake, CONNECT and CONNACK with the given return code. */
  connect(t: number, c: mqtt.ConnectSpec, code: number, label?: Label): number {
    let at = this.conn.connect(Math.max(t, this.freeAt), label);
    at = this.conn.exchange(at + GAP_US, mqtt.connect(c), mqtt.connack(code), 300, label);
    this.freeAt = at + GAP_US;
    return at;
  }

  /** A control packet from the client answered by the broker (or only TCP-acknowledged when `reply` is absent). */
  exchange(t: number, packet: Buffer, reply: Buffer | undefined, label?: Label): number {
    const at = this.conn.exchange(Math.max(t, this.freeAt), packet, reply, 200, label);
    this.freeAt = at + GAP_US;
    return at;
  }

  /** A packet from the broker to the client (a forwarded PUBLISH), answered by the client or TCP-acknowledged. */
  deliver(t: number, packet: Buffer, reply: Buffer | undefined, label?: Label): number {
    let at = this.conn.send(Math.max(t, this.freeAt), false, packet, label);
    if (reply) {
      at = this.conn.send(at + LAN_US * 2, true, reply, label);
      at = this.conn.ack(at + LAN_US, false, label);
    } else {
      at = this.conn.ack(at + LAN_US, true, label);
    }
    this.freeAt = at + GAP_US;
    return at;
  }

  /** DISCONNECT by the client, then the client closes the connection. */
  disconnect(t: number, label?: Label): number {
    let at = this.conn.send(Math.max(t, this.freeAt), true, mqtt.DISCONNECT, label);
    at = this.conn.close(at + LAN_US, true, label);
    this.freeAt = at + GAP_US;
    return at;
  }
}

/** A UDP query and its response after `delayUs`. */
export function udpExchange(
  engine: Engine,
  t: number,
  client: Host,
  server: Host,
  cport: number,
  sport: number,
  query: Buffer,
  response: Buffer,
  delayUs: number,
  label: Label | undefined,
): number {
  engine.emit(t, udpFrame(client, server, cport, sport, query), label);
  engine.emit(t + delayUs, udpFrame(server, client, sport, cport, response), label);
  return t + delayUs;
}
