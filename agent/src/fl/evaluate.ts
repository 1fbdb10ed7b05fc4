// Federated vs centralized training of the Layer 2 classifier, for models/EVAL.md (`npm run eval:fl`). Three plants
// with different traffic (the demo's topologies) each make their local data as a federated agent does
// (plantL2Examples: the plant's simulated traffic with the simulator's attacks injected, labelled per packet). The
// same freshly initialised network is trained four ways on the same examples, with the same optimiser (SGD, batch 64)
// and the same number of passes over every example:
//   - centralized: the three plants' training data pooled, trained in one place (plain SGD; DP-SGD);
//   - federated: FedAvg over the three plants for R rounds of E local epochs (plain SGD; DP-SGD with the agent's own
//     SequentialDpTrainer, as in a real round).
// DP runs are calibrated to the same target epsilon at delta (RDP accountant): the smallest noise multiplier on a grid
// of 0.05 whose epsilon is within the target (for federated learning: every plant's epsilon). Macro-F1 is measured on
// held-out data: the same topologies simulated with other seeds (other traffic and attack instances), duplicates
// dropped (the local data repeats rare attack rows; the test set counts each row once).
import {
  DpSgd,
  Sgd,
  Trainer,
  rdpEpsilon,
  seededRng,
  softmaxCrossEntropy,
  type Example,
  type Sequential,
} from '@vigil/models';
import { plantL2Examples } from '../detect/ml/train.js';
import { NL2 } from '../detect/ml/features.js';
import { L2_CLASSES, L2_DEFAULTS, buildL2 } from '../detect/ml/models.js';
import {
  applyMasks,
  decodeFixedPoint,
  defaultBound,
  encodeFixedPoint,
  fixedPointFor,
  newRoundKeyPair,
  sumWords,
} from '@vigil/proto/secagg';
import { SequentialDpTrainer, modelArrays } from './local-trainer.js';

/** The training hyperparameters a setting is run with (chosen per setting on the validation plants). */
export interface FlHyper {
  rounds: number;
  localEpochs: number;
  batchSize: number;
  learningRate: number;
  clipNorm: number;
}

export const FL_SETTINGS = [
  'centralized, no DP',
  'centralized, DP-SGD',
  'federated (FedAvg), no DP',
  'federated (FedAvg), DP-SGD',
  'federated (secure aggregation), distributed DP',
] as const;
export type FlSetting = (typeof FL_SETTINGS)[number];

export interface FlEvalConfig extends FlHyper {
  /** trainSeed: the plant's local data; valSeed: validation (hyperparameter choice); testSeed: held out. */
  plants: readonly { topology: string; trainSeed: number; valSeed: number; testSeed: number }[];
  /** Per setting, what differs from the shared hyperparameters (the validation sweep's choice). */
  per?: Partial<Record<FlSetting, Partial<FlHyper>>>;
  targetEpsilon: number;
  delta: number;
  /** The data's seed (the plants' balancing and shuffling) and the first training run's. */
  seed: number;
  /**
   * Seeds of the training runs the held-out figures are averaged over (initialisation, batch sampling, DP noise); the
   * data stay the same.
   */
  runSeeds: readonly number[];
}

export const FL_EVAL_CONFIG: FlEvalConfig = {
  plants: [
    { topology: 'water-a', trainSeed: 1101, valSeed: 5101, testSeed: 9101 },
    { topology: 'substation-b', trainSeed: 2202, valSeed: 5202, testSeed: 9202 },
    { topology: 'factory-c', trainSeed: 3303, valSeed: 5303, testSeed: 9303 },
  ],
  rounds: 40,
  localEpochs: 1,
  batchSize: 64,
  learningRate: 0.2,
  clipNorm: 1,
  // chosen on the validation plants by `npm run eval:fl:sweep` (2026-11-22 17:55 UTC; models/EVAL.md lists the sweep)
  per: {
    'centralized, no DP': { learningRate: 0.2, rounds: 20 },
    'centralized, DP-SGD': { batchSize: 128, learningRate: 0.4, rounds: 40, clipNorm: 1 },
    'federated (FedAvg), no DP': { learningRate: 0.2, rounds: 40 },
    'federated (FedAvg), DP-SGD': { batchSize: 256, learningRate: 0.8, rounds: 40, clipNorm: 1 },
    // `npm run eval:fl:sweep -- "secure aggregation"` (2026-11-22 20:10 UTC)
    'federated (secure aggregation), distributed DP': {
      batchSize: 256,
      learningRate: 0.8,
      rounds: 40,
      clipNorm: 1,
    },
  },
  targetEpsilon: 3,
  delta: 1e-5,
  seed: 20261122,
  runSeeds: [20261122, 20261123],
};

/** The hyperparameters `setting` runs with under `cfg`. */
export function hyperOf(cfg: FlEvalConfig, setting: FlSetting): FlHyper {
  const base: FlHyper = {
    rounds: cfg.rounds,
    localEpochs: cfg.localEpochs,
    batchSize: cfg.batchSize,
    learningRate: cfg.learningRate,
    clipNorm: cfg.clipNorm,
  };
  return { ...base, ...cfg.per?.[setting] };
}

export interface FlEvalRun {
  setting: FlSetting;
  hyper: FlHyper;
  macroF1: number;
  accuracy: number;
  /** Macro-F1 on each plant's held-out data. */
  perPlant: Record<string, number>;
  /** For DP runs: the noise multiplier and the epsilon at delta (federated: the highest of the plants). */
  sigma: number | null;
  epsilon: number | null;
  seconds: number;
}

export interface FlEvalResult {
  config: FlEvalConfig;
  plants: { topology: string; train: number; validation: number; test: number; testClasses: string[] }[];
  /** The four settings' runs of each training seed (config.runSeeds), in that order. */
  bySeed: { seed: number; runs: FlEvalRun[] }[];
}

function argmax(v: Float32Array): number {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i]! > v[best]!) best = i;
  return best;
}

/**
 * Macro-F1 over the classes that occur in the truth or the predictions (as scikit-learn's f1_score(average="macro")
 * with its default labels): the unweighted mean of each class's F1; a class with no true and no predicted row is left
 * out.
 */
export function macroF1(truth: readonly number[], pred: readonly number[]): number {
  if (truth.length !== pred.length) throw new RangeError('macroF1: truth and predictions differ in length');
  const classes = new Set([...truth, ...pred]);
  if (classes.size === 0) return NaN;
  let sum = 0;
  for (const c of classes) {
    let tp = 0;
    let fp = 0;
    let fn = 0;
    for (let i = 0; i < truth.length; i++) {
      if (pred[i] === c && truth[i] === c) tp++;
      else if (pred[i] === c) fp++;
      else if (truth[i] === c) fn++;
    }
    sum += tp === 0 ? 0 : (2 * tp) / (2 * tp + fp + fn);
  }
  return sum / classes.size;
}

/** Weighted average of the clients' weights by their example counts (FedAvg, McMahan et al. 2017). */
export function weightedAverage(clients: readonly { weights: Float32Array[]; n: number }[]): Float32Array[] {
  const total = clients.reduce((t, c) => t + c.n, 0);
  return clients[0]!.weights.map((w, t) => {
    const out = new Float64Array(w.length);
    for (const c of clients) {
      const s = c.n / total;
      const cw = c.weights[t]!;
      for (let k = 0; k < out.length; k++) out[k]! += s * cw[k]!;
    }
    return Float32Array.from(out);
  });
}

function scores(model: Sequential, data: readonly Example[]): { truth: number[]; pred: number[] } {
  return {
    truth: data.map((e) => argmax(e.y)),
    pred: data.map((e) => argmax(model.forward(e.x))),
  };
}

/** The smallest noise multiplier on a 0.05 grid for which every (sampleRate, steps) stays within the epsilon target. */
export function calibrateSigma(
  runs: readonly { sampleRate: number; steps: number }[],
  target: number,
  delta: number,
): { sigma: number; epsilon: number } {
  for (let k = 10; k <= 400; k++) {
    const sigma = k * 0.05;
    const epsilon = Math.max(...runs.map((r) => rdpEpsilon({ sigma, delta, ...r }).epsilon));
    if (epsilon <= target) return { sigma, epsilon };
  }
  throw new RangeError(`no noise multiplier up to 20 reaches epsilon ${target}`);
}

/** Each plant's local training data and its validation and held-out rows (each row once). */
export interface FlEvalData {
  plants: { topology: string; train: Example[]; validation: Example[]; test: Example[] }[];
}

export function prepareFlData(cfg: FlEvalConfig, log: (line: string) => void = () => undefined): FlEvalData {
  const dataRng = seededRng(cfg.seed);
  const once = (d: { train: Example[]; validation: Example[] }): Example[] => {
    const seen = new Set<Float32Array>();
    return [...d.train, ...d.validation].filter((e) => !seen.has(e.x) && seen.add(e.x));
  };
  const plants = cfg.plants.map((p) => {
    log(
      `data: ${p.topology} seed ${p.trainSeed} (training), ${p.valSeed} (validation) and ${p.testSeed} (held out)`,
    );
    const train = plantL2Examples({ topology: p.topology, seed: p.trainSeed, rng: dataRng }).train;
    const test = once(plantL2Examples({ topology: p.topology, seed: p.testSeed, rng: dataRng }));
    const validation = once(plantL2Examples({ topology: p.topology, seed: p.valSeed, rng: dataRng }));
    return { topology: p.topology, train, validation, test };
  });
  return { plants };
}

/**
 * Trains `settings` (default all four) on the plants' training data and measures them on their validation rows
 * (`on: 'validation'`, for choosing hyperparameters) or the held-out rows (`on: 'test'`, the reported figures).
 */
export async function runFlSettings(
  data: FlEvalData,
  cfg: FlEvalConfig,
  o: { on: 'validation' | 'test'; settings?: readonly FlSetting[]; log?: (line: string) => void },
): Promise<FlEvalRun[]> {
  const log = o.log ?? (() => undefined);
  const local = data.plants;
  const pooled = local.flatMap((p) => p.train);
  const init = buildL2({ rng: seededRng(cfg.seed + 1) }).getWeights();
  const fresh = (): Sequential => {
    const m = buildL2();
    m.setWeights(init.map((w) => w.slice()));
    return m;
  };
  const trainer = (m: Sequential, h: FlHyper): Trainer =>
    new Trainer({
      model: m,
      loss: softmaxCrossEntropy,
      optimizer: new Sgd({ learningRate: h.learningRate }),
    });
  const evalRows = (p: FlEvalData['plants'][number]): Example[] => (o.on === 'test' ? p.test : p.validation);

  const measure = (
    setting: FlSetting,
    h: FlHyper,
    m: Sequential,
    started: number,
    dp?: { sigma: number; epsilon: number },
  ): FlEvalRun => {
    const all = local.map((p) => scores(m, evalRows(p)));
    const truth = all.flatMap((s) => s.truth);
    const pred = all.flatMap((s) => s.pred);
    const run: FlEvalRun = {
      setting,
      hyper: h,
      macroF1: macroF1(truth, pred),
      accuracy: truth.filter((t, i) => t === pred[i]).length / truth.length,
      perPlant: Object.fromEntries(local.map((p, i) => [p.topology, macroF1(all[i]!.truth, all[i]!.pred)])),
      sigma: dp?.sigma ?? null,
      epsilon: dp?.epsilon ?? null,
      seconds: (performance.now() - started) / 1000,
    };
    log(
      `${setting} (${o.on}; lr ${h.learningRate}, ${h.rounds} x ${h.localEpochs}, batch ${h.batchSize}, clip ${h.clipNorm}): macro-F1 ${run.macroF1.toFixed(4)}${dp ? ` (sigma ${dp.sigma.toFixed(2)}, epsilon ${dp.epsilon.toFixed(3)})` : ''}`,
    );
    return run;
  };

  const run = async (setting: FlSetting): Promise<FlEvalRun> => {
    const h = hyperOf(cfg, setting);
    const epochs = h.rounds * h.localEpochs;
    const t0 = performance.now();
    if (setting === 'centralized, no DP') {
      const m = fresh();
      trainer(m, h).fit(pooled, { epochs, batchSize: h.batchSize, rng: seededRng(cfg.seed + 2) });
      return measure(setting, h, m, t0);
    }
    if (setting === 'centralized, DP-SGD') {
      const m = fresh();
      const q = Math.min(1, h.batchSize / pooled.length);
      const stepsPerEpoch = Math.max(1, Math.round(1 / q));
      const central = calibrateSigma(
        [{ sampleRate: q, steps: epochs * stepsPerEpoch }],
        cfg.targetEpsilon,
        cfg.delta,
      );
      const dp = new DpSgd({
        trainer: trainer(m, h),
        clipNorm: h.clipNorm,
        noiseMultiplier: central.sigma,
        sampleRate: q,
        rng: seededRng(cfg.seed + 3),
      });
      for (let s = 0; s < epochs * stepsPerEpoch; s++) dp.step(pooled);
      return measure(setting, h, m, t0, central);
    }
    if (setting === 'federated (FedAvg), no DP') {
      let global: Float32Array[] = init.map((w) => w.slice());
      const fedRng = seededRng(cfg.seed + 4);
      for (let r = 0; r < h.rounds; r++) {
        const replies = local.map((p) => {
          const c = fresh();
          c.setWeights(global.map((w) => w.slice()));
          trainer(c, h).fit(p.train, { epochs: h.localEpochs, batchSize: h.batchSize, rng: fedRng });
          return { weights: c.getWeights().map((w) => w.slice()), n: p.train.length };
        });
        global = weightedAverage(replies);
      }
      const m = fresh();
      m.setWeights(global);
      return measure(setting, h, m, t0);
    }
    if (setting === 'federated (secure aggregation), distributed DP') return secureRun(setting, h, t0);
    // federated, DP-SGD in each plant with the agent's own local trainer
    const perPlant = local.map((p) => {
      const sampleRate = Math.min(1, h.batchSize / p.train.length);
      return { sampleRate, steps: epochs * Math.max(1, Math.round(1 / sampleRate)) };
    });
    const fed = calibrateSigma(perPlant, cfg.targetEpsilon, cfg.delta);
    const clients = local.map(
      (p, i) =>
        new SequentialDpTrainer({
          model: fresh(),
          loss: softmaxCrossEntropy,
          data: p.train,
          dp: { clipNorm: h.clipNorm, noiseMultiplier: fed.sigma, sampleRate: perPlant[i]!.sampleRate },
          rng: seededRng(cfg.seed + 10 + i),
          learningRate: h.learningRate,
          localEpochs: h.localEpochs,
        }),
    );
    let arrays = modelArrays(fresh());
    const spent = clients.map(() => 0);
    for (let r = 0; r < h.rounds; r++) {
      const outs = [];
      for (const c of clients) outs.push(await c.train(arrays, {}));
      outs.forEach((out, i) => (spent[i]! += out.extra?.['dp-steps'] ?? 0));
      const avg = weightedAverage(
        outs.map((out) => ({
          weights: [...out.arrays.values()].map((t) => t.data.slice()),
          n: out.numExamples,
        })),
      );
      arrays = new Map([...arrays].map(([k, t], i) => [k, { shape: t.shape, data: avg[i]! }]));
    }
    const m = fresh();
    m.setWeights([...arrays.values()].map((t) => t.data));
    // the accountant's epsilon of the DP-SGD steps each plant really took (what a round reports to the ledger)
    const fedEpsilon = Math.max(
      ...local.map(
        (_, i) =>
          rdpEpsilon({
            sigma: fed.sigma,
            sampleRate: perPlant[i]!.sampleRate,
            steps: spent[i]!,
            delta: cfg.delta,
          }).epsilon,
      ),
    );
    return measure(setting, h, m, t0, { sigma: fed.sigma, epsilon: fedEpsilon });
  };

  /**
   * Secure aggregation with distributed DP (DP-FedSGD): every round is one DP-SGD step of the pooled data. Each plant
   * Poisson-samples its rows at the pooled rate q, clips, adds its share of the noise (sigma C / sqrt(n - 1): any
   * single party, a plant that knows its own share included, faces sigma C), encodes and masks its sum with the
   * real secure-aggregation code (fresh X25519 keys every round); the sum of the masked vectors, decoded, divided by
   * the expected batch q N, is the step. Epsilon: sigma, q and the number of rounds, per facility.
   */
  const secureRun = async (setting: FlSetting, h: FlHyper, t0: number): Promise<FlEvalRun> => {
    const total = pooled.length;
    const q = Math.min(1, h.batchSize / total);
    const steps = h.rounds * h.localEpochs * Math.max(1, Math.round(1 / q));
    const dp = calibrateSigma([{ sampleRate: q, steps }], cfg.targetEpsilon, cfg.delta);
    const n = local.length;
    const clients = local.map(
      (p, i) =>
        new SequentialDpTrainer({
          model: fresh(),
          loss: softmaxCrossEntropy,
          data: p.train,
          dp: { clipNorm: h.clipNorm, noiseMultiplier: dp.sigma, sampleRate: q },
          rng: seededRng(cfg.seed + 20 + i),
        }),
    );
    const m = fresh();
    const server = trainer(m, h);
    const fp = fixedPointFor(n, defaultBound(h.clipNorm));
    const ids = local.map((_, i) => String(i + 2));
    const config = { 'dp-noise-multiplier': dp.sigma, 'dp-sample-rate': q, 'dp-clip-norm': h.clipNorm };
    const step = new Float32Array(m.parameterCount);
    for (let r = 1; r <= steps; r++) {
      const arrays = modelArrays(m);
      const keys = ids.map(() => newRoundKeyPair());
      const participants = ids.map((nodeId, i) => ({ nodeId, publicKey: keys[i]!.publicKey }));
      const masked: Uint32Array[] = [];
      for (const [i, c] of clients.entries()) {
        const out = await c.secureStep(arrays, config, { participants: n, known: 1 });
        masked.push(
          applyMasks(
            encodeFixedPoint(out.sum, fp),
            { nodeId: ids[i]!, privateKey: keys[i]!.privateKey },
            participants,
            { runId: 'eval', round: r },
          ),
        );
      }
      const sum = decodeFixedPoint(sumWords(masked), fp);
      for (let k = 0; k < step.length; k++) step[k] = sum[k]! / (q * total);
      server.applyGradient(step);
    }
    return measure(setting, h, m, t0, dp);
  };

  const runs: FlEvalRun[] = [];
  for (const setting of o.settings ?? FL_SETTINGS) runs.push(await run(setting));
  return runs;
}

/** The four settings trained on the plants' data and measured on the held-out rows (models/EVAL.md). */
export async function evaluateFederatedVsCentral(
  cfg: FlEvalConfig = FL_EVAL_CONFIG,
  log: (line: string) => void = () => undefined,
): Promise<FlEvalResult> {
  const data = prepareFlData(cfg, log);
  const bySeed: FlEvalResult['bySeed'] = [];
  for (const seed of cfg.runSeeds) {
    log(`training seed ${seed}`);
    bySeed.push({ seed, runs: await runFlSettings(data, { ...cfg, seed }, { on: 'test', log }) });
  }
  return {
    config: cfg,
    plants: data.plants.map((p) => ({
      topology: p.topology,
      train: p.train.length,
      validation: p.validation.length,
      test: p.test.length,
      testClasses: [...new Set(p.test.map((e) => L2_CLASSES[argmax(e.y)]!))],
    })),
    bySeed,
  };
}

export const FL_SECTION = { start: '<!-- fl-eval:start -->', end: '<!-- fl-eval:end -->' };

const f3 = (x: number): string => x.toFixed(3);

/** The models/EVAL.md section of a run (between FL_SECTION's markers). */
export function flEvalSection(r: FlEvalResult, started: Date, machine: string): string {
  const c = r.config;
  const plants = r.plants.map((p) => p.topology);
  const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
  // per setting: its runs over the seeds
  const rows = FL_SETTINGS.map((setting) => ({
    setting,
    runs: r.bySeed.map((b) => b.runs.find((x) => x.setting === setting)).filter((x) => x !== undefined),
  })).filter((x) => x.runs.length > 0);
  const f1Of = (setting: FlSetting): number[] =>
    rows.find((x) => x.setting === setting)?.runs.map((x) => x.macroF1) ?? [];
  const gap = (a: FlSetting, b: FlSetting): string => {
    const x = f1Of(a);
    const y = f1Of(b);
    if (x.length === 0 || x.length !== y.length) return '-';
    const per = x.map((v, i) => ((v - y[i]!) * 100).toFixed(1));
    return `${((mean(x) - mean(y)) * 100).toFixed(1)} points (per seed: ${per.join(', ')})`;
  };
  const seeds = r.bySeed.map((b) => b.seed);
  return [
    FL_SECTION.start,
    '## Federated vs centralized Layer 2 (issue 9)',
    '',
    `Command: \`npm run eval:fl\` (source: \`agent/src/fl/evaluate.ts\`). Run ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC on ${machine}.`,
    '',
    `Three plants with different traffic (the demo's topologies ${plants.join(', ')}) make their Layer 2 data as a`,
    'federated agent does (`plantL2Examples`: the plant simulated with every attack injected `PLANT_ATTACK_REPEATS` times,',
    "labelled per packet, balanced); the training seeds are the demo plants' (" +
      c.plants.map((p) => p.trainSeed).join(', ') +
      '). Held out: the same topologies simulated with other seeds (' +
      c.plants.map((p) => p.testSeed).join(', ') +
      '), each row once. The hyperparameters of each setting were chosen on validation plants (seeds ' +
      c.plants.map((p) => p.valSeed).join(', ') +
      ', `npm run eval:fl:sweep`), never on the held-out rows.',
    `One freshly initialised network (Dense ${NL2}->${L2_DEFAULTS.hidden}, ReLU, Dense ${L2_DEFAULTS.hidden}->${L2_CLASSES.length}), SGD; centralized on the`,
    'pooled data for rounds x local epochs epochs; federated FedAvg over the three plants, weighted by example counts. DP runs:',
    `per-example clipping, the smallest noise multiplier (0.05 grid) whose RDP epsilon at delta ${c.delta} stays within ${c.targetEpsilon}`,
    "(federated: every plant's, for the DP-SGD steps each really took, with the agent's own SequentialDpTrainer).",
    "Federated with secure aggregation and distributed DP: each round is one DP-SGD step of all plants' rows (DP-FedSGD):",
    'each plant samples its rows at the pooled rate q, clips, sums, adds noise of std sigma C / sqrt(n - 1) and sends the sum',
    "fixed-point encoded (32 bits) and masked with pairwise X25519/AES-CTR masks (`@vigil/proto/secagg`, the agents' code);",
    "the aggregator unmasks only the sum and steps by lr * sum / (q N). Its epsilon is each facility's against any single",
    'party (the aggregator, or one plant that knows its own noise share): the noise multiplier sigma, q, one step per round.',
    `Each setting is trained with ${seeds.length} training seed(s) (${seeds.join(', ')}: initialisation, batch sampling, DP noise) on the same data; the table gives the mean.`,
    '',
    `Data: ${r.plants.map((p) => `${p.topology} ${p.train} training / ${p.validation} validation / ${p.test} held-out rows (${p.testClasses.length} classes)`).join('; ')}.`,
    '',
    `| training | lr | rounds x epochs | batch | clip | sigma | epsilon | macro-F1 (all held out, mean) | per seed | ${plants.join(' | ')} | accuracy | seconds |`,
    `| --- | --- | --- | --- | --- | --- | --- | --- | --- | ${plants.map(() => '---').join(' | ')} | --- | --- |`,
    ...rows.map(({ setting, runs }) => {
      const x = runs[0]!;
      const eps = runs.map((v) => v.epsilon).filter((v): v is number => v !== null);
      return `| ${setting} | ${x.hyper.learningRate} | ${x.hyper.rounds} x ${x.hyper.localEpochs} | ${x.hyper.batchSize} | ${x.sigma === null ? '-' : x.hyper.clipNorm} | ${x.sigma === null ? '-' : x.sigma.toFixed(2)} | ${eps.length === 0 ? '-' : f3(Math.max(...eps))} | ${f3(mean(runs.map((v) => v.macroF1)))} | ${runs.map((v) => f3(v.macroF1)).join(', ')} | ${plants
        .map((p) => f3(mean(runs.map((v) => v.perPlant[p] ?? NaN))))
        .join(
          ' | ',
        )} | ${f3(mean(runs.map((v) => v.accuracy)))} | ${mean(runs.map((v) => v.seconds)).toFixed(1)} |`;
    }),
    '',
    `Federated minus centralized macro-F1: without DP ${gap('federated (FedAvg), no DP', 'centralized, no DP')}; at epsilon <= ${c.targetEpsilon} ${gap('federated (FedAvg), DP-SGD', 'centralized, DP-SGD')} with local DP-SGD, ${gap('federated (secure aggregation), distributed DP', 'centralized, DP-SGD')} with secure aggregation and distributed DP (goal: within 2 points).`,
    FL_SECTION.end,
  ].join('\n');
}
