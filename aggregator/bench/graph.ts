// Prediction latency of AttackGraph.nextTechniques (k = 5), embedded and via a real Neo4j 5.26 over Bolt on
// loopback, for each served ranker; then the product's served predictor and the ONNX GNN (onnxruntime-node, over the
// subgraph read from that graph). Queries: every technique alone and every entity's uses set minus one technique,
// cycled. Sequential calls; p50/p99 of wall time per call. Also reports Neo4j start and bundle load time.
// Run: npm run bench:graph  (or: npx tsx aggregator/bench/graph.ts [iterations])
import { shippedCatalog } from '@vigil/shared';
import { EmbeddedAttackGraph } from '../src/graph/embedded.js';
import { buildGraphModel } from '../src/graph/model.js';
import { Neo4jAttackGraph } from '../src/graph/neo4j.js';
import { GnnPredictor, openPredictor, type NextTechniquePredictor } from '../src/graph/predictor.js';
import { SERVED_RANKER, type ServedRanker } from '../src/graph/stats.js';
import type { AttackGraph } from '../src/graph/types.js';
import { neo4jAvailable, startTestNeo4j } from '../src/testing/neo4j-server.js';

const iterations = Number(process.argv[2] ?? 2000);
const catalog = shippedCatalog();
const model = buildGraphModel(catalog);
const queries = [
  ...catalog.techniques.map((t) => [t.id]),
  ...model.usesSets.filter((s) => s.techniques.length >= 2).map((s) => s.techniques.slice(1)),
];
const RANKERS: ServedRanker[] = ['jaccard-knn', 'cooccurrence'];

function pct(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
}

async function measure(name: string, g: AttackGraph | NextTechniquePredictor): Promise<void> {
  const call = (q: string[]) => ('predict' in g ? g.predict(q, 5) : g.nextTechniques(q, 5));
  for (let i = 0; i < Math.min(500, iterations); i++) await call(queries[i % queries.length] ?? []);
  const times: number[] = [];
  for (let i = 0; i < iterations; i++) {
    const q = queries[i % queries.length] ?? [];
    const t0 = performance.now();
    await call(q);
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  console.log(
    `${name.padEnd(28)} n=${iterations}  p50 ${pct(times, 0.5).toFixed(3)} ms  p99 ${pct(times, 0.99).toFixed(3)} ms`,
  );
}

for (const r of RANKERS) await measure(`embedded ${r}`, new EmbeddedAttackGraph(model, r));
const embeddedGraph = new EmbeddedAttackGraph(model);
await measureServedAndGnn('embedded', embeddedGraph);

/** The product's served predictor (openPredictor) and the ONNX GNN over the subgraph read from `g`. */
async function measureServedAndGnn(where: string, g: AttackGraph): Promise<void> {
  const served = await openPredictor(g);
  await measure(`${where} served (${served.name})`, served);
  await served.close();
  const t0 = performance.now();
  const gnn = await GnnPredictor.open(g);
  console.log(`${where} gnn open (subgraph read + ORT session): ${(performance.now() - t0).toFixed(1)} ms`);
  await measure(`${where} gnn (onnxruntime)`, gnn);
  await gnn.close();
}

if (!neo4jAvailable()) {
  console.log('neo4j: skipped (java 17 and mvn needed; deploy/install-test-deps.sh installs them)');
} else {
  const server = await startTestNeo4j();
  console.log(`neo4j start (deploy/neo4j.sh run 0, launcher built): ${(server.startMs / 1000).toFixed(1)} s`);
  try {
    const t0 = performance.now();
    const loader = await Neo4jAttackGraph.connect({ url: server.url });
    await loader.load(model);
    console.log(`neo4j first load of the bundle: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const t1 = performance.now();
    await loader.load(model);
    console.log(
      `neo4j reload (idempotent, nothing changes): ${((performance.now() - t1) / 1000).toFixed(1)} s`,
    );
    await loader.close();
    for (const r of RANKERS) {
      const g = await Neo4jAttackGraph.connect({ url: server.url, ranker: r });
      try {
        await measure(`neo4j ${r}`, g);
        if (r === SERVED_RANKER) await measureServedAndGnn('neo4j', g);
      } finally {
        await g.close();
      }
    }
  } finally {
    await server.stop();
  }
}
