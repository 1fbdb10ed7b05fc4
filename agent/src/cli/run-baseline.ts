// Where `vigil-agent run` gets its baseline for a capture source (--pcap, --interface, --capture-ring), and how the
// one it learns is kept: the baseline stored in the data dir (detect/baseline-file.ts) when there is a good one,
// going straight to detection; else a learning period (the source's first `learn_minutes`, or the capture
// `--baseline`), whose result is stored once it is learnt (BaselineKeeper). The operator's declared facts
// (known_masters, known_modbus) are added at every start, never stored.
//
// Detection-phase traffic never updates the baseline: it is frozen once learnt, so traffic seen while detecting
// (an attacker's too) cannot teach it; a change of the plant is either declared in the config or learnt again
// on purpose (`vigil-agent baseline reset`, then a restart).
//
// A learning period is checkpointed (BaselineKeeper): what was learnt so far is stored every CHECKPOINT_MS of wall
// time and at a clean stop, with how much of the period had run; a restart resumes the period from it with the
// remaining time (the period's length is the config's at that start). Once learnt, the baseline is frozen as before.
// The models' learning is checkpointed with it (detect/models-checkpoint.ts, a file written before baseline.json):
// with the models on, a restart resumes both or, when the models' half is missing or refused, learns both again.
import { Baseline, type DeclaredFacts } from '../detect/baseline.js';
import {
  loadBaseline,
  saveBaseline,
  type LearningProgress,
  type ModelsState,
  type StoredBaseline,
} from '../detect/baseline-file.js';
import type { ModelDetector, ModelLearningState } from '../detect/ml/detector.js';
import { NW } from '../detect/ml/features.js';
import {
  loadModelsCheckpoint,
  removeModelsCheckpoints,
  saveModelsCheckpoint,
  type ModelsCheckpointRef,
} from '../detect/models-checkpoint.js';
import { learnBaseline } from '../detect/replay.js';
import { LIVE_LEARN_MINUTES, PCAP_LEARN_MINUTES, type AgentConfig } from '../config.js';

export interface Learning {
  baseline: Baseline;
  /** Learning period from the first packet (0: the baseline is complete). */
  learnMs: number;
  /** Stores the baseline once learnt (absent: nothing to store). */
  keeper?: BaselineKeeper;
  /** For the agent health: learning (until when), or learnt or loaded from what. */
  status: () => string;
}

export interface LearningContext {
  facility: string;
  /** The agent's data dir: the stored baseline (absent: nothing loaded or stored). */
  dataDir?: string | undefined;
  /** The model detectors (undefined: rules only). */
  models?: readonly ModelDetector[] | undefined;
  /** Wall clock, ms (the live sources' learning period ends on it). */
  now: () => number;
  say: (line: string) => void;
  /** Wall-clock ms between two learning checkpoints (default CHECKPOINT_MS). */
  checkpointMs?: number | undefined;
}

export function declaredFacts(c: AgentConfig): DeclaredFacts {
  return { masters: c.known_masters, pairs: c.known_modbus };
}

function describeDeclared(d: DeclaredFacts): string {
  if (d.masters.length === 0 && d.pairs.length === 0) return '';
  const pairs = d.pairs.map((p) => `${p.master}>${p.slave} (functions ${p.functions.join(',')})`);
  return `declared in the config: master(s) ${[...d.masters, ...pairs].join(', ')}`;
}

const RELEARN = 'vigil-agent baseline reset --data-dir DIR, then restart';

/** The baseline a capture source starts with. */
export async function learningOf(c: AgentConfig, ctx: LearningContext): Promise<Learning> {
  const declared = declaredFacts(c);
  const withDeclared = (b: Baseline): Baseline => {
    b.declare(declared);
    const note = describeDeclared(declared);
    if (note !== '') ctx.say(`baseline facts ${note}`);
    return b;
  };
  const keeper = (source: string, period?: LearningPeriod): BaselineKeeper | undefined =>
    ctx.dataDir === undefined
      ? undefined
      : new BaselineKeeper({ ...ctx, dataDir: ctx.dataDir, source, period });
  if (c.baseline !== undefined) {
    const t0 = performance.now();
    const baseline = await learnBaseline({
      file: c.baseline,
      seconds: c.baseline_seconds,
      facility: ctx.facility,
    });
    ctx.say(
      `baseline learnt from ${c.baseline} in ${Math.round(performance.now() - t0)} ms: ${JSON.stringify(baseline.summary())}`,
    );
    const source = `the capture ${c.baseline}${c.baseline_seconds !== undefined ? ` (first ${c.baseline_seconds} s)` : ''}`;
    const k = keeper(source);
    return { baseline: withDeclared(baseline), learnMs: 0, keeper: k, status: () => learnt(source, k) };
  }
  let resumed: (StoredBaseline & { learning: LearningProgress }) | undefined;
  if (ctx.dataDir !== undefined) {
    const loaded = loadBaseline(ctx.dataDir, ctx.facility);
    const learning = loaded.ok ? loaded.stored.learning : undefined;
    if (loaded.ok && learning !== undefined) {
      resumed = { ...loaded.stored, learning };
    } else if (loaded.ok) {
      const s = loaded.stored;
      const modelsMissing =
        ctx.models !== undefined && s.models.state !== 'failed' && !ctx.models.every((d) => d.servesLocal);
      if (!modelsMissing) {
        ctx.say(
          `baseline loaded from ${s.path} (learnt from ${s.source}, stored ${s.savedAt}): ${JSON.stringify(s.baseline.summary())}; no learning period, detection on (to learn again: ${RELEARN})`,
        );
        if (ctx.models !== undefined && s.models.state === 'failed')
          ctx.say(`models: inactive, they could not learn in that period (${s.models.note})`);
        const status = `loaded from ${s.path} (learnt from ${s.source}, stored ${s.savedAt})`;
        return { baseline: withDeclared(s.baseline), learnMs: 0, status: () => status };
      }
      ctx.say(
        `stored baseline ${s.path} not used: the models' local baseline learnt with it is missing or was refused; learning both again`,
      );
    } else if (!loaded.absent) {
      ctx.say(`stored baseline ${loaded.path} refused: ${loaded.reason}; learning again`);
    }
  }
  // (what the models resumed, also in the status the agent's health carries)
  let modelsResumed = '';
  if (resumed !== undefined && ctx.dataDir !== undefined) {
    const r = resumeModels(ctx.dataDir, ctx.facility, resumed, ctx.models);
    if (!r.ok) {
      ctx.say(
        `learning checkpoint ${resumed.path} not resumed: ${r.why}; learning both the baseline and the models again`,
      );
      resumed = undefined;
    } else if (r.note !== '') {
      ctx.say(r.note);
      modelsResumed = `; ${r.note}`;
    }
  }
  const live = c.pcap === undefined;
  const minutes = c.learn_minutes ?? (live ? LIVE_LEARN_MINUTES : PCAP_LEARN_MINUTES);
  const source = live
    ? `the first ${minutes} minute(s) of ${c.interface !== undefined ? `--interface ${c.interface}` : `--capture-ring ${c.capture_ring ?? ''}`}`
    : `the first ${minutes} minute(s) of --pcap ${c.pcap}`;
  const periodMs = minutes * 60_000;
  const priorMs = resumed === undefined ? 0 : Math.min(resumed.learning.learntMs, periodMs);
  const remainingMs = periodMs - priorMs;
  const until = new Date(ctx.now() + remainingMs).toISOString();
  const what =
    resumed === undefined
      ? `learning the baseline from the ${live ? "source's" : "capture's"} first ${minutes} minute(s)`
      : `learning the baseline, resumed from the checkpoint ${resumed.path} (stored ${resumed.savedAt}, learnt from ${resumed.source}): ${fmtMinutes(priorMs)} of ${minutes} minute(s) learnt, ${fmtMinutes(remainingMs)} left`;
  const learning = live ? `${what}, until about ${until}` : `${what} (packet time)`;
  ctx.say(live ? `${learning}: no policy alerts before then` : learning);
  const baseline = withDeclared(resumed?.baseline ?? new Baseline());
  const k = keeper(resumed === undefined ? source : `${source} (resumed after a restart)`, {
    priorMs,
    periodMs,
  });
  return {
    baseline,
    learnMs: remainingMs,
    keeper: k,
    status: () => (baseline.learning ? `${learning}${modelsResumed}${checkpointed(k)}` : learnt(source, k)),
  };
}

/**
 * Resumes the learning models from the checkpoint's models' half: what was resumed, or why not. Nothing to resume
 * when the models are off or serve a local baseline given before; nothing is resumed unless every learner can be.
 */
function resumeModels(
  dataDir: string,
  facility: string,
  stored: StoredBaseline,
  models: readonly ModelDetector[] | undefined,
): { ok: true; note: string } | { ok: false; why: string } {
  const learners = (models ?? []).filter((d) => !d.servesLocal);
  if (learners.length === 0) return { ok: true, note: '' };
  const ref = stored.modelsLearning;
  if (ref === undefined)
    return {
      ok: false,
      why: "it holds no models' learning (stored with the models off, or by an older agent)",
    };
  const loaded = loadModelsCheckpoint(dataDir, ref, facility);
  if (!loaded.ok) return { ok: false, why: `its models' half was refused (${loaded.reason})` };
  if (loaded.states.length !== learners.length)
    return {
      ok: false,
      why: `its models' half holds ${loaded.states.length} detector(s), this agent runs ${learners.length}`,
    };
  for (let i = 0; i < learners.length; i++) {
    const why = learners[i]!.refusesLearning(loaded.states[i]!);
    if (why !== undefined) return { ok: false, why: `its models' half was refused (${why})` };
  }
  learners.forEach((d, i) => d.resumeLearning(loaded.states[i]!));
  return { ok: true, note: `models resumed from ${ref.file}: ${describeModels(loaded.states)}` };
}

/** "N kept learning flow-seconds, M window steps" of the models' learning states. */
function describeModels(states: readonly ModelLearningState[]): string {
  let rows = 0;
  let steps = 0;
  for (const s of states) {
    rows += s.fit.sec.length + s.held.sec.length;
    steps += s.steps.length / NW;
  }
  return `${rows} kept learning flow-second(s), ${steps} window step(s)`;
}

/** Minutes with one decimal (a checkpoint's progress). */
function fmtMinutes(ms: number): string {
  return `${(Math.round(ms / 6_000) / 10).toFixed(1)} min`;
}

function checkpointed(keeper: BaselineKeeper | undefined): string {
  const c = keeper?.checkpointed;
  return c === undefined ? '' : `; last checkpoint ${c}`;
}

function learnt(source: string, keeper: BaselineKeeper | undefined): string {
  const stored = keeper?.stored;
  return `learnt from ${source}${stored !== undefined ? `, stored in ${stored}` : ', not stored'}`;
}

/** Wall-clock time between two checkpoints of a learning period. */
export const CHECKPOINT_MS = 5 * 60_000;

/** A learning period as the keeper checkpoints it: its length and what earlier runs had learnt of it (ms). */
export interface LearningPeriod {
  periodMs: number;
  priorMs: number;
}

/** What the keeper asks of the detection engine: its baseline and how long this run has been learning. */
export interface LearningEngine {
  baseline: Baseline;
  learningElapsedMs(): number;
}

/**
 * Stores the baseline once its learning period is over and the models have learnt theirs (their local baseline
 * first, the rules' file last: a start finds both or relearns). While the period runs, stores a checkpoint every
 * `checkpointMs` of wall time and when the source ends or the agent stops. Asked every second and at the end.
 */
export class BaselineKeeper {
  private done = false;
  private readonly checkpointMs: number;
  private lastCheckpointAt: number;
  /** Packets learnt at the last checkpoint (a stop right after one writes no other). */
  private lastCheckpointPackets = -1;

  constructor(
    private readonly o: {
      facility: string;
      dataDir: string;
      source: string;
      models?: readonly ModelDetector[] | undefined;
      say: (line: string) => void;
      /** The learning period to checkpoint (absent: none, e.g. a baseline learnt from another capture). */
      period?: LearningPeriod | undefined;
      /** Wall clock, ms. */
      now?: () => number;
      checkpointMs?: number | undefined;
    },
  ) {
    this.checkpointMs = o.checkpointMs ?? CHECKPOINT_MS;
    this.lastCheckpointAt = this.now();
  }

  /** Where and when the baseline was stored, once it was. */
  stored: string | undefined;
  /** When the last checkpoint was stored and how far the period had run. */
  checkpointed: string | undefined;

  private now(): number {
    return this.o.now?.() ?? Date.now();
  }

  /** `ended`: the source has ended or the agent stops; models that are still learning will not finish. */
  poll(engine: LearningEngine, ended = false): void {
    const baseline = engine.baseline;
    if (this.done) return;
    if (baseline.learning) {
      if (ended || this.now() - this.lastCheckpointAt >= this.checkpointMs) this.checkpoint(engine);
      return;
    }
    if (baseline.packets === 0) {
      this.done = true;
      this.o.say('baseline: nothing was learnt (a learning period of 0 minutes); nothing stored');
      return;
    }
    const models = this.modelsState();
    if (models === undefined) {
      if (!ended) return;
      this.done = true;
      this.o.say('baseline: the source ended before the models had learnt theirs; nothing stored');
      return;
    }
    this.done = true;
    try {
      const path = saveBaseline(this.o.dataDir, {
        facility: this.o.facility,
        baseline,
        source: this.o.source,
        models,
      });
      removeModelsCheckpoints(this.o.dataDir);
      this.stored = `${path} at ${new Date().toISOString()}`;
      this.o.say(
        `baseline learnt from ${this.o.source} and stored in ${path} (models: ${models.state}${models.note !== '' ? `, ${models.note}` : ''}): ${JSON.stringify(baseline.summary())}; detection on`,
      );
    } catch (err) {
      this.o.say(`baseline: could not store it (${(err as Error).message}); a restart will learn again`);
    }
  }

  /** Stores what the learning period learnt so far, with how much of it has run. */
  private checkpoint(engine: LearningEngine): void {
    const period = this.o.period;
    const baseline = engine.baseline;
    this.lastCheckpointAt = this.now();
    if (period === undefined || baseline.packets === 0 || baseline.packets === this.lastCheckpointPackets)
      return;
    const learntMs = Math.min(period.periodMs, period.priorMs + engine.learningElapsedMs());
    try {
      // the models' half first, under a new name: the older pair stays whole until baseline.json names this one
      const models = this.modelsHalf();
      const path = saveBaseline(this.o.dataDir, {
        facility: this.o.facility,
        baseline,
        source: this.o.source,
        models: models.state,
        learning: { learntMs, periodMs: period.periodMs },
        modelsLearning: models.ref,
        now: new Date(this.now()),
      });
      removeModelsCheckpoints(this.o.dataDir, models.ref?.file);
      this.lastCheckpointPackets = baseline.packets;
      this.checkpointed = `${new Date(this.now()).toISOString()} (${fmtMinutes(learntMs)} of ${fmtMinutes(period.periodMs)} learnt)`;
      this.o.say(
        `baseline: learning checkpoint stored in ${path}: ${this.checkpointed}${models.said !== '' ? `; ${models.said}` : ''}`,
      );
    } catch (err) {
      this.o.say(`baseline: could not store a learning checkpoint (${(err as Error).message})`);
    }
  }

  /** Writes what the learning models learnt so far (a checkpoint's models' half); what to record of it. */
  private modelsHalf(): { state: ModelsState; ref?: ModelsCheckpointRef; said: string } {
    const ds = this.o.models;
    if (ds === undefined) return { state: { state: 'off', note: 'rules only' }, said: '' };
    const learners = ds.filter((d) => !d.servesLocal);
    if (learners.length === 0) return { state: { state: 'loaded', note: '' }, said: '' };
    const states = learners.map((d) => d.learningState());
    if (states.some((x) => x === undefined)) {
      const note = "the models' learning is not checkpointed (they are past it)";
      return { state: { state: 'learning', note }, said: note };
    }
    const learnt = states as ModelLearningState[];
    const t0 = performance.now();
    const ref = saveModelsCheckpoint(this.o.dataDir, this.o.facility, learnt);
    const ms = performance.now() - t0;
    return {
      state: { state: 'learning', note: `checkpointed in ${ref.file}` },
      ref,
      said: `models' learning in ${ref.file} (${describeModels(learnt)}; ${(ref.bytes / 1e6).toFixed(2)} MB written in ${ms.toFixed(0)} ms)`,
    };
  }

  /** What the models did in the learning period; undefined while they are still preparing. */
  private modelsState(): ModelsState | undefined {
    const ds = this.o.models;
    if (ds === undefined) return { state: 'off', note: 'rules only' };
    if (ds.length === 0 || ds.every((d) => d.servesLocal)) return { state: 'loaded', note: '' };
    const failed: string[] = [];
    for (const d of ds) {
      if (d.servesLocal) continue;
      if (d.stats.ready) continue;
      if (d.stats.reason === 'learning' || d.stats.reason === 'not started') return undefined;
      failed.push(d.stats.reason);
    }
    if (failed.length > 0) return { state: 'failed', note: failed.join('; ') };
    for (const d of ds) if (!d.servesLocal) d.saveLearnt(this.o.dataDir);
    return { state: 'saved', note: '' };
  }
}
