// Simulated scenarios through the detection engine (no pcap on disk): a plant's normal traffic, a learning period,
// then attacks; returns the alerts and, per attack, its first labeled frame's time. Used by the tests and the eval.
import type { AttackSpec } from '../sim/attacks.js';
import { RawFrames } from '../sim/raw-frames.js';
import { Simulator } from '../sim/simulator.js';
import { PacketClock } from '../capture/packet-clock.js';
import type { Baseline } from './baseline.js';
import type { AgentAlert, Suppression } from './correlate.js';
import { DetectionEngine } from './engine.js';
import { FrameFeeder } from './feeder.js';
import type { Detector } from './types.js';

export interface ScenarioOptions {
  topology: string;
  seed: number;
  /** Length of the simulation (s). */
  durationS: number;
  /** Learning period from the start (s). */
  learnS: number;
  attacks: readonly AttackSpec[];
  suppress?: readonly Suppression[];
  startMs?: number;
  /** Model detectors (loadModelDetectors), learning in the scenario's learning period. */
  detectors?: readonly Detector[] | undefined;
  /** The baseline to start from (e.g. with declared facts, or one loaded from a data dir); default: a new one. */
  baseline?: Baseline | undefined;
}

export interface ScenarioResult {
  alerts: AgentAlert[];
  /** Per attack (same order as the specs): packet time (ms) of its first labeled frame, undefined if none. */
  firstFrameMs: (number | undefined)[];
  frames: number;
  stats: Record<string, unknown>;
  /** The engine's baseline (frozen after the learning period). */
  baseline: Baseline;
}

export async function runScenario(o: ScenarioOptions): Promise<ScenarioResult> {
  const sim = new Simulator({
    topology: o.topology,
    seed: o.seed,
    startMs: o.startMs ?? Date.UTC(2026, 0, 12, 9, 0, 0),
    durationS: o.durationS,
    attacks: o.attacks,
  });
  const clock = new PacketClock();
  const alerts: AgentAlert[] = [];
  const engine = new DetectionEngine({
    facility: `${o.topology}-${o.seed}`,
    clock,
    learnMs: o.learnS * 1000,
    suppress: o.suppress,
    detectors: o.detectors,
    baseline: o.baseline,
    onAlert: (a) => alerts.push(a),
  });
  const feeder = new FrameFeeder(engine, clock);
  const firstFrameMs: (number | undefined)[] = o.attacks.map(() => undefined);
  const frames = new RawFrames();
  let n = 0;
  for (const f of sim) {
    const raw = frames.of(f, ++n);
    if (f.label !== undefined) {
      const i = o.attacks.findIndex((a, k) => a.attack === f.label?.attack && firstFrameMs[k] === undefined);
      if (i >= 0) firstFrameMs[i] = f.tUs / 1000;
    }
    feeder.push(raw);
    if (n % 4096 === 0) await feeder.drain();
  }
  await feeder.drain();
  await engine.finish();
  return { alerts, firstFrameMs, frames: n, stats: engine.stats(), baseline: engine.baseline };
}
