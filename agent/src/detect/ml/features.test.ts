// FlowSeconds on real decoded frames: many clients' packets interleaved (more pairs than its cache of open
// flow-seconds has slots, so slots are shared and overwritten) still give one row per client -> server and second,
// each with its own counts.
import { describe, expect, it } from 'vitest';
import { PacketClock } from '../../capture/packet-clock.js';
import { Analyzer } from '../../features/analyzer.js';
import { capturedFrame, mbap, tcpFrame } from '../../testing/frames.js';
import { FLOW_FEATURE_FIELDS, FlowSeconds, type FlowRow } from './features.js';

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
