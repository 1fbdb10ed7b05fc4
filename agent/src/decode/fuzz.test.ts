// Fuzz: seeded mutations of the shared captures' frames through the whole decode pipeline, and of the capture files
// through the reader. No exception may escape, no internal error may be counted, and state stays within its bounds.
// VIGIL_FUZZ_PACKETS sets the number of mutated packets (default 1,000,000); VIGIL_FUZZ_SEED the seed.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { needComponent } from '@vigil/shared/testing';
import { PacketClock } from '../capture/packet-clock.js';
import { CaptureParser } from '../capture/pcap.js';
import { LinkType, type RawPacket } from '../capture/types.js';
import { sharedCaptures } from '../testing-paths.js';
import { Rng } from '../sim/prng.js';
import { DecodePipeline } from './pipeline.js';

const PACKETS = Number(process.env.VIGIL_FUZZ_PACKETS ?? 1_000_000);
const SEED = Number(process.env.VIGIL_FUZZ_SEED ?? 0x5eed);
const MAX_FLOWS = 4096;
const MAX_FLOW_BUFFER = 4096;

/** Seeded integers in [0, n), from the simulator's generator. */
function rng(seed: number): (n: number) => number {
  const g = new Rng(seed, 'fuzz');
  return (n) => g.int(n);
}

/** Every frame of every shared capture, copied out. */
function loadFrames(files: string[]): Buffer[] {
  const frames: Buffer[] = [];
  for (const f of files) {
    const p = new CaptureParser({
      file: f,
      onPacket: (r) => frames.push(Buffer.from(r.buf.subarray(r.off, r.off + r.capLen))),
    });
    p.push(readFileSync(f));
    p.end();
  }
  return frames;
}

const INTERESTING = [0, 1, 2, 6, 0x7f, 0x80, 0xfe, 0xff];
const LINK_TYPES = [
  LinkType.ETHERNET,
  LinkType.LINUX_SLL,
  LinkType.LINUX_SLL2,
  LinkType.RAW,
  LinkType.NULL,
  999,
];

const captures = sharedCaptures();
const havePcaps = needComponent('shared captures', captures.length > 0, 'expected at ../shared/pcaps');

describe.skipIf(!havePcaps)('fuzzing with mutated shared captures', () => {
  it(`decodes ${PACKETS} mutated packets without an exception, an internal error or unbounded state`, () => {
    const frames = loadFrames(captures);
    expect(frames.length).toBeGreaterThan(100_000);
    const r = rng(SEED);
    const clock = new PacketClock();
    let events = 0;
    const pipeline = new DecodePipeline({
      clock,
      onEvent: () => events++,
      maxFlows: MAX_FLOWS,
      maxFlowBuffer: MAX_FLOW_BUFFER,
      idleTimeoutMs: 60_000,
    });
    const scratch = Buffer.alloc(4096);
    const raw: RawPacket = {
      frame: 0,
      tsSec: 0,
      tsNsec: 0,
      linkType: 1,
      buf: scratch,
      off: 0,
      capLen: 0,
      origLen: 0,
    };
    const rssBefore = process.memoryUsage().rss;
    for (let i = 0; i < PACKETS; i++) {
      const src = frames[r(frames.length)] ?? Buffer.alloc(0);
      let len = Math.min(src.length, 2048);
      src.copy(scratch, 0, 0, len);
      const kind = r(100);
      if (kind < 40) {
        for (let k = 1 + r(4); k > 0; k--) {
          const at = r(len || 1);
          scratch[at] = (scratch[at] ?? 0) ^ (1 << r(8));
        }
      } else if (kind < 60) {
        for (let k = 1 + r(3); k > 0; k--) scratch[r(len || 1)] = INTERESTING[r(INTERESTING.length)] ?? 0;
      } else if (kind < 75) {
        len = r(len + 1);
      } else if (kind < 85) {
        // The MBAP length and protocol id of a Modbus frame without options (14 + 20 + 20 bytes of headers).
        scratch[54 + 2 + r(4)] = r(256);
      } else if (kind < 95) {
        const extra = r(64);
        for (let k = 0; k < extra; k++) scratch[len + k] = r(256);
        len += extra;
      } else {
        // TCP sequence numbers: out of window, overlapping, wrapping.
        scratch.writeUInt32BE(r(0x100000000), 38);
      }
      raw.frame = i + 1;
      raw.tsSec = 1_600_000_000 + (i >> 10);
      raw.linkType = r(20) === 0 ? (LINK_TYPES[r(LINK_TYPES.length)] ?? 1) : LinkType.ETHERNET;
      raw.capLen = len;
      raw.origLen = len;
      clock.observe(raw.tsSec, 0);
      pipeline.handle(raw);
    }
    const s = pipeline.stats();
    expect(s.counters.internal_error, JSON.stringify(s.internalError)).toBeUndefined();
    expect(s.frames).toBe(PACKETS);
    expect(s.flows.active).toBeLessThanOrEqual(MAX_FLOWS);
    expect(events).toBeGreaterThan(0);
    // Bounded state: the flow table and buffers are preallocated or capped; 1M packets must not grow the process.
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(256 * 1024 * 1024);
  });

  it('reads mutated and arbitrarily chunked capture files without an exception', () => {
    const r = rng(SEED + 1);
    const small = captures.map((f) => readFileSync(f)).filter((b) => b.length < 64 * 1024);
    let frames = 0;
    let stopped = 0;
    for (let i = 0; i < 2000; i++) {
      const file = Buffer.from(small[r(small.length)] ?? Buffer.alloc(0));
      for (let k = 1 + r(8); k > 0; k--) file[r(file.length)] = r(256);
      const cut = r(4) === 0 ? file.subarray(0, r(file.length)) : file;
      const p = new CaptureParser({ file: `mutant-${i}`, onPacket: () => frames++ });
      for (let o = 0; o < cut.length;) {
        const n = 1 + r(4096);
        p.push(cut.subarray(o, o + n));
        o += n;
      }
      if (p.end().stopped) stopped++;
    }
    expect(frames).toBeGreaterThan(0);
    expect(stopped).toBeGreaterThan(0);
  });
});
