// Feeds a simulation at a chosen speed: 1 plays simulated time as wall time (a live plant for the demo), 10 plays
// it ten times faster, Infinity as fast as it can be generated (yielding to the event loop now and then). Packet
// timestamps stay simulated; the wall clock only decides when each frame is handed over. LivePlant is the agent's
// `run --sim` source: a warm-up up to the present, then frames at wall time, with attacks injected on demand.
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import type { Clock } from '@vigil/shared';
import { PacketClock } from '../capture/packet-clock.js';
import type { RawPacket } from '../capture/types.js';
import { ATTACK_NAMES, isAttackName } from './attacks.js';
import { RawFrames } from './raw-frames.js';
import { Simulator, type SimFrame } from './simulator.js';

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

/** The clock of a live plant's pipeline: packet time during the warm-up and the catch-up, then the wall clock. */
export class WarmupClock implements Clock {
  readonly packet = new PacketClock();
  private live = false;

  constructor(private readonly wall: Clock) {}

  now(): number {
    return this.live ? this.wall.now() : this.packet.now();
  }

  goLive(): void {
    this.live = true;
  }
}

export interface LivePlantOptions {
  topology: string;
  seed: number;
  /** Minutes of normal traffic simulated before the present, as fast as possible: the baseline's warm-up. */
  warmupMinutes: number;
  wall: Clock;
}

export interface LivePlantHandlers {
  /** One frame (the RawPacket is reused: copy what must outlive the call); `warmup` while before the present. */
  onFrame: (raw: RawPacket, warmup: boolean) => void;
  /** The warm-up has ended: what follows is live. */
  onLive: () => void;
  /**
   * The frames simulated while the warm-up ran (between its end on the simulated clock and the present) have been
   * handed over, as fast as possible; from here on frames come at their wall time. Until then their packet times, not
   * the wall clock, say when they happened (else seconds of traffic would look like one second's burst).
   */
  onCaughtUp?: () => void;
  /** After a batch of frames (flush alerts with backpressure). */
  afterBatch: () => Promise<void>;
  signal: AbortSignal;
}

/** Attack settings a scenario push may carry (params_json). */
const ScenarioParams = z
  .object({
    src: z.ipv4().optional(),
    target: z.ipv4().optional(),
    duration_s: z.number().positive().max(3600).optional(),
    rate: z.number().positive().max(100).optional(),
  })
  .strict();

/** Names a scenario push may carry besides the simulator's attacks. */
export const RESET_SCENARIO = 'reset';

/**
 * A simulated plant fed live: the simulation starts `warmupMinutes` before the present and runs as fast as it can
 * up to the present (the warm-up, on packet time), then hands each frame over when the wall clock reaches its time.
 * Attacks are injected at the present on demand (the demo's scenarios).
 */
export class LivePlant {
  readonly sim: Simulator;
  /** Wall time (ms) at which the warm-up ends. */
  readonly liveFromMs: number;
  frames = 0;

  constructor(private readonly o: LivePlantOptions) {
    this.liveFromMs = o.wall.now();
    this.sim = new Simulator({
      topology: o.topology,
      seed: o.seed,
      startMs: this.liveFromMs - o.warmupMinutes * 60_000,
    });
  }

  async run(h: LivePlantHandlers): Promise<void> {
    const raw = new RawFrames();
    const liveUs = this.liveFromMs * 1000;
    let warmup = true;
    let caughtUp = false;
    let batch = 0;
    for (let f = this.sim.next(); f !== undefined && !h.signal.aborted; f = this.sim.next()) {
      if (warmup && f.tUs >= liveUs) {
        warmup = false;
        await h.afterBatch();
        h.onLive();
      }
      if (!warmup) {
        const wait = f.tUs / 1000 - this.o.wall.now();
        if (wait >= 0 && !caughtUp) {
          caughtUp = true;
          h.onCaughtUp?.();
        }
        if (wait >= 2) {
          await h.afterBatch();
          batch = 0;
          try {
            await sleep(wait, undefined, { signal: h.signal });
          } catch {
            return; // aborted
          }
        }
      }
      h.onFrame(raw.of(f, ++this.frames), warmup);
      if (++batch >= UNPACED_BATCH) {
        batch = 0;
        await h.afterBatch();
        await sleep(0);
      }
    }
  }

  /**
   * Injects the named attack into the traffic at the present (the wall clock), or stops the injected ones
   * (`reset`). Returns what was done, one line; throws an Error saying why on an unknown name or bad params.
   */
  scenario(name: string, paramsJson: string): string {
    if (name === RESET_SCENARIO) return `stopped ${this.sim.stopAttacks()} running attack(s)`;
    if (!isAttackName(name)) {
      throw new Error(`unknown scenario ${name} (known: ${RESET_SCENARIO}, ${ATTACK_NAMES.join(', ')})`);
    }
    let raw: unknown = {};
    if (paramsJson.trim() !== '') {
      try {
        raw = JSON.parse(paramsJson);
      } catch {
        throw new Error(`scenario ${name}: params_json is not JSON`);
      }
    }
    const p = ScenarioParams.safeParse(raw);
    if (!p.success) {
      const i = p.error.issues[0];
      throw new Error(
        `scenario ${name}: params ${i?.path.join('.') ?? ''}: ${i?.message ?? 'invalid'} (keys: src, target, duration_s, rate)`,
      );
    }
    const atS = (this.o.wall.now() * 1000 - this.sim.startUs) / 1e6;
    const w = this.sim.inject({
      attack: name,
      atS,
      src: p.data.src,
      target: p.data.target,
      durationS: p.data.duration_s,
      rate: p.data.rate,
    });
    return `${name} from ${w.source} for ${Math.round((w.endUs - w.startUs) / 1e6)} s (${w.techniques.join(', ')})`;
  }
}
