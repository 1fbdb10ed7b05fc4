// Leave-one-entity-out evaluation of next-technique rankers over the real ATT&CK for ICS `uses` sets.
// For each group, software or campaign with at least two techniques: drop its uses from the training sets, rebuild
// the statistics, then hide each of its techniques in turn and rank every technique not observed given the rest.
// Metrics per query: hit@k (hidden technique within the top k) and reciprocal rank. 95% intervals come from a
// bootstrap that resamples entities (queries of one entity are not independent).
import { UsesStats, type RankerName, type UsesSet } from './stats.js';
import { seededRng } from '@vigil/models';

export const HIT_KS = [1, 3, 5, 10] as const;

export interface Query {
  entity: string;
  /** 'single' protocol only: the one observed technique. */
  given?: string;
  hidden: string;
  /** 1-based rank of the hidden technique among all techniques not observed. */
  rank: number;
}

export interface Metrics {
  'hit@1': number;
  'hit@3': number;
  'hit@5': number;
  'hit@10': number;
  mrr: number;
  n: number;
}

export interface MetricsWithCi extends Metrics {
  /** 95% bootstrap interval of each metric, [low, high]. */
  ci95: Record<Exclude<keyof Metrics, 'n'>, [number, number]>;
}

export interface EvalInput {
  techniques: readonly string[];
  usesSets: readonly UsesSet[];
  tacticOrder: ReadonlyMap<string, number>;
}

/**
 * How the held-out entity's techniques are split into observed and hidden:
 * - 'leave-one-out' (the protocol): each technique hidden in turn, all the others observed;
 * - 'single' (what the product does: it predicts from one alert's technique): each ordered pair (t, h) of distinct
 *   techniques, t alone observed, h hidden.
 */
export type Protocol = 'leave-one-out' | 'single';

export function splitsOf(
  techniques: readonly string[],
  protocol: Protocol,
): { observed: string[]; hidden: string; given?: string }[] {
  if (protocol === 'leave-one-out')
    return techniques.map((hidden) => ({ observed: techniques.filter((t) => t !== hidden), hidden }));
  return techniques.flatMap((given) =>
    techniques.filter((h) => h !== given).map((hidden) => ({ observed: [given], hidden, given })),
  );
}

export function leaveOneEntityOut(
  input: EvalInput,
  ranker: RankerName,
  protocol: Protocol = 'leave-one-out',
): Query[] {
  const queries: Query[] = [];
  for (const held of input.usesSets) {
    if (held.techniques.length < 2) continue;
    const training = input.usesSets.filter((s) => s.entity !== held.entity);
    const stats = new UsesStats(input.techniques, training, input.tacticOrder);
    for (const { observed, hidden, given } of splitsOf(held.techniques, protocol)) {
      const ranked = stats.rank(ranker, observed);
      const at = ranked.findIndex((s) => s.id === hidden);
      queries.push({
        entity: held.entity,
        ...(given === undefined ? {} : { given }),
        hidden,
        rank: at < 0 ? ranked.length + 1 : at + 1,
      });
    }
  }
  return queries;
}

export function metrics(queries: readonly Query[]): Metrics {
  const n = queries.length;
  const mean = (f: (q: Query) => number) => (n === 0 ? 0 : queries.reduce((a, q) => a + f(q), 0) / n);
  return {
    'hit@1': mean((q) => (q.rank <= 1 ? 1 : 0)),
    'hit@3': mean((q) => (q.rank <= 3 ? 1 : 0)),
    'hit@5': mean((q) => (q.rank <= 5 ? 1 : 0)),
    'hit@10': mean((q) => (q.rank <= 10 ? 1 : 0)),
    mrr: mean((q) => 1 / q.rank),
    n,
  };
}

export function withBootstrap(queries: readonly Query[], resamples = 2000, seed = 20261122): MetricsWithCi {
  const byEntity = new Map<string, Query[]>();
  for (const q of queries) byEntity.set(q.entity, [...(byEntity.get(q.entity) ?? []), q]);
  const groups = [...byEntity.values()];
  const rng = seededRng(seed);
  const rand = (): number => rng.next();
  const keys = ['hit@1', 'hit@3', 'hit@5', 'hit@10', 'mrr'] as const;
  const samples: Record<(typeof keys)[number], number[]> = {
    'hit@1': [],
    'hit@3': [],
    'hit@5': [],
    'hit@10': [],
    mrr: [],
  };
  for (let b = 0; b < resamples && groups.length > 0; b++) {
    const pooled: Query[] = [];
    for (let i = 0; i < groups.length; i++)
      pooled.push(...(groups[Math.floor(rand() * groups.length)] ?? []));
    const m = metrics(pooled);
    for (const k of keys) samples[k].push(m[k]);
  }
  const point = metrics(queries);
  const ci = {} as MetricsWithCi['ci95'];
  for (const k of keys) ci[k] = [quantile(samples[k], 0.025), quantile(samples[k], 0.975)];
  return { ...point, ci95: ci };
}

export type MetricKey = Exclude<keyof Metrics, 'n'>;
const METRIC_KEYS: readonly MetricKey[] = ['hit@1', 'hit@3', 'hit@5', 'hit@10', 'mrr'];

/** Difference a - b of each metric, with its paired 95% bootstrap interval. */
export type PairedDifference = Record<MetricKey, { diff: number; ci95: [number, number] }>;

/**
 * Paired bootstrap of the difference between two rankers evaluated on the same queries: entities are resampled
 * (as in withBootstrap, same seed) and both rankers are scored on the SAME resample, so the interval reflects how
 * much better one is than the other on the same attackers, not the spread of each alone. "Better beyond noise" is
 * an interval above 0.
 */
export function pairedBootstrap(
  a: readonly Query[],
  b: readonly Query[],
  resamples = 2000,
  seed = 20261122,
): PairedDifference {
  const key = (q: Query) => `${q.entity}\u0000${q.given ?? ''}\u0000${q.hidden}`;
  const bByKey = new Map(b.map((q) => [key(q), q]));
  if (a.length !== b.length || a.some((q) => !bByKey.has(key(q))))
    throw new Error('pairedBootstrap: the two rankers must be scored on the same queries');
  const byEntity = new Map<string, [Query, Query][]>();
  for (const q of a) byEntity.set(q.entity, [...(byEntity.get(q.entity) ?? []), [q, bByKey.get(key(q))!]]);
  const groups = [...byEntity.values()];
  const rng = seededRng(seed);
  const rand = (): number => rng.next();
  const samples = Object.fromEntries(METRIC_KEYS.map((k) => [k, [] as number[]])) as Record<
    MetricKey,
    number[]
  >;
  for (let r = 0; r < resamples && groups.length > 0; r++) {
    const pa: Query[] = [];
    const pb: Query[] = [];
    for (let i = 0; i < groups.length; i++)
      for (const [qa, qb] of groups[Math.floor(rand() * groups.length)] ?? []) {
        pa.push(qa);
        pb.push(qb);
      }
    const ma = metrics(pa);
    const mb = metrics(pb);
    for (const k of METRIC_KEYS) samples[k].push(ma[k] - mb[k]);
  }
  const ma = metrics(a);
  const mb = metrics(b);
  const out = {} as PairedDifference;
  for (const k of METRIC_KEYS)
    out[k] = { diff: ma[k] - mb[k], ci95: [quantile(samples[k], 0.025), quantile(samples[k], 0.975)] };
  return out;
}

function quantile(xs: number[], q: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return (s[lo] ?? 0) + ((s[hi] ?? 0) - (s[lo] ?? 0)) * (pos - lo);
}

/** A ranker retrained per fold: `train` gets the training sets and returns a ranking function for observed sets. */
export type FoldRanker = (
  training: readonly UsesSet[],
) => Promise<{ rank: (observed: readonly string[]) => Promise<string[]>; close: () => Promise<void> }>;

/** leaveOneEntityOut for a ranker that is retrained on each fold (the GNN), under each protocol from one training. */
export async function leaveOneEntityOutAsync(
  input: EvalInput,
  train: FoldRanker,
  onFold?: (done: number, total: number) => void,
): Promise<Record<Protocol, Query[]>> {
  const queries: Record<Protocol, Query[]> = { 'leave-one-out': [], single: [] };
  const folds = input.usesSets.filter((s) => s.techniques.length >= 2);
  for (const [f, held] of folds.entries()) {
    const ranker = await train(input.usesSets.filter((s) => s.entity !== held.entity));
    try {
      for (const protocol of ['leave-one-out', 'single'] as const)
        for (const { observed, hidden, given } of splitsOf(held.techniques, protocol)) {
          const ranked = await ranker.rank(observed);
          const at = ranked.indexOf(hidden);
          queries[protocol].push({
            entity: held.entity,
            ...(given === undefined ? {} : { given }),
            hidden,
            rank: at < 0 ? ranked.length + 1 : at + 1,
          });
        }
    } finally {
      await ranker.close();
    }
    onFold?.(f + 1, folds.length);
  }
  return queries;
}
