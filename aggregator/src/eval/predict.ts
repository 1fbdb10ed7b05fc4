// `npm run eval:predict`: leave-one-entity-out evaluation of the next-technique rankers on the shipped ATT&CK for ICS
// bundle (see graph/evaluate.ts). Prints a table, then, as its last line, a JSON summary with `gnn` and `baselines`.
// The GNN (issue 10's model) is not built yet: its entry is null, and `serves` names the ranker the product serves.
import { shippedCatalog } from '@vigil/shared';
import { HIT_KS, leaveOneEntityOut, withBootstrap, type MetricsWithCi } from '../graph/evaluate.js';
import { buildGraphModel } from '../graph/model.js';
import { RANKERS, SERVED_RANKER, type RankerName } from '../graph/stats.js';

const catalog = shippedCatalog();
const model = buildGraphModel(catalog);
const input = {
  techniques: catalog.techniques.map((t) => t.id),
  usesSets: model.usesSets,
  tacticOrder: model.tacticOrder,
};
const baselines = {} as Record<RankerName, MetricsWithCi>;
for (const r of RANKERS) baselines[r] = withBootstrap(leaveOneEntityOut(input, r));

const f = (x: number) => x.toFixed(3);
const folds = model.usesSets.filter((s) => s.techniques.length >= 2).length;
process.stdout.write(
  `ATT&CK for ICS ${catalog.version}: ${folds} held-out entities (groups, software, campaigns with >= 2 techniques), ` +
    `${baselines.popularity.n} queries\n`,
);
process.stdout.write(`| ranker | ${HIT_KS.map((k) => `hit@${k}`).join(' | ')} | MRR |\n`);
process.stdout.write(`|---|${HIT_KS.map(() => '---').join('|')}|---|\n`);
for (const r of RANKERS) {
  const m = baselines[r];
  const cell = (k: 'hit@1' | 'hit@3' | 'hit@5' | 'hit@10' | 'mrr') =>
    `${f(m[k])} [${f(m.ci95[k][0])}, ${f(m.ci95[k][1])}]`;
  process.stdout.write(`| ${r} | ${HIT_KS.map((k) => cell(`hit@${k}`)).join(' | ')} | ${cell('mrr')} |\n`);
}
const round = (m: MetricsWithCi) => ({
  'hit@1': +f(m['hit@1']),
  'hit@3': +f(m['hit@3']),
  'hit@5': +f(m['hit@5']),
  'hit@10': +f(m['hit@10']),
  mrr: +f(m.mrr),
  n: m.n,
  ci95: Object.fromEntries(Object.entries(m.ci95).map(([k, [lo, hi]]) => [k, [+f(lo), +f(hi)]])),
});
process.stdout.write(
  JSON.stringify({
    bundle: catalog.version,
    gnn: null,
    gnn_status: 'not built yet (needs the learning core GraphSAGE layer and ONNX writer)',
    serves: SERVED_RANKER,
    baselines: Object.fromEntries(RANKERS.map((r) => [r, round(baselines[r])])),
  }) + '\n',
);
