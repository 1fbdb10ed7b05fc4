// `npm run train:gnn`: trains the next-technique GNN (graph/gnn.ts) on every `uses` set of the shipped ATT&CK for ICS
// bundle with the fixed seed, exports it to ONNX and writes models/artifacts/next-technique-gnn.onnx. Training is
// deterministic, so re-running it on the same bundle and code reproduces the committed file's weights.
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { shippedCatalog } from '@vigil/shared';
import { EmbeddedAttackGraph } from '../graph/embedded.js';
import { DEFAULT_TRAIN, exportGnn, GNN_ARCHITECTURE, trainGnn } from '../graph/gnn.js';
import { GNN_ARTIFACT } from '../graph/predictor.js';

const catalog = shippedCatalog();
const graph = EmbeddedAttackGraph.fromCatalog(catalog);
const sub = await graph.subgraph();
const started = Date.now();
const trained = trainGnn(sub, sub.uses, DEFAULT_TRAIN);
const seconds = (Date.now() - started) / 1000;
const bytes = exportGnn(trained.model, trained.inputs, {
  bundle: catalog.version,
  seed: String(DEFAULT_TRAIN.seed),
  epochs: String(trained.bestEpoch),
  parameters: String(trained.model.parameterCount),
});
await writeFile(GNN_ARTIFACT, bytes);
process.stdout.write(
  JSON.stringify({
    file: fileURLToPath(GNN_ARTIFACT),
    bytes: bytes.length,
    architecture: GNN_ARCHITECTURE,
    parameters: trained.model.parameterCount,
    nodes: trained.inputs.n,
    features: trained.inputs.f,
    training: DEFAULT_TRAIN,
    seconds: +seconds.toFixed(1),
    best_epoch: trained.bestEpoch,
    losses: trained.losses.map((l) => +l.toFixed(4)),
    validation_losses: trained.validationLosses.map((l) => +l.toFixed(4)),
  }) + '\n',
);
