// `npm run bench:train`: training throughput (examples/s) of a dense classifier and the LSTM autoencoder, plain and
// with DP-SGD per-example clipping; inference rows/s of the exported models in onnxruntime at batch 1 and 256 beside
// our own forward pass. Writes models/bench/RESULTS.md. Each figure is the best of 3 timed runs of about 1 s.
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import {
  Activation,
  Adam,
  Dense,
  DpSgd,
  INPUT_NAME,
  IsolationForest,
  Lstm,
  OUTPUT_NAME,
  PATH_LENGTH_NAME,
  RepeatVector,
  Sequential,
  SwappableSession,
  Trainer,
  exportIsolationForest,
  exportSequential,
  meanSquaredError,
  seededRng,
  softmaxCrossEntropy,
  type Example,
} from '../src/index.js';

const rng = seededRng(42);
const randn = (n: number): Float32Array => Float32Array.from({ length: n }, () => rng.normal());

/** Best rate of 3 runs: calls `work` (which handles `units` items) until ~1 s has passed. */
async function rate(work: () => unknown, units: number): Promise<number> {
  let best = 0;
  for (let rep = 0; rep < 3; rep++) {
    const t0 = performance.now();
    let done = 0;
    while (performance.now() - t0 < 1000) {
      await work();
      done += units;
    }
    best = Math.max(best, (done * 1000) / (performance.now() - t0));
  }
  return best;
}

const fmt = (v: number): string => (v >= 100 ? Math.round(v).toLocaleString('en-US') : v.toPrecision(3));

const DENSE_IN = 32;
const CLASSES = 8;
const T = 60;
const F = 8;

function denseClassifier(): Sequential {
  return new Sequential([
    new Dense({ inputSize: DENSE_IN, outputSize: 64, rng }),
    new Activation('relu'),
    new Dense({ inputSize: 64, outputSize: 32, rng }),
    new Activation('relu'),
    new Dense({ inputSize: 32, outputSize: CLASSES, rng }),
  ]);
}

function lstmAutoencoder(): Sequential {
  return new Sequential([
    new Lstm({ inputSize: F, hiddenSize: 16, returnSequences: false, rng }),
    new RepeatVector(T),
    new Lstm({ inputSize: 16, hiddenSize: 16, returnSequences: true, rng }),
    new Dense({ inputSize: 16, outputSize: F, rng }),
  ]);
}

async function trainRates(
  make: () => Sequential,
  data: Example[],
  loss: typeof meanSquaredError,
  batch: number,
) {
  const model = make();
  const trainer = new Trainer({ model, loss, optimizer: new Adam({ learningRate: 1e-3 }) });
  let i = 0;
  const plain = await rate(() => {
    trainer.step(data.slice(i, i + batch));
    i = (i + batch) % (data.length - batch);
  }, batch);
  // DP-SGD over a pool of exactly `batch / q` examples so the expected batch is `batch`
  const q = batch / data.length;
  const dp = new DpSgd({ trainer, clipNorm: 1, noiseMultiplier: 1, sampleRate: q, rng });
  let sampled = 0;
  let steps = 0;
  const dpRate = await rate(() => {
    sampled += dp.step(data).batchSize;
    steps++;
  }, batch);
  // correct for Poisson batch-size variation: report measured examples, not expected
  return { model, plain, dp: dpRate * (sampled / (steps * batch)), params: model.parameterCount };
}

async function inferenceRates(
  model: { forwardRow: (x: Float32Array) => unknown; bytes: Uint8Array; rowShape: number[]; output: string },
  rowLen: number,
) {
  const session = await SwappableSession.create(model.bytes);
  const out: Record<string, number> = {};
  for (const batch of [1, 256]) {
    const data = randn(batch * rowLen);
    out[`ort${batch}`] = await rate(
      () => session.runRows(INPUT_NAME, data, model.rowShape, [model.output]),
      batch,
    );
  }
  const one = randn(rowLen);
  out.ours = await rate(() => model.forwardRow(one), 1);
  await session.close();
  return out;
}

const lines: string[] = [];
const log = (s: string): void => {
  lines.push(s);
  console.log(s);
};

const denseData: Example[] = Array.from({ length: 4096 }, (_, i) => {
  const y = new Float32Array(CLASSES);
  y[i % CLASSES] = 1;
  return { x: randn(DENSE_IN), y };
});
const seqData: Example[] = Array.from({ length: 512 }, () => {
  const x = randn(T * F);
  return { x, y: x };
});

const dense = await trainRates(denseClassifier, denseData, softmaxCrossEntropy, 64);
const ae = await trainRates(lstmAutoencoder, seqData, meanSquaredError, 16);

const forestData = randn(4096 * F);
const forest = IsolationForest.fit(forestData, F, { trees: 100, sampleSize: 256, rng });

const inf = {
  dense: await inferenceRates(
    {
      forwardRow: (x) => dense.model.forward(x),
      bytes: exportSequential(dense.model, { inputShape: [DENSE_IN] }),
      rowShape: [DENSE_IN],
      output: OUTPUT_NAME,
    },
    DENSE_IN,
  ),
  ae: await inferenceRates(
    {
      forwardRow: (x) => ae.model.forward(x),
      bytes: exportSequential(ae.model, { inputShape: [T, F] }),
      rowShape: [T, F],
      output: OUTPUT_NAME,
    },
    T * F,
  ),
  forest: await inferenceRates(
    {
      forwardRow: (x) => forest.score(x),
      bytes: exportIsolationForest(forest),
      rowShape: [F],
      output: PATH_LENGTH_NAME,
    },
    F,
  ),
};

const cpu = os.cpus();
log('# models benchmarks');
log('');
log(`Command: \`npm run bench:train\` (tsx models/bench/train.ts)  `);
log(`Date: ${new Date().toISOString()}  `);
log(
  `Machine: ${cpu.length} x ${cpu[0]?.model ?? 'unknown CPU'}, Node ${process.version}, onnxruntime-node CPU  `,
);
log(
  `Load average when done: ${os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' / ')} (1/5/15 min); the machine is shared.  `,
);
log(
  'Each figure: best of 3 runs of about 1 s; training is single-threaded, ORT uses its default thread pool.',
);
log('');
log('## Training (examples/s)');
log('');
log('| model | parameters | batch | plain (Adam) | DP-SGD (per-example clip C=1, sigma=1, Poisson) |');
log('|---|---|---|---|---|');
log(
  `| dense classifier ${DENSE_IN}-64-32-${CLASSES} | ${dense.params} | 64 | ${fmt(dense.plain)} | ${fmt(dense.dp)} |`,
);
log(`| LSTM autoencoder ${T}x${F}, hidden 16/16 | ${ae.params} | 16 | ${fmt(ae.plain)} | ${fmt(ae.dp)} |`);
log('');
log('## Inference (rows/s)');
log('');
log('| model | ORT batch 1 | ORT batch 256 | ours (one row at a time) |');
log('|---|---|---|---|');
log(`| dense classifier | ${fmt(inf.dense.ort1!)} | ${fmt(inf.dense.ort256!)} | ${fmt(inf.dense.ours!)} |`);
log(`| LSTM autoencoder | ${fmt(inf.ae.ort1!)} | ${fmt(inf.ae.ort256!)} | ${fmt(inf.ae.ours!)} |`);
log(
  `| isolation forest (100 trees, psi 256) | ${fmt(inf.forest.ort1!)} | ${fmt(inf.forest.ort256!)} | ${fmt(inf.forest.ours!)} |`,
);

writeFileSync(new URL('./RESULTS.md', import.meta.url), lines.join('\n') + '\n');
