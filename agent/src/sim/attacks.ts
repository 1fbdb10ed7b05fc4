// The attacks the simulator injects, each labeling every frame it causes (both directions, handshakes included)
// with its name and ATT&CK for ICS technique. To be hard to tell from normal traffic they start, by default, from
// hosts that are normally present (the engineering workstation, an HMI, a sensor) and run at modest rates.
import { ModbusClient, MqttSession, openConn, udpExchange } from './clients.js';
import * as dns from './dns.js';
import type { Engine } from './engine.js';
import * as http from './http.js';
import {
  MODBUS_PORT,
  readDeviceId,
  readRequest,
  umas,
  Umas,
  writeCoil,
  writeRegisters,
  writeSingle,
  type Plc,
} from './modbus.js';
import * as mqtt from './mqtt.js';
import {
  ephemeralPort,
  makeHost,
  tcpFrame,
  TCP_ACK,
  TCP_RST,
  TCP_SYN,
  type Host,
  type Label,
} from './net.js';
import { forward, mqttPassword, type Background } from './normal.js';
import type { Rng } from './prng.js';
import type { Plant } from './topology.js';

export const ATTACK_NAMES = [
  'port-scan',
  'modbus-recon',
  'modbus-coil-write',
  'modbus-setpoint-write',
  'modbus-flood',
  'syn-flood',
  'mqtt-bruteforce',
  'mqtt-spoof-publish',
  'dns-tunnel',
  'http-bruteforce',
  'program-download',
  'multi-stage',
] as const;

export type AttackName = (typeof ATTACK_NAMES)[number];

export interface AttackSpec {
  attack: AttackName;
  /** Start, seconds after the simulation start. */
  atS: number;
  /** Length in seconds (each attack has a default). */
  durationS?: number | undefined;
  /** Source address: a plant host (default: the attack's usual insider) or any other address (an outsider). */
  src?: string | undefined;
  /** Target address (a PLC, or the host the attack aims at); default: chosen by the seeded generator. */
  target?: string | undefined;
  /** Multiplies the attack's default rate. */
  rate?: number | undefined;
}

export interface AttackContext {
  engine: Engine;
  plant: Plant;
  rng: Rng;
  name: AttackName;
  startUs: number;
  endUs: number;
  src: Host;
  target: string | undefined;
  rate: number;
  /** The normal traffic's sessions, when it runs. */
  background: Background | undefined;
}

export interface AttackDef {
  /** ATT&CK for ICS technique ids the attack's frames carry (several for the multi-stage chain). */
  techniques: readonly string[];
  description: string;
  defaultDurationS: number;
  /** A service the attack needs in the topology (the MQTT attacks need a broker). */
  needs?: 'broker';
  /** The source used when the spec names none: a host normally present on the plant network. */
  defaultSource: (p: Plant, rng: Rng) => Host;
  run: (ctx: AttackContext) => void;
}

const S = 1_000_000;

function label(ctx: AttackContext, technique: string): Label {
  return { attack: ctx.name, technique };
}

function targetPlc(ctx: AttackContext, prefer?: (p: Plc) => boolean): Plc {
  if (ctx.target !== undefined) {
    const p = ctx.plant.plcs.find((x) => x.host.ip === ctx.target);
    if (p !== undefined) return p;
  }
  const preferred = prefer ? ctx.plant.plcs.filter(prefer) : [];
  return ctx.rng.pick(preferred.length > 0 ? preferred : ctx.plant.plcs);
}

/** Runs `step` at start and then after each gap it returns, while before the attack's end. */
function loop(ctx: AttackContext, t0: number, step: (t: number) => number | undefined): void {
  const run = (t: number): void => {
    if (t >= ctx.endUs) return;
    const gap = step(t);
    if (gap !== undefined) ctx.engine.at(t + gap, run);
  };
  ctx.engine.at(t0, run);
}

/** Open TCP ports of a plant host, as the scan finds them. */
function openPorts(p: Plant, h: Host): number[] {
  const ports: number[] = [];
  if (p.plcs.some((x) => x.host === h)) ports.push(MODBUS_PORT);
  if (h === p.hmiWeb) ports.push(http.HTTP_PORT);
  if (h === p.broker) ports.push(mqtt.MQTT_PORT);
  if (h === p.dns) ports.push(dns.DNS_PORT);
  return ports;
}

const SCAN_PORTS = [
  21, 22, 23, 53, 80, 102, 135, 139, 443, 445, 502, 1883, 2404, 3389, 4840, 5900, 8080, 20000, 44818, 47808,
];

/** SYN probes of the given hosts and ports at `perS` probes a second (with jitter) from `t0` until `until`. */
function synScan(
  ctx: AttackContext,
  t0: number,
  until: number,
  hosts: Host[],
  ports: number[],
  perS: number,
  tech: string,
): void {
  const probes: [Host, number][] = [];
  for (const h of hosts) for (const p of ports) probes.push([h, p]);
  for (let i = probes.length - 1; i > 0; i--) {
    const j = ctx.rng.int(i + 1);
    [probes[i], probes[j]] = [probes[j]!, probes[i]!];
  }
  let i = 0;
  const l = label(ctx, tech);
  loop(ctx, t0, (t) => {
    if (t >= until) return undefined;
    const probe = probes[i++];
    if (probe === undefined) return undefined;
    const [h, port] = probe;
    const conn = openConn(ctx.engine, ctx.rng, ctx.src, h, port, l);
    if (openPorts(ctx.plant, h).includes(port)) conn.halfOpen(t);
    else conn.refused(t);
    return ctx.rng.exp(S / perS);
  });
}

function scanTargets(ctx: AttackContext): Host[] {
  return [...ctx.plant.hosts.values()].filter((h) => h !== ctx.src && !h.name.startsWith('outsider-'));
}

/** Device identification and a function-code sweep of one PLC, then a register-map probe. */
function recon(ctx: AttackContext, t0: number, plc: Plc, gapUs: number, tech: string): number {
  const l = label(ctx, tech);
  const c = new ModbusClient(ctx.engine, ctx.rng, ctx.src, plc, l);
  let at = c.connect(t0);
  const reqs: Buffer[] = [readDeviceId(1, 0), readDeviceId(2, 0), readDeviceId(4, 1)];
  // Well-formed requests of each probed function (a sweep tool sends valid PDUs and reads the exceptions).
  const sweep: Record<number, number[]> = {
    8: [0, 0, 0x12, 0x34],
    20: [7, 6, 0, 1, 0, 0, 0, 1],
    24: [0, 0],
  };
  for (const fc of [7, 8, 11, 12, 17, 20, 24, 41, 42, 90, 100, 125]) {
    reqs.push(fc === 90 ? umas(0x02) : Buffer.from([fc, ...(sweep[fc] ?? [])]));
  }
  for (let a = 0; a <= 40; a += 10) reqs.push(readRequest(3, a, 10));
  for (const r of reqs) at = c.request(at + ctx.rng.exp(gapUs), r);
  return c.close(at + gapUs / 2);
}

/**
 * Unauthorized coil writes: auto mode off and the actuator toggled, each read back. From a master (HMI/SCADA) whose
 * polling connection to the PLC is up, the writes ride on that connection, between its normal polls, as a
 * compromised HMI would send them; otherwise they use a connection of their own.
 */
function coilWrites(
  ctx: AttackContext,
  t0: number,
  plc: Plc,
  until: number,
  gapUs: number,
  tech: string,
): void {
  const l = label(ctx, tech);
  const shared = ctx.background?.polling.get(`${ctx.src.ip}>${plc.host.ip}`);
  const own = shared === undefined || !shared.conn.open;
  const c = own ? new ModbusClient(ctx.engine, ctx.rng, ctx.src, plc, l) : shared;
  let on = false;
  let first = true;
  loop(ctx, own ? c.connect(t0, l) : t0, (t) => {
    if (t >= until) {
      if (own) c.close(t, l);
      return undefined;
    }
    let at = t;
    if (first) at = c.request(at, writeCoil(1, false), l);
    first = false;
    at = c.request(at + ctx.rng.between(50_000, 500_000), writeCoil(0, on), l);
    on = !on;
    c.request(at + ctx.rng.between(50_000, 300_000), readRequest(1, 0, 4), l);
    return ctx.rng.exp(gapUs);
  });
}

/** Setpoints written far outside their normal range. */
function setpointWrites(
  ctx: AttackContext,
  t0: number,
  plc: Plc,
  until: number,
  gapUs: number,
  tech: string,
): void {
  const l = label(ctx, tech);
  const c = new ModbusClient(ctx.engine, ctx.rng, ctx.src, plc, l);
  const writes: Buffer[] =
    plc.kind === 'tank'
      ? [
          writeSingle(6, 2, 9900),
          writeSingle(6, 6, 9990),
          writeRegisters(1, [200, 9950]),
          writeSingle(6, 4, 100),
        ]
      : plc.kind === 'feeder'
        ? [writeSingle(6, 4, 9999), writeSingle(6, 5, 17), writeRegisters(4, [60000, 1])]
        : [writeSingle(6, 0, 3000), writeRegisters(0, [3500]), writeSingle(6, 0, 4000)];
  let i = 0;
  loop(ctx, c.connect(t0), (t) => {
    const w = writes[i++ % writes.length]!;
    if (t >= until) {
      c.close(t);
      return undefined;
    }
    const at = c.request(t, readRequest(3, 0, 8));
    c.request(at + ctx.rng.between(100_000, 800_000), w);
    return ctx.rng.exp(gapUs);
  });
}

/** A routable unicast address outside the private, loopback, link-local, CGN and multicast ranges. */
function publicAddress(rng: Rng): number {
  for (;;) {
    const a = rng.u32();
    const o1 = a >>> 24;
    const o2 = (a >>> 16) & 0xff;
    if (o1 === 0 || o1 === 10 || o1 === 127 || o1 >= 224) continue;
    if ((o1 === 100 && (o2 & 0xc0) === 64) || (o1 === 169 && o2 === 254)) continue;
    if ((o1 === 172 && (o2 & 0xf0) === 16) || (o1 === 192 && o2 === 168)) continue;
    return a;
  }
}

function dotted(a: number): string {
  return `${a >>> 24}.${(a >>> 16) & 0xff}.${(a >>> 8) & 0xff}.${a & 0xff}`;
}

/** A spoofed address as frames carry it: the attacker's NIC (`mac`) and a random IP identification. */
function spoofed(ip4: number, mac: Buffer, rng: Rng): Host {
  return {
    name: 'spoofed',
    ip: dotted(ip4),
    ip4,
    mac,
    ttl: 64,
    ipId: rng.int(0x10000),
    nextPort: 1024 + rng.int(64512),
  };
}

/**
 * A spoofed-source SYN flood of a PLC's Modbus port, as `hping3 --rand-source -S` sends it from a host on the plant
 * network: every SYN carries a new source address and port (most routable addresses off the plant, some unused
 * addresses of the PLC's own subnet, a few addresses of hosts that are present), at a rate that wanders around
 * `perS` (a low-rate flood, not a packet storm: a PLC's small backlog is full at a few SYNs a second). The PLC keeps
 * each half-open connection in its backlog (8-32 entries) and answers SYN/ACK: to an off-plant address through the
 * gateway, retransmitted after its retransmission timeout and again after twice that, then forgotten; to an unused
 * address of its subnet nothing reaches the wire (ARP is unanswered) and the entry waits out the same timeout; a
 * present host whose address was spoofed answers the unexpected SYN/ACK with a reset, which frees the entry. With
 * its backlog full the PLC drops new SYNs without an answer or, as some embedded stacks do, resets them.
 */
function spoofedSynFlood(ctx: AttackContext, plc: Plc, perS: number, tech: string): void {
  const l = label(ctx, tech);
  const rng = ctx.rng;
  const engine = ctx.engine;
  const backlogMax = rng.pick([8, 16, 32]);
  const rtoUs = rng.pick([1, 3]) * S;
  const resetsWhenFull = rng.chance(0.4);
  const window = rng.pick([64, 512, 1024, 5840, 29200, 64240]);
  const gateway = makeHost('gateway', '0.0.0.0', { vendorOui: 0x00_00_0c });
  const subnet = plc.host.ip4 & 0xffffff00;
  const present = [...ctx.plant.hosts.values()].filter(
    (h) => h !== plc.host && h !== ctx.src && !h.name.startsWith('outsider-'),
  );
  const used = new Set([...ctx.plant.hosts.values()].map((h) => h.ip4));
  /** Release times of the backlog's half-open entries. */
  const backlog: number[] = [];
  let intensity = 1;
  let intensityUntil = ctx.startUs;
  loop(ctx, ctx.startUs, (t) => {
    for (let i = backlog.length - 1; i >= 0; i--) if (backlog[i]! <= t) backlog.splice(i, 1);
    const r = rng.next();
    const real = r < 0.05 ? rng.pick(present) : undefined;
    let ip4: number;
    if (real !== undefined) ip4 = real.ip4;
    else if (r < 0.2) {
      do ip4 = (subnet | rng.between(2, 253)) >>> 0;
      while (used.has(ip4));
    } else ip4 = publicAddress(rng);
    const from = spoofed(ip4, ctx.src.mac, rng);
    const sport = from.nextPort;
    const isn = rng.u32();
    engine.emit(
      t,
      tcpFrame(from, plc.host, { sport, dport: MODBUS_PORT, seq: isn, ack: 0, flags: TCP_SYN, window }),
      l,
    );
    const reply = (at: number, to: Host, flags: number, seq: number): void =>
      engine.emit(
        at,
        tcpFrame(plc.host, to, { sport: MODBUS_PORT, dport: sport, seq, ack: isn + 1, flags, window: 8192 }),
        l,
      );
    const answerAt = t + rng.between(100, 400);
    // How the PLC's answers reach the address: the present host itself, the gateway for an off-plant address,
    // nothing on the wire for an unused address of its subnet (its ARP request goes unanswered).
    const back = real ?? ((ip4 & 0xffffff00) !== subnet ? { ...from, mac: gateway.mac } : undefined);
    if (backlog.length >= backlogMax) {
      if (resetsWhenFull && back !== undefined) reply(answerAt, back, TCP_RST | TCP_ACK, 0);
    } else if (real !== undefined) {
      // The spoofed host did not open this connection: it resets it, which frees the entry.
      reply(answerAt, real, TCP_SYN | TCP_ACK, rng.u32());
      engine.emit(
        answerAt + rng.between(150, 600),
        tcpFrame(real, plc.host, {
          sport,
          dport: MODBUS_PORT,
          seq: isn + 1,
          ack: 0,
          flags: TCP_RST,
          window: 0,
        }),
        l,
      );
    } else {
      // Retransmitted after the timeout and again after twice that; forgotten after four times that again.
      backlog.push(answerAt + 7 * rtoUs);
      if (back !== undefined) {
        const plcIsn = rng.u32();
        reply(answerAt, back, TCP_SYN | TCP_ACK, plcIsn);
        engine.at(answerAt + rtoUs, (at) => reply(at, back, TCP_SYN | TCP_ACK, plcIsn));
        engine.at(answerAt + 3 * rtoUs, (at) => reply(at, back, TCP_SYN | TCP_ACK, plcIsn));
      }
    }
    if (t >= intensityUntil) {
      intensity = rng.uniform(0.5, 1.6);
      intensityUntil = t + rng.between(2 * S, 8 * S);
    }
    return rng.exp(S / (perS * intensity));
  });
}

const ATTACKS: Record<AttackName, AttackDef> = {
  'port-scan': {
    techniques: ['T0846'],
    description: 'SYN scan of every plant host on common IT and ICS ports (half-open probes, RST answers)',
    defaultDurationS: 120,
    defaultSource: (p) => p.engineering,
    run: (ctx) => synScan(ctx, ctx.startUs, ctx.endUs, scanTargets(ctx), SCAN_PORTS, 8 * ctx.rate, 'T0846'),
  },
  'modbus-recon': {
    techniques: ['T0888'],
    description:
      'Modbus device identification (fc 43/14), a function-code sweep and a register-map probe of PLCs',
    defaultDurationS: 90,
    defaultSource: (p) => p.engineering,
    run: (ctx) => {
      const plcs = ctx.target === undefined ? [...ctx.plant.plcs] : [targetPlc(ctx)];
      let t = ctx.startUs;
      for (const plc of plcs) {
        if (t >= ctx.endUs) break;
        t = recon(ctx, t, plc, (400_000 / ctx.rate) | 0, 'T0888') + ctx.rng.between(S, 4 * S);
      }
    },
  },
  'modbus-coil-write': {
    techniques: ['T0855'],
    description:
      'unauthorized coil writes (fc 5): auto mode off, the pump/breaker/motor coil toggled; from an HMI, on its polling connection',
    defaultDurationS: 60,
    defaultSource: (p, rng) => rng.pick(p.masters).host,
    run: (ctx) => coilWrites(ctx, ctx.startUs, targetPlc(ctx), ctx.endUs, (6 * S) / ctx.rate, 'T0855'),
  },
  'modbus-setpoint-write': {
    techniques: ['T0836'],
    description: 'setpoints and limits written out of range (fc 6/16) from the engineering workstation',
    defaultDurationS: 60,
    defaultSource: (p) => p.engineering,
    run: (ctx) => setpointWrites(ctx, ctx.startUs, targetPlc(ctx), ctx.endUs, (10 * S) / ctx.rate, 'T0836'),
  },
  'modbus-flood': {
    techniques: ['T0814'],
    description:
      'read/write request flood on parallel connections to one PLC (it slows down, then answers busy)',
    defaultDurationS: 30,
    defaultSource: (p, rng) => rng.pick(p.masters).host,
    run: (ctx) => {
      const plc = targetPlc(ctx);
      const l = label(ctx, 'T0814');
      for (let k = 0; k < 4; k++) {
        const c = new ModbusClient(ctx.engine, ctx.rng, ctx.src, plc, l);
        loop(ctx, c.connect(ctx.startUs + k * 30_000), (t) => {
          const r = ctx.rng.next();
          const pdu =
            r < 0.6
              ? readRequest(3, 0, 10)
              : r < 0.8
                ? readRequest(1, 0, 8)
                : writeSingle(6, 9, ctx.rng.int(65536));
          const end = c.request(t, pdu);
          if (ctx.endUs - end < 50_000) {
            c.close(end + 1000);
            return undefined;
          }
          return Math.max(end - t, 0) + ctx.rng.exp(S / (40 * ctx.rate));
        });
      }
    },
  },
  'syn-flood': {
    techniques: ['T0814'],
    description:
      "spoofed-source TCP SYN flood of a PLC's Modbus port: a new random source per SYN, answered with SYN/ACK until the PLC's backlog is full",
    defaultDurationS: 60,
    defaultSource: (p) => p.engineering,
    run: (ctx) => spoofedSynFlood(ctx, targetPlc(ctx), 12 * ctx.rate, 'T0814'),
  },
  'mqtt-bruteforce': {
    techniques: ['T0812'],
    description: 'MQTT CONNECTs trying default and guessed credentials, each refused (CONNACK 4/5)',
    needs: 'broker',
    defaultDurationS: 60,
    defaultSource: (p) => p.engineering,
    run: (ctx) => {
      const broker = ctx.plant.broker;
      if (broker === undefined) return;
      const l = label(ctx, 'T0812');
      const users = ['admin', 'mosquitto', 'guest', 'user', 'operator', 'historian', 'root'];
      const words = [
        'admin',
        'password',
        '123456',
        'mosquitto',
        'public',
        'changeme',
        'guest',
        'Passw0rd',
        'scada',
        'qwerty',
      ];
      let i = 0;
      loop(ctx, ctx.startUs, (t) => {
        const s = new MqttSession(ctx.engine, ctx.rng, ctx.src, broker, l);
        const user = users[Math.floor(i / words.length) % users.length]!;
        const pass = words[i % words.length]!;
        i++;
        const at = s.connect(
          t,
          {
            clientId: `mqtt-${ctx.rng.string(8, 'abcdef0123456789')}`,
            keepAlive: 60,
            username: user,
            password: pass,
          },
          user === 'admin' ? mqtt.ConnackCode.NOT_AUTHORIZED : mqtt.ConnackCode.BAD_CREDENTIALS,
        );
        // The broker drops a refused client.
        s.conn.close(at + 500, false);
        return ctx.rng.exp(S / (1.5 * ctx.rate));
      });
    },
  },
  'mqtt-spoof-publish': {
    techniques: ['T0856'],
    description:
      "a present sensor's host publishes false readings on other sensors' topics with valid credentials",
    needs: 'broker',
    defaultDurationS: 120,
    defaultSource: (p, rng) => (p.sensors.length > 0 ? rng.pick(p.sensors).host : p.engineering),
    run: (ctx) => {
      const broker = ctx.plant.broker;
      const sensors = ctx.plant.sensors.filter((s) => s.host !== ctx.src);
      if (broker === undefined || sensors.length === 0) return;
      const l = label(ctx, 'T0856');
      const s = new MqttSession(ctx.engine, ctx.rng, ctx.src, broker, l);
      const at = s.connect(
        ctx.startUs,
        {
          clientId: `${ctx.src.name}-2`,
          keepAlive: 60,
          username: ctx.src.name,
          password: mqttPassword(ctx.plant),
        },
        0,
      );
      // The broker delivers the spoofed readings into the historian's subscription (its own, when the plant's
      // normal traffic is off); those deliveries are part of the attack.
      let sub = ctx.background?.historian;
      if (sub === undefined) {
        const hist = new MqttSession(ctx.engine, ctx.rng, ctx.plant.historian, broker, l);
        const hat = hist.connect(
          ctx.startUs + 1000,
          { clientId: 'historian', keepAlive: 60, username: 'historian', password: mqttPassword(ctx.plant) },
          0,
        );
        const sid = hist.nextId();
        hist.exchange(hat, mqtt.subscribe(sid, `${ctx.plant.spec.name}/#`, 1), mqtt.suback(sid, 1));
        sub = { session: hist };
      }
      const subscription = sub;
      loop(ctx, at + 100_000, (t) => {
        const target = ctx.rng.pick(sensors).spec;
        const payload = JSON.stringify({
          v: Math.round(target.value * (ctx.rng.chance(0.5) ? 0.2 : 3.5) * 100) / 100,
          u: target.unit,
          ts: Math.floor(t / 1000),
        });
        const id = s.nextId();
        const end = s.exchange(t, mqtt.publish(target.topic, payload, 1, id), mqtt.puback(id));
        forward(subscription, end + 300, target.topic, payload, 1, l);
        if (ctx.endUs - t < 5 * S) {
          s.disconnect(end + 1000);
          return undefined;
        }
        return ctx.rng.exp((3 * S) / ctx.rate);
      });
    },
  },
  'dns-tunnel': {
    techniques: ['T0869'],
    description:
      'command and control over DNS: long high-entropy subdomains, TXT queries answered with encoded data',
    defaultDurationS: 120,
    defaultSource: (p) => p.engineering,
    run: (ctx) => {
      const l = label(ctx, 'T0869');
      const b32 = 'abcdefghijklmnopqrstuvwxyz234567';
      const b64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
      const session = ctx.rng.string(6, b32);
      let n = 0;
      loop(ctx, ctx.startUs, (t) => {
        const chunks = ctx.rng.between(1, 3);
        const labels: string[] = [];
        for (let i = 0; i < chunks; i++) labels.push(ctx.rng.string(ctx.rng.between(40, 63), b32));
        const name = `${labels.join('.')}.${(n++).toString(16)}${session}.cdn-telemetry-sync.net`;
        const txt = ctx.rng.chance(0.7);
        const id = ctx.rng.int(0x10000);
        const type = txt ? dns.DnsType.TXT : dns.DnsType.A;
        const answers: dns.DnsAnswer[] = txt
          ? [{ type: dns.DnsType.TXT, text: ctx.rng.string(ctx.rng.between(60, 220), b64) }]
          : [{ type: dns.DnsType.A, address: 0xc6_33_64_00 + ctx.rng.int(256) }];
        udpExchange(
          ctx.engine,
          t,
          ctx.src,
          ctx.plant.dns,
          ephemeralPort(ctx.src),
          dns.DNS_PORT,
          dns.query(id, name, type),
          dns.response(id, name, type, answers, 0),
          ctx.rng.between(15_000, 60_000),
          l,
        );
        return ctx.rng.exp(S / (1.2 * ctx.rate));
      });
    },
  },
  'http-bruteforce': {
    techniques: ['T0859'],
    description:
      "password guessing against the HMI's web login: POST /login answered 401, 5 tries per connection",
    defaultDurationS: 60,
    defaultSource: (p) => p.engineering,
    run: (ctx) => {
      const l = label(ctx, 'T0859');
      const host = `hmi.${ctx.plant.spec.domain}`;
      const users = ['admin', 'operator', 'engineer'];
      const words = [
        'admin',
        '1234',
        'password',
        'hmi',
        'operator',
        'Welcome1',
        'scada123',
        'letmein',
        'root',
        'abc123',
      ];
      let i = 0;
      loop(ctx, ctx.startUs, (t) => {
        const conn = openConn(ctx.engine, ctx.rng, ctx.src, ctx.plant.hmiWeb, http.HTTP_PORT, l);
        let at = conn.connect(t);
        for (let k = 0; k < 5 && at < ctx.endUs; k++, i++) {
          const body = `username=${users[i % users.length]!}&password=${words[Math.floor(i / users.length) % words.length]!}${i >= 30 ? String(i) : ''}`;
          at = conn.exchange(
            at + ctx.rng.exp(S / (3 * ctx.rate)),
            http.request('POST', '/login', host, 'python-requests/2.31.0', body),
            http.response(401, 'text/html', '<html><body>Invalid credentials</body></html>'),
            ctx.rng.between(3000, 9000),
          );
        }
        at = conn.close(at + 2000, true);
        return at - t + ctx.rng.exp(S / ctx.rate);
      });
    },
  },
  'program-download': {
    techniques: ['T0843'],
    description:
      'UMAS (Modbus fc 90) program download to a Schneider PLC: reservation, stop, download blocks, start',
    defaultDurationS: 60,
    defaultSource: (p) => p.engineering,
    run: (ctx) => {
      const plc = targetPlc(ctx, (p) => p.schneider);
      const l = label(ctx, 'T0843');
      const c = new ModbusClient(ctx.engine, ctx.rng, ctx.src, plc, l);
      let at = c.connect(ctx.startUs);
      at = c.request(at + 50_000, umas(Umas.TAKE_RESERVATION, Buffer.from('ENGWS-01', 'latin1')));
      at = c.request(at + 200_000, umas(Umas.STOP_PLC));
      at = c.request(at + 200_000, umas(Umas.INIT_DOWNLOAD, Buffer.from([0x01, 0x00])));
      const blocks = ctx.rng.between(40, 80);
      const gap = Math.max(10_000, (ctx.endUs - at - 2 * S) / (blocks + 2));
      for (let b = 0; b < blocks && at < ctx.endUs - S; b++) {
        const data = Buffer.concat([Buffer.from([b >> 8, b & 0xff, 0, 200]), ctx.rng.bytes(200)]);
        at = c.request(at + ctx.rng.exp(gap), umas(Umas.DOWNLOAD_BLOCK, data, 0x2f));
      }
      at = c.request(at + 100_000, umas(Umas.END_DOWNLOAD, Buffer.alloc(0), 0x2f));
      at = c.request(at + 300_000, umas(Umas.START_PLC, Buffer.alloc(0), 0x2f));
      c.close(at + 100_000);
    },
  },
  'multi-stage': {
    techniques: ['T0846', 'T0888', 'T0855', 'T0836'],
    description:
      'a chain: SYN scan of the PLC network (T0846), Modbus recon (T0888), then coil (T0855) and setpoint (T0836) writes',
    defaultDurationS: 180,
    defaultSource: (p) => p.engineering,
    run: (ctx) => {
      const span = ctx.endUs - ctx.startUs;
      const reconAt = ctx.startUs + Math.floor(span * 0.3);
      const writeAt = ctx.startUs + Math.floor(span * 0.55);
      const plcHosts = ctx.plant.plcs.map((p) => p.host);
      synScan(
        ctx,
        ctx.startUs,
        reconAt - 2 * S,
        plcHosts,
        [502, 102, 44818, 80, 20000],
        6 * ctx.rate,
        'T0846',
      );
      const victim = targetPlc(ctx);
      ctx.engine.at(reconAt, (t) => {
        recon(ctx, t, victim, (300_000 / ctx.rate) | 0, 'T0888');
      });
      coilWrites(ctx, writeAt, victim, ctx.endUs, (8 * S) / ctx.rate, 'T0855');
      setpointWrites(ctx, writeAt + 3 * S, victim, ctx.endUs, (12 * S) / ctx.rate, 'T0836');
    },
  },
};

export function attackDef(name: AttackName): AttackDef {
  return ATTACKS[name];
}

export function isAttackName(s: string): s is AttackName {
  return (ATTACK_NAMES as readonly string[]).includes(s);
}
