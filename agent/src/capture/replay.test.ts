import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { tcpFrame } from '../testing/frames.js';
import { PacketClock } from './packet-clock.js';
import { pcapHeader, pcapRecord } from './pcap-writer.js';
import { replay } from './replay.js';

const frame = tcpFrame({ sport: 1, dport: 2 });

/** Frames at the given times (seconds), as a pcap stream. */
function capture(times: number[]): Readable {
  return Readable.from([
    Buffer.concat([
      pcapHeader(),
      ...times.map((t) => pcapRecord(Math.floor(t), Math.round((t % 1) * 1e6), frame)),
    ]),
  ]);
}

describe('replay', () => {
  it('moves the packet clock with every frame and reports backward steps and jumps', async () => {
    const clock = new PacketClock();
    const seen: number[] = [];
    const stats = await replay(capture([100, 101, 99, 80_000_101]), {
      file: 't',
      clock,
      handle: () => seen.push(clock.now()),
    });
    expect(seen).toEqual([100_000, 101_000, 101_000, 80_000_101_000]);
    expect(stats).toMatchObject({
      frames: 4,
      timeBackwards: 1,
      timeJumps: 1,
      largestJumpSeconds: 80_000_000,
    });
  });

  it('at recorded speed keeps the spacing of the frames, and shortens long pauses', async () => {
    const t0 = performance.now();
    let n = 0;
    await replay(capture([10, 10.1, 10.2, 90_000_000]), {
      file: 't',
      clock: new PacketClock(),
      handle: () => n++,
      speed: 1,
      maxPauseMs: 150,
    });
    // Three gaps: 100 ms, 100 ms and a jump of years shortened to 150 ms (a lower bound: sleeping can only be late).
    expect(n).toBe(4);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(345);
  });
});
