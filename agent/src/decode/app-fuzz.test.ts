// Fuzz of the MQTT, DNS and HTTP decoders: seeded mutations (bit flips, byte overwrites, truncation, length-field
// lies, appended junk) of a mixed session's frames through the whole pipeline, plus the targeted attacks the issue
// names - MQTT remaining-length overflow, DNS compression loops and endless HTTP headers - at every split point.
// No exception may escape, no internal error may be counted, state stays bounded, and the attacks are counted as
// malformed input. VIGIL_APP_FUZZ_PACKETS sets the number of mutated packets (default 300,000; ~5 s).
import { describe, expect, it } from 'vitest';
import { capturedFrame, tcpFrame } from '../testing/frames.js';
import { decodeFrames } from '../testing/harness.js';
import { mixedSession } from '../testing/mixed-session.js';
import { PacketClock } from '../capture/packet-clock.js';
import { Rng } from '../sim/prng.js';
import { DecodePipeline } from './pipeline.js';

const PACKETS = Number(process.env.VIGIL_APP_FUZZ_PACKETS ?? 300_000);
const SEED = 0xa99f;
const MAX_FLOWS = 1024;
const MAX_FLOW_BUFFER = 4096;

/** Seeded integers in [0, n), from the simulator's generator. */
function rng(seed: number): (n: number) => number {
  const g = new Rng(seed, 'fuzz');
  return (n) => g.int(n);
}

/** Payload starts in the session's frames (Ethernet 14 + IPv4 20 + TCP 20 or UDP 8). */
const L4 = 34;

function mutate(src: Buffer, r: (n: number) => number): Buffer {
  const b = Buffer.from(src);
  const payload = b[L4 - 11] === 17 ? L4 + 8 : L4 + 20;
  const n = 1 + r(4);
  for (let k = 0; k < n; k++) {
    const where = payload + r(Math.max(1, b.length - payload));
    switch (r(6)) {
      case 0:
        b[where] = (b[where] ?? 0) ^ (1 << r(8));
        break;
      case 1:
        b[where] = r(256);
        break;
      case 2:
        // Length fields lie: MQTT's varint byte, DNS counts, HTTP digits all live in the first bytes.
        b[payload + r(6)] = [0xff, 0x80, 0, 0xc0, 0x39][r(5)] ?? 0;
        break;
      case 3:
        return b.subarray(0, Math.max(payload, where));
      case 4:
        // A random port swap moves the payload to another decoder.
        b.writeUInt16BE([502, 1883, 53, 80][r(4)] ?? 80, L4 + 2);
        break;
      default:
        return Buffer.concat([b, Buffer.from(Array.from({ length: 1 + r(64) }, () => r(256)))]);
    }
  }
  return b;
}

describe('fuzzing the MQTT, DNS and HTTP decoders', () => {
  it(`decodes ${PACKETS} mutated packets without an exception, an internal error or unbounded state`, () => {
    const session = mixedSession().map((s) => s.frame);
    const r = rng(SEED);
    const clock = new PacketClock();
    let events = 0;
    const pipeline = new DecodePipeline({
      clock,
      onEvent: () => events++,
      maxFlows: MAX_FLOWS,
      maxFlowBuffer: MAX_FLOW_BUFFER,
    });
    const heap0 = process.memoryUsage().heapUsed;
    for (let i = 0; i < PACKETS; i++) {
      const base = session[i % session.length] ?? Buffer.alloc(0);
      const buf = r(4) === 0 ? base : mutate(base, r);
      // New client ports now and then, so flows come and go.
      if (buf.length > L4 + 2 && r(8) === 0) buf.writeUInt16BE(1024 + r(60000), L4);
      clock.observe(1_700_000_000 + Math.floor(i / 1000), (i % 1000) * 1000);
      pipeline.handle(capturedFrame(i + 1, 1_700_000_000, 0, buf));
    }
    const s = pipeline.stats();
    expect(s.internalError).toBeUndefined();
    expect(s.counters.internal_error).toBeUndefined();
    expect(s.flows.active).toBeLessThanOrEqual(MAX_FLOWS);
    expect(events).toBeGreaterThan(PACKETS / 10);
    // Malformed input was seen and counted by each decoder.
    for (const p of ['mqtt.', 'dns.', 'http.'])
      expect(
        Object.keys(s.counters).some((k) => k.startsWith(p)),
        p,
      ).toBe(true);
    // State is bounded: the heap does not grow with the number of packets (generous, GC timing varies).
    expect(process.memoryUsage().heapUsed - heap0).toBeLessThan(200 * 2 ** 20);
  });

  it('counts an MQTT remaining length that overflows four bytes, wherever the segment is split', () => {
    const attack = Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x0f, 0, 0]);
    for (let cut = 1; cut < attack.length; cut++) {
      const C = { src: '10.0.0.1', dst: '10.0.0.2', sport: 40000, dport: 1883 };
      const { pipeline, events } = decodeFrames([
        tcpFrame({ ...C, seq: 1, payload: attack.subarray(0, cut) }),
        tcpFrame({ ...C, seq: 1 + cut, payload: attack.subarray(cut) }),
      ]);
      expect(events, `cut ${cut}`).toEqual([]);
      expect(
        pipeline.stats().counters['mqtt.remaining_length_overflow'],
        `cut ${cut}`,
      ).toBeGreaterThanOrEqual(1);
    }
  });

  it('ends DNS compression loops of every length as malformed input', () => {
    const frames: Buffer[] = [];
    for (let labels = 0; labels < 40; labels++) {
      const h = Buffer.from([0, labels, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
      const body = Buffer.concat([
        ...Array.from({ length: labels }, () => Buffer.from([1, 0x61])),
        Buffer.from([0xc0, 12 + (labels > 0 ? 2 * (labels - 1) : 0)]),
        Buffer.from([0, 1, 0, 1]),
      ]);
      const payload = Buffer.concat([h, body]);
      const udp = Buffer.alloc(8);
      udp.writeUInt16BE(5000, 0);
      udp.writeUInt16BE(53, 2);
      udp.writeUInt16BE(8 + payload.length, 4);
      const ip = Buffer.alloc(20);
      ip[0] = 0x45;
      ip.writeUInt16BE(28 + payload.length, 2);
      ip[8] = 64;
      ip[9] = 17;
      ip.writeUInt32BE(0x0a000001, 12);
      ip.writeUInt32BE(0x0a000035, 16);
      frames.push(Buffer.concat([Buffer.from([2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 8, 0]), ip, udp, payload]));
    }
    const { pipeline, events } = decodeFrames(frames);
    expect(events).toHaveLength(40);
    expect(pipeline.stats().counters['dns.pointer_loop']).toBe(40);
  });

  it('drops endless HTTP headers after the header limit and keeps decoding the next connection', () => {
    const C = { src: '10.0.0.1', dst: '10.0.0.80', sport: 40000, dport: 80 };
    const frames: Buffer[] = [tcpFrame({ ...C, seq: 1, payload: Buffer.from('GET / HTTP/1.1\r\n') })];
    let seq = 17;
    const line = Buffer.from(`X-Endless: ${'z'.repeat(1000)}\r\n`);
    for (let i = 0; i < 200; i++) {
      frames.push(tcpFrame({ ...C, seq, payload: line }));
      seq += line.length;
    }
    frames.push(
      tcpFrame({ ...C, sport: 40001, seq: 1, payload: Buffer.from('GET /ok HTTP/1.1\r\nHost: x\r\n\r\n') }),
    );
    const { pipeline, events } = decodeFrames(frames, { maxFlowBuffer: 65_536 });
    const c = pipeline.stats().counters;
    expect(c['http.header_too_large']).toBeGreaterThanOrEqual(1);
    expect(events.map((e) => (e.protocol === 'http' ? e.uri : e.protocol))).toEqual(['/ok']);
  });
});
