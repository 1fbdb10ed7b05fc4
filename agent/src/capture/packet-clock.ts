// The replay clock: time is the packets' own time. It never runs backwards (a frame older than the newest one seen
// leaves it where it is) and it counts both backward steps and forward jumps so that a capture with a broken clock
// is visible in the stats instead of silently expiring or keeping state.
import type { Clock } from '@vigil/shared';

/** A forward step larger than this between consecutive frames is counted as a jump (1 hour). */
export const DEFAULT_JUMP_MS = 3_600_000;

export class PacketClock implements Clock {
  // -0 (equal to 0): epoch milliseconds are doubles to V8, so the field is one from the first clock on (from 0 it
  // would change representation at the first frame, and every object holding a clock made later would make V8
  // drop code compiled for the first).
  private ms = -0;
  private started = false;
  /** Frames whose time was earlier than the newest frame before them. */
  backwards = 0;
  /** Steps forward larger than the jump threshold. */
  jumps = 0;
  /** Largest forward jump seen, in milliseconds. */
  largestJumpMs = 0;

  constructor(private readonly jumpMs = DEFAULT_JUMP_MS) {}

  now(): number {
    return this.ms;
  }

  /** Moves the clock to a frame's time. */
  observe(tsSec: number, tsNsec: number): void {
    const t = tsSec * 1000 + tsNsec / 1e6;
    if (!this.started) {
      this.started = true;
      this.ms = t;
      return;
    }
    const step = t - this.ms;
    if (step < 0) {
      this.backwards++;
      return;
    }
    if (step > this.jumpMs) {
      this.jumps++;
      if (step > this.largestJumpMs) this.largestJumpMs = step;
    }
    this.ms = t;
  }
}
