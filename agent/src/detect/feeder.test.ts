// Model detectors answer asynchronously; the FrameFeeder holds later frames until they have, so a detection lands
// in the correlator at the packet time it was asked (not thousands of frames later, at the end of a read chunk).
import { describe, expect, it } from 'vitest';
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
});
