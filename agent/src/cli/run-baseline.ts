// Where `vigil-agent run` gets its baseline for a capture source (--pcap, --interface, --capture-ring), and how the
// one it learns is kept: the baseline stored in the data dir (detect/baseline-file.ts) when there is a good one,
// going straight to detection; else a learning period (the source's first `learn_minutes`, or the capture
// `--baseline`), whose result is stored once it is learnt (BaselineKeeper). The operator's declared facts
// (known_masters, known_modbus) are added at every start, never stored.
//
// Detection-phase traffic never updates the baseline: it is frozen once learnt, so traffic seen while detecting
// (an attacker's too) cannot teach it; a change of the plant is either declared in the config or learnt again
// on purpose (`vigil-agent baseline reset`, then a restart).
import { Baseline, type DeclaredFacts } from '../detect/baseline.js';
import { loadBaseline, saveBaseline, type ModelsState } from '../detect/baseline-file.js';
import type { ModelDetector } from '../detect/ml/detector.js';
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
  const keeper = (source: string): BaselineKeeper | undefined =>
    ctx.dataDir === undefined ? undefined : new BaselineKeeper({ ...ctx, dataDir: ctx.dataDir, source });
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
  if (ctx.dataDir !== undefined) {
    const loaded = loadBaseline(ctx.dataDir, ctx.facility);
    if (loaded.ok) {
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
  const live = c.pcap === undefined;
  const minutes = c.learn_minutes ?? (live ? LIVE_LEARN_MINUTES : PCAP_LEARN_MINUTES);
  const source = live
    ? `the first ${minutes} minute(s) of ${c.interface !== undefined ? `--interface ${c.interface}` : `--capture-ring ${c.capture_ring ?? ''}`}`
    : `the first ${minutes} minute(s) of --pcap ${c.pcap}`;
  const until = new Date(ctx.now() + minutes * 60_000).toISOString();
  const learning = live
    ? `learning the baseline from the source's first ${minutes} minute(s), until about ${until}`
    : `learning the baseline from the capture's first ${minutes} minute(s) (packet time)`;
  ctx.say(live ? `${learning}: no policy alerts before then` : learning);
  const baseline = withDeclared(new Baseline());
  const k = keeper(source);
  return {
    baseline,
    learnMs: minutes * 60_000,
    keeper: k,
    status: () => (baseline.learning ? learning : learnt(source, k)),
  };
}

function learnt(source: string, keeper: BaselineKeeper | undefined): string {
  const stored = keeper?.stored;
  return `learnt from ${source}${stored !== undefined ? `, stored in ${stored}` : ', not stored'}`;
}

/**
 * Stores the baseline once its learning period is over and the models have learnt theirs (their local baseline
 * first, the rules' file last: a start finds both or relearns). Asked every second and at the source's end.
 */
export class BaselineKeeper {
  private done = false;

  constructor(
    private readonly o: {
      facility: string;
      dataDir: string;
      source: string;
      models?: readonly ModelDetector[] | undefined;
      say: (line: string) => void;
    },
  ) {}

  /** Where and when the baseline was stored, once it was. */
  stored: string | undefined;

  /** `ended`: the source has ended; models that are still learning will not finish. */
  poll(baseline: Baseline, ended = false): void {
    if (this.done || baseline.learning) return;
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
      this.stored = `${path} at ${new Date().toISOString()}`;
      this.o.say(
        `baseline learnt from ${this.o.source} and stored in ${path} (models: ${models.state}${models.note !== '' ? `, ${models.note}` : ''}): ${JSON.stringify(baseline.summary())}; detection on`,
      );
    } catch (err) {
      this.o.say(`baseline: could not store it (${(err as Error).message}); a restart will learn again`);
    }
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
