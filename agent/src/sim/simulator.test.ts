import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { shippedCatalog } from '@vigil/shared';
import { PacketClock } from '../capture/packet-clock.js';
import { DecodePipeline, type PipelineStats } from '../decode/pipeline.js';
import { copyEvent, type DecodedEvent } from '../decode/types.js';
import { capturedFrame } from '../testing/frames.js';
import { ATTACK_NAMES, attackDef, type AttackName } from './attacks.js';
import { pcapRecordOf } from './output.js';
import { Simulator, type SimFrame, type SimulatorOptions } from './simulator.js';
import { TOPOLOGIES, TOPOLOGY_NAMES } from './topology.js';

const START = Date.UTC(2026, 0, 5, 14); // a Monday afternoon: full daytime activity
const S = 1_000_000;

interface Parsed {
  tUs: number;
  src: string;
  dst: string;
  proto: number;
  sport: number;
  dport: number;
  flags: number;
  payload: Buffer;
  label: SimFrame['label'];
}

const ip = (b: Buffer, o: number): string => `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`;

function parse(f: SimFrame): Parsed {
  const d = f.data;
  const ihl = (d[14]! & 0x0f) * 4;
  const l4 = 14 + ihl;
  const proto = d[23]!;
  const total = d.readUInt16BE(16);
  const hdr = proto === 6 ? (d[l4 + 12]! >> 4) * 4 : 8;
  return {
    tUs: f.tUs,
    src: ip(d, 26),
    dst: ip(d, 30),
    proto,
    sport: d.readUInt16BE(l4),
    dport: d.readUInt16BE(l4 + 2),
    flags: proto === 6 ? d[l4 + 13]! : 0,
    payload: d.subarray(l4 + hdr, 14 + total),
    label: f.label,
  };
}

function run(opts: Partial<SimulatorOptions> & { topology: string }): { sim: Simulator; frames: SimFrame[] } {
  const sim = new Simulator({ seed: 11, startMs: START, durationS: 120, ...opts });
  return { sim, frames: [...sim] };
}

/** Our decode pipeline over the frames: events and counters. */
function decode(frames: readonly SimFrame[]): { events: DecodedEvent[]; stats: PipelineStats } {
  const clock = new PacketClock();
  const events: DecodedEvent[] = [];
  const p = new DecodePipeline({ clock, onEvent: (e) => events.push(copyEvent(e)) });
  frames.forEach((f, i) => {
    const tsSec = Math.floor(f.tUs / S);
    const tsNsec = (f.tUs % S) * 1000;
    clock.observe(tsSec, tsNsec);
    p.handle(capturedFrame(i + 1, tsSec, tsNsec, f.data));
  });
  return { events, stats: p.stats() };
}

function digest(frames: readonly SimFrame[]): string {
  const h = createHash('sha256');
  for (const f of frames) {
    h.update(pcapRecordOf(f));
    h.update(f.label === undefined ? '-' : `${f.label.attack}/${f.label.technique}`);
  }
  return h.digest('hex');
}

describe('Simulator determinism and ordering', () => {
  it('gives byte-identical frames and labels for the same seed and topology, and other bytes for another seed', () => {
    const opts = {
      topology: 'water-a',
      attacks: [{ attack: 'multi-stage' as const, atS: 10, durationS: 90 }],
    };

    const a = digest(run(opts).frames);
    const b = digest(run(opts).frames);
    const c = digest(run({ ...opts, seed: 12 }).frames);

    expect(b).toBe(a);
    expect(c).not.toBe(a);
  });

  it('emits frames in time order, inside the simulated span, starting at the given start time', () => {
    const { frames } = run({
      topology: 'factory-c',
      durationS: 30,
      attacks: [{ attack: 'modbus-flood', atS: 5 }],
    });

    for (let i = 1; i < frames.length; i++) expect(frames[i]!.tUs).toBeGreaterThanOrEqual(frames[i - 1]!.tUs);
    expect(frames[0]!.tUs).toBeGreaterThanOrEqual(START * 1000);
    expect(frames.at(-1)!.tUs).toBeLessThan((START + 30_000) * 1000);
  });
});

describe('normal traffic of each topology', () => {
  it.each(TOPOLOGY_NAMES)(
    '%s: masters poll every PLC at their rates, sensors publish, no labels, clean decode',
    (name) => {
      const spec = TOPOLOGIES[name]!;
      const durationS = 120;
      const { frames } = run({ topology: name, durationS });
      const pkts = frames.map(parse);
      const { stats } = decode(frames);

      expect(frames.every((f) => f.label === undefined)).toBe(true);
      expect(stats.counters).toEqual({});
      expect(stats.transportDecoded).toBe(frames.length);
      // Modbus requests per master and PLC, against the poll schedule (the first second is the connection set-up).
      const requests = new Map<string, number>();
      for (const p of pkts) {
        if (p.dport === 502 && p.payload.length > 0) {
          requests.set(`${p.src}>${p.dst}`, (requests.get(`${p.src}>${p.dst}`) ?? 0) + 1);
        }
      }
      for (const m of spec.masters) {
        const perS = m.polls.reduce((n, p) => n + 1000 / p.periodMs, 0);
        for (const plc of spec.plcs) {
          const n = requests.get(`${m.ip}>${plc.ip}`) ?? 0;
          expect(n).toBeGreaterThan(perS * (durationS - 3) * 0.95);
          expect(n).toBeLessThan(perS * durationS * 1.05);
        }
      }
      // Reads only, from the masters, with function codes 1-4.
      const fcs = new Set(
        pkts.filter((p) => p.dport === 502 && p.payload.length > 7).map((p) => p.payload[7]),
      );
      expect([...fcs].every((fc) => fc !== undefined && fc >= 1 && fc <= 16)).toBe(true);
      // Every sensor publishes at its period (PUBLISH to the broker).
      for (const s of spec.sensors) {
        const pubs = pkts.filter(
          (p) => p.src === s.ip && p.dport === 1883 && (p.payload[0]! & 0xf0) === 0x30,
        ).length;
        expect(pubs).toBeGreaterThanOrEqual(Math.floor((durationS - 3) / (s.periodMs / 1000)) - 1);
        expect(pubs).toBeLessThanOrEqual(Math.ceil(durationS / (s.periodMs / 1000)) + 1);
      }
      // The historian receives what the sensors publish; a plant without a broker has no MQTT at all.
      const delivered = pkts.filter(
        (p) => p.dst === spec.historian && p.sport === 1883 && (p.payload[0]! & 0xf0) === 0x30,
      );
      if (spec.broker === undefined) {
        expect(pkts.filter((p) => p.sport === 1883 || p.dport === 1883)).toEqual([]);
      } else {
        expect(delivered.length).toBeGreaterThan(0);
      }
    },
  );

  it('topologies differ in size, poll rates and protocol mix', () => {
    const mix = TOPOLOGY_NAMES.map((name) => {
      const pkts = run({ topology: name, durationS: 60 }).frames.map(parse);
      const modbus = pkts.filter((p) => p.sport === 502 || p.dport === 502).length;
      const mqtt = pkts.filter((p) => p.sport === 1883 || p.dport === 1883).length;
      const hosts = new Set(pkts.flatMap((p) => [p.src, p.dst])).size;
      return {
        name,
        hosts,
        modbusShare: modbus / pkts.length,
        mqttShare: mqtt / pkts.length,
        perS: pkts.length / 60,
      };
    });

    const by = (n: string): (typeof mix)[number] => mix.find((m) => m.name === n)!;
    const [water, substation, factory, pipeline] = ['water-a', 'substation-b', 'factory-c', 'pipeline-d'].map(
      by,
    );
    expect(new Set([water, substation, factory].map((m) => m!.hosts)).size).toBe(3);
    expect(pipeline!.mqttShare).toBe(0);
    expect(by('water-b').perS).toBeLessThan(water!.perS);
    expect(factory!.mqttShare).toBeGreaterThan(water!.mqttShare);
    expect(water!.mqttShare).toBeGreaterThan(substation!.mqttShare);
    expect(substation!.modbusShare).toBeGreaterThan(0.95);
    expect(factory!.perS).toBeGreaterThan(substation!.perS);
    expect(substation!.perS).toBeGreaterThan(water!.perS);
  });

  it('the engineering workstation looks up names, browses the HMI and makes occasional writes', () => {
    const spec = TOPOLOGIES['water-a']!;
    const pkts = run({ topology: 'water-a', durationS: 1200, seed: 5 }).frames.map(parse);

    const dnsQueries = pkts.filter((p) => p.src === spec.engineering && p.dport === 53);
    const dnsAnswers = pkts.filter((p) => p.dst === spec.engineering && p.sport === 53);
    const httpRequests = pkts.filter(
      (p) => p.src === spec.engineering && p.dport === 80 && p.payload.length > 0,
    );
    const writes = pkts.filter(
      (p) => p.src === spec.engineering && p.dport === 502 && [5, 6, 15, 16].includes(p.payload[7] ?? 0),
    );

    expect(dnsQueries.length).toBeGreaterThan(20);
    expect(dnsAnswers.length).toBe(dnsQueries.length);
    expect(httpRequests.some((p) => p.payload.toString('latin1').startsWith('GET / HTTP/1.1'))).toBe(true);
    expect(writes.length).toBeGreaterThan(0);
  });

  it('human activity follows the time of day: fewer lookups at night than in the afternoon', () => {
    const lookups = (hour: number): number =>
      run({ topology: 'water-a', durationS: 1800, startMs: Date.UTC(2026, 0, 5, hour), seed: 3 })
        .frames.map(parse)
        .filter((p) => p.dport === 53).length;

    const night = lookups(2);
    const day = lookups(14);

    expect(day).toBeGreaterThan(night * 1.8);
  });
});

/** Addresses that send normal traffic in a topology (where "insider" attacks come from). */
function normalHosts(name: string): Set<string> {
  return new Set(run({ topology: name, durationS: 30 }).frames.map((f) => parse(f).src));
}

describe('attacks', () => {
  const catalog = shippedCatalog();

  it.each(ATTACK_NAMES)(
    '%s: every frame labeled with its techniques, in its window, from a normally present host',
    (name: AttackName) => {
      const def = attackDef(name);
      const durationS = name === 'multi-stage' ? 120 : 40;
      const { sim, frames } = run({
        topology: 'water-a',
        durationS: 200,
        attacks: [{ attack: name, atS: 20, durationS }],
      });
      const w = sim.attacks[0]!;
      const labeled = frames.filter((f) => f.label !== undefined).map(parse);

      expect(labeled.length).toBeGreaterThan(10);
      expect(new Set(labeled.map((p) => p.label!.technique))).toEqual(new Set(def.techniques));
      for (const t of def.techniques) expect(catalog.technique(t), t).toBeDefined();
      expect(labeled.every((p) => p.label!.attack === name)).toBe(true);
      expect(labeled[0]!.tUs).toBeGreaterThanOrEqual(w.startUs);
      expect(labeled.at(-1)!.tUs).toBeLessThan(w.endUs + 30 * S);
      // The attack involves its source in every frame (or is the broker delivering spoofed data to the historian;
      // a spoofed-source flood's SYNs leave the source's NIC with other addresses, see its own test), and the
      // source normally talks on this network.
      const historian = TOPOLOGIES['water-a']!.historian;
      if (name !== 'syn-flood') {
        expect(
          labeled.every((p) => [p.src, p.dst].includes(w.source) || [p.src, p.dst].includes(historian)),
        ).toBe(true);
      }
      expect(normalHosts('water-a').has(w.source)).toBe(true);
      // Complete: no unlabeled frame on a connection the attack opened (its SYN is labeled) or on a UDP port pair
      // it used. (Connections of the normal traffic that an attack rides on carry both.)
      const key = (p: Parsed): string => [`${p.src}:${p.sport}`, `${p.dst}:${p.dport}`].sort().join('-');
      const opened = labeled.filter((p) => p.proto === 17 || (p.flags & 0x12) === 0x02);
      const attackFlows = new Set(opened.map(key));
      const unlabeledOnThem = frames.filter((f) => f.label === undefined && attackFlows.has(key(parse(f))));
      expect(unlabeledOnThem).toEqual([]);
      // Well formed: our decoders find nothing malformed (unknown function codes are data, sent only by the attacks
      // that sweep or use them).
      const { stats } = decode(frames);
      const counters = Object.keys(stats.counters);
      if (['modbus-recon', 'program-download', 'multi-stage'].includes(name)) {
        expect(counters.every((c) => c === 'modbus.unknown_function')).toBe(true);
      } else {
        expect(counters).toEqual([]);
      }
    },
  );

  it('syn-flood: SYNs to one PLC from spoofed sources via the source NIC, answered until the backlog is full', () => {
    const { sim, frames } = run({
      topology: 'water-a',
      durationS: 90,
      attacks: [{ attack: 'syn-flood', atS: 10, durationS: 60 }],
    });
    const w = sim.attacks[0]!;
    const attackMac = frames
      .find((f) => parse(f).src === w.source)!
      .data.subarray(6, 12)
      .toString('hex');
    const labeled = frames.filter((f) => f.label !== undefined);
    const syns = labeled.filter((f) => parse(f).flags === 0x02);
    const synPkts = syns.map(parse);
    const plc = synPkts[0]!.dst;
    const plantIps = new Set(sim.plant.hosts.keys());
    const subnet = (a: string): string => a.slice(0, a.lastIndexOf('.'));

    // one PLC's Modbus port, a new address and port per SYN, none of them the source's own, all from its NIC
    expect(synPkts.every((p) => p.dst === plc && p.dport === 502)).toBe(true);
    expect(new Set(synPkts.map((p) => p.src)).size).toBeGreaterThan(synPkts.length * 0.9);
    expect(synPkts.some((p) => p.src === w.source)).toBe(false);
    expect(syns.every((f) => f.data.subarray(6, 12).toString('hex') === attackMac)).toBe(true);
    // mostly off-plant addresses; some unused addresses of the PLC's subnet; a few present hosts
    const own = synPkts.filter((p) => subnet(p.src) === subnet(plc) && !plantIps.has(p.src));
    const present = synPkts.filter((p) => plantIps.has(p.src));
    expect(own.length).toBeGreaterThan(synPkts.length * 0.08);
    expect(present.length).toBeGreaterThan(0);
    expect(synPkts.length - own.length - present.length).toBeGreaterThan(synPkts.length * 0.6);
    // a low-rate flood: about 12 SYNs a second on average, varying from second to second
    const perS = synPkts.length / 60;
    expect(perS).toBeGreaterThan(6);
    expect(perS).toBeLessThan(24);
    const bySecond = new Map<number, number>();
    for (const p of synPkts)
      bySecond.set(Math.floor(p.tUs / S), (bySecond.get(Math.floor(p.tUs / S)) ?? 0) + 1);
    expect(Math.max(...bySecond.values())).toBeGreaterThan(2 * Math.min(...bySecond.values()));
    // the PLC answers SYN/ACK, retransmits those nobody answers, and leaves SYNs unanswered once its backlog is full
    const fromPlc = labeled.map(parse).filter((p) => p.src === plc);
    const synAcks = fromPlc.filter((p) => p.flags === 0x12);
    expect(synAcks.length).toBeGreaterThan(0);
    const answered = new Set(fromPlc.map((p) => `${p.dst}:${p.dport}`));
    expect(synAcks.length).toBeGreaterThan(answered.size);
    expect(synPkts.filter((p) => !answered.has(`${p.src}:${p.sport}`)).length).toBeGreaterThan(
      synPkts.length / 2,
    );
    // present hosts reset the SYN/ACKs they never asked for (RST without ACK)
    const resets = labeled.map(parse).filter((p) => p.dst === plc && p.flags === 0x04);
    expect(resets.length).toBeGreaterThan(0);
    expect(resets.every((p) => plantIps.has(p.src))).toBe(true);
  });

  it('multi-stage runs its stages in order: scan, then recon, then writes', () => {
    const { frames } = run({
      topology: 'substation-b',
      durationS: 200,
      attacks: [{ attack: 'multi-stage', atS: 10 }],
    });
    const first = new Map<string, number>();
    const last = new Map<string, number>();
    for (const f of frames) {
      if (f.label === undefined) continue;
      first.set(f.label.technique, Math.min(first.get(f.label.technique) ?? Infinity, f.tUs));
      last.set(f.label.technique, f.tUs);
    }

    expect(last.get('T0846')!).toBeLessThan(first.get('T0888')!);
    expect(first.get('T0888')!).toBeLessThan(first.get('T0855')!);
    expect(first.get('T0855')!).toBeLessThan(first.get('T0836')!);
  });

  it('the port scan is the only source of resets, and every probe of a closed port is answered by one', () => {
    const { frames } = run({
      topology: 'factory-c',
      durationS: 60,
      attacks: [{ attack: 'port-scan', atS: 5 }],
    });
    const pkts = frames.map(parse);
    const resets = pkts.filter((p) => p.proto === 6 && (p.flags & 0x04) !== 0);

    expect(resets.length).toBeGreaterThan(50);
    expect(resets.every((p) => p.label?.technique === 'T0846')).toBe(true);
  });

  it('coil writes from an HMI ride on its polling connection, between the normal polls', () => {
    const { sim, frames } = run({
      topology: 'water-a',
      durationS: 60,
      attacks: [{ attack: 'modbus-coil-write', atS: 10, src: '10.10.1.11', target: '10.10.2.12' }],
    });
    const pkts = frames.map(parse);
    const writes = pkts.filter((p) => p.label !== undefined && p.dport === 502 && p.payload[7] === 5);
    const conn = (p: Parsed): string => `${p.src}:${p.sport}>${p.dst}:${p.dport}`;

    expect(sim.attacks[0]!.source).toBe('10.10.1.11');
    expect(writes.length).toBeGreaterThan(3);
    expect(new Set(writes.map(conn)).size).toBe(1);
    // No handshake of its own: the same connection carries unlabeled polls before and after.
    expect(pkts.some((p) => p.label !== undefined && (p.flags & 0x02) !== 0)).toBe(false);
    const polls = pkts.filter(
      (p) => p.label === undefined && conn(p) === conn(writes[0]!) && p.payload.length > 0,
    );
    expect(polls.some((p) => p.tUs < writes[0]!.tUs)).toBe(true);
    expect(polls.some((p) => p.tUs > writes[0]!.tUs && p.tUs < writes.at(-1)!.tUs)).toBe(true);
  });

  it("spoofed MQTT readings reach the historian on its own subscription, among the sensors' real ones", () => {
    const historian = TOPOLOGIES['water-a']!.historian;
    const pkts = run({
      topology: 'water-a',
      durationS: 90,
      attacks: [{ attack: 'mqtt-spoof-publish', atS: 10 }],
    })
      .frames.map(parse)
      .filter((p) => p.dst === historian && p.sport === 1883 && (p.payload[0]! & 0xf0) === 0x30);
    const spoofed = pkts.filter((p) => p.label?.technique === 'T0856');
    const real = pkts.filter((p) => p.label === undefined);

    expect(spoofed.length).toBeGreaterThan(5);
    expect(new Set([...spoofed, ...real].map((p) => p.dport)).size).toBe(1);
  });

  it('refuses an MQTT attack on a topology without a broker', () => {
    expect(
      () =>
        new Simulator({
          topology: 'pipeline-d',
          seed: 1,
          startMs: START,
          attacks: [{ attack: 'mqtt-bruteforce', atS: 1 }],
        }),
    ).toThrow(/needs an MQTT broker/);
  });

  it('an attack from an outsider address and at a chosen target and rate', () => {
    const { sim, frames } = run({
      topology: 'water-a',
      durationS: 90,
      attacks: [{ attack: 'modbus-coil-write', atS: 10, src: '10.10.9.66', target: '10.10.2.13', rate: 3 }],
    });
    const labeled = frames.filter((f) => f.label !== undefined).map(parse);

    expect(sim.attacks[0]!.source).toBe('10.10.9.66');
    expect(
      labeled.every((p) => [p.src, p.dst].sort().join() === ['10.10.2.13', '10.10.9.66'].sort().join()),
    ).toBe(true);
    // Auto mode off, then the pump coil forced: the PLC's process shows it.
    expect(sim.plant.plcs.find((p) => p.host.ip === '10.10.2.13')!.process.coils[1]).toBe(0);
  });

  it('attacks alone (no background) for labeled examples, and injection into a running simulation', () => {
    const sim = new Simulator({
      topology: 'factory-c',
      seed: 4,
      startMs: START,
      background: false,
      attacks: [{ attack: 'dns-tunnel', atS: 0, durationS: 20 }],
    });
    const frames: SimFrame[] = [];
    for (let f = sim.next(); f !== undefined && f.tUs < (START + 30_000) * 1000; f = sim.next())
      frames.push(f);
    // Later, while running, a scenario injects an attack "now" (its start is not before the current time).
    sim.inject({ attack: 'http-bruteforce', atS: 0, durationS: 10 });
    for (let f = sim.next(); f !== undefined; f = sim.next()) frames.push(f);

    expect(frames.every((f) => f.label !== undefined)).toBe(true);
    expect(new Set(frames.map((f) => f.label!.technique))).toEqual(new Set(['T0869', 'T0859']));
    expect(sim.attacks[1]!.startUs).toBeGreaterThanOrEqual((START + 20_000) * 1000);
  });

  it('stopAttacks ends the running attacks midway while the normal traffic goes on', () => {
    const sim = new Simulator({
      topology: 'water-a',
      seed: 5,
      startMs: START,
      durationS: 60,
      attacks: [{ attack: 'port-scan', atS: 5, durationS: 50 }],
    });
    const before: SimFrame[] = [];
    for (let f = sim.next(); f !== undefined && f.tUs < (START + 20_000) * 1000; f = sim.next())
      before.push(f);

    const stopped = sim.stopAttacks();
    const after = [...sim];

    expect(stopped).toBe(1);
    expect(before.filter((f) => f.label?.technique === 'T0846').length).toBeGreaterThan(50);
    expect(after.filter((f) => f.label !== undefined)).toHaveLength(0);
    expect(after.length).toBeGreaterThan(500);
    expect(after.at(-1)!.tUs).toBeGreaterThan((START + 55_000) * 1000);
  });
});
