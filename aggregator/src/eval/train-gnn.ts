// `npm run train:gnn`: trains the next-technique GNN (graph/gnn.ts) on every `uses` set of the shipped ATT&CK for ICS
// bundle with the fixed seed, exports it to ONNX and writes models/artifacts/next-technique-gnn.onnx. Training is
// deterministic, so re-running it on the same bundle and code reproduces the committed file's weights.
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { shippedCatalog } from '@vigil/shared';
import { EmbeddedAttackGraph } from '../graph/embedded.js';
import { DEFAULT_TRAIN, exportGnn, gnnParameters, GNN_ARCHITECTURE, trainGnn } from '../graph/gnn.js';
import { GNN_ARTIFACT } from '../graph/predictor.js';

const catalog = shippedCatalog();
const graph = EmbeddedAttackGraph.fromCatalog(catalog);
const sub = await graph.subgraph();
const started = Date.now();
const trained = trainGnn(sub, sub.uses, DEFAULT_TRAIN);
const seconds = (Date.now() - started) / 1000;
const bytes = exportGnn(trained.model, {
  bundle: catalog.version,
  epochs: String(DEFAULT_TRAIN.epochs),
});
await writeFile(GNN_ARTIFACT, bytes);
process.stdout.write(
  JSON.stringify({
    file: fileURLToPath(GNN_ARTIFACT),
    bytes: bytes.length,
    architecture: GNN_ARCHITECTURE,
    parameters: gnnParameters(trained.model),
    techniques: trained.inputs.t,
    entities: trained.inputs.m,
    training: DEFAULT_TRAIN,
    seconds: +seconds.toFixed(1),
    losses: trained.losses
      .filter((_, i) => i % 50 === 0 || i === trained.losses.length - 1)
      .map((l) => +l.toFixed(4)),
    validation: trained.validation,
  }) + '\n',
);
