// `npm run eval:predict`: leave-one-entity-out evaluation of the next-technique rankers on the shipped ATT&CK for ICS
// bundle (see graph/evaluate.ts). Prints tables, then, as its last line, a JSON summary with `gnn` and `baselines`.
// The `gnn` entry is the query-node GNN (graph/gnn.ts) retrained on every fold, exported to ONNX and ranked through
// onnxruntime-node over the fold's graph; `serves` names what the product serves (graph/predictor.ts: SERVED_PREDICTOR).
//
// Two protocols on the same folds and the same trained models (graph/evaluate.ts `splitsOf`): `gnn` and `baselines`
// are the issue's leave-one-out protocol (each technique hidden, the rest observed); `single_technique` is the
// product's case, one observed technique (an alert's) and each other technique of the entity hidden.
// `vs_best_baseline` is the GNN minus the best baseline of that protocol (highest MRR), with paired bootstrap
// intervals over entities. The rule, fixed before the run (`gnn_beats_best_baseline`): the GNN beats the baselines
// when, on the leave-one-out protocol, the intervals of both the hit@10 and the MRR difference are above 0, and on the
// single-technique protocol neither interval is below 0 (not worse where the product uses it).
// `gnn.validation`: the inner validation split of each fold (training sets held aside, never the held-out entity),
// hit@10 and MRR pooled over folds, with Jaccard kNN on the same queries.
import { shippedCatalog } from '@vigil/shared';
import {
  HIT_KS,
  leaveOneEntityOut,
  leaveOneEntityOutAsync,
  pairedBootstrap,
  withBootstrap,
  type MetricsWithCi,
  type PairedDifference,
  type Protocol,
  type Query,
} from '../graph/evaluate.js';
import {
  DEFAULT_TRAIN,
  exportGnn,
  gnnParameters,
  GNN_ARCHITECTURE,
  OnnxGnn,
  trainGnn,
  type TrainedGnn,
  type ValidationMetrics,
} from '../graph/gnn.js';
import { buildGraphModel, techniqueContext } from '../graph/model.js';
import { SERVED_PREDICTOR } from '../graph/predictor.js';
import { RANKERS, type RankerName } from '../graph/stats.js';

const PROTOCOLS: readonly Protocol[] = ['leave-one-out', 'single'];
const catalog = shippedCatalog();
const model = buildGraphModel(catalog);
const input = {
  techniques: catalog.techniques.map((t) => t.id),
  usesSets: model.usesSets,
  tacticOrder: model.tacticOrder,
};
const baselineQueries = {} as Record<Protocol, Record<RankerName, Query[]>>;
for (const p of PROTOCOLS) {
  baselineQueries[p] = {} as Record<RankerName, Query[]>;
  for (const r of RANKERS) baselineQueries[p][r] = leaveOneEntityOut(input, r, p);
}

const context = techniqueContext(model);
const base = {
  tactics: catalog.tactics.map((t) => t.id),
  techniques: catalog.techniques.map((t) => ({
    id: t.id,
    name: t.name,
    tactics: model.nodes.find((n) => n.id === t.id)?.tactics ?? [],
    context: context.get(t.id) ?? [],
  })),
};
const started = Date.now();
const learned: Record<string, number>[] = [];
const validation: NonNullable<TrainedGnn['validation']>[] = [];
const gnnQueries = await leaveOneEntityOutAsync(
  input,
  async (training) => {
    const trained = trainGnn(base, training, DEFAULT_TRAIN);
    learned.push(gnnParameters(trained.model));
    if (trained.validation !== undefined) validation.push(trained.validation);
    const gnn = await OnnxGnn.create(exportGnn(trained.model), {
      ...base,
      uses: [...training],
    });
    return { rank: async (o) => (await gnn.rank(o)).map((s) => s.id), close: () => gnn.close() };
  },
  (done, total) => process.stderr.write(`gnn fold ${done}/${total}\r`),
);
const gnnSeconds = (Date.now() - started) / 1000;

interface ProtocolResult {
  gnn: MetricsWithCi;
  baselines: Record<RankerName, MetricsWithCi>;
  best: RankerName;
  vsBest: PairedDifference;
}
const results = {} as Record<Protocol, ProtocolResult>;
for (const p of PROTOCOLS) {
  const baselines = {} as Record<RankerName, MetricsWithCi>;
  for (const r of RANKERS) baselines[r] = withBootstrap(baselineQueries[p][r]);
  const best = [...RANKERS].sort((a, b) => baselines[b].mrr - baselines[a].mrr)[0]!;
  results[p] = {
    gnn: withBootstrap(gnnQueries[p]),
    baselines,
    best,
    vsBest: pairedBootstrap(gnnQueries[p], baselineQueries[p][best]),
  };
}
const loo = results['leave-one-out'];
const single = results.single;
const beats =
  loo.vsBest['hit@10'].ci95[0] > 0 &&
  loo.vsBest.mrr.ci95[0] > 0 &&
  single.vsBest['hit@10'].ci95[1] >= 0 &&
  single.vsBest.mrr.ci95[1] >= 0;
const pooledOf = (ms: readonly ValidationMetrics[], k: 'hit@10' | 'mrr') => {
  const n = ms.reduce((a, m) => a + m.n, 0);
  return n === 0 ? 0 : ms.reduce((a, m) => a + m[k] * m.n, 0) / n;
};
const pooled = (which: 'gnn' | 'knn', k: 'hit@10' | 'mrr') =>
  pooledOf(
    validation.map((v) => v[which]),
    k,
  );
/** Range of each learned parameter over the folds. */
const parameterRange = Object.fromEntries(
  Object.keys(learned[0] ?? {}).map((k) => {
    const vs = learned.map((l) => l[k] ?? NaN);
    return [k, [+Math.min(...vs).toFixed(3), +Math.max(...vs).toFixed(3)]];
  }),
);

const f = (x: number) => x.toFixed(3);
const KEYS = ['hit@1', 'hit@3', 'hit@5', 'hit@10', 'mrr'] as const;
const folds = model.usesSets.filter((s) => s.techniques.length >= 2).length;
process.stdout.write(
  `ATT&CK for ICS ${catalog.version}: ${folds} held-out entities (groups, software, campaigns with >= 2 techniques); ` +
    `GNN retrained per fold in ${gnnSeconds.toFixed(0)} s\n`,
);
for (const p of PROTOCOLS) {
  const r = results[p];
  process.stdout.write(`\n${p}: ${r.gnn.n} queries\n`);
  process.stdout.write(`| ranker | ${HIT_KS.map((k) => `hit@${k}`).join(' | ')} | MRR |\n`);
  process.stdout.write(`|---|${HIT_KS.map(() => '---').join('|')}|---|\n`);
  const rows: [string, MetricsWithCi][] = [
    ['gnn', r.gnn],
    ...RANKERS.map((b): [string, MetricsWithCi] => [b, r.baselines[b]]),
  ];
  for (const [name, m] of rows)
    process.stdout.write(
      `| ${name} | ${KEYS.map((k) => `${f(m[k])} [${f(m.ci95[k][0])}, ${f(m.ci95[k][1])}]`).join(' | ')} |\n`,
    );
  process.stdout.write(
    `gnn - ${r.best} (paired bootstrap over entities): ` +
      KEYS.map(
        (k) => `${k} ${f(r.vsBest[k].diff)} [${f(r.vsBest[k].ci95[0])}, ${f(r.vsBest[k].ci95[1])}]`,
      ).join(', ') +
      '\n',
  );
}
process.stdout.write(
  `\nGNN beats the best baseline by the rule fixed before the run: ${beats ? 'yes' : 'no'}\n`,
);

const round = (m: MetricsWithCi) => ({
  'hit@1': +f(m['hit@1']),
  'hit@3': +f(m['hit@3']),
  'hit@5': +f(m['hit@5']),
  'hit@10': +f(m['hit@10']),
  mrr: +f(m.mrr),
  n: m.n,
  ci95: Object.fromEntries(Object.entries(m.ci95).map(([k, [lo, hi]]) => [k, [+f(lo), +f(hi)]])),
});
const diff = (r: ProtocolResult) => ({
  baseline: r.best,
  ...Object.fromEntries(
    Object.entries(r.vsBest).map(([k, v]) => [k, { diff: +f(v.diff), ci95: [+f(v.ci95[0]), +f(v.ci95[1])] }]),
  ),
});
process.stdout.write(
  JSON.stringify({
    bundle: catalog.version,
    gnn: {
      architecture: GNN_ARCHITECTURE,
      training: {
        ...DEFAULT_TRAIN,
        per_fold: true,
        parameters_over_folds: parameterRange,
        seconds: +gnnSeconds.toFixed(1),
      },
      runtime: 'onnxruntime-node',
      ...round(loo.gnn),
      validation: {
        'hit@10': +f(pooled('gnn', 'hit@10')),
        mrr: +f(pooled('gnn', 'mrr')),
        knn: { 'hit@10': +f(pooled('knn', 'hit@10')), mrr: +f(pooled('knn', 'mrr')) },
        n: validation.reduce((a, v) => a + v.gnn.n, 0),
      },
    },
    vs_best_baseline: diff(loo),
    single_technique: {
      gnn: round(single.gnn),
      baselines: Object.fromEntries(RANKERS.map((r) => [r, round(single.baselines[r])])),
      vs_best_baseline: diff(single),
    },
    gnn_beats_best_baseline: beats,
    serves: SERVED_PREDICTOR,
    baselines: Object.fromEntries(RANKERS.map((r) => [r, round(loo.baselines[r])])),
  }) + '\n',
);
