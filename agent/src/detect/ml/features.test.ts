// FlowSeconds on real decoded frames: many clients' packets interleaved (more pairs than its cache of open
// flow-seconds has slots, so slots are shared and overwritten) still give one row per client -> server and second,
// each with its own counts.
import { describe, expect, it } from 'vitest';
import { PacketClock } from '../../capture/packet-clock.js';
import { Analyzer } from '../../features/analyzer.js';
import { mqttPublish } from '../../testing/app-frames.js';
import { capturedFrame, mbap, tcpFrame } from '../../testing/frames.js';
import { FLOW_FEATURE_FIELDS, FlowSeconds, MAX_KNOWN_TOPICS, type FlowRow } from './features.js';

const T0 = Date.UTC(2026, 0, 12, 9, 0, 0);
const SERVER = '10.0.0.1';
const CLIENTS = 10_000;
const PACKETS = FLOW_FEATURE_FIELDS.findIndex((f) => f.name === 'packets');

const client = (i: number): string => `10.1.${i >> 8}.${i & 255}`;
/** Packets client `i` sends in second `s` (1 to 4, different from one client and second to the next). */
const sent = (i: number, s: number): number => 1 + ((i * 7 + s * 3) % 4);

describe('FlowSeconds', () => {
  it('counts each of 10,000 interleaved clients in its own row per second', () => {
    const clock = new PacketClock();
    const flows = new FlowSeconds();
    let wire = 0;
    const analyzer = new Analyzer({
      clock,
      onPacket: (pkt, ms, failed) => flows.onPacket(pkt, ms, failed, wire),
    });
    let frame = 0;
    const send = (ms: number, data: Buffer): void => {
      const raw = capturedFrame(++frame, Math.floor(ms / 1000), (ms % 1000) * 1e6, data);
      wire = data.length;
      clock.observe(raw.tsSec, raw.tsNsec);
      analyzer.handle(raw);
    };
    for (let s = 0; s < 2; s++) {
      // round-robin over the clients, each until it has sent its packets of the second
      for (let round = 0; round < 4; round++) {
        for (let i = 0; i < CLIENTS; i++) {
          if (round >= sent(i, s)) continue;
          const ms = T0 + s * 1000 + round * 200 + Math.floor(i / 100);
          send(
            ms,
            tcpFrame({ src: client(i), dst: SERVER, sport: 40_000 + (i % 20_000), dport: 502, flags: 0x10 }),
          );
        }
      }
    }

    const rows: FlowRow[] = flows.take(Math.floor(T0 / 1000) + 2);

    expect(rows).toHaveLength(2 * CLIENTS);
    const got = new Map(rows.map((r) => [`${r.sec}|${r.client}>${r.server}`, r.x[PACKETS]!]));
    for (let s = 0; s < 2; s++) {
      for (let i = 0; i < CLIENTS; i++) {
        expect(got.get(`${Math.floor(T0 / 1000) + s}|${client(i)}>${SERVER}`)).toBeCloseTo(
          Math.log1p(sent(i, s)),
          5,
        );
      }
    }
  });

  it('keeps the frames of two captures with the same numbers and times in their own rows', () => {
    // Two pipelines (as a baseline capture and the live one) hand over frame 1 at the same packet time, a Modbus
    // request each (its event, then the frame): each frame's packet and PDU belong to its own client.
    const clock = new PacketClock();
    const flows = new FlowSeconds();
    const analyzers = ['10.9.0.1', '10.9.0.2'].map(() => {
      let wire = 0;
      const a = new Analyzer({
        clock,
        onEvent: (e) => flows.onEvent(e, a.pipeline.packet, clock.now()),
        onPacket: (pkt, ms, failed) => flows.onPacket(pkt, ms, failed, wire),
      });
      return { a, setWire: (n: number): void => void (wire = n) };
    });
    const request = mbap(1, 1, [3, 0, 0, 0, 10]);
    ['10.9.0.1', '10.9.0.2'].forEach((src, k) => {
      const data = tcpFrame({ src, dst: SERVER, sport: 40_000, dport: 502, flags: 0x18, payload: request });
      const raw = capturedFrame(1, Math.floor(T0 / 1000), 0, data);
      clock.observe(raw.tsSec, raw.tsNsec);
      analyzers[k]!.setWire(data.length);
      analyzers[k]!.a.handle(raw);
    });

    const rows = flows.take(Math.floor(T0 / 1000) + 1);

    const reads = FLOW_FEATURE_FIELDS.findIndex((f) => f.name === 'modbus_reads');
    expect(rows.map((r) => [r.client, r.x[PACKETS], r.x[reads]])).toEqual([
      ['10.9.0.1', Math.fround(Math.log1p(1)), Math.fround(Math.log1p(1))],
      ['10.9.0.2', Math.fround(Math.log1p(1)), Math.fround(Math.log1p(1))],
    ]);
  });
});

const NEW_TOPICS = FLOW_FEATURE_FIELDS.findIndex((f) => f.name === 'mqtt_new_topics');
const BROKER = '10.0.0.9';

/** Feeds MQTT PUBLISHes (one per 10 ms of second `sec`) through an Analyzer into `flows`; returns the second's rows. */
function publishes(
  flows: FlowSeconds,
  sec: number,
  msgs: readonly { client: string; topic: string; fromBroker?: boolean }[],
): FlowRow[] {
  const clock = new PacketClock();
  let wire = 0;
  const analyzer = new Analyzer({
    clock,
    onEvent: (e) => flows.onEvent(e, analyzer.pipeline.packet, clock.now()),
    onPacket: (pkt, ms, failed) => flows.onPacket(pkt, ms, failed, wire),
  });
  const seq = new Map<string, number>();
  msgs.forEach((m, i) => {
    const payload = mqttPublish(m.topic, Buffer.from('21.5'));
    const key = `${m.client}${m.fromBroker === true ? '<' : '>'}`;
    const s = seq.get(key) ?? 1;
    seq.set(key, s + payload.length);
    const ends = { src: m.client, dst: BROKER, sport: 40_000, dport: 1883 };
    const data = tcpFrame(
      m.fromBroker === true
        ? { src: BROKER, dst: m.client, sport: 1883, dport: 40_000, seq: s, payload }
        : { ...ends, seq: s, payload },
    );
    const raw = capturedFrame(i + 1, Math.floor(T0 / 1000) + sec, i * 10_000_000, data);
    clock.observe(raw.tsSec, raw.tsNsec);
    wire = data.length;
    analyzer.handle(raw);
  });
  return flows.take(Math.floor(T0 / 1000) + sec + 1);
}

const newTopicsOf = (rows: FlowRow[], client: string): number | undefined =>
  rows.find((r) => r.client === client)?.x[NEW_TOPICS];

describe('FlowSeconds: mqtt_new_topics', () => {
  it('counts publishes on topics the client never published on while learning, not its learnt ones', () => {
    const flows = new FlowSeconds();
    const learnt = publishes(flows, 0, [
      { client: '10.1.0.1', topic: 'plant/tank1/level' },
      { client: '10.1.0.2', topic: 'plant/tank2/level' },
    ]);
    flows.learning = false;

    const rows = publishes(flows, 1, [
      { client: '10.1.0.1', topic: 'plant/tank1/level' },
      // another sensor's topic (learnt, but for 10.1.0.2), twice, and a topic nobody used
      { client: '10.1.0.1', topic: 'plant/tank2/level' },
      { client: '10.1.0.1', topic: 'plant/tank2/level' },
      { client: '10.1.0.2', topic: 'plant/tank2/level' },
      { client: '10.1.0.3', topic: 'plant/valve/cmd' },
    ]);

    expect(learnt.map((r) => r.x[NEW_TOPICS])).toEqual([0, 0]);
    expect(newTopicsOf(rows, '10.1.0.1')).toBeCloseTo(Math.log1p(2), 5);
    expect(newTopicsOf(rows, '10.1.0.2')).toBe(0);
    expect(newTopicsOf(rows, '10.1.0.3')).toBeCloseTo(Math.log1p(1), 5);
  });

  it("does not count the broker's publishes to a subscriber as the subscriber's own", () => {
    const flows = new FlowSeconds();
    publishes(flows, 0, [{ client: '10.1.0.1', topic: 'plant/tank1/level' }]);
    flows.learning = false;

    const rows = publishes(flows, 1, [{ client: '10.1.0.7', topic: 'plant/tank1/level', fromBroker: true }]);

    expect(newTopicsOf(rows, '10.1.0.7')).toBe(0);
    expect(flows.knownTopicList()).toEqual(['10.1.0.1|plant/tank1/level']);
  });

  it('keeps at most MAX_KNOWN_TOPICS client|topic pairs; one it did not keep counts as new afterwards', () => {
    const flows = new FlowSeconds();
    let allKept = true;
    for (let i = 0; i < MAX_KNOWN_TOPICS; i++) allKept = flows.learnTopic('10.1.0.1', `t/${i}`) && allKept;

    const kept = flows.learnTopic('10.1.0.2', 'plant/tank2/level');
    publishes(flows, 0, [{ client: '10.1.0.3', topic: 'plant/tank3/level' }]);
    flows.learning = false;
    const rows = publishes(flows, 1, [
      { client: '10.1.0.3', topic: 'plant/tank3/level' },
      { client: '10.1.0.1', topic: 't/7' },
    ]);

    expect(allKept).toBe(true);
    expect(kept).toBe(false);
    expect(flows.knownTopicList()).toHaveLength(MAX_KNOWN_TOPICS);
    expect(newTopicsOf(rows, '10.1.0.3')).toBeCloseTo(Math.log1p(1), 5);
    expect(newTopicsOf(rows, '10.1.0.1')).toBe(0);
  });

  it('restores the learnt topics from their stored client|topic form (IPv6 clients, topics with a bar)', () => {
    const flows = new FlowSeconds();
    publishes(flows, 0, [
      { client: '10.1.0.1', topic: 'plant/a|b' },
      { client: '10.1.0.2', topic: 'plant/tank2/level' },
    ]);
    flows.learnTopic('fd00::1', 'plant/x');
    const stored = flows.knownTopicList();

    const restored = new FlowSeconds();
    restored.addKnownTopics(stored);
    restored.learning = false;
    const rows = publishes(restored, 1, [
      { client: '10.1.0.1', topic: 'plant/a|b' },
      { client: '10.1.0.2', topic: 'plant/a|b' },
    ]);

    expect(restored.knownTopicList().sort()).toEqual(
      ['10.1.0.1|plant/a|b', '10.1.0.2|plant/tank2/level', 'fd00::1|plant/x'].sort(),
    );
    expect(newTopicsOf(rows, '10.1.0.1')).toBe(0);
    expect(newTopicsOf(rows, '10.1.0.2')).toBeCloseTo(Math.log1p(1), 5);
  });
});
