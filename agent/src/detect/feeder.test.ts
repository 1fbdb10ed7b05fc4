// Model detectors answer asynchronously; the FrameFeeder holds later frames until they have, so a detection lands
// in the correlator at the packet time it was asked (not thousands of frames later, at the end of a read chunk).
import { describe, expect, it } from 'vitest';
import { PacketClock } from '../capture/packet-clock.js';
import { LinkType, type RawPacket } from '../capture/types.js';
import { DetectionEngine } from './engine.js';
import { FrameFeeder } from './feeder.js';
import { runScenario } from './scenario.js';
import type { Detection, Detector, WindowView } from './types.js';

class SlowDetector implements Detector {
  readonly name = 'slow';
  readonly layer = 1 as const;
  askedAt = -1;
  async detect(w: WindowView): Promise<Detection[]> {
    await new Promise((r) => setTimeout(r, 5));
    if (this.askedAt >= 0 || w.baseline.learning) return [];
    this.askedAt = w.nowMs;
    return [
      {
        detector: 'slow',
        layer: 1,
        rule: 'test',
        technique: 'T0846',
        confidence: 0.95,
        timeMs: w.nowMs,
        frame: 1,
        src: '10.0.0.99',
        dst: '10.0.0.1',
        evidence: 'test',
        features: {},
      },
    ];
  }
}

describe('FrameFeeder', () => {
  it('an asynchronous detection is decided at the packet time it was asked', async () => {
    const slow = new SlowDetector();
    const r = await runScenario({
      topology: 'water-a',
      seed: 3,
      durationS: 40,
      learnS: 20,
      attacks: [],
      detectors: [slow],
    });

    const a = r.alerts.find((x) => x.sources.some((s) => s.model_name === 'slow/test'));
    expect(slow.askedAt).toBeGreaterThan(0);
    expect(a).toBeDefined();
    expect(Date.parse(a!.timestamp) - slow.askedAt).toBeLessThan(1000);
  });

  it('frames that wait for an answer are handed over later with their own bytes, short and long ones', async () => {
    const clock = new PacketClock();
    const engine = new DetectionEngine({
      facility: 'f',
      clock,
      learnMs: 0,
      detectors: [new SlowDetector()],
      onAlert: () => undefined,
    });
    const seen: { frame: number; bytes: number[]; ms: number }[] = [];
    const feeder = new FrameFeeder(engine, clock, (raw) => {
      seen.push({
        frame: raw.frame,
        bytes: [...raw.buf.subarray(raw.off, raw.off + raw.capLen)],
        ms: clock.now(),
      });
      engine.handle(raw);
    });
    // one reused read buffer, as a capture reader hands frames over; sizes on both sides of the short-frame copy
    const buf = Buffer.alloc(2000);
    const sizes = [60, 1, 255, 256, 257, 1514, 60];
    const sent: number[][] = [];
    sizes.forEach((size, i) => {
      for (let k = 0; k < size; k++) buf[7 + k] = (i * 31 + k * 7) & 0xff;
      sent.push([...buf.subarray(7, 7 + size)]);
      const raw: RawPacket = {
        frame: i + 1,
        tsSec: 1_700_000_000,
        tsNsec: i * 1000,
        linkType: LinkType.ETHERNET,
        buf,
        off: 7,
        capLen: size,
        origLen: size,
      };
      feeder.push(raw);
    });

    expect(feeder.queued).toBe(sizes.length - 1);
    await feeder.drain();
    expect(seen.map((x) => x.frame)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(seen.map((x) => x.bytes)).toEqual(sent);
    expect(seen.map((x) => x.ms)).toEqual(sizes.map((_, i) => 1_700_000_000_000 + i / 1000));
  });
});
