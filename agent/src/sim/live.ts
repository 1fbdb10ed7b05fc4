// Feeds a simulation at a chosen speed: 1 plays simulated time as wall time (a live plant for the demo), 10 plays
// it ten times faster, Infinity as fast as it can be generated (yielding to the event loop now and then). Packet
// timestamps stay simulated; the wall clock only decides when each frame is handed over.
import { setTimeout as sleep } from 'node:timers/promises';
import type { SimFrame, Simulator } from './simulator.js';

export interface PaceOptions {
  /** Simulated seconds per wall second (> 0; Infinity for no pacing). */
  speed: number;
  signal?: AbortSignal | undefined;
  /** Wall clock in milliseconds (default performance.now). */
  wallMs?: (() => number) | undefined;
}

/** Frames handed over between two yields to the event loop when not pacing. */
const UNPACED_BATCH = 4096;

export async function* paced(sim: Simulator, opts: PaceOptions): AsyncGenerator<SimFrame> {
  if (!(opts.speed > 0)) throw new Error(`speed must be positive, got ${opts.speed}`);
  const wall = opts.wallMs ?? (() => performance.now());
  const w0 = wall();
  let s0: number | undefined;
  let n = 0;
  for (let f = sim.next(); f !== undefined; f = sim.next()) {
    if (opts.signal?.aborted) return;
    s0 ??= f.tUs;
    if (Number.isFinite(opts.speed)) {
      const due = w0 + (f.tUs - s0) / 1000 / opts.speed;
      const wait = due - wall();
      // Sleep only for waits worth a timer; shorter ones are released with the frames around them.
      if (wait >= 2) {
        try {
          await sleep(wait, undefined, { signal: opts.signal });
        } catch {
          return; // aborted
        }
      }
    } else if (++n % UNPACED_BATCH === 0) {
      await sleep(0);
    }
    yield f;
  }
}
