// Statistics derived from the real `uses` sets of ATT&CK for ICS groups, software and campaigns, and the three
// statistical rankers built on them. Nothing here is an invented constant: every number is a count over the sets.
//
// - popularity(c): share of entities whose uses include c.
// - co-occurrence(a, b): number of entities whose uses include both a and b (unordered).
// - transition a -> b ("followed-by"): number of entities using both where a's earliest tactic comes strictly before
//   b's earliest tactic in the ICS matrix order (a set ordered by tactic; same-tactic pairs are not transitions).
//
// Rankers (each excludes the observed techniques; ties go to the more popular technique, then the smaller id):
// - popularity: P(c) as above, ignoring what was observed.
// - co-occurrence: P(c | O) = mean over observed o (used by at least one entity) of cooc(o, c) / users(o), i.e. the
//   average of the empirical conditional probabilities that an entity using o also uses c.
// - Jaccard kNN: the K = 10 training sets most similar to O by Jaccard index vote for their techniques, weighted by
//   similarity and normalised by the total similarity: the similarity-weighted share of neighbours using c.
// Scores are rounded to 1e-9 so that implementations summing in another order rank ties identically.

export interface UsesSet {
  /** ATT&CK id of the group, software or campaign. */
  entity: string;
  /** Sorted technique ids. */
  techniques: string[];
}

export interface PairCount {
  source: string;
  target: string;
  count: number;
}

export interface Scored {
  id: string;
  score: number;
}

export const KNN_NEIGHBOURS = 10;

export type RankerName = 'popularity' | 'cooccurrence' | 'jaccard-knn';
export const RANKERS: readonly RankerName[] = ['popularity', 'cooccurrence', 'jaccard-knn'];
/** Rankers an AttackGraph can serve: the ones that use the observed techniques. */
export type ServedRanker = Exclude<RankerName, 'popularity'>;
/**
 * What nextTechniques serves by default, and what the product falls back to when the GNN (which it serves, see
 * predictor.ts) cannot be opened: the best statistical ranker of the leave-one-entity-out evaluation (models/EVAL.md,
 * `npm run eval:predict`): Jaccard kNN.
 */
export const SERVED_RANKER: ServedRanker = 'jaccard-knn';

export function roundScore(x: number): number {
  return Math.round(x * 1e9) / 1e9;
}

export class UsesStats {
  /** Technique ids, sorted. */
  readonly techniques: readonly string[];
  private readonly index = new Map<string, number>();
  /** users[i]: number of sets containing technique i. */
  readonly users: Int32Array;
  /** cooc[i * n + j]: number of sets containing both i and j (i != j). */
  private readonly cooc: Int32Array;
  /** trans[i * n + j]: number of sets where i's earliest tactic precedes j's. */
  private readonly trans: Int32Array;
  private readonly sets: number[][];

  constructor(
    techniques: readonly string[],
    sets: readonly UsesSet[],
    tacticOrder: ReadonlyMap<string, number>,
  ) {
    this.techniques = [...techniques].sort();
    this.techniques.forEach((t, i) => this.index.set(t, i));
    const n = this.techniques.length;
    this.users = new Int32Array(n);
    this.cooc = new Int32Array(n * n);
    this.trans = new Int32Array(n * n);
    this.sets = [];
    for (const s of sets) {
      const idx = [...new Set(s.techniques)]
        .map((t) => this.index.get(t))
        .filter((i) => i !== undefined)
        .sort((a, b) => a - b);
      if (idx.length === 0) continue;
      this.sets.push(idx);
      for (const i of idx) this.users[i] = (this.users[i] ?? 0) + 1;
      for (const i of idx) {
        const oi = tacticOrder.get(this.techniques[i] ?? '');
        for (const j of idx) {
          if (i === j) continue;
          this.cooc[i * n + j] = (this.cooc[i * n + j] ?? 0) + 1;
          const oj = tacticOrder.get(this.techniques[j] ?? '');
          if (oi !== undefined && oj !== undefined && oi < oj)
            this.trans[i * n + j] = (this.trans[i * n + j] ?? 0) + 1;
        }
      }
    }
  }

  get setCount(): number {
    return this.sets.length;
  }

  usersOf(id: string): number {
    const i = this.index.get(id);
    return i === undefined ? 0 : (this.users[i] ?? 0);
  }

  /** Unordered co-occurring pairs, each once with source < target. */
  cooccurrencePairs(): PairCount[] {
    const n = this.techniques.length;
    const out: PairCount[] = [];
    for (let i = 0; i < n; i++)
      for (let j = i + 1; j < n; j++) {
        const c = this.cooc[i * n + j] ?? 0;
        if (c > 0) out.push({ source: this.techniques[i] ?? '', target: this.techniques[j] ?? '', count: c });
      }
    return out;
  }

  transitionPairs(): PairCount[] {
    const n = this.techniques.length;
    const out: PairCount[] = [];
    for (let i = 0; i < n; i++)
      for (let j = 0; j < n; j++) {
        const c = this.trans[i * n + j] ?? 0;
        if (c > 0) out.push({ source: this.techniques[i] ?? '', target: this.techniques[j] ?? '', count: c });
      }
    return out;
  }

  /** Row of each id in `techniques` (unknown ids are skipped). */
  indicesOf(ids: readonly string[]): Set<number> {
    const seen = new Set<number>();
    for (const o of ids) {
      const i = this.index.get(o);
      if (i !== undefined) seen.add(i);
    }
    return seen;
  }

  /**
   * The score of every technique (indexed like `techniques`, observed ones included) under `ranker` given the
   * observed rows: what `rank` sorts.
   */
  scores(ranker: RankerName, seen: ReadonlySet<number>): Float64Array {
    return ranker === 'popularity'
      ? this.popularityScores()
      : ranker === 'cooccurrence'
        ? this.cooccurrenceScores(seen)
        : this.knnScores(seen);
  }

  /** Scores of every technique not in `observed` under `ranker`, best first (ties: popularity, then id). */
  rank(ranker: RankerName, observed: readonly string[]): Scored[] {
    const seen = this.indicesOf(observed);
    const scores = this.scores(ranker, seen);
    const order: number[] = [];
    for (let i = 0; i < this.techniques.length; i++) if (!seen.has(i)) order.push(i);
    order.sort(
      (a, b) =>
        (scores[b] ?? 0) - (scores[a] ?? 0) ||
        (this.users[b] ?? 0) - (this.users[a] ?? 0) ||
        (this.techniques[a] ?? '').localeCompare(this.techniques[b] ?? ''),
    );
    return order.map((i) => ({ id: this.techniques[i] ?? '', score: scores[i] ?? 0 }));
  }

  private popularityScores(): Float64Array {
    const s = new Float64Array(this.techniques.length);
    const m = this.sets.length;
    if (m === 0) return s;
    for (let i = 0; i < s.length; i++) s[i] = roundScore((this.users[i] ?? 0) / m);
    return s;
  }

  private cooccurrenceScores(seen: ReadonlySet<number>): Float64Array {
    return this.meanConditional(seen, this.cooc);
  }

  /**
   * Mean over the observed techniques o used by at least one entity of pairs(o, c) / users(o): the empirical
   * probability that an entity using o also has c (co-occurrence) or c in a later tactic (transitions).
   */
  private meanConditional(seen: ReadonlySet<number>, pairs: ArrayLike<number>): Float64Array {
    const n = this.techniques.length;
    const s = new Float64Array(n);
    const evidence = [...seen].filter((o) => (this.users[o] ?? 0) > 0);
    if (evidence.length === 0) return s;
    for (const o of evidence) {
      const u = this.users[o] ?? 1;
      for (let c = 0; c < n; c++) s[c] = (s[c] ?? 0) + (pairs[o * n + c] ?? 0) / u;
    }
    for (let c = 0; c < n; c++) s[c] = roundScore((s[c] ?? 0) / evidence.length);
    return s;
  }

  private knnScores(seen: ReadonlySet<number>): Float64Array {
    const s = new Float64Array(this.techniques.length);
    if (seen.size === 0) return s;
    const sims = this.sets
      .map((set, k) => {
        let inter = 0;
        for (const i of set) if (seen.has(i)) inter++;
        return { k, sim: inter / (set.length + seen.size - inter) };
      })
      .filter((x) => x.sim > 0)
      .sort((a, b) => b.sim - a.sim || a.k - b.k)
      .slice(0, KNN_NEIGHBOURS);
    const total = sims.reduce((acc, x) => acc + x.sim, 0);
    if (total === 0) return s;
    for (const { k, sim } of sims) for (const i of this.sets[k] ?? []) s[i] = (s[i] ?? 0) + sim / total;
    for (let i = 0; i < s.length; i++) s[i] = roundScore(s[i] ?? 0);
    return s;
  }
}
