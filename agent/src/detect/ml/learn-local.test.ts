// The end of a learning period (learnLocal) scores every window of the period with Layer 1b a bounded number at a
// time, in order, and calibrates the threshold on all of their errors: the same threshold as scoring them at once,
// with memory that does not grow with the period (a day is about 86,000 windows). It keeps evenly strided windows
// for a later recalibration.
import { seededRng } from '@vigil/models';
import { describe, expect, it } from 'vitest';
import { l1bThreshold } from './artifacts.js';
import { learnLocal } from './detector.js';
import { NF, NW, WINDOW_STEPS, standardise } from './features.js';

/** A window's stand-in reconstruction error: a function of its content alone, as the model's is. */
const errorOf = (w: Float32Array): number => w.reduce((s, v, i) => s + v * ((i % 7) + 1), 0) ** 2;

describe('learning the facility baseline', () => {
  it('calibrates Layer 1b on every window of the period, scored a bounded number at a time', async () => {
    const rng = seededRng(17);
    const rows = (n: number): Float32Array[] =>
      Array.from({ length: n }, () => Float32Array.from({ length: NF }, () => rng.next()));
    const seconds = 2_600;
    const steps = Float32Array.from({ length: seconds * NW }, () => rng.normal() * 3 + 1);
    const chunks: number[] = [];
    const scored: number[] = [];
    const far = 0.01;
    const learnt = await learnLocal({
      facility: 'plant-1',
      source: 'test',
      fit: rows(64),
      held: rows(16),
      steps,
      knownPairs: [],
      knownServices: [],
      knownTopics: [],
      far,
      seed: 7,
      l1bErrors: (ws) => {
        chunks.push(ws.length);
        const errs = ws.map(errorOf);
        scored.push(...errs);
        return Promise.resolve(errs);
      },
      fallbackL1bThreshold: 1,
      keepWindows: 100,
    });
    // every window, as the whole period's steps standardised by the learnt scaler, oldest first
    const all: Float32Array[] = [];
    for (let end = WINDOW_STEPS; end <= seconds; end++)
      all.push(standardise(steps.slice((end - WINDOW_STEPS) * NW, end * NW), learnt.meta.scaler));
    expect(learnt.meta.windows).toBe(all.length);
    expect(scored).toEqual(all.map(errorOf));
    expect(Math.max(...chunks)).toBe(1024);
    expect(chunks).toHaveLength(Math.ceil(all.length / 1024));
    expect(learnt.meta.l1bThreshold).toBe(l1bThreshold(all.map(errorOf), far));
    // the kept windows: every ceil(2,541 / 100) = 26th from the first
    expect(learnt.windows).toEqual(all.filter((_, i) => i % 26 === 0));
    expect(learnt.windows.length).toBeLessThanOrEqual(100);
  });

  it('keeps no window unless asked to', async () => {
    const rng = seededRng(3);
    const rows = (n: number): Float32Array[] =>
      Array.from({ length: n }, () => Float32Array.from({ length: NF }, () => rng.next()));
    const learnt = await learnLocal({
      facility: 'plant-1',
      source: 'test',
      fit: rows(64),
      held: rows(16),
      steps: Float32Array.from({ length: 300 * NW }, () => rng.next()),
      knownPairs: [],
      knownServices: [],
      knownTopics: [],
      far: 0.01,
      seed: 7,
      l1bErrors: (ws) => Promise.resolve(ws.map(errorOf)),
      fallbackL1bThreshold: 1,
    });
    expect(learnt.meta.windows).toBe(300 - WINDOW_STEPS + 1);
    expect(learnt.windows).toEqual([]);
  });
});
