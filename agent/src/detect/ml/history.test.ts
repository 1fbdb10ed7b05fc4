// The window steps the models read: one per completed second, zeros for a second without traffic, a long pause
// adds one window of empty seconds (not one per second of the pause), and time going back starts afresh.
import { describe, expect, it } from 'vitest';
import { FacilityWindow } from '../../window/window.js';
import { NW, WINDOW_STEPS } from './features.js';
import { StepHistory } from './history.js';

function windowWith(secs: number[]): FacilityWindow {
  const w = new FacilityWindow();
  for (const s of secs) w.addPacket(s * 1000, 100, 1, 2, 0, false);
  return w;
}

describe('StepHistory', () => {
  it('adds each completed second, zeros for quiet ones', () => {
    const h = new StepHistory();
    const w = windowWith([1000, 1002]);
    h.advance(w, 1000);
    h.advance(w, 1003);
    expect(h.length).toBe(3);
    const steps = h.steps(1000, 1003);
    expect(steps[0]).toBeCloseTo(Math.log1p(1));
    expect(Array.from(steps.subarray(NW, 2 * NW)).every((v) => v === 0)).toBe(true);
    expect(steps[2 * NW]).toBeCloseTo(Math.log1p(1));
    expect(h.window(1003)).toBeUndefined();
  });

  it('a pause of a day adds one window of empty seconds; going back in time starts a new history', () => {
    const h = new StepHistory();
    const w = windowWith([1000]);
    h.advance(w, 1000);
    h.advance(w, 1001);
    h.advance(w, 1001 + 86_400);
    expect(h.length).toBe(1 + WINDOW_STEPS);
    expect(h.endSec).toBe(1001 + 86_400);
    expect(h.window(h.endSec)).toHaveLength(WINDOW_STEPS * NW);
    h.advance(w, 500);
    expect(h.length).toBe(0);
  });
});
