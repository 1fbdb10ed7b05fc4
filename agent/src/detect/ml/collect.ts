// Training data from frames (a simulation or a capture): the same analyzer, flow-second rows and window steps the
// detector sees, plus per-row labels (the simulator's per-frame labels, or a capture's label file). Used by
// `npm run train`, `vigil-agent models train`, the evaluation and the federated-learning client.
import { PacketClock } from '../../capture/packet-clock.js';
import type { RawPacket } from '../../capture/types.js';
import { readCaptureFile } from '../../capture/source.js';
import { Analyzer } from '../../features/analyzer.js';
import { Simulator } from '../../sim/simulator.js';
import { RawFrames } from '../../sim/raw-frames.js';
import type { AttackSpec } from '../../sim/attacks.js';
import { FlowSeconds, type FlowRow } from './features.js';
import { StepHistory } from './history.js';

export interface Collected {
  /** Every flow-second row, in time order, labelled with its majority technique (undefined = normal). */
  rows: FlowRow[];
  /** The window steps of every second from the first. */
  history: StepHistory;
  firstSec: number;
  /** Seconds (from the first) during which the flows' pairs were learnt as known. */
  learnS: number;
  /** Seconds that carried at least one labelled frame. */
  labelledSecs: Set<number>;
  knownPairs: Set<string>;
  knownServices: Set<string>;
  /** `client|topic` MQTT topics published while learning (FlowSeconds.knownTopicList). */
  knownTopics: string[];
  frames: number;
}

export class Collector {
  readonly clock = new PacketClock();
  readonly flows = new FlowSeconds();
  readonly history = new StepHistory();
  readonly rows: FlowRow[] = [];
  readonly labelledSecs = new Set<number>();
  private readonly analyzer: Analyzer;
  private wire = 0;
  private sec = -1;
  private firstSec = -1;
  frames = 0;

  /** `learnS`: seconds from the first frame during which pairs and services are learnt as known. */
  constructor(private readonly learnS: number) {
    this.analyzer = new Analyzer({
      clock: this.clock,
      onEvent: (e) => this.flows.onEvent(e, this.analyzer.pipeline.packet, this.clock.now()),
      onPacket: (pkt, ms, failed) => this.flows.onPacket(pkt, ms, failed, this.wire),
    });
  }

  handle(raw: RawPacket, technique: string | undefined): void {
    this.frames++;
    this.clock.observe(raw.tsSec, raw.tsNsec);
    const now = this.clock.now();
    const sec = Math.floor(now / 1000);
    if (this.firstSec < 0) this.firstSec = sec;
    this.wire = raw.origLen;
    this.flows.label = technique;
    if (technique !== undefined) this.labelledSecs.add(sec);
    this.analyzer.handle(raw);
    if (sec !== this.sec) this.second(sec);
  }

  private second(sec: number): void {
    this.sec = sec;
    this.flows.learning = sec - this.firstSec < this.learnS;
    for (const r of this.flows.take(sec)) this.rows.push(r);
    this.history.advance(this.analyzer.window, sec);
  }

  finish(): Collected {
    this.second(this.sec + 1);
    return {
      rows: this.rows,
      history: this.history,
      firstSec: this.firstSec,
      learnS: this.learnS,
      labelledSecs: this.labelledSecs,
      knownPairs: this.flows.knownPairs,
      knownServices: this.flows.knownServices,
      knownTopics: this.flows.knownTopicList(),
      frames: this.frames,
    };
  }
}

export interface SimRun {
  topology: string;
  seed: number;
  durationS: number;
  learnS: number;
  attacks: readonly AttackSpec[];
}

/** Simulates a plant and collects its rows, labelled with the simulator's per-frame techniques. */
export function collectSimulation(run: SimRun): Collected {
  const sim = new Simulator({
    topology: run.topology,
    seed: run.seed,
    startMs: Date.UTC(2026, 0, 5 + (run.seed % 5), 8, 0, 0),
    durationS: run.durationS,
    attacks: run.attacks,
  });
  const c = new Collector(run.learnS);
  const frames = new RawFrames();
  let n = 0;
  for (const f of sim) {
    const raw = frames.of(f, ++n);
    c.handle(raw, f.label?.technique);
  }
  return c.finish();
}

/**
 * Collects a capture file; `labelOf(frame)` gives a frame's label (undefined = normal), `maxSeconds` stops after
 * that many seconds of packet time.
 */
export async function collectCapture(
  file: string,
  o: {
    learnS: number;
    labelOf?: (frame: number) => string | undefined;
    maxSeconds?: number | undefined;
    /** Pairs and services known from an earlier baseline (as a detector loaded with it knows them). */
    known?:
      | { pairs: Iterable<string>; services: Iterable<string>; topics?: Iterable<string> | undefined }
      | undefined;
  },
): Promise<Collected> {
  const c = new Collector(o.learnS);
  for (const p of o.known?.pairs ?? []) c.flows.knownPairs.add(p);
  for (const s of o.known?.services ?? []) c.flows.knownServices.add(s);
  c.flows.addKnownTopics(o.known?.topics ?? []);
  let startMs = -1;
  await readCaptureFile(file, {
    onPacket: (p) => {
      const ms = p.tsSec * 1000 + p.tsNsec / 1e6;
      if (startMs < 0) startMs = ms;
      if (o.maxSeconds !== undefined && ms - startMs >= o.maxSeconds * 1000) return;
      c.handle(p, o.labelOf?.(p.frame));
    },
  });
  return c.finish();
}
