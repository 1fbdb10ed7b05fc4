// The window's one-second steps as model input: each completed second of the facility window becomes one
// WINDOW_STEP_FIELDS vector (a second without traffic is all zeros), kept in order so the last 60 form Layer 1b's
// sequence. The same code feeds training (collect.ts) and detection (detector.ts), so both see identical steps.
import type { FacilityWindow } from '../../window/window.js';
import { NW, WINDOW_STEPS, standardise, windowStep, type Scaler } from './features.js';

export class StepHistory {
  /** Steps, NW values each, of seconds [firstSec, firstSec + length). */
  private data: Float32Array;
  private n = 0;
  private firstSec = -1;
  /** Keep at most this many seconds (older ones are dropped); Infinity keeps all (training, learning). */
  constructor(private readonly keep = Number.POSITIVE_INFINITY) {
    this.data = new Float32Array(NW * 1024);
  }

  get length(): number {
    return this.n;
  }

  /** The next second to be added. */
  get endSec(): number {
    return this.firstSec + this.n;
  }

  /** Adds the completed seconds before `sec` from the window (a jump back in time starts a new history). */
  advance(w: FacilityWindow, sec: number): void {
    if (this.firstSec < 0 || sec < this.endSec) {
      this.firstSec = sec;
      this.n = 0;
      return;
    }
    // A pause longer than the window (a capture with a hole, or the next capture of a replay) adds one window of
    // empty seconds, not every second of the pause: the held steps move up to the new time.
    if (sec - this.endSec > WINDOW_STEPS) this.firstSec += sec - this.endSec - WINDOW_STEPS;
    for (let s = this.endSec; s < sec; s++) {
      this.ensure(this.n + 1);
      const off = this.n * NW;
      const r = w.row(s);
      if (r === undefined) this.data.fill(0, off, off + NW);
      else windowStep(r, this.data, off);
      this.n++;
    }
    if (this.n > this.keep + 1024) {
      const drop = this.n - this.keep;
      this.data.copyWithin(0, drop * NW, this.n * NW);
      this.n -= drop;
      this.firstSec += drop;
    }
  }

  private ensure(rows: number): void {
    if (rows * NW <= this.data.length) return;
    const next = new Float32Array(Math.max(rows * NW, this.data.length * 2));
    next.set(this.data.subarray(0, this.n * NW));
    this.data = next;
  }

  /**
   * Starts the history over with `steps` (NW values a second, oldest first) as the seconds ending before `endSec`:
   * a learning period's steps resumed after a restart join the seconds after it (the downtime was not traffic).
   */
  restore(steps: Float32Array, endSec: number): void {
    const n = Math.floor(steps.length / NW);
    this.data = new Float32Array(Math.max(NW * 1024, n * NW));
    this.data.set(steps.subarray(0, n * NW));
    this.n = n;
    this.firstSec = endSec - n;
  }

  /** The first second held. */
  get startSec(): number {
    return this.firstSec;
  }

  /** Raw steps of seconds [from, to) (clamped to what is held). */
  steps(from: number, to: number): Float32Array {
    const a = Math.max(0, from - this.firstSec);
    const b = Math.min(this.n, to - this.firstSec);
    return this.data.slice(a * NW, Math.max(a, b) * NW);
  }

  /** The 60 raw steps ending before `endSec` (copy), or undefined when fewer are held. */
  window(endSec: number): Float32Array | undefined {
    const b = endSec - this.firstSec;
    const a = b - WINDOW_STEPS;
    if (a < 0 || b > this.n) return undefined;
    return this.data.slice(a * NW, b * NW);
  }
}

/** The standardised 60-step window ending before `endSec`; seconds not held (the start) count as the mean. */
export function paddedWindow(h: StepHistory, endSec: number, scaler: Scaler): Float32Array {
  const raw = h.steps(endSec - WINDOW_STEPS, endSec);
  const x = new Float32Array(WINDOW_STEPS * NW);
  const pad = WINDOW_STEPS - raw.length / NW;
  for (let t = 0; t < pad; t++) for (let k = 0; k < NW; k++) x[t * NW + k] = scaler.mean[k]!;
  x.set(raw, pad * NW);
  return standardise(x, scaler);
}
