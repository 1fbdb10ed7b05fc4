// The rules through the whole engine on crafted Modbus/TCP frames: a master polls a PLC while the baseline learns,
// then each violation is sent and must alert with its technique.
import { describe, expect, it } from 'vitest';
import { PacketClock } from '../capture/packet-clock.js';
import { capturedFrame, mbap, tcpFrame } from '../testing/frames.js';
import type { AgentAlert } from './correlate.js';
import { DetectionEngine } from './engine.js';
import {
  FAST_FLOOD_MS,
  FAST_FLOOD_SOURCES,
  FLOOD_HOLD_MS,
  FLOOD_SOURCE,
  FLOOD_SOURCES,
  TRACKED_MAX,
  TRACKED_SOURCES_PER_SERVICE,
} from './rules.js';
import { INVENTORY_RULE } from './types.js';

const T0 = Date.UTC(2026, 0, 12, 9, 0, 0);
const MASTER = '10.0.0.1';
const PLC = '10.0.0.2';
const ACK = 0x10;
const PSH_ACK = 0x18;
const SYN = 0x02;
const SYN_ACK = 0x12;
const RST = 0x04;

class Plant {
  readonly alerts: AgentAlert[] = [];
  readonly clock = new PacketClock();
  readonly engine: DetectionEngine;
  private frame = 0;
  private readonly seq = new Map<string, number>();

  constructor(learnMs: number) {
    this.engine = new DetectionEngine({
      facility: 'test',
      clock: this.clock,
      learnMs,
      onAlert: (a) => this.alerts.push(a),
    });
  }

  send(ms: number, data: Buffer): void {
    const raw = capturedFrame(++this.frame, Math.floor(ms / 1000), (ms % 1000) * 1e6, data);
    this.clock.observe(raw.tsSec, raw.tsNsec);
    this.engine.handle(raw);
  }

  /** Opens a connection from `client:sport` to the PLC's port 502 (handshake). */
  connect(ms: number, client: string, sport: number): void {
    this.seq.set(`${client}:${sport}`, 1001);
    this.seq.set(`${PLC}>${client}:${sport}`, 5001);
    this.send(ms, tcpFrame({ src: client, dst: PLC, sport, dport: 502, seq: 1000, flags: SYN }));
    this.send(
      ms,
      tcpFrame({ src: PLC, dst: client, sport: 502, dport: sport, seq: 5000, ack: 1001, flags: SYN_ACK }),
    );
    this.send(ms, tcpFrame({ src: client, dst: PLC, sport, dport: 502, seq: 1001, ack: 5001, flags: ACK }));
  }

  request(ms: number, client: string, sport: number, adu: Buffer): void {
    const k = `${client}:${sport}`;
    const s = this.seq.get(k) ?? 0;
    this.send(
      ms,
      tcpFrame({ src: client, dst: PLC, sport, dport: 502, seq: s, ack: 1, flags: PSH_ACK, payload: adu }),
    );
    this.seq.set(k, s + adu.length);
  }

  response(ms: number, client: string, sport: number, adu: Buffer): void {
    const k = `${PLC}>${client}:${sport}`;
    const s = this.seq.get(k) ?? 0;
    this.send(
      ms,
      tcpFrame({
        src: PLC,
        dst: client,
        sport: 502,
        dport: sport,
        seq: s,
        ack: 1,
        flags: PSH_ACK,
        payload: adu,
      }),
    );
    this.seq.set(k, s + adu.length);
  }

  /** The master reads holding registers 0..1 (values 100 and 200) once a second for `seconds`. */
  poll(fromMs: number, seconds: number, tid0: number): void {
    for (let i = 0; i < seconds; i++) {
      const t = fromMs + i * 1000;
      this.request(t, MASTER, 40000, mbap(tid0 + i, 1, [3, 0, 0, 0, 2]));
      this.response(t + 5, MASTER, 40000, mbap(tid0 + i, 1, [3, 4, 0, 100, 0, 200]));
    }
  }

  /** `src` sends SYNs to `n` ports of 10.0.0.50 (a host/port pair each, never seen while learning). */
  scan(ms: number, src: string, n: number): void {
    for (let i = 0; i < n; i++) {
      this.send(
        ms + i * 100,
        tcpFrame({ src, dst: '10.0.0.50', sport: 50000, dport: 1000 + i, seq: 1, flags: SYN }),
      );
    }
  }

  /** `n` sources 10.x.y.z, each sending one SYN to the PLC's port 502, `gapMs` apart. */
  spoofedSyns(ms: number, n: number, gapMs = 50): void {
    for (let i = 0; i < n; i++) {
      const src = `10.${1 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;
      this.send(
        ms + Math.floor(i * gapMs),
        tcpFrame({ src, dst: PLC, sport: 1024 + (i % 60_000), dport: 502, seq: 1, flags: SYN }),
      );
    }
  }

  finish(): Promise<void> {
    return this.engine.finish();
  }
}

/** A plant that polled for 20 s, its baseline frozen at 10 s; `first` adds traffic at its start. */
function learnt(first?: (p: Plant) => void): Plant {
  const p = new Plant(10_000);
  p.connect(T0, MASTER, 40000);
  first?.(p);
  p.poll(T0, 20, 1);
  return p;
}

/** `hosts` each opening a connection to the PLC's `dport` at `ms`, `gapMs` apart. */
function syns(p: Plant, hosts: readonly string[], ms: number, dport: number, gapMs: number): void {
  hosts.forEach((src, i) =>
    p.send(ms + i * gapMs, tcpFrame({ src, dst: PLC, sport: 40001, dport, seq: 1, flags: SYN })),
  );
}

const AFTER = T0 + 20_000;

describe('rules', () => {
  it('a host that never was a master writing a coil: T0855 at once', async () => {
    const p = learnt();

    p.connect(AFTER, '10.0.0.9', 41000);
    p.request(AFTER + 10, '10.0.0.9', 41000, mbap(7, 1, [5, 0, 1, 0xff, 0]));
    await p.finish();

    expect(p.alerts.map((a) => [a.attack_type, a.timestamp])).toEqual([
      ['T0855', new Date(AFTER + 10).toISOString()],
    ]);
    expect(p.alerts[0]?.sources.map((s) => s.model_name)).toContain('modbus-policy/new-master-write');
  });

  it('the known master sending a function code outside the public set: T0888', async () => {
    const p = learnt();

    p.request(AFTER, MASTER, 40000, mbap(500, 1, [100, 0, 0]));
    await p.finish();

    expect(p.alerts.map((a) => a.attack_type)).toEqual(['T0888']);
    expect(p.alerts[0]?.sources.map((s) => s.model_name)).toContain('modbus-protocol/illegal-function-code');
  });

  it('a broken MBAP header (protocol id 7): T0814', async () => {
    const p = learnt();

    p.request(AFTER, MASTER, 40000, mbap(501, 1, [3, 0, 0, 0, 2], 7));
    await p.finish();

    expect(p.alerts.map((a) => a.attack_type)).toEqual(['T0814']);
    expect(p.alerts[0]?.description).toContain('protocol id 7');
  });

  it('a response that answers no request on a matched flow: T0856', async () => {
    const p = learnt();

    p.response(AFTER, MASTER, 40000, mbap(9999, 1, [3, 4, 0, 1, 0, 2]));
    await p.finish();

    expect(p.alerts.map((a) => a.attack_type)).toEqual(['T0856']);
  });

  it('a write far outside the values a register held while learning: T0836', async () => {
    const p = learnt();

    p.request(AFTER, MASTER, 40000, mbap(502, 1, [6, 0, 1, 0x27, 0x0f]));
    await p.finish();

    expect(p.alerts.map((a) => a.attack_type)).toEqual(['T0836']);
    const rules = p.alerts[0]?.sources.map((s) => s.model_name);
    expect(rules).toContain('modbus-policy/setpoint-out-of-range');
  });

  it('the master flooding the PLC far above its busiest learnt second: T0814', async () => {
    const p = learnt();

    for (let i = 0; i < 40; i++) p.request(AFTER + i * 10, MASTER, 40000, mbap(600 + i, 1, [3, 0, 0, 0, 2]));
    await p.finish();

    expect(p.alerts.map((a) => a.attack_type)).toEqual(['T0814']);
  });

  it('a scan repeated after endIncidents alerts again at once, not held back as the stopped one repeating', async () => {
    const p = learnt();
    p.scan(AFTER, '10.0.0.7', 10);
    p.engine.endIncidents();
    const first = p.alerts.map((a) => a.attack_type);

    p.scan(AFTER + 5_000, '10.0.0.7', 10);
    await p.finish();

    expect(first).toEqual(['T0846']);
    expect(p.alerts.map((a) => [a.attack_type, a.first_seen])).toEqual([
      ['T0846', new Date(AFTER).toISOString()],
      ['T0846', new Date(AFTER + 5_000).toISOString()],
    ]);
  });

  it('writes sent within a flood are part of it: one T0814 alert, no T0836', async () => {
    const p = learnt();

    for (let i = 0; i < 40; i++) {
      const pdu = i % 5 === 4 ? [6, 0, 9, 0x85, 0x5d] : [3, 0, 0, 0, 2];
      p.request(AFTER + i * 10, MASTER, 40000, mbap(700 + i, 1, pdu));
    }
    await p.finish();

    expect(p.alerts.map((a) => a.attack_type)).toEqual(['T0814']);
    const write = p.alerts[0]?.sources.find((s) => s.model_name === 'modbus-policy/first-write');
    expect(write?.evidence).toContain('within a request flood');
  });

  it('a write of a known pair with no flood of the pair is reported FLOOD_HOLD_MS later, with its own technique', async () => {
    const p = learnt();

    for (let i = 0; i < 4; i++) p.request(AFTER + i * 10, MASTER, 40000, mbap(800 + i, 1, [3, 0, 0, 0, 2]));
    p.request(AFTER + 50, MASTER, 40000, mbap(804, 1, [6, 0, 9, 0, 7]));
    p.poll(AFTER + 1000, 1, 900);
    const during = p.alerts.length;
    p.poll(AFTER + 1050 + FLOOD_HOLD_MS, 1, 950);
    await p.finish();

    expect(during).toBe(0);
    expect(p.alerts.map((a) => [a.attack_type, a.timestamp])).toEqual([
      ['T0836', new Date(AFTER + 1050 + FLOOD_HOLD_MS).toISOString()],
    ]);
    expect(p.alerts[0]?.first_seen).toBe(new Date(AFTER + 50).toISOString());
  });

  it('a flood whose first request, a write, comes just before a second ends is one T0814 alert, no T0836', async () => {
    const p = learnt();

    p.request(AFTER + 990, MASTER, 40000, mbap(850, 1, [6, 0, 9, 0x85, 0x5d]));
    for (let i = 0; i < 40; i++)
      p.request(AFTER + 1000 + i * 10, MASTER, 40000, mbap(851 + i, 1, [3, 0, 0, 0, 2]));
    await p.finish();

    expect(p.alerts.map((a) => a.attack_type)).toEqual(['T0814']);
  });

  describe('device identification reads (function 43, MEI 14)', () => {
    const WS = '10.0.0.20';
    const readId = (tid: number, code = 1): Buffer => mbap(tid, 1, [43, 14, code, 0]);
    const idAnswer = (tid: number): Buffer =>
      mbap(tid, 1, [43, 14, 1, 1, 0, 0, 1, 0, 3, ...Buffer.from('ACM')]);
    /** learnt()'s plant where WS, never a Modbus master, opened the PLC's web page while learning. */
    const withWorkstation = (): Plant => {
      const p = new Plant(10_000);
      p.connect(T0, MASTER, 40000);
      p.poll(T0, 1, 1);
      p.send(T0 + 500, tcpFrame({ src: WS, dst: PLC, sport: 45000, dport: 80, seq: 1, flags: SYN }));
      p.poll(T0 + 1_000, 19, 2);
      return p;
    };

    it('from a host known while learning: an inventory read, no alert', async () => {
      const p = withWorkstation();

      p.connect(AFTER, WS, 41000);
      p.request(AFTER + 20, WS, 41000, readId(1));
      p.response(AFTER + 30, WS, 41000, idAnswer(1));
      await p.finish();

      expect(p.alerts).toEqual([]);
      expect(p.engine.stats()).toMatchObject({ below_threshold: 2 });
    });

    it('from a known host, followed by a function-code sweep: T0888, the read listed as evidence', async () => {
      const p = withWorkstation();

      p.connect(AFTER, WS, 41000);
      p.request(AFTER + 20, WS, 41000, readId(1));
      p.response(AFTER + 30, WS, 41000, idAnswer(1));
      p.request(AFTER + 400, WS, 41000, mbap(2, 1, [8, 0, 0, 0x12, 0x34]));
      p.response(AFTER + 410, WS, 41000, mbap(2, 1, [0x88, 1]));
      await p.finish();

      expect(p.alerts.map((a) => a.attack_type)).toEqual(['T0888']);
      expect(p.alerts[0]?.sources.map((s) => s.model_name)).toEqual(
        expect.arrayContaining([
          `modbus-policy/${INVENTORY_RULE}`,
          'modbus-policy/new-master',
          'modbus-protocol/illegal-function-exception',
        ]),
      );
      expect(p.alerts[0]?.description).toContain('function 8');
    });

    it('from a host never seen while learning: a new master, T0888', async () => {
      const p = withWorkstation();

      p.connect(AFTER, '10.0.0.66', 41000);
      p.request(AFTER + 20, '10.0.0.66', 41000, readId(1));
      p.response(AFTER + 30, '10.0.0.66', 41000, idAnswer(1));
      await p.finish();

      expect(p.alerts.map((a) => a.attack_type)).toEqual(['T0888']);
      expect(p.alerts[0]?.sources.map((s) => s.model_name)).toContain('modbus-policy/new-master');
    });
  });

  it('SYNs from many hosts never seen in learning to one PLC, 20 a second: one T0814 connection-flood alert at the 8th', async () => {
    const p = learnt();

    p.spoofedSyns(AFTER, 200);
    await p.finish();

    expect(p.alerts.map((a) => [a.attack_type, a.title])).toEqual([
      ['T0814', `Denial of Service from ${FLOOD_SOURCE}`],
    ]);
    expect(p.alerts[0]?.sources.map((s) => s.model_name)).toContain('network-scan/connection-flood');
    expect(p.alerts[0]?.description).toMatch(
      /^8 hosts never seen in learning opened connections to 10\.0\.0\.2:502 within 5 s \(the service had 1 client\(s\) in the whole learning period/,
    ); // decided on the 8th never-seen host's SYN, not after the correlator's hold
    expect(Date.parse(p.alerts[0]?.timestamp ?? '')).toBe(AFTER + (FAST_FLOOD_SOURCES - 1) * 50);
  });

  it('never-seen hosts slower than FAST_FLOOD_SOURCES in FAST_FLOOD_MS, and fewer than FLOOD_SOURCES: no flood', async () => {
    const p = learnt();

    // 19 hosts, one every 5/7 s: at most 7 within any 5 s
    p.spoofedSyns(AFTER, FLOOD_SOURCES - 1, FAST_FLOOD_MS / (FAST_FLOOD_SOURCES - 1) + 1);
    await p.finish();

    expect(p.alerts.filter((a) => a.attack_type === 'T0814')).toEqual([]);
  });

  it('hosts seen while learning, new to the service, need FLOOD_SOURCES within 10 s', async () => {
    const hosts = Array.from({ length: FLOOD_SOURCES }, (_, i) => `10.0.1.${i + 10}`);
    // each host was seen while learning (opening the PLC's port 80), then opens its Modbus port, 20 a second
    const plant = (n: number): Plant => {
      const p = learnt((q) => syns(q, hosts.slice(0, n), T0, 80, 0));
      syns(p, hosts.slice(0, n), AFTER, 502, 50);
      return p;
    };
    const all = plant(FLOOD_SOURCES);
    const fewer = plant(FLOOD_SOURCES - 1);

    await Promise.all([all.finish(), fewer.finish()]);

    const flood = all.alerts.filter((a) => a.attack_type === 'T0814');
    expect(flood.map((a) => a.description)).toEqual([
      expect.stringMatching(
        /^20 sources never seen in learning opened connections to 10\.0\.0\.2:502 within 10 s/,
      ),
    ]);
    expect(Date.parse(flood[0]?.timestamp ?? '')).toBe(AFTER + 19 * 50);
    expect(fewer.alerts.filter((a) => a.attack_type === 'T0814')).toEqual([]);
  });

  it('a service with more learnt clients than FAST_FLOOD_SOURCES needs more never-seen hosts than it has clients', async () => {
    // ten more clients of the PLC's Modbus port while learning: 11 with the master
    const p = learnt((q) =>
      syns(
        q,
        Array.from({ length: 10 }, (_, i) => `10.0.1.${i + 10}`),
        T0,
        502,
        0,
      ),
    );

    p.spoofedSyns(AFTER, 200);
    await p.finish();

    const flood = p.alerts.filter((a) => a.attack_type === 'T0814');
    expect(flood.map((a) => a.description)).toEqual([
      expect.stringMatching(
        /^12 hosts never seen .* within 5 s \(the service had 11 client\(s\) in the whole/,
      ),
    ]);
    expect(Date.parse(flood[0]?.timestamp ?? '')).toBe(AFTER + 11 * 50);
  });

  it('a spoofed-source storm fills the scan rule to TRACKED_MAX sources, counted, and is forgotten when it ends', async () => {
    const p = learnt();

    p.spoofedSyns(AFTER, TRACKED_MAX + 1000, 0.1);
    const during = p.engine.stats();
    p.spoofedSyns(AFTER + 60_000, 1);
    await p.finish();

    // 1000 sources past the scan rule's cap, and every source the flood rule's per-service cap pushed out in-window
    const sent = TRACKED_MAX + 1000;
    expect(during).toMatchObject({ scan_untracked: 1000 + sent - TRACKED_SOURCES_PER_SERVICE });
    // the last SYN's source, once as a prober and once as an opener of the PLC's service
    expect(p.engine.stats()).toMatchObject({ scan_tracked: 2 });
  });

  it('a present host resetting SYN/ACKs to SYNs spoofed with its address makes no scanner of the PLC', async () => {
    const p = learnt();

    // the flood's SYNs carry the master's address; the PLC answers them and the master resets each (RST, no ACK)
    for (let i = 0; i < 10; i++) {
      const at = AFTER + i * 100;
      const sport = 50000 + i;
      p.send(at, tcpFrame({ src: MASTER, dst: PLC, sport, dport: 502, seq: 7, flags: SYN }));
      p.send(
        at + 1,
        tcpFrame({ src: PLC, dst: MASTER, sport: 502, dport: sport, seq: 9, ack: 8, flags: SYN_ACK }),
      );
      p.send(at + 2, tcpFrame({ src: MASTER, dst: PLC, sport, dport: 502, seq: 8, flags: RST }));
    }
    await p.finish();

    expect(p.alerts.filter((a) => a.attack_type === 'T0846')).toEqual([]);
  });

  it('a PLC refusing (RST/ACK) SYNs to five ports of one prober: a T0846 scan of that prober', async () => {
    const p = learnt();

    for (let i = 0; i < 5; i++) {
      const at = AFTER + i * 100;
      p.send(at, tcpFrame({ src: MASTER, dst: PLC, sport: 50000 + i, dport: 100 + i, seq: 7, flags: SYN }));
      p.send(
        at + 1,
        tcpFrame({
          src: PLC,
          dst: MASTER,
          sport: 100 + i,
          dport: 50000 + i,
          seq: 0,
          ack: 8,
          flags: RST | ACK,
        }),
      );
    }
    await p.finish();

    expect(p.alerts.map((a) => a.attack_type)).toEqual(['T0846']);
    expect(p.alerts[0]?.sources.map((s) => s.model_name)).toContain('network-scan/scan');
  });

  it("a model's scan finding about one of a flood's spoofed sources is part of the flood: one T0814 alert", async () => {
    const p = learnt();

    // seven spoofed sources (the flood rule wants 8 never-seen hosts), then what Layer 2 says of the second one's
    // lone SYN: a scan
    p.spoofedSyns(AFTER, FAST_FLOOD_SOURCES - 1);
    p.engine.correlator.add({
      detector: 'models',
      layer: 2,
      rule: 'l2-classifier',
      technique: 'T0846',
      confidence: 0.97,
      timeMs: AFTER + 600,
      frame: 2,
      src: '10.1.0.1',
      dst: PLC,
      evidence: 'Layer 2: Remote System Discovery',
      features: {},
    });
    await p.finish();

    expect(p.alerts.map((a) => a.attack_type)).toEqual(['T0814']);
    const model = p.alerts[0]?.sources.find((s) => s.model_name === 'models/l2-classifier');
    expect(model?.evidence).toMatch(/10\.1\.0\.1 is one of \d+ sources never seen in learning/);
  });

  it("the models' flood findings about many spoofed sources are one flood: one T0814 alert, not one per source", async () => {
    const p = learnt();

    // seven spoofed sources (the flood rule wants 8 never seen); Layer 2 names each of six sources' lone SYN a flood
    p.spoofedSyns(AFTER, FAST_FLOOD_SOURCES - 1);
    for (let i = 1; i <= 6; i++) {
      p.engine.correlator.add({
        detector: 'models',
        layer: 2,
        rule: 'l2-classifier',
        technique: 'T0814',
        confidence: 0.97,
        timeMs: AFTER + 500 + i * 50,
        frame: i + 1,
        src: `10.1.0.${i}`,
        dst: PLC,
        evidence: 'Layer 2: Denial of Service',
        features: {},
      });
    }
    await p.finish();

    expect(p.alerts.map((a) => [a.attack_type, a.title])).toEqual([
      ['T0814', `Denial of Service from ${FLOOD_SOURCE}`],
    ]);
    const models = p.alerts[0]?.sources.filter((s) => s.model_name === 'models/l2-classifier') ?? [];
    expect(models.length).toBeGreaterThan(0);
    expect(models[0]?.evidence).toMatch(/10\.1\.0\.\d is one of \d+ sources never seen in learning/);
  });

  it('fewer never-seen hosts than FAST_FLOOD_SOURCES raise no flood', async () => {
    const p = learnt();

    p.spoofedSyns(AFTER, FAST_FLOOD_SOURCES - 1);
    await p.finish();

    expect(p.alerts.filter((a) => a.attack_type === 'T0814')).toEqual([]);
  });

  it('polling as learnt raises nothing', async () => {
    const p = learnt();

    p.poll(AFTER, 30, 100);
    await p.finish();

    expect(p.alerts).toEqual([]);
    expect(p.engine.baseline.summary()).toMatchObject({ masters: 1, modbus_pairs: 1 });
  });
});
