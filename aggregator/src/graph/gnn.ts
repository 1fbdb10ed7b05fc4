// Next-technique prediction with a GNN over the query-augmented ATT&CK for ICS graph, built on the learning core
// (@vigil/models: a Layer in a Sequential; Trainer and Adam for the gradient fit), exported to ONNX and run with
// onnxruntime-node.
//
// Task. Inductive set completion: an attacker seen so far is the set O of observed techniques, and every technique c
// not in O is ranked by "will this attacker use c too?". The attacker is a new query node q linked to its observed
// techniques (as a new user is in user-item recommendation), so nothing is retrained per attacker.
//
// Graph (nothing invented; all from the bundle): technique nodes; entity nodes (groups, software, campaigns) joined to
// the techniques they use by the real `uses` edges; and a technique-technique edge type weighted by how much context
// two techniques share (Jaccard of their tactics and of the mitigations, assets and detection strategies linked to them
// by `in-tactic`, `mitigates`, `targets` and `detects`).
//
// Message passing from the query node, with five parameters (p, beta, lambda_ctx, lambda_pop, floor):
//   1. q -> techniques -> entities: overlap_E = |E & O| (sum over the `uses` edges of the observed techniques);
//      attention a_E = softmax_E(p (ln(overlap_E + 1e-6) - beta ln |E|)), a fitted similarity normalisation (beta)
//      and sharpening (p); an entity sharing nothing gets (1e-6)^p of the weight of one that shares a technique.
//   2. entities -> techniques: cf_c = sum_E a_E [c in E], the attention-weighted share of neighbours using c;
//   3. q -> techniques -> techniques over the context edges: ctx_c = mean over o in O of context(o, c);
//   read-out: logit_c = ln(cf_c + floor) + lambda_ctx ctx_c + lambda_pop ln(share of entities using c + 0.001).
// Rounds 1 and 2 are user-based collaborative filtering; Jaccard kNN is close to one setting of them (beta ~ 1,
// p = 1, top 10), so the model can represent the baseline and is fitted to weigh the neighbours better.
// `probability` is the softmax of the logits over the candidates (observed techniques excluded).
//
// Fitting (per training graph, so per fold of the evaluation): each training set with >= 2 techniques gives one
// query per technique hidden with the rest observed, each on the graph WITHOUT that set's own entity (as a held-out
// or unseen attacker is). The parameters are the point of SEARCH_GRID with the best hit@10 + MRR over these queries:
// the evaluation's own metrics, on the training entities only. The model is a learning-core Layer with exact
// gradients, and `fit: 'adam'` trains it with Adam on softmax cross-entropy or a smoothed MRR instead; both were worse
// on inner validation (the likelihood prefers smoother, worse-ranking parameters; models/EVAL.md), so the search is
// the default. A seeded share of the training sets is held aside first and scored (GNN and Jaccard kNN on the same
// queries) by a model fitted without them: the inner-validation figures; the served model is then fitted on all
// sets. Deterministic: the same data gives the same parameters.
import {
  Adam,
  Sequential,
  seededRng,
  shuffle,
  Trainer,
  type Layer,
  type Loss,
  type Param,
} from '@vigil/models';
import { SwappableSession } from '@vigil/models';
import { GraphBuilder } from '@vigil/models/onnx/graph-builder';
import { Tensor } from 'onnxruntime-node';
import { UsesStats, type UsesSet } from './stats.js';

export const GNN_ARCHITECTURE =
  'query-node GNN (inductive collaborative filtering): the observed set is a new node linked to its techniques; ' +
  'message passing query -> techniques -> groups/software/campaigns (uses edges; attention softmax of ' +
  'p (ln overlap - beta ln size)) -> techniques, plus query -> techniques -> techniques over context edges ' +
  '(Jaccard of shared tactics, mitigations, assets, detection strategies); read-out ln(cf + floor) + ' +
  'lambda_ctx ctx + lambda_pop ln(popularity + 0.001); 5 parameters fitted per training graph by maximising the ' +
  'hide-one hit@10 + MRR of its entities; softmax over candidates';

/** The subgraph the GNN runs over, as read from an attack graph store. */
export interface AttackSubgraph {
  /** Tactic ids in ICS matrix order. */
  tactics: string[];
  /**
   * Live techniques, with the ids of their tactics and of the mitigations, assets and detection strategies linked to
   * them (`mitigates`, `targets`, `detects`), sorted.
   */
  techniques: { id: string; name: string; tactics: string[]; context: string[] }[];
  /** The `uses` sets of groups, software and campaigns (technique ids). */
  uses: UsesSet[];
}

export interface GnnTrainOptions {
  seed: number;
  epochs: number;
  learningRate: number;
  /** Share of the training sets held aside (seeded) to report inner-validation figures; 0 for none. */
  validationShare: number;
  /**
   * How the parameters are fitted: 'search' maximises the training hit@10 + MRR over SEARCH_GRID; 'adam' runs
   * full-batch Adam on `loss` for `epochs` epochs from p = 1, beta = 0.5, lambdas 0, floor 0.001.
   */
  fit: 'search' | 'adam';
  /** Adam's loss: the smoothed reciprocal rank (approxMrrLoss) or softmax cross-entropy (maskedSoftmaxLoss). */
  loss: keyof typeof LOSSES;
}

/**
 * Chosen on inner validation only (models/EVAL.md): the model family (context edges, sharpening) on nested
 * leave-one-entity-out inside every 5th fold's training sets, the search fit over Adam on the held-aside split of
 * those folds. Epochs and learning rate apply to `fit: 'adam'` only (its loss has converged by 100 epochs).
 */
export const DEFAULT_TRAIN: GnnTrainOptions = {
  seed: 20261122,
  epochs: 100,
  learningRate: 0.05,
  validationShare: 0.2,
  fit: 'search',
  loss: 'softmax-ce',
};

/** ONNX input and output names. */
export const OBSERVED_NAME = 'observed';
export const USES_NAME = 'uses';
export const CONTEXT_NAME = 'context';
export const LOG_POPULARITY_NAME = 'log_popularity';
export const LOGITS_NAME = 'logits';

const OVERLAP_FLOOR = 1e-6;
const SCORE_FLOOR = 1e-3;
/** Initial parameters of the Adam fit: cosine-like normalisation, no sharpening, no context or popularity. */
const INIT = { p: 1, beta: 0.5, context: 0, popularity: 0, logFloor: Math.log(SCORE_FLOOR) } as const;

/**
 * The subgraph as the model's inputs: techniques sorted by id, the entities with at least one live technique sorted
 * by id, `uses` [T, M] (1 where entity m uses technique t), the technique-technique context weights [T, T] and
 * ln(share of entities using t + 0.001) [T].
 */
export class GnnInputs {
  /** Techniques. */
  readonly t: number;
  /** Entities. */
  readonly m: number;
  readonly ids: readonly string[];
  readonly names: readonly string[];
  readonly entities: readonly string[];
  readonly index = new Map<string, number>();
  /** Entities using each technique (ties in the ranking go to the more used technique). */
  readonly users: Int32Array;
  readonly uses: Float32Array;
  readonly logSize: Float32Array;
  readonly context: Float32Array;
  readonly logPopularity: Float32Array;

  constructor(g: AttackSubgraph) {
    const techniques = [...g.techniques].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    this.ids = techniques.map((t) => t.id);
    this.names = techniques.map((t) => t.name);
    this.ids.forEach((id, i) => this.index.set(id, i));
    const sets = g.uses
      .map((s) => ({ entity: s.entity, rows: [...new Set(s.techniques)].map((x) => this.index.get(x)) }))
      .map((s) => ({ entity: s.entity, rows: s.rows.filter((r) => r !== undefined) }))
      .filter((s) => s.rows.length > 0)
      .sort((a, b) => a.entity.localeCompare(b.entity));
    this.t = this.ids.length;
    this.m = sets.length;
    this.entities = sets.map((s) => s.entity);
    this.uses = new Float32Array(this.t * this.m);
    this.logSize = new Float32Array(this.m);
    this.users = new Int32Array(this.t);
    sets.forEach((s, e) => {
      this.logSize[e] = Math.log(s.rows.length);
      for (const r of s.rows) {
        this.uses[r * this.m + e] = 1;
        this.users[r]!++;
      }
    });
    this.logPopularity = Float32Array.from(this.users, (u) =>
      Math.log((this.m === 0 ? 0 : u / this.m) + SCORE_FLOOR),
    );
    const bags = techniques.map((t) => new Set([...t.tactics, ...t.context]));
    this.context = new Float32Array(this.t * this.t);
    for (let a = 0; a < this.t; a++)
      for (let b = 0; b < this.t; b++) {
        const A = bags[a]!;
        const B = bags[b]!;
        let inter = 0;
        for (const x of A) if (B.has(x)) inter++;
        const union = A.size + B.size - inter;
        this.context[a * this.t + b] = union === 0 ? 0 : inter / union;
      }
  }

  /** The observed vector (1 per observed technique; unknown ids are ignored) and the observed rows. */
  observed(ids: readonly string[]): { x: Float32Array; seen: Set<number> } {
    const x = new Float32Array(this.t);
    const seen = new Set<number>();
    for (const id of ids) {
      const i = this.index.get(id);
      if (i === undefined) continue;
      x[i] = 1;
      seen.add(i);
    }
    return { x, seen };
  }
}

/**
 * The message passing above as a learning-core Layer: input the observed vector [T], output one logit per technique.
 * The graph is set with setGraph (each training example is seen on its own graph). Parameters, in order: p, beta,
 * lambda_ctx, lambda_pop.
 */
export class QueryGnnLayer implements Layer {
  readonly kind = 'query-gnn';
  readonly params: readonly Param[];
  private g: GnnInputs | undefined;
  // Caches of the last forward pass, for backward.
  private logOverlap = new Float32Array(0);
  private attention = new Float32Array(0);
  private cf = new Float32Array(0);
  private ctx = new Float32Array(0);
  private observedCount = 0;

  constructor() {
    const scalar = (name: string, v: number): Param => ({
      name,
      shape: [1],
      value: Float32Array.of(v),
      grad: new Float32Array(1),
    });
    this.params = [
      scalar('p', INIT.p),
      scalar('beta', INIT.beta),
      scalar('lambda_ctx', INIT.context),
      scalar('lambda_pop', INIT.popularity),
      scalar('log_floor', INIT.logFloor),
    ];
  }

  setGraph(g: GnnInputs): void {
    this.g = g;
  }

  private graph(): GnnInputs {
    if (this.g === undefined) throw new Error('query-gnn: no graph set');
    return this.g;
  }

  private value(i: number): number {
    return this.params[i]!.value[0]!;
  }

  outputLength(inputLength: number): number {
    const { t } = this.graph();
    if (inputLength !== t)
      throw new Error(`query-gnn: input length ${inputLength}, the graph has ${t} techniques`);
    return t;
  }

  forward(x: Float32Array): Float32Array {
    const g = this.graph();
    const { t, m } = g;
    this.outputLength(x.length);
    const [p, beta, lc, lp] = [this.value(0), this.value(1), this.value(2), this.value(3)];
    const floor = Math.exp(this.value(4));
    const overlap = new Float64Array(m);
    for (let i = 0; i < t; i++) {
      if (x[i] === 0) continue;
      for (let e = 0; e < m; e++) overlap[e]! += x[i]! * g.uses[i * m + e]!;
    }
    this.logOverlap = Float32Array.from(overlap, (o) => Math.log(o + OVERLAP_FLOOR));
    const s = Float64Array.from(this.logOverlap, (lo, e) => p * (lo - beta * g.logSize[e]!));
    let max = -Infinity;
    for (const v of s) if (v > max) max = v;
    let sum = 0;
    for (let e = 0; e < m; e++) sum += Math.exp(s[e]! - max);
    this.attention = Float32Array.from(s, (v) => Math.exp(v - max) / sum);
    this.cf = new Float32Array(t);
    for (let i = 0; i < t; i++) {
      let c = 0;
      for (let e = 0; e < m; e++) c += this.attention[e]! * g.uses[i * m + e]!;
      this.cf[i] = c;
    }
    let n = 0;
    for (const v of x) n += v;
    this.observedCount = n;
    const perObserved = 1 / Math.max(n, 1);
    this.ctx = new Float32Array(t);
    for (let o = 0; o < t; o++) {
      if (x[o] === 0) continue;
      for (let c = 0; c < t; c++) this.ctx[c]! += x[o]! * g.context[o * t + c]! * perObserved;
    }
    return Float32Array.from(
      this.cf,
      (cf, c) => Math.log(cf + floor) + lc * this.ctx[c]! + lp * g.logPopularity[c]!,
    );
  }

  backward(dy: Float32Array): Float32Array {
    const g = this.graph();
    const { t, m } = g;
    const [p, beta, lc] = [this.value(0), this.value(1), this.value(2)];
    const floor = Math.exp(this.value(4));
    let dLc = 0;
    let dLp = 0;
    let dFloor = 0;
    const r = new Float64Array(m);
    for (let c = 0; c < t; c++) {
      dLc += dy[c]! * this.ctx[c]!;
      dLp += dy[c]! * g.logPopularity[c]!;
      const h = dy[c]! / (this.cf[c]! + floor);
      dFloor += h * floor;
      if (h === 0) continue;
      for (let e = 0; e < m; e++) r[e]! += h * g.uses[c * m + e]!;
    }
    let mean = 0;
    for (let e = 0; e < m; e++) mean += this.attention[e]! * r[e]!;
    let dP = 0;
    let dBeta = 0;
    const dOverlap = new Float64Array(m);
    for (let e = 0; e < m; e++) {
      const sigma = this.attention[e]! * (r[e]! - mean);
      dP += sigma * (this.logOverlap[e]! - beta * g.logSize[e]!);
      dBeta -= sigma * p * g.logSize[e]!;
      dOverlap[e] = (sigma * p) / Math.exp(this.logOverlap[e]!);
    }
    this.params[0]!.grad[0]! += dP;
    this.params[1]!.grad[0]! += dBeta;
    this.params[2]!.grad[0]! += dLc;
    this.params[3]!.grad[0]! += dLp;
    this.params[4]!.grad[0]! += dFloor;
    // dL/dx: through the overlaps and through the context mean (sum of x_o C[o, c] / max(n, 1)).
    const dx = new Float32Array(t);
    const perObserved = 1 / Math.max(this.observedCount, 1);
    let ctxDot = 0;
    for (let c = 0; c < t; c++) ctxDot += dy[c]! * this.ctx[c]!;
    for (let i = 0; i < t; i++) {
      let v = 0;
      for (let e = 0; e < m; e++) v += g.uses[i * m + e]! * dOverlap[e]!;
      let w = 0;
      for (let c = 0; c < t; c++) w += dy[c]! * g.context[i * t + c]!;
      v += lc * perObserved * w;
      if (this.observedCount > 1) v -= lc * perObserved * ctxDot;
      dx[i] = v;
    }
    return dx;
  }
}

/** Target marker for observed techniques: excluded from the softmax. */
const MASKED = -1;

/**
 * Softmax cross-entropy over the techniques whose target is not MASKED; targets are 1 for hidden (positive) techniques
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

/** Temperature of the sigmoid that smooths the rank in approxMrrLoss (logit units). */
export const RANK_TEMPERATURE = 0.5;

/**
 * Minus a smoothed reciprocal rank of the hidden technique (ApproxRank, Qin, Liu & Li 2010): rank ~ 1 + sum over the
 * other candidates c of sigmoid((z_c - z_h) / T). Targets as for maskedSoftmaxLoss, with exactly one hidden (1)
 * technique. The evaluation's metric is the rank, so the model is trained on it: a likelihood loss (softmax cross-
 * entropy) preferred smoother, worse-ranking parameters (models/EVAL.md).
 */
export const approxMrrLoss: Loss = (z, y, grad) => {
  grad.fill(0);
  const h = y.indexOf(1);
  if (h < 0) throw new Error('gnn loss: an example needs a hidden technique');
  let rank = 1;
  const sig = new Float64Array(z.length);
  for (let c = 0; c < z.length; c++) {
    if (c === h || y[c] === MASKED) continue;
    sig[c] = 1 / (1 + Math.exp(-(z[c]! - z[h]!) / RANK_TEMPERATURE));
    rank += sig[c]!;
  }
  const k = 1 / (rank * rank * RANK_TEMPERATURE);
  for (let c = 0; c < z.length; c++) {
    if (c === h || y[c] === MASKED) continue;
    const d = k * sig[c]! * (1 - sig[c]!);
    grad[c] = d;
    grad[h]! -= d;
  }
  return -1 / rank;
};

export function buildGnnModel(): Sequential {
  return new Sequential([new QueryGnnLayer()]);
}

export function gnnLayer(model: Sequential): QueryGnnLayer {
  const layer = model.layers[0];
  if (!(layer instanceof QueryGnnLayer) || model.layers.length !== 1)
    throw new Error('gnn: the model is not one query-gnn layer');
  return layer;
}

/** The learned parameters by name. */
export function gnnParameters(model: Sequential): Record<string, number> {
  return Object.fromEntries(gnnLayer(model).params.map((p) => [p.name, p.value[0]!]));
}

const LOSSES = { 'approx-mrr': approxMrrLoss, 'softmax-ce': maskedSoftmaxLoss } as const;

/** One training example and the graph it is seen on. */
interface GraphExample {
  inputs: GnnInputs;
  x: Float32Array;
  y: Float32Array;
}

function example(inputs: GnnInputs, observed: readonly string[], hidden: string): GraphExample {
  const { x, seen } = inputs.observed(observed);
  const y = new Float32Array(inputs.t);
  for (const i of seen) y[i] = MASKED;
  const h = inputs.index.get(hidden);
  if (h !== undefined && !seen.has(h)) y[h] = 1;
  return { inputs, x, y };
}

/** Leave-one-out examples of each set with >= 2 techniques, each on the graph of `sets` without that set. */
function looExamples(base: Omit<AttackSubgraph, 'uses'>, sets: readonly UsesSet[]): GraphExample[] {
  const known = new Set(base.techniques.map((t) => t.id));
  const out: GraphExample[] = [];
  for (const s of sets) {
    const ts = [...new Set(s.techniques)].filter((t) => known.has(t)).sort();
    if (ts.length < 2) continue;
    const without = new GnnInputs({ ...base, uses: sets.filter((o) => o !== s) });
    for (const h of ts)
      out.push(
        example(
          without,
          ts.filter((t) => t !== h),
          h,
        ),
      );
  }
  return out;
}

/**
 * The parameter grid of the search fit: attention sharpening p and size normalisation beta, context and popularity
 * weights, the floor of the neighbour vote (log_floor = ln floor).
 */
export const SEARCH_GRID = {
  p: [2, 4, 8, 16],
  beta: [0.5, 0.75, 1],
  lambda_ctx: [0, 1, 2, 4],
  lambda_pop: [0],
  log_floor: [Math.log(1e-3), Math.log(1e-2)],
} as const;

/** 1-based rank of the example's hidden technique among its candidates, ties as in rankLogits. */
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

/**
 * Fits the parameters by maximising hit@10 + MRR of the training examples (the evaluation's own metrics) over
 * SEARCH_GRID; the first best in grid order wins. Returns the objective of the kept parameters.
 */
function fitSearch(examples: readonly GraphExample[]): { model: Sequential; objective: number } {
  const model = buildGnnModel();
  const layer = gnnLayer(model);
  const g = SEARCH_GRID;
  let best: number[] = layer.params.map((q) => q.value[0]!);
  let bestObjective = -Infinity;
  for (const p of g.p)
    for (const beta of g.beta)
      for (const lc of g.lambda_ctx)
        for (const lp of g.lambda_pop)
          for (const lf of g.log_floor) {
            const values = [p, beta, lc, lp, lf];
            values.forEach((v, i) => (layer.params[i]!.value[0] = v));
            let objective = 0;
            for (const ex of examples) {
              layer.setGraph(ex.inputs);
              const r = hiddenRank(ex, model.forward(ex.x));
              objective += (r <= 10 ? 1 : 0) + 1 / r;
            }
            objective /= Math.max(1, examples.length);
            if (objective > bestObjective) {
              bestObjective = objective;
              best = values;
            }
          }
  best.forEach((v, i) => (layer.params[i]!.value[0] = v));
  return { model, objective: bestObjective };
}

function fitAdam(
  examples: readonly GraphExample[],
  opts: GnnTrainOptions,
): { model: Sequential; losses: number[] } {
  const model = buildGnnModel();
  const layer = gnnLayer(model);
  const trainer = new Trainer({
    model,
    loss: LOSSES[opts.loss],
    optimizer: new Adam({ learningRate: opts.learningRate }),
  });
  const acc = new Float32Array(model.parameterCount);
  const losses: number[] = [];
  for (let e = 0; e < opts.epochs && examples.length > 0; e++) {
    acc.fill(0);
    let total = 0;
    for (const ex of examples) {
      layer.setGraph(ex.inputs);
      const { loss, grad } = trainer.exampleGradient(ex);
      total += loss;
      for (let j = 0; j < acc.length; j++) acc[j]! += grad[j]! / examples.length;
    }
    trainer.applyGradient(acc);
    losses.push(total / examples.length);
  }
  return { model, losses };
}

function fit(
  examples: readonly GraphExample[],
  opts: GnnTrainOptions,
): { model: Sequential; losses: number[]; objective: number } {
  if (opts.fit === 'search') return { ...fitSearch(examples), losses: [] };
  const { model, losses } = fitAdam(examples, opts);
  const layer = gnnLayer(model);
  let objective = 0;
  for (const ex of examples) {
    layer.setGraph(ex.inputs);
    const r = hiddenRank(ex, model.forward(ex.x));
    objective += (r <= 10 ? 1 : 0) + 1 / r;
  }
  return { model, losses, objective: objective / Math.max(1, examples.length) };
}

export interface ValidationMetrics {
  'hit@10': number;
  mrr: number;
  n: number;
}

export interface TrainedGnn {
  model: Sequential;
  /** The graph of all training sets: what the model is served over. */
  inputs: GnnInputs;
  /** Mean training loss per epoch (Adam fit only). */
  losses: number[];
  /** Training hit@10 + MRR of the kept parameters (leave-one-out queries of the training sets). */
  objective: number;
  /**
   * hit@10 and MRR on the inner validation split (leave-one-out queries of the held-aside training sets, each on the
   * graph without it) of a model trained without those sets, and of Jaccard kNN on the same queries. Absent without
   * a split.
   */
  validation?: { gnn: ValidationMetrics; knn: ValidationMetrics };
}

/** Trains the GNN on `sets` (after scoring an inner validation split, see the file comment). Deterministic. */
export function trainGnn(
  base: Omit<AttackSubgraph, 'uses'>,
  sets: readonly UsesSet[],
  opts: GnnTrainOptions = DEFAULT_TRAIN,
): TrainedGnn {
  const inputs = new GnnInputs({ ...base, uses: [...sets] });
  let validation: TrainedGnn['validation'];
  const usable = sets.filter((s) => s.techniques.filter((t) => inputs.index.has(t)).length >= 2);
  const held = Math.min(usable.length - 1, Math.round(usable.length * opts.validationShare));
  if (held > 0) {
    const order = usable.map((_, i) => i);
    shuffle(order, seededRng(opts.seed));
    const aside = new Set(order.slice(0, held).map((i) => usable[i]!));
    const kept = sets.filter((s) => !aside.has(s));
    const { model } = fit(looExamples(base, kept), opts);

    const layer = gnnLayer(model);
    const gnnRanks: number[] = [];
    const knnRanks: number[] = [];
    const tacticOrder = new Map<string, number>();
    for (const s of aside) {
      const ts = [...new Set(s.techniques)].filter((t) => inputs.index.has(t)).sort();
      const g = new GnnInputs({ ...base, uses: kept });
      const stats = new UsesStats(g.ids, kept, tacticOrder);
      for (const h of ts) {
        const observed = ts.filter((t) => t !== h);
        layer.setGraph(g);
        const { x, seen } = g.observed(observed);
        const ranked = rankLogits(g, model.forward(x), seen).map((r) => r.id);
        gnnRanks.push(ranked.indexOf(h) + 1);
        knnRanks.push(
          stats
            .rank('jaccard-knn', observed)
            .map((r) => r.id)
            .indexOf(h) + 1,
        );
      }
    }
    validation = { gnn: rankMetrics(gnnRanks), knn: rankMetrics(knnRanks) };
  }
  const { model, losses, objective } = fit(looExamples(base, sets), opts);
  gnnLayer(model).setGraph(inputs);
  return { model, inputs, losses, objective, ...(validation === undefined ? {} : { validation }) };
}

function rankMetrics(ranks: readonly number[]): ValidationMetrics {
  const n = ranks.length;
  return {
    'hit@10': n === 0 ? 0 : ranks.filter((r) => r <= 10).length / n,
    mrr: n === 0 ? 0 : ranks.reduce((a, r) => a + 1 / r, 0) / n,
    n,
  };
}

/**
 * The model as ONNX: inputs `observed` [1, T], `uses` [T, M], `context` [T, T], `log_popularity` [1, T] (the graph,
 * read from the store at serving time); output `logits` [1, T]. The learned parameters are initializers.
 */
export function exportGnn(model: Sequential, metadata: Record<string, string> = {}): Uint8Array {
  const params = gnnParameters(model);
  const b = new GraphBuilder();
  const scalar = (name: string, v: number) => b.floatInit(name, [], Float32Array.of(v));
  const [overlap] = b.node('MatMul', [OBSERVED_NAME, USES_NAME]) as [string];
  const [logOverlap] = b.node('Log', [b.node('Add', [overlap, scalar('floor', OVERLAP_FLOOR)])[0]!]) as [
    string,
  ];
  const [size] = b.node('ReduceSum', [USES_NAME, b.int64Init('axis0', [0])], { keepdims: 1 }) as [string];
  const [logSize] = b.node('Log', [size]) as [string];
  const [scaledSize] = b.node('Mul', [logSize, scalar('beta', params.beta!)]) as [string];
  const [diff] = b.node('Sub', [logOverlap, scaledSize]) as [string];
  const [s] = b.node('Mul', [diff, scalar('p', params.p!)]) as [string];
  const [attention] = b.node('Softmax', [s], { axis: 1 }) as [string];
  const [usesT] = b.node('Transpose', [USES_NAME], { perm: [1, 0] }) as [string];
  const [cf] = b.node('MatMul', [attention, usesT]) as [string];
  const [logCf] = b.node('Log', [b.node('Add', [cf, scalar('floor', Math.exp(params.log_floor!))])[0]!]) as [
    string,
  ];
  const [count] = b.node('ReduceSum', [OBSERVED_NAME], { keepdims: 1 }) as [string];
  const [denominator] = b.node('Max', [count, scalar('one', 1)]) as [string];
  const [ctxSum] = b.node('MatMul', [OBSERVED_NAME, CONTEXT_NAME]) as [string];
  const [ctx] = b.node('Div', [ctxSum, denominator]) as [string];
  const [ctxTerm] = b.node('Mul', [ctx, scalar('lambda_ctx', params.lambda_ctx!)]) as [string];
  const [popTerm] = b.node('Mul', [LOG_POPULARITY_NAME, scalar('lambda_pop', params.lambda_pop!)]) as [
    string,
  ];
  const [sum1] = b.node('Add', [logCf, ctxTerm]) as [string];
  const [logits] = b.node('Add', [sum1, popTerm]) as [string];
  b.output(logits, LOGITS_NAME);
  return b.encode({
    name: 'vigil_next_technique_gnn',
    inputs: [
      { name: OBSERVED_NAME, shape: [1, 'T'] },
      { name: USES_NAME, shape: ['T', 'M'] },
      { name: CONTEXT_NAME, shape: ['T', 'T'] },
      { name: LOG_POPULARITY_NAME, shape: [1, 'T'] },
    ],
    outputs: [{ name: LOGITS_NAME, shape: [1, 'T'] }],
    metadata: {
      architecture: GNN_ARCHITECTURE,
      ...Object.fromEntries(Object.entries(params).map(([k, v]) => [k, String(v)])),
      ...metadata,
    },
  });
}

export interface GnnScore {
  id: string;
  name: string;
  probability: number;
}

/** Softmax over the candidates (not observed) of the logits; best first, ties by users then id. */
export function rankLogits(inputs: GnnInputs, logits: Float32Array, seen: ReadonlySet<number>): GnnScore[] {
  const cand: number[] = [];
  for (let i = 0; i < inputs.t; i++) if (!seen.has(i)) cand.push(i);
  let max = -Infinity;
  for (const i of cand) max = Math.max(max, logits[i]!);
  let sum = 0;
  for (const i of cand) sum += Math.exp(logits[i]! - max);
  cand.sort(
    (a, b) =>
      logits[b]! - logits[a]! ||
      inputs.users[b]! - inputs.users[a]! ||
      inputs.ids[a]!.localeCompare(inputs.ids[b]!),
  );
  return cand.map((i) => ({
    id: inputs.ids[i]!,
    name: inputs.names[i]!,
    probability: Math.exp(logits[i]! - max) / sum,
  }));
}

/** The exported GNN served by onnxruntime-node over a subgraph read from an attack graph store. */
export class OnnxGnn {
  private readonly graphFeeds: Record<string, Tensor>;

  private constructor(
    readonly inputs: GnnInputs,
    private readonly session: SwappableSession,
  ) {
    const { t, m } = inputs;
    this.graphFeeds = {
      [USES_NAME]: new Tensor('float32', inputs.uses, [t, m]),
      [CONTEXT_NAME]: new Tensor('float32', inputs.context, [t, t]),
      [LOG_POPULARITY_NAME]: new Tensor('float32', inputs.logPopularity, [1, t]),
    };
  }

  static async create(onnx: Uint8Array, subgraph: AttackSubgraph): Promise<OnnxGnn> {
    const inputs = new GnnInputs(subgraph);
    const session = await SwappableSession.create(onnx);
    return new OnnxGnn(inputs, session);
  }

  /** Logits of every technique for the observed set. */
  async logits(observed: readonly string[]): Promise<{ logits: Float32Array; seen: Set<number> }> {
    const { x, seen } = this.inputs.observed(observed);
    const res = await this.session.run({
      ...this.graphFeeds,
      [OBSERVED_NAME]: new Tensor('float32', x, [1, this.inputs.t]),
    });
    const out = res[LOGITS_NAME];
    if (out === undefined) throw new Error('gnn: model has no logits output');
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
