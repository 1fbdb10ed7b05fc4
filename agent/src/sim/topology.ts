// The simulated facilities. A topology is plain data (hosts, PLCs, sensors, poll schedules); `buildPlant` turns it
// into live hosts and PLCs for one simulation. Three facilities with different sizes and protocol mixes:
// - water-a: water treatment, 4 tank PLCs polled every second, 6 MQTT water-quality sensors every 5 s.
// - substation-b: power substation, 8 feeder relays polled every 500 ms, 3 slow MQTT transformer sensors (pings).
// - factory-c: manufacturing line, 12 conveyor PLCs polled every 250 ms, 2 HMIs, 20 MQTT sensors every second.
import { makeHost, type Host } from './net.js';
import { Plc, type PlcIdentity } from './modbus.js';
import type { ProcessKind } from './process.js';
import type { Rng } from './prng.js';

export interface PollSpec {
  fc: 1 | 2 | 3 | 4;
  addr: number;
  qty: number;
  /** Poll period of this read, milliseconds. */
  periodMs: number;
}

export interface MasterSpec {
  name: string;
  ip: string;
  windows: boolean;
  polls: PollSpec[];
}

export interface PlcSpec {
  name: string;
  ip: string;
  unitId: number;
  kind: ProcessKind;
  identity: PlcIdentity;
}

export interface SensorSpec {
  name: string;
  ip: string;
  topic: string;
  /** Publish period, milliseconds. */
  periodMs: number;
  qos: 0 | 1;
  keepAliveS: number;
  /** Nominal value and noise of the reading. */
  value: number;
  noise: number;
  unit: string;
}

export interface TopologySpec {
  name: string;
  description: string;
  domain: string;
  dns: string;
  broker: string | undefined;
  /** SCADA and HMI stations polling every PLC; the first HMI also serves the web interface on port 80. */
  masters: MasterSpec[];
  hmiWeb: string;
  engineering: string;
  historian: string;
  plcs: PlcSpec[];
  sensors: SensorSpec[];
  /** Mean seconds between the engineering station's DNS lookups and HMI page loads at full daytime activity. */
  dnsMeanS: number;
  webMeanS: number;
  /** Mean seconds between legitimate engineering writes at full daytime activity. */
  writeMeanS: number;
}

const schneider = (product: string): PlcIdentity => ({
  vendor: 'Schneider Electric',
  product,
  revision: 'V3.20',
});
const wago: PlcIdentity = { vendor: 'WAGO', product: '750-8202 PFC200', revision: '03.10.08' };
const abb: PlcIdentity = { vendor: 'ABB', product: 'REF615 Feeder Protection', revision: '5.0 FP1' };
const siemens: PlcIdentity = { vendor: 'Siemens', product: 'S7-1200 MB Server', revision: 'V4.5' };

function range<T>(n: number, f: (i: number) => T): T[] {
  return Array.from({ length: n }, (_, i) => f(i));
}

const WATER_A: TopologySpec = {
  name: 'water-a',
  description: 'water treatment: 4 tank PLCs, SCADA polling at 1 s, 6 MQTT quality sensors',
  domain: 'water-a.local',
  dns: '10.10.0.2',
  broker: '10.10.1.40',
  masters: [
    {
      name: 'scada',
      ip: '10.10.1.10',
      windows: true,
      polls: [
        { fc: 3, addr: 0, qty: 10, periodMs: 1000 },
        { fc: 1, addr: 0, qty: 8, periodMs: 1000 },
        { fc: 4, addr: 0, qty: 4, periodMs: 5000 },
        { fc: 2, addr: 0, qty: 8, periodMs: 5000 },
      ],
    },
    { name: 'hmi', ip: '10.10.1.11', windows: true, polls: [{ fc: 3, addr: 0, qty: 8, periodMs: 2000 }] },
  ],
  hmiWeb: '10.10.1.11',
  engineering: '10.10.1.20',
  historian: '10.10.1.30',
  plcs: [
    { name: 'plc-intake', ip: '10.10.2.11', unitId: 1, kind: 'tank', identity: schneider('BMX P34 2020') },
    { name: 'plc-filter', ip: '10.10.2.12', unitId: 1, kind: 'tank', identity: schneider('BMX P34 2020') },
    { name: 'plc-chlorine', ip: '10.10.2.13', unitId: 1, kind: 'tank', identity: wago },
    { name: 'plc-storage', ip: '10.10.2.14', unitId: 1, kind: 'tank', identity: wago },
  ],
  sensors: [
    ['turbidity', 0.35, 0.05, 'NTU'],
    ['ph', 7.2, 0.05, 'pH'],
    ['chlorine', 1.5, 0.1, 'mg/l'],
    ['flow-in', 82, 4, 'l/s'],
    ['flow-out', 78, 4, 'l/s'],
    ['conductivity', 410, 8, 'uS/cm'],
  ].map(([n, v, s, u], i) => ({
    name: `sensor-${String(n)}`,
    ip: `10.10.3.${21 + i}`,
    topic: `water-a/quality/${String(n)}`,
    periodMs: 5000,
    qos: (i % 2) as 0 | 1,
    keepAliveS: 60,
    value: Number(v),
    noise: Number(s),
    unit: String(u),
  })),
  dnsMeanS: 25,
  webMeanS: 150,
  writeMeanS: 900,
};

const SUBSTATION_B: TopologySpec = {
  name: 'substation-b',
  description: 'power substation: 8 feeder relays, SCADA polling at 500 ms, 3 slow MQTT transformer sensors',
  domain: 'substation-b.local',
  dns: '10.20.0.2',
  broker: '10.20.1.40',
  masters: [
    {
      name: 'scada',
      ip: '10.20.1.10',
      windows: false,
      polls: [
        { fc: 3, addr: 0, qty: 6, periodMs: 500 },
        { fc: 1, addr: 0, qty: 4, periodMs: 500 },
        { fc: 4, addr: 0, qty: 2, periodMs: 2000 },
        { fc: 2, addr: 0, qty: 4, periodMs: 2000 },
      ],
    },
    { name: 'hmi', ip: '10.20.1.11', windows: true, polls: [{ fc: 3, addr: 0, qty: 6, periodMs: 1000 }] },
  ],
  hmiWeb: '10.20.1.11',
  engineering: '10.20.1.20',
  historian: '10.20.1.30',
  plcs: range(8, (i) => ({
    name: `relay-f${i + 1}`,
    ip: `10.20.2.${11 + i}`,
    unitId: 1 + i,
    kind: 'feeder' as const,
    identity: i < 6 ? abb : schneider('Easergy P3'),
  })),
  sensors: [
    ['tx1-oil-temp', 58, 0.5, 'C'],
    ['tx1-gas-ppm', 12, 1, 'ppm'],
    ['yard-ambient', 14, 0.3, 'C'],
  ].map(([n, v, s, u], i) => ({
    name: `sensor-${String(n)}`,
    ip: `10.20.3.${21 + i}`,
    topic: `substation-b/transformer/${String(n)}`,
    periodMs: 30_000,
    qos: 1 as const,
    keepAliveS: 20,
    value: Number(v),
    noise: Number(s),
    unit: String(u),
  })),
  dnsMeanS: 60,
  webMeanS: 300,
  writeMeanS: 1800,
};

const FACTORY_C: TopologySpec = {
  name: 'factory-c',
  description: 'manufacturing line: 12 conveyor PLCs polled at 250 ms, 2 HMIs, 20 MQTT sensors every second',
  domain: 'factory-c.local',
  dns: '10.30.0.2',
  broker: '10.30.1.40',
  masters: [
    {
      name: 'scada',
      ip: '10.30.1.10',
      windows: true,
      polls: [
        { fc: 3, addr: 0, qty: 6, periodMs: 250 },
        { fc: 1, addr: 0, qty: 3, periodMs: 1000 },
        { fc: 4, addr: 0, qty: 2, periodMs: 1000 },
      ],
    },
    { name: 'hmi-1', ip: '10.30.1.11', windows: true, polls: [{ fc: 3, addr: 0, qty: 4, periodMs: 1000 }] },
    { name: 'hmi-2', ip: '10.30.1.12', windows: true, polls: [{ fc: 3, addr: 0, qty: 4, periodMs: 1000 }] },
  ],
  hmiWeb: '10.30.1.11',
  engineering: '10.30.1.20',
  historian: '10.30.1.30',
  plcs: range(12, (i) => ({
    name: `plc-line${1 + (i >> 2)}-${1 + (i & 3)}`,
    ip: `10.30.2.${11 + i}`,
    unitId: 1,
    kind: 'conveyor' as const,
    identity: i % 3 === 0 ? siemens : i % 3 === 1 ? wago : schneider('TM241 M241'),
  })),
  sensors: range(20, (i) => ({
    name: `sensor-${i % 2 ? 'temp' : 'vib'}-${1 + (i >> 1)}`,
    ip: `10.30.3.${21 + i}`,
    topic: `factory-c/line${1 + (i % 3)}/${i % 2 ? 'temp' : 'vib'}/${1 + (i >> 1)}`,
    periodMs: 1000,
    qos: 0 as const,
    keepAliveS: 60,
    value: i % 2 ? 41 : 2.2,
    noise: i % 2 ? 0.4 : 0.3,
    unit: i % 2 ? 'C' : 'mm/s',
  })),
  dnsMeanS: 40,
  webMeanS: 200,
  writeMeanS: 600,
};

const WATER_B: TopologySpec = {
  name: 'water-b',
  description: 'small water utility: 6 tank PLCs, Linux SCADA polling at 2 s, 4 MQTT sensors every 10 s',
  domain: 'waterb.lan',
  dns: '192.168.50.2',
  broker: '192.168.50.40',
  masters: [
    {
      name: 'scada',
      ip: '192.168.50.10',
      windows: false,
      polls: [
        { fc: 3, addr: 0, qty: 12, periodMs: 2000 },
        { fc: 1, addr: 0, qty: 8, periodMs: 2000 },
        { fc: 2, addr: 0, qty: 4, periodMs: 10_000 },
      ],
    },
    { name: 'hmi', ip: '192.168.50.11', windows: true, polls: [{ fc: 4, addr: 0, qty: 4, periodMs: 5000 }] },
  ],
  hmiWeb: '192.168.50.11',
  engineering: '192.168.50.20',
  historian: '192.168.50.30',
  plcs: range(6, (i) => ({
    name: `plc-tank${i + 1}`,
    ip: `192.168.51.${21 + i}`,
    unitId: 255,
    kind: 'tank' as const,
    identity: i % 2 ? wago : schneider('BMX P34 2020'),
  })),
  sensors: ['ph', 'chlorine', 'turbidity', 'pressure'].map((n, i) => ({
    name: `sensor-${n}`,
    ip: `192.168.51.${101 + i}`,
    topic: `water-b/sensors/${n}`,
    periodMs: 10_000,
    qos: 1 as const,
    keepAliveS: 15,
    value: [7.1, 1.2, 0.4, 3.1][i] ?? 1,
    noise: [0.05, 0.08, 0.05, 0.1][i] ?? 0.1,
    unit: ['pH', 'mg/l', 'NTU', 'bar'][i] ?? '',
  })),
  dnsMeanS: 35,
  webMeanS: 240,
  writeMeanS: 1200,
};

const PIPELINE_D: TopologySpec = {
  name: 'pipeline-d',
  description: 'pipeline stations: 3 tank and 2 motor-feeder PLCs polled at 3 s, no MQTT',
  domain: 'pipeline-d.corp',
  dns: '10.40.0.53',
  broker: undefined,
  masters: [
    {
      name: 'scada',
      ip: '10.40.1.10',
      windows: true,
      polls: [
        { fc: 3, addr: 0, qty: 8, periodMs: 3000 },
        { fc: 4, addr: 0, qty: 4, periodMs: 3000 },
        { fc: 1, addr: 0, qty: 4, periodMs: 6000 },
      ],
    },
    { name: 'hmi', ip: '10.40.1.11', windows: true, polls: [{ fc: 3, addr: 0, qty: 4, periodMs: 10_000 }] },
  ],
  hmiWeb: '10.40.1.11',
  engineering: '10.40.1.20',
  historian: '10.40.1.30',
  plcs: range(5, (i) => ({
    name: `station-${i + 1}`,
    ip: `10.40.${2 + i}.10`,
    unitId: 1,
    kind: i < 3 ? ('tank' as const) : ('feeder' as const),
    identity: i < 3 ? schneider('BMX P34 2020') : abb,
  })),
  sensors: [],
  dnsMeanS: 90,
  webMeanS: 400,
  writeMeanS: 2400,
};

export const TOPOLOGIES: Readonly<Record<string, TopologySpec>> = {
  'water-a': WATER_A,
  'substation-b': SUBSTATION_B,
  'factory-c': FACTORY_C,
  'water-b': WATER_B,
  'pipeline-d': PIPELINE_D,
};

export const TOPOLOGY_NAMES = Object.keys(TOPOLOGIES);

export function topologySpec(name: string): TopologySpec {
  const t = TOPOLOGIES[name];
  if (t === undefined) throw new Error(`unknown topology ${name} (known: ${TOPOLOGY_NAMES.join(', ')})`);
  return t;
}

/** The live hosts and PLCs of one simulation of a topology. */
export interface Plant {
  spec: TopologySpec;
  hosts: Map<string, Host>;
  masters: { spec: MasterSpec; host: Host }[];
  plcs: Plc[];
  dns: Host;
  broker: Host | undefined;
  hmiWeb: Host;
  engineering: Host;
  historian: Host;
  sensors: { spec: SensorSpec; host: Host }[];
  /** Looks up a host by address, creating an unknown (outsider) host when it is not part of the plant. */
  host(ip: string): Host;
}

export function buildPlant(spec: TopologySpec, rng: Rng, startUs: number): Plant {
  const hosts = new Map<string, Host>();
  const add = (name: string, ip: string, windows = false, oui?: number): Host => {
    const existing = hosts.get(ip);
    if (existing) return existing;
    const h = makeHost(name, ip, { windows, ...(oui === undefined ? {} : { vendorOui: oui }) });
    hosts.set(ip, h);
    return h;
  };
  const dns = add('dns', spec.dns);
  const masters = spec.masters.map((m) => ({ spec: m, host: add(m.name, m.ip, m.windows, 0x3c_52_82) }));
  const hmiWeb = add('hmi-web', spec.hmiWeb, true);
  const engineering = add('engineering', spec.engineering, true, 0x98_90_96);
  const historian = add('historian', spec.historian);
  const broker = spec.broker === undefined ? undefined : add('broker', spec.broker);
  const plcs = spec.plcs.map(
    (p) =>
      new Plc(add(p.name, p.ip, false, 0x00_80_f4), p.unitId, p.kind, p.identity, rng.fork(p.name), startUs),
  );
  const sensors = spec.sensors.map((s) => ({ spec: s, host: add(s.name, s.ip, false, 0xb8_27_eb) }));
  return {
    spec,
    hosts,
    masters,
    plcs,
    dns,
    broker,
    hmiWeb,
    engineering,
    historian,
    sensors,
    host: (ip) => add(`outsider-${ip}`, ip, false, 0x08_00_27),
  };
}
