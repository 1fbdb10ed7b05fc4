// Normal plant traffic: SCADA/HMI masters polling every PLC on their schedules over persistent Modbus connections,
// MQTT sensors publishing through the broker to the historian's subscription, and the engineering workstation's
// DNS lookups, HMI web sessions, occasional legitimate writes and rare device-identification reads (an asset
// inventory tool). Human activity follows the time of day (`diurnal`); machine polling does not.
import { ModbusClient, MqttSession, openConn, udpExchange } from './clients.js';
import * as dns from './dns.js';
import type { Engine } from './engine.js';
import * as http from './http.js';
import {
  readDeviceId,
  readRequest,
  writeCoil,
  writeCoils,
  writeRegisters,
  writeSingle,
  type Plc,
} from './modbus.js';
import * as mqtt from './mqtt.js';
import { ephemeralPort, type Host } from './net.js';
import { diurnal } from './process.js';
import type { Rng } from './prng.js';
import type { Plant, SensorSpec } from './topology.js';

export interface ActorContext {
  engine: Engine;
  plant: Plant;
  rng: Rng;
  startUs: number;
}

const S = 1_000_000;

/** The password every legitimate MQTT client of a plant uses (the brute force never finds it). */
export function mqttPassword(plant: Plant): string {
  return `${plant.spec.name}-Mq!7x`;
}

/** Sessions of the normal traffic that attacks may ride on. */
export interface Background {
  /** The historian's MQTT subscription (the broker delivers spoofed publishes into it). */
  historian: Subscriber | undefined;
  /** Each master's polling connection to each PLC, by `masterIp>plcIp` (a compromised HMI writes on it). */
  polling: Map<string, ModbusClient>;
}

/** Starts the plant's normal traffic. */
export function startBackground(ctx: ActorContext): Background {
  const polling = new Map<string, ModbusClient>();
  for (const m of ctx.plant.masters) {
    for (const plc of ctx.plant.plcs) {
      polling.set(`${m.host.ip}>${plc.host.ip}`, startPolling(ctx, m.host, m.spec.polls, plc));
    }
  }
  let historian: Subscriber | undefined;
  if (ctx.plant.broker !== undefined) {
    historian = startHistorian(ctx, ctx.plant.broker);
    for (const s of ctx.plant.sensors) startSensor(ctx, s.spec, s.host, ctx.plant.broker, historian);
  }
  startEngineering(ctx);
  return { historian, polling };
}

function startPolling(
  ctx: ActorContext,
  master: Host,
  polls: readonly { fc: 1 | 2 | 3 | 4; addr: number; qty: number; periodMs: number }[],
  plc: Plc,
): ModbusClient {
  const rng = ctx.rng.fork(`poll:${master.ip}:${plc.host.ip}`);
  const client = new ModbusClient(ctx.engine, rng, master, plc, undefined);
  const t0 = ctx.startUs + rng.int(S);
  ctx.engine.at(t0, (t) => {
    client.connect(t);
    for (const p of polls) {
      const period = p.periodMs * 1000;
      const pdu = readRequest(p.fc, p.addr, p.qty);
      const tick = (at: number): void => {
        client.request(at, pdu);
        // Masters poll on a timer with a little scheduling jitter.
        ctx.engine.at(at + period + rng.between(-2000, 2000), tick);
      };
      ctx.engine.at(t + 1000 + rng.int(period), tick);
    }
  });
  return client;
}

export interface Subscriber {
  session: MqttSession;
}

function startHistorian(ctx: ActorContext, broker: Host): Subscriber {
  const rng = ctx.rng.fork('historian');
  const session = new MqttSession(ctx.engine, rng, ctx.plant.historian, broker, undefined);
  ctx.engine.at(ctx.startUs + rng.int(200_000), (t) => {
    let at = session.connect(
      t,
      { clientId: 'historian', keepAlive: 60, username: 'historian', password: mqttPassword(ctx.plant) },
      0,
    );
    const id = session.nextId();
    at = session.exchange(at, mqtt.subscribe(id, `${ctx.plant.spec.name}/#`, 1), mqtt.suback(id, 1));
    // The historian's own keepalive: its subscription carries traffic, but MQTT counts only what the client sends.
    const ping = (pt: number): void => {
      session.exchange(pt, mqtt.PINGREQ, mqtt.PINGRESP);
      ctx.engine.at(pt + 60 * S, ping);
    };
    ctx.engine.at(at + 60 * S, ping);
  });
  return { session };
}

/** A reading: the sensor's nominal value following the daily cycle, with noise. */
function reading(spec: SensorSpec, rng: Rng, tUs: number): string {
  const v = spec.value * (0.9 + 0.2 * diurnal(tUs)) + rng.normal() * spec.noise;
  return JSON.stringify({ v: Math.round(v * 100) / 100, u: spec.unit, ts: Math.floor(tUs / 1000) });
}

/** The broker forwards a publish to the historian's subscription (granted QoS 1). */
export function forward(
  sub: Subscriber,
  t: number,
  topic: string,
  payload: string,
  qos: 0 | 1,
  label?: Parameters<MqttSession['deliver']>[3],
): number {
  if (qos === 0) return sub.session.deliver(t, mqtt.publish(topic, payload, 0), undefined, label);
  const id = sub.session.nextId();
  return sub.session.deliver(t, mqtt.publish(topic, payload, 1, id), mqtt.puback(id), label);
}

function startSensor(ctx: ActorContext, spec: SensorSpec, host: Host, broker: Host, sub: Subscriber): void {
  const rng = ctx.rng.fork(`sensor:${spec.name}`);
  const session = new MqttSession(ctx.engine, rng, host, broker, undefined);
  const period = spec.periodMs * 1000;
  ctx.engine.at(ctx.startUs + 300_000 + rng.int(2 * S), (t) => {
    session.connect(
      t,
      {
        clientId: spec.name,
        keepAlive: spec.keepAliveS,
        username: spec.name,
        password: mqttPassword(ctx.plant),
      },
      0,
    );
    let lastSent = t;
    const publish = (at: number): void => {
      const payload = reading(spec, rng, at);
      let end: number;
      if (spec.qos === 1) {
        const id = session.nextId();
        end = session.exchange(at, mqtt.publish(spec.topic, payload, 1, id), mqtt.puback(id));
      } else {
        end = session.exchange(at, mqtt.publish(spec.topic, payload, 0), undefined);
      }
      lastSent = at;
      forward(sub, end + 300, spec.topic, payload, spec.qos);
      ctx.engine.at(at + period + rng.between(-20_000, 20_000), publish);
    };
    ctx.engine.at(t + rng.int(period), publish);
    // PINGREQ when the keepalive would lapse before the next publish.
    if (period >= spec.keepAliveS * S * 0.75) {
      const ping = (at: number): void => {
        if (at - lastSent >= spec.keepAliveS * S * 0.75) {
          session.exchange(at, mqtt.PINGREQ, mqtt.PINGRESP);
          lastSent = at;
        }
        ctx.engine.at(at + spec.keepAliveS * S * 0.5, ping);
      };
      ctx.engine.at(t + spec.keepAliveS * S * 0.5, ping);
    }
  });
}

const EXTERNAL_NAMES = [
  'time.windows.com',
  'ctldl.windowsupdate.com',
  'www.se.com',
  'download.wago.com',
  'support.industry.siemens.com',
  'ocsp.digicert.com',
];

/** A DNS lookup from `client` to the plant's DNS server: internal names answer fast, external ones are forwarded. */
export function lookup(
  ctx: ActorContext,
  rng: Rng,
  t: number,
  client: Host,
  name: string,
  label?: Parameters<typeof udpExchange>[9],
): number {
  const internal = name.endsWith(ctx.plant.spec.domain);
  const known = [...ctx.plant.hosts.values()].find((h) => `${h.name}.${ctx.plant.spec.domain}` === name);
  const id = rng.int(0x10000);
  const answers: dns.DnsAnswer[] = internal
    ? known === undefined
      ? []
      : [{ type: dns.DnsType.A, address: known.ip4 }]
    : [{ type: dns.DnsType.A, address: 0x0d_40_00_00 + rng.int(0xffff) }];
  return udpExchange(
    ctx.engine,
    t,
    client,
    ctx.plant.dns,
    ephemeralPort(client),
    dns.DNS_PORT,
    dns.query(id, name, dns.DnsType.A),
    dns.response(id, name, dns.DnsType.A, answers, internal ? 3600 : 300),
    internal ? rng.between(300, 1500) : rng.between(8000, 40_000),
    label,
  );
}

const UA =
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36';

function page(rng: Rng, plant: Plant, bytes: number): string {
  const rows: string[] = [];
  let n = 0;
  while (n < bytes) {
    const plc = rng.pick(plant.plcs);
    const row = `<tr><td>${plc.host.name}</td><td>${plc.process.holding[0]}</td><td>${plc.process.coils[0] ? 'RUN' : 'STOP'}</td></tr>\n`;
    rows.push(row);
    n += row.length;
  }
  return `<!DOCTYPE html><html><head><title>${plant.spec.name} HMI</title></head><body><table>\n${rows.join('')}</table></body></html>`;
}

/** One HMI web session of the engineering station: optional login, the overview page, script and tag values. */
function webSession(ctx: ActorContext, rng: Rng, t: number): void {
  const eng = ctx.plant.engineering;
  const hmi = ctx.plant.hmiWeb;
  const conn = openConn(ctx.engine, rng, eng, hmi, http.HTTP_PORT, undefined);
  const host = `hmi.${ctx.plant.spec.domain}`;
  let at = conn.connect(t);
  const get = (
    path: string,
    status: number,
    type: string,
    body: string,
    extra: Record<string, string> = {},
  ): void => {
    at = conn.exchange(
      at + rng.between(500, 30_000),
      http.request('GET', path, host, UA, undefined, extra),
      http.response(status, type, body),
      rng.between(2000, 15_000),
    );
  };
  if (rng.chance(0.25)) {
    // Operators mistype their password now and then: a 401 before the 200 is normal here.
    if (rng.chance(0.15)) {
      at = conn.exchange(
        at + rng.between(2 * S, 6 * S),
        http.request('POST', '/login', host, UA, 'username=operator&password=xxxxxxx'),
        http.response(401, 'text/html', '<html><body>Invalid credentials</body></html>'),
        rng.between(3000, 9000),
      );
    }
    at = conn.exchange(
      at + rng.between(2 * S, 6 * S),
      http.request('POST', '/login', host, UA, `username=operator&password=${ctx.plant.spec.name}Op1`),
      http.response(302, 'text/html', '', {
        Location: '/',
        'Set-Cookie': `sid=${rng.string(24, 'abcdef0123456789')}; HttpOnly`,
      }),
      rng.between(3000, 9000),
    );
  }
  get('/', 200, 'text/html', page(rng, ctx.plant, rng.between(1500, 4000)));
  get(
    '/static/hmi.js',
    200,
    'application/javascript',
    `/* hmi */\n${'function r(){fetch("/api/tags").then(x=>x.json())}\n'.repeat(rng.between(40, 90))}`,
  );
  const polls = rng.between(1, 6);
  for (let i = 0; i < polls; i++) {
    const tags = Object.fromEntries(
      ctx.plant.plcs.map((p) => [p.host.name, Array.from(p.process.holding.subarray(0, 4))]),
    );
    get('/api/tags', 200, 'application/json', JSON.stringify(tags), { 'X-Requested-With': 'XMLHttpRequest' });
    at += rng.between(2 * S, 5 * S);
  }
  conn.close(at + rng.between(S, 3 * S), true);
}

/** A legitimate engineering change on one PLC: connect, write within the normal range, read back, close. */
function engineeringWrite(ctx: ActorContext, rng: Rng, t: number): void {
  const plc = rng.pick(ctx.plant.plcs);
  const c = new ModbusClient(ctx.engine, rng, ctx.plant.engineering, plc, undefined);
  let at = c.connect(t);
  const h = plc.process.holding;
  at = c.request(at + rng.between(50_000, 400_000), readRequest(3, 0, 8));
  const write = (pdu: Buffer): void => {
    at = c.request(at + rng.between(200_000, 2 * S), pdu);
  };
  const choice = rng.int(4);
  if (plc.kind === 'tank') {
    if (choice === 0) write(writeSingle(6, 1, clamp((h[1] ?? 4000) + rng.between(-300, 300), 3000, 5000)));
    else if (choice === 1) write(writeRegisters(1, [rng.between(3500, 4500), rng.between(7500, 8500)]));
    else if (choice === 2) write(writeCoil(3, true));
    else write(writeSingle(6, 5, rng.between(120, 180)));
  } else if (plc.kind === 'feeder') {
    if (choice <= 1) write(writeSingle(6, 5, clamp((h[5] ?? 9) + rng.pick([-1, 1]), 7, 11)));
    else if (choice === 2) write(writeCoil(1, true));
    else write(writeSingle(6, 4, rng.between(1150, 1250)));
  } else {
    if (choice <= 1) write(writeSingle(6, 0, rng.between(1000, 1400)));
    else if (choice === 2) write(writeCoil(1, rng.chance(0.5)));
    else write(writeCoils(0, [plc.process.coils[0] ?? 0, rng.int(2), 0]));
  }
  at = c.request(at + rng.between(100_000, S), readRequest(3, 0, 8));
  c.close(at + rng.between(200_000, 3 * S));
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.max(lo, Math.min(hi, v));
}

/** An asset inventory read: device identification of one PLC (rare, but part of normal engineering work). */
function inventoryRead(ctx: ActorContext, rng: Rng, t: number): void {
  const plc = rng.pick(ctx.plant.plcs);
  const c = new ModbusClient(ctx.engine, rng, ctx.plant.engineering, plc, undefined);
  let at = c.connect(t);
  at = c.request(at + 20_000, readDeviceId(1, 0));
  c.close(at + 50_000);
}

/** A Poisson process whose rate follows the daily activity: mean gap `meanS` at full daytime activity. */
function poisson(ctx: ActorContext, rng: Rng, meanS: number, act: (t: number) => void): void {
  const next = (t: number): number => t + rng.exp((meanS * S) / diurnal(t));
  const run = (t: number): void => {
    act(t);
    ctx.engine.at(next(t), run);
  };
  ctx.engine.at(next(ctx.startUs), run);
}

function startEngineering(ctx: ActorContext): void {
  const plant = ctx.plant;
  const spec = plant.spec;
  const rng = ctx.rng.fork('engineering');
  const internal = [...plant.hosts.values()].map((h) => `${h.name}.${spec.domain}`);
  poisson(ctx, rng.fork('dns'), spec.dnsMeanS, (t) => {
    const r = rng.next();
    const name = r < 0.55 ? rng.pick(internal) : r < 0.6 ? `wpad.${spec.domain}` : rng.pick(EXTERNAL_NAMES);
    lookup(ctx, rng, t, plant.engineering, name);
  });
  const hmiRng = ctx.rng.fork('hmi-dns');
  poisson(ctx, hmiRng, spec.dnsMeanS * 4, (t) => {
    const m = hmiRng.pick(plant.masters);
    lookup(ctx, hmiRng, t, m.host, `historian.${spec.domain}`);
  });
  const webRng = ctx.rng.fork('web');
  poisson(ctx, webRng, spec.webMeanS, (t) => webSession(ctx, webRng, t));
  const writeRng = ctx.rng.fork('writes');
  poisson(ctx, writeRng, spec.writeMeanS, (t) => engineeringWrite(ctx, writeRng, t));
  const invRng = ctx.rng.fork('inventory');
  poisson(ctx, invRng, 4 * 3600, (t) => inventoryRead(ctx, invRng, t));
}
