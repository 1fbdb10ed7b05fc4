// The plant traffic simulator: a topology's normal traffic plus injected attacks, as a time-ordered stream of
// Ethernet frames with per-frame labels. Deterministic: the same options give byte-identical frames. Time is
// simulated (from `start`), never the wall clock; `next()` generates on demand, so a consumer can write a pcap,
// feed the pipeline as fast as it can, or pace the stream at 1x speed (see live.ts).
import { attackDef, type AttackSpec } from './attacks.js';
import { Engine, type SimFrame } from './engine.js';
import { startBackground, type Background } from './normal.js';
import { Rng } from './prng.js';
import { buildPlant, topologySpec, type Plant } from './topology.js';

export type { SimFrame } from './engine.js';

export interface SimulatorOptions {
  /** Topology name (see TOPOLOGY_NAMES). */
  topology: string;
  seed: number;
  /** Simulated start time, milliseconds since the epoch. */
  startMs: number;
  /** Length of the simulation in seconds; undefined runs until the consumer stops. */
  durationS?: number | undefined;
  attacks?: readonly AttackSpec[] | undefined;
  /** Generate the plant's normal traffic (default true); false gives the attacks alone, for labeled examples. */
  background?: boolean | undefined;
}

/** An injected attack's time span in simulated microseconds. */
export interface AttackWindow {
  spec: AttackSpec;
  source: string;
  startUs: number;
  endUs: number;
  techniques: readonly string[];
  /** The engine group of the attack's work (see stopAttacks). */
  group: number;
}

export class Simulator implements Iterable<SimFrame> {
  readonly plant: Plant;
  readonly startUs: number;
  readonly endUs: number | undefined;
  readonly attacks: AttackWindow[] = [];
  private readonly engine: Engine;
  private readonly rng: Rng;
  private background: Background | undefined;

  constructor(opts: SimulatorOptions) {
    this.startUs = Math.round(opts.startMs) * 1000;
    this.endUs = opts.durationS === undefined ? undefined : this.startUs + Math.round(opts.durationS * 1e6);
    this.engine = new Engine(this.startUs, this.endUs);
    this.rng = new Rng(opts.seed, `vigil-sim:${opts.topology}`);
    this.plant = buildPlant(topologySpec(opts.topology), this.rng.fork('plant'), this.startUs);
    if (opts.background !== false) {
      this.background = startBackground({
        engine: this.engine,
        plant: this.plant,
        rng: this.rng.fork('background'),
        startUs: this.startUs,
      });
    }
    for (const a of opts.attacks ?? []) this.inject(a);
  }

  /** Simulated time of the generator (µs since the epoch). */
  get nowUs(): number {
    return this.engine.nowUs;
  }

  /**
   * Schedules an attack `spec.atS` seconds after the simulation start (not before the current simulated time, so a
   * live simulation can inject one at any moment). Returns its window. Throws when the topology lacks what the
   * attack needs (an MQTT attack where there is no broker).
   */
  inject(spec: AttackSpec): AttackWindow {
    const def = attackDef(spec.attack);
    if (def.needs === 'broker' && this.plant.broker === undefined) {
      throw new Error(
        `attack ${spec.attack} needs an MQTT broker and topology ${this.plant.spec.name} has none`,
      );
    }
    // Each attack draws from its own stream, named by its position: adding one never changes the others.
    const rng = this.rng.fork(`attack:${this.attacks.length}:${spec.attack}`);
    const startUs = Math.max(this.startUs + Math.round(spec.atS * 1e6), this.engine.nowUs);
    const endUs = startUs + Math.round((spec.durationS ?? def.defaultDurationS) * 1e6);
    const src = spec.src === undefined ? def.defaultSource(this.plant, rng) : this.plant.host(spec.src);
    const group = this.engine.newGroup();
    const w: AttackWindow = { spec, source: src.ip, startUs, endUs, techniques: def.techniques, group };
    this.attacks.push(w);
    this.engine.at(
      startUs,
      () =>
        def.run({
          engine: this.engine,
          plant: this.plant,
          rng,
          name: spec.attack,
          startUs,
          endUs,
          src,
          target: spec.target,
          rate: spec.rate ?? 1,
          background: this.background,
        }),
      group,
    );
    return w;
  }

  /**
   * Stops every attack injected so far, midway if it runs: its pending frames and further steps are dropped (a live
   * simulation's "reset"). Returns how many were still running or due at the current simulated time.
   */
  stopAttacks(): number {
    let stopped = 0;
    for (const a of this.attacks) {
      if (a.endUs > this.engine.nowUs) stopped++;
      this.engine.cancel(a.group);
    }
    return stopped;
  }

  next(): SimFrame | undefined {
    return this.engine.next();
  }

  *[Symbol.iterator](): Iterator<SimFrame> {
    for (let f = this.next(); f !== undefined; f = this.next()) yield f;
  }
}
