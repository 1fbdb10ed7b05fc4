// Next-technique prediction with a GNN: a two-layer GraphSAGE over the ATT&CK for ICS techniques and the groups,
// software and campaigns that use them, trained with the learning core (@vigil/models), exported to ONNX and run with
// onnxruntime-node.
//
// Task. Link prediction between a partially observed attacker (the observed techniques O) and every technique c not
// in O: "will this attacker use c too?". The attacker enters the graph through the node features (below), so one
// forward pass scores every candidate; the scores go through a softmax over the candidate techniques (observed ones
// excluded), so `probability` is P(next technique = c | O) under the model and the candidates' probabilities sum to 1.
//
// Graph (nothing invented; all from the bundle): nodes are the live techniques and the groups/software/campaigns with
// at least one of them; edges are the real `uses` relationships (see GnnInputs for the normalisation).
//
// Node features (a learned re-ranker with message passing): every number is computed from the `uses` sets of the
// graph the model runs over and the observed set, never from the attacker being predicted. Technique rows carry the
// statistical rankers' signals (stats.ts: Jaccard-kNN vote and mean conditional co-occurrence given O, popularity),
// whether the technique shares a tactic with an observed one, its earliest tactic relative to the latest observed
// tactic, |O|, and its tactic one-hot; entity rows carry their Jaccard similarity and overlap with O and their size.
// Message passing over the `uses` edges lets a technique weigh the entities that use it by how much they look like O.
//
// Architecture: two GraphSAGE layers in skip connections ([x || ReLU(SAGE(x))], F -> F+16 -> F+32) -> Dense(F+32 -> 1):
// one logit per node. After training, Jaccard kNN is blended in with the share knnBlend (blendWithKnn: a change of the
// read-out's weights only, so the exported model is the blend), the share chosen on the inner validation split.
// Training: every training uses set with >= 2 techniques gives one example per technique (hidden) with the rest
// observed, plus seeded random splits, each on the graph without that set's own entity (its features are computed
// without it, as for an unseen attacker); loss = softmax cross-entropy over the candidate techniques with the hidden
// ones as the (uniform) target. Early stopping: a seeded share of the training sets is kept aside as an inner
// validation split; training stops when its loss has not improved for `patience` epochs and the best epoch's weights
// are kept (retraining on all sets for that many epochs was measured and did not help: models/EVAL.md). Adam, seeded init and shuffling: the same seed and data give the same weights.
import {
  Activation,
  ADJACENCY_NAME,
  Adam,
  Dense,
  exportSequential,
  GraphSage,
  INPUT_NAME,
  OUTPUT_NAME,
  seededRng,
  Sequential,
  shuffle,
  Skip,
  SwappableSession,
  Trainer,
  type Example,
  type Layer,
  type Loss,
  type Rng,
} from '@vigil/models';
import { Tensor } from 'onnxruntime-node';
import { UsesStats, type UsesSet } from './stats.js';

export const GNN_HIDDEN = 16;
export const GNN_ARCHITECTURE =
  'GraphSAGE x2 with skip connections ([x || ReLU(SAGE(x))], F->F+16->F+32) + Dense(F+32->1) over techniques + ' +
  'groups/software/campaigns joined by uses; node features: Jaccard-kNN, co-occurrence, tactic-order transition, ' +
  'popularity (and their logs), tactic signals given the observed set; listwise softmax over candidate techniques; ' +
  'served logits (1 - w) z + w ln(kNN + 0.001), w = knnBlend, folded into the read-out';

/** The subgraph the GNN runs over, as read from an attack graph store: techniques and the `uses` edges into them. */
export interface AttackSubgraph {
  /** Tactic ids in ICS matrix order. */
  tactics: string[];
  /** Live techniques. */
  techniques: { id: string; name: string; tactics: string[] }[];
  /** The `uses` sets of groups, software and campaigns (technique ids). */
  uses: UsesSet[];
}

export interface GnnTrainOptions {
  seed: number;
  /** Upper bound on epochs; early stopping usually ends sooner. */
  maxEpochs: number;
  /** Epochs without a better inner-validation loss before training stops. */
  patience: number;
  /** Share of the training sets held aside (seeded) as the inner validation split. */
  validationShare: number;
  /** Extra random observed/hidden splits per training set, on top of the leave-one-out examples. */
  randomSplits: number;
  learningRate: number;
  batchSize: number;
  /** Width of each GraphSAGE layer's output. */
  hidden: number;
  /** L2 penalty on every weight (added to the gradient as weightDecay * theta); 0 for none. */
  weightDecay: number;
  /**
   * Share w of Jaccard kNN in the served scores: the kept GNN's logits z become (1 - w) z + w ln(knn + LOG_FLOOR),
   * a weighted product of the two rankers' distributions after the softmax (blendWithKnn). 0 is the GNN alone.
   */
  knnBlend: number;
}

/**
 * Chosen on the inner validation split only (models/EVAL.md: mean over 7 folds' validation queries, never a held-out
 * entity): patience 10 / 60 epochs beat 5 / 40; 0 or 3 random splits and learning rate 0.002 were worse; hidden 8
 * was worse, weight decay 0.001 level (lower hit@10, higher MRR; left out); kNN share 0.25 had the best hit@10 and MRR
 * of the blend grid.
 */
export const DEFAULT_TRAIN: GnnTrainOptions = {
  seed: 20261122,
  maxEpochs: 60,
  patience: 10,
  validationShare: 0.2,
  randomSplits: 1,
  learningRate: 0.005,
  batchSize: 16,
  hidden: GNN_HIDDEN,
  weightDecay: 0,
  knnBlend: 0.25,
};

/** The kNN shares whose inner-validation hit@10 and MRR every training reports (TrainedGnn.validation.blends). */
export const BLEND_GRID = [0, 0.25, 0.5, 0.75, 0.9] as const;

const ENTITY_KINDS = ['G', 'S', 'C'] as const;
/** Feature columns before the tactic one-hot (see GnnInputs.features). */
const COL = {
  observed: 0,
  isTechnique: 1,
  /** technique: share of entities using it; entity: |E| / techniques. */
  share: 2,
  /** technique: Jaccard-kNN score given O; entity: Jaccard(E, O). */
  knn: 3,
  /** technique: co-occurrence score given O; entity: |E & O| / |E|. */
  cooc: 4,
  tacticSeen: 5,
  tacticDelta: 6,
  used: 7,
  observedCount: 8,
  /** technique: the largest Jaccard(E, O) of an entity E using it (the nearest neighbour's vote). */
  nearest: 9,
  /** technique: tactic-order transition score given O (stats.ts transitionScores, the `followed-by` edges). */
  transition: 10,
  /** technique: ln(score + LOG_FLOOR) / ln(1 / LOG_FLOOR) of knn, cooc, transition, share: about -1..0. */
  logKnn: 11,
  logCooc: 12,
  logTransition: 13,
  logShare: 14,
  kind: 15,
} as const;
/**
 * The log columns make a linear read-out a product of the baselines' scores (softmax of a sum of w * ln(score)), the
 * natural way to combine probabilities; the floor keeps a zero score finite.
 */
const LOG_FLOOR = 1e-3;
const logFeature = (score: number) => Math.log(score + LOG_FLOOR) / Math.log(1 / LOG_FLOOR);
const FIXED_FEATURES = COL.kind + ENTITY_KINDS.length;
/** |O| is fed as |O| / OBSERVED_SCALE so that typical sets stay near 0..2. */
const OBSERVED_SCALE = 10;

/** Number of input features per node for a subgraph with `tactics` tactics. */
export function featureCount(tactics: number): number {
  return FIXED_FEATURES + tactics;
}

/**
 * Node inputs of the GNN: techniques sorted by id (rows 0..T-1), then the entities with at least one live technique
 * sorted by id; the static part of the feature matrix, the statistics of the `uses` sets (for the features that
 * depend on the observed set) and the adjacency of the `uses` edges. An entity row averages its techniques; a
 * technique row sums its entities (each entity using it casts a vote weighted by what the previous layer made of
 * its similarity to O): layer 2 is a learned neighbour vote, the GNN analogue of the kNN baseline.
 */
export class GnnInputs {
  readonly n: number;
  /** Number of technique rows (the first rows). */
  readonly t: number;
  readonly f: number;
  readonly ids: readonly string[];
  readonly names: readonly string[];
  readonly index = new Map<string, number>();
  readonly users: Int32Array;
  readonly base: Float32Array;
  readonly adjacency: Float32Array;
  private readonly stats: UsesStats;
  /** Technique rows of each entity row. */
  private readonly members: number[][];
  /** Earliest tactic position of each technique row, -1 without a tactic. */
  private readonly order: Int32Array;
  private readonly tacticCount: number;

  constructor(g: AttackSubgraph) {
    const tacticIndex = new Map(g.tactics.map((t, i) => [t, i]));
    // The same order as UsesStats (default string sort), so stats rows and node rows coincide.
    const ids = g.techniques.map((t) => t.id).sort();
    const byId = new Map(g.techniques.map((t) => [t.id, t]));
    const tIndex = new Map(ids.map((t, i) => [t, i]));
    const sets = g.uses
      .map((s) => ({
        entity: s.entity,
        techniques: [...new Set(s.techniques)].filter((t) => tIndex.has(t)).sort(),
      }))
      .filter((s) => s.techniques.length > 0)
      .sort((a, b) => a.entity.localeCompare(b.entity));
    this.t = ids.length;
    this.n = this.t + sets.length;
    this.f = featureCount(g.tactics.length);
    this.tacticCount = g.tactics.length;
    this.ids = [...ids, ...sets.map((s) => s.entity)];
    this.names = ids.map((id) => byId.get(id)?.name ?? id);
    ids.forEach((id, i) => this.index.set(id, i));
    this.order = new Int32Array(this.t).fill(-1);
    const tacticOrder = new Map<string, number>();
    ids.forEach((id, i) => {
      const ks = (byId.get(id)?.tactics ?? []).map((x) => tacticIndex.get(x)).filter((k) => k !== undefined);
      if (ks.length === 0) return;
      this.order[i] = Math.min(...ks);
      tacticOrder.set(id, this.order[i]);
    });
    this.stats = new UsesStats(ids, sets, tacticOrder);
    this.users = Int32Array.from(this.stats.users);
    this.members = sets.map((s) => s.techniques.map((t) => tIndex.get(t)!));
    const { n, f } = this;
    const m = sets.length;
    this.base = new Float32Array(n * f);
    ids.forEach((id, i) => {
      this.base[i * f + COL.isTechnique] = 1;
      this.base[i * f + COL.share] = m === 0 ? 0 : this.users[i]! / m;
      this.base[i * f + COL.logShare] = logFeature(this.base[i * f + COL.share]!);
      this.base[i * f + COL.used] = this.users[i]! > 0 ? 1 : 0;
      for (const x of byId.get(id)?.tactics ?? []) {
        const k = tacticIndex.get(x);
        if (k !== undefined) this.base[i * f + FIXED_FEATURES + k] = 1;
      }
    });
    this.adjacency = new Float32Array(n * n);
    this.members.forEach((rows, j) => {
      const e = this.t + j;
      const kind = ENTITY_KINDS.indexOf(sets[j]!.entity.charAt(0) as (typeof ENTITY_KINDS)[number]);
      if (kind >= 0) this.base[e * f + COL.kind + kind] = 1;
      this.base[e * f + COL.share] = rows.length / this.t;
      for (const i of rows) {
        this.adjacency[e * n + i] = 1 / rows.length;
        this.adjacency[i * n + e] = 1;
      }
    });
  }

  /**
   * Node features given the observed techniques (unknown ids are ignored), computed from this graph's `uses` sets
   * only. Returns the observed rows too.
   */
  features(observed: readonly string[]): { x: Float32Array; seen: Set<number> } {
    const { f, t } = this;
    const x = Float32Array.from(this.base);
    const seen = this.stats.indicesOf(observed);
    const knn = this.stats.scores('jaccard-knn', seen);
    const cooc = this.stats.scores('cooccurrence', seen);
    const transition = this.stats.transitionScores(seen);
    const tactics = new Set<number>();
    let latest = -1;
    for (const o of seen) {
      x[o * f + COL.observed] = 1;
      if (this.order[o]! > latest) latest = this.order[o]!;
      for (let k = 0; k < this.tacticCount; k++)
        if (this.base[o * f + FIXED_FEATURES + k] === 1) tactics.add(k);
    }
    const span = Math.max(1, this.tacticCount - 1);
    for (let i = 0; i < t; i++) {
      x[i * f + COL.knn] = knn[i]!;
      x[i * f + COL.cooc] = cooc[i]!;
      x[i * f + COL.transition] = transition[i]!;
      x[i * f + COL.logKnn] = logFeature(knn[i]!);
      x[i * f + COL.logCooc] = logFeature(cooc[i]!);
      x[i * f + COL.logTransition] = logFeature(transition[i]!);
      x[i * f + COL.observedCount] = seen.size / OBSERVED_SCALE;
      for (const k of tactics) if (this.base[i * f + FIXED_FEATURES + k] === 1) x[i * f + COL.tacticSeen] = 1;
      if (latest >= 0 && this.order[i]! >= 0) x[i * f + COL.tacticDelta] = (this.order[i]! - latest) / span;
    }
    this.members.forEach((rows, j) => {
      let inter = 0;
      for (const i of rows) if (seen.has(i)) inter++;
      const e = (t + j) * f;
      const jaccard = inter / (rows.length + seen.size - inter);
      x[e + COL.knn] = jaccard;
      x[e + COL.cooc] = inter / rows.length;
      for (const i of rows) if (jaccard > x[i * f + COL.nearest]!) x[i * f + COL.nearest] = jaccard;
    });
    return { x, seen };
  }
}

/** Target marker for observed nodes: excluded from the softmax. */
const MASKED = -1;

/**
 * Softmax cross-entropy over the nodes whose target is not MASKED; targets are 1 for hidden (positive) techniques
 * and 0 otherwise, normalised to a distribution inside the loss.
 */
export const maskedSoftmaxLoss: Loss = (z, y, grad) => {
  grad.fill(0);
  let max = -Infinity;
  let pos = 0;
  for (let i = 0; i < z.length; i++) {
    if (y[i] === MASKED) continue;
    if (z[i]! > max) max = z[i]!;
    pos += y[i]!;
  }
  if (pos <= 0) throw new Error('gnn loss: an example needs at least one hidden technique');
  let sum = 0;
  for (let i = 0; i < z.length; i++) if (y[i] !== MASKED) sum += Math.exp(z[i]! - max);
  const logSum = max + Math.log(sum);
  let loss = 0;
  for (let i = 0; i < z.length; i++) {
    if (y[i] === MASKED) continue;
    const t = y[i]! / pos;
    if (t > 0) loss -= t * (z[i]! - logSum);
    grad[i] = Math.exp(z[i]! - logSum) - t;
  }
  return loss;
};

/**
 * Two GraphSAGE layers, each wrapped in a Skip so that its input travels on next to its output: the final Dense reads
 * the raw features (a linear listwise re-ranker of the baselines' signals) and the two rounds of message passing.
 */
export function buildGnnModel(features: number, rng: Rng, h = GNN_HIDDEN): Sequential {
  return new Sequential([
    new Skip({
      inputSize: features,
      innerSize: h,
      layers: [new GraphSage({ inputSize: features, outputSize: h, rng }), new Activation('relu')],
    }),
    new Skip({
      inputSize: features + h,
      innerSize: h,
      layers: [new GraphSage({ inputSize: features + h, outputSize: h, rng }), new Activation('relu')],
    }),
    new Dense({ inputSize: features + 2 * h, outputSize: 1, rng }),
  ]);
}

function example(inputs: GnnInputs, observed: readonly string[], hidden: readonly string[]): Example {
  const { x, seen } = inputs.features(observed);
  const y = new Float32Array(inputs.n);
  for (let i = inputs.t; i < inputs.n; i++) y[i] = MASKED;
  for (const i of seen) y[i] = MASKED;
  for (const h of hidden) {
    const i = inputs.index.get(h);
    if (i !== undefined && !seen.has(i)) y[i] = 1;
  }
  return { x, y };
}

/** One training example and the graph it is seen on. */
interface GraphExample extends Example {
  inputs: GnnInputs;
}

/**
 * Training examples of one set: each technique hidden in turn with the rest observed, plus `extra` seeded random
 * splits. The set is seen on the graph built WITHOUT it (its own co-occurrences and usage removed), exactly as a
 * held-out entity is at evaluation and an unseen attacker is in production; otherwise the model learns that the
 * hidden technique always co-occurs with the observed ones, which is only true in training.
 */
function setExamples(ts: readonly string[], inputs: GnnInputs, extra: number, rng: Rng): GraphExample[] {
  const out: GraphExample[] = ts.map((h) => ({
    inputs,
    ...example(
      inputs,
      ts.filter((t) => t !== h),
      [h],
    ),
  }));
  for (let r = 0; r < extra; r++) {
    const observed = ts.filter(() => rng.next() < 0.5);
    if (observed.length === 0 || observed.length === ts.length) continue;
    out.push({
      inputs,
      ...example(
        inputs,
        observed,
        ts.filter((t) => !observed.includes(t)),
      ),
    });
  }
  return out;
}

export interface TrainedGnn {
  model: Sequential;
  /** The graph of all training sets: what the model is served over. */
  inputs: GnnInputs;
  /** Mean training loss per epoch run. */
  losses: number[];
  /** Mean inner-validation loss per epoch run (empty without a validation split). */
  validationLosses: number[];
  /** The epoch (1-based) whose weights were kept. */
  bestEpoch: number;
  /**
   * hit@10 and MRR of the kept weights on the inner validation split (leave-one-out queries of the held-aside
   * training sets) of the GNN and, on the same queries, of Jaccard kNN (its feature column ranked with the same ties):
   * the figures the design is tuned on, never the evaluation's held-out entity. Absent without a split.
   */
  validation?: {
    gnn: ValidationMetrics;
    knn: ValidationMetrics;
    /** The kept GNN blended with kNN at each share of BLEND_GRID (w 0 is the GNN before any blend). */
    blends: (ValidationMetrics & { w: number })[];
  };
}

export interface ValidationMetrics {
  'hit@10': number;
  mrr: number;
  n: number;
}

/** Trains the GNN on `sets` with early stopping on an inner validation split. Deterministic for a given seed. */
export function trainGnn(
  base: Omit<AttackSubgraph, 'uses'>,
  sets: readonly UsesSet[],
  opts: GnnTrainOptions = DEFAULT_TRAIN,
): TrainedGnn {
  const inputs = new GnnInputs({ ...base, uses: [...sets] });
  const rng = seededRng(opts.seed);
  const usable = sets
    .map((s) => ({ s, set: [...new Set(s.techniques)].filter((t) => inputs.index.has(t)).sort() }))
    .filter((x) => x.set.length >= 2);
  const order = usable.map((_, i) => i);
  shuffle(order, rng);
  const held = Math.min(usable.length - 1, Math.round(usable.length * opts.validationShare));
  /** Leave-one-out examples of the validation sets: the stopping criterion, scored like the evaluation. */
  const validation: GraphExample[] = [];
  const training: GraphExample[] = [];
  order.forEach((k, pos) => {
    const { s, set } = usable[k]!;
    const without = new GnnInputs({ ...base, uses: sets.filter((o) => o !== s) });
    if (pos < held) validation.push(...setExamples(set, without, 0, rng));
    else training.push(...setExamples(set, without, opts.randomSplits, rng));
  });
  const model = buildGnnModel(inputs.f, rng, opts.hidden);
  const trainer = new Trainer({
    model,
    loss: maskedSoftmaxLoss,
    optimizer: new Adam({ learningRate: opts.learningRate }),
  });
  const acc = new Float32Array(model.parameterCount);
  const best = Float32Array.from(model.flatValues);
  let bestLoss = Infinity;
  let bestEpoch = 0;
  const losses: number[] = [];
  const validationLosses: number[] = [];
  const idx = training.map((_, i) => i);
  for (let e = 1; e <= opts.maxEpochs; e++) {
    shuffle(idx, rng);
    let total = 0;
    for (let b = 0; b < idx.length; b += opts.batchSize) {
      const batch = idx.slice(b, b + opts.batchSize);
      acc.fill(0);
      for (const i of batch) {
        const ex = training[i]!;
        setGraph(model, ex.inputs);
        const { loss, grad } = trainer.exampleGradient(ex);
        total += loss;
        for (let j = 0; j < acc.length; j++) acc[j]! += grad[j]!;
      }
      const params = model.flatValues;
      for (let j = 0; j < acc.length; j++) acc[j] = acc[j]! / batch.length + opts.weightDecay * params[j]!;
      trainer.applyGradient(acc);
    }
    losses.push(total / Math.max(1, training.length));
    if (validation.length === 0) {
      bestEpoch = e;
      continue;
    }
    let v = 0;
    for (const ex of validation) {
      setGraph(model, ex.inputs);
      const z = model.forward(ex.x);
      v += maskedSoftmaxLoss(z, ex.y, new Float32Array(z.length));
    }
    v /= validation.length;
    validationLosses.push(v);
    if (v < bestLoss) {
      bestLoss = v;
      bestEpoch = e;
      best.set(model.flatValues);
    } else if (e - bestEpoch >= opts.patience) break;
  }
  if (validation.length === 0) {
    setGraph(model, inputs);
    return { model, inputs, losses, validationLosses, bestEpoch };
  }
  model.flatValues.set(best);
  const logKnn = (ex: GraphExample) => ex.x.filter((_, j) => j % inputs.f === COL.logKnn);
  const blends = BLEND_GRID.map((w) => ({ w, ranks: [] as number[] }));
  const knnRanks: number[] = [];
  for (const ex of validation) {
    setGraph(model, ex.inputs);
    const z = model.forward(ex.x);
    const lk = logKnn(ex);
    for (const b of blends) b.ranks.push(hiddenRank(ex, blendLogits(z, lk, b.w)));
    knnRanks.push(
      hiddenRank(
        ex,
        ex.x.filter((_, j) => j % inputs.f === COL.knn),
      ),
    );
  }
  let gnnRanks: number[] = [];
  if (opts.knnBlend > 0) {
    blendWithKnn(model, opts.knnBlend);
    for (const ex of validation) {
      setGraph(model, ex.inputs);
      gnnRanks.push(hiddenRank(ex, model.forward(ex.x)));
    }
  } else gnnRanks = blends[0]!.ranks;
  setGraph(model, inputs);
  return {
    model,
    inputs,
    losses,
    validationLosses,
    bestEpoch,
    validation: {
      gnn: rankMetrics(gnnRanks),
      knn: rankMetrics(knnRanks),
      blends: blends.map((b) => ({ w: b.w, ...rankMetrics(b.ranks) })),
    },
  };
}

/** (1 - w) z + w ln(knn + LOG_FLOOR), from the logKnn feature column (scaled by ln(1 / LOG_FLOOR)). */
function blendLogits(z: Float32Array, logKnn: Float32Array, w: number): Float32Array {
  const scale = Math.log(1 / LOG_FLOOR);
  return z.map((v, i) => (1 - w) * v + w * scale * logKnn[i]!);
}

/**
 * Makes the model's logits (1 - w) z + w ln(knn + LOG_FLOOR) by changing only its read-out: the final Dense sees the
 * raw features first (the skip connections), logKnn among them, so the blend is (1 - w) times its weights and bias
 * plus w ln(1 / LOG_FLOOR) on the logKnn input. The exported ONNX model is then the blended ranker.
 */
export function blendWithKnn(model: Sequential, w: number): void {
  if (!(w >= 0 && w <= 1)) throw new Error(`gnn: the kNN share must be in [0, 1], got ${w}`);
  const out = model.layers[model.layers.length - 1];
  if (!(out instanceof Dense) || out.outputSize !== 1)
    throw new Error('gnn: the model does not end in a one-logit Dense read-out');
  for (let i = 0; i < out.weight.value.length; i++) out.weight.value[i]! *= 1 - w;
  out.bias.value[0]! *= 1 - w;
  out.weight.value[COL.logKnn]! += w * Math.log(1 / LOG_FLOOR);
}

function rankMetrics(ranks: readonly number[]): ValidationMetrics {
  const n = ranks.length;
  return {
    'hit@10': ranks.filter((r) => r <= 10).length / n,
    mrr: ranks.reduce((a, r) => a + 1 / r, 0) / n,
    n,
  };
}

/** 1-based rank of an example's (single) hidden technique among its candidates, ties as in rankLogits. */
function hiddenRank(ex: GraphExample, logits: Float32Array): number {
  const { inputs, y } = ex;
  const h = y.indexOf(1);
  let rank = 1;
  for (let i = 0; i < inputs.t; i++) {
    if (i === h || y[i] === MASKED) continue;
    const better =
      logits[i]! - logits[h]! ||
      inputs.users[i]! - inputs.users[h]! ||
      inputs.ids[h]!.localeCompare(inputs.ids[i]!);
    if (better > 0) rank++;
  }
  return rank;
}

export function setGraph(model: Sequential, inputs: GnnInputs): void {
  const visit = (layers: readonly Layer[]): void => {
    for (const l of layers) {
      if (l instanceof GraphSage) l.setAdjacency(inputs.adjacency, inputs.n);
      else if (l instanceof Skip) visit(l.layers);
    }
  };
  visit(model.layers);
}

export function exportGnn(
  model: Sequential,
  inputs: GnnInputs,
  metadata: Record<string, string> = {},
): Uint8Array {
  return exportSequential(model, {
    inputShape: [inputs.f],
    name: 'vigil_next_technique_gnn',
    metadata: { architecture: GNN_ARCHITECTURE, features: String(inputs.f), ...metadata },
  });
}

export interface GnnScore {
  id: string;
  name: string;
  probability: number;
}

/** Softmax over the candidates (not observed) of the per-node logits; best first, ties by users then id. */
export function rankLogits(inputs: GnnInputs, logits: Float32Array, seen: ReadonlySet<number>): GnnScore[] {
  const cand: number[] = [];
  for (let i = 0; i < inputs.t; i++) if (!seen.has(i)) cand.push(i);
  let max = -Infinity;
  for (const i of cand) max = Math.max(max, logits[i]!);
  let sum = 0;
  for (const i of cand) sum += Math.exp(logits[i]! - max);
  const p = new Map(cand.map((i) => [i, Math.exp(logits[i]! - max) / sum]));
  cand.sort(
    (a, b) =>
      logits[b]! - logits[a]! ||
      inputs.users[b]! - inputs.users[a]! ||
      inputs.ids[a]!.localeCompare(inputs.ids[b]!),
  );
  return cand.map((i) => ({ id: inputs.ids[i]!, name: inputs.names[i]!, probability: p.get(i) ?? 0 }));
}

/** The exported GNN served by onnxruntime-node over a technique subgraph. */
export class OnnxGnn {
  private constructor(
    readonly inputs: GnnInputs,
    private readonly session: SwappableSession,
  ) {}

  static async create(onnx: Uint8Array, subgraph: AttackSubgraph): Promise<OnnxGnn> {
    const inputs = new GnnInputs(subgraph);
    const session = await SwappableSession.create(onnx);
    return new OnnxGnn(inputs, session);
  }

  /** Raw per-node logits for the observed set. */
  async logits(observed: readonly string[]): Promise<{ logits: Float32Array; seen: Set<number> }> {
    const { n, f } = this.inputs;
    const { x, seen } = this.inputs.features(observed);
    const res = await this.session.run({
      [INPUT_NAME]: new Tensor('float32', x, [n, f]),
      [ADJACENCY_NAME]: new Tensor('float32', this.inputs.adjacency, [n, n]),
    });
    const out = res[OUTPUT_NAME];
    if (out === undefined) throw new Error('gnn: model has no output');
    return { logits: out.data as Float32Array, seen };
  }

  /** Every candidate ranked, best first. */
  async rank(observed: readonly string[]): Promise<GnnScore[]> {
    const { logits, seen } = await this.logits(observed);
    return rankLogits(this.inputs, logits, seen);
  }

  close(): Promise<void> {
    return this.session.close();
  }
}
