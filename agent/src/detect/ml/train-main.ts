// `npm run train`: trains the detection models with FULL_CONFIG and writes them to models/artifacts/.
// `--tiny` trains the small configuration (seconds, for trying the pipeline; not for committing).
import { ARTIFACTS_DIR } from './artifacts.js';
import { FULL_CONFIG, trainModels, writeArtifacts, type TrainConfig } from './train.js';

const tiny = process.argv.includes('--tiny');
const outIdx = process.argv.indexOf('--out');
const out = outIdx > 0 ? (process.argv[outIdx + 1] ?? ARTIFACTS_DIR) : ARTIFACTS_DIR;
const cfg: TrainConfig = tiny
  ? {
      ...FULL_CONFIG,
      topologies: ['water-a'],
      trainSeeds: [11],
      calSeeds: [13],
      learnS: 300,
      spacingS: 150,
      l1bHidden: 8,
      l1bEpochs: 1,
      l1bMaxWindows: 60,
      l2Epochs: 3,
    }
  : FULL_CONFIG;
const r = await trainModels(cfg, process.stderr);
writeArtifacts(out, r, cfg, tiny ? 'npm run train -- --tiny' : 'npm run train');
process.stderr.write(`models written to ${out} in ${r.metrics.seconds.toFixed(0)} s\n`);
