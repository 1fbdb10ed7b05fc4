// `vigil-agent models train --pcap FILE --data-dir DIR`: a plant's own Layer 1 baseline from a capture of its normal
// traffic, written to DIR/models/: the Isolation Forest (L1a) fitted on 70% of the capture's seconds and calibrated
// on the other 30% (interleaved by second), the window scaler, and Layer 1b fine-tuned from the shared weights on
// the fit seconds' windows and calibrated on the held-out seconds' windows, both for the target false-alarm rate.
// The agent's detectors load it with loadModelDetectors({ dataDir }).
import { join } from 'node:path';
import {
  Adam,
  SwappableSession,
  Trainer,
  exportIsolationForest,
  exportSequential,
  meanSquaredError,
  seededRng,
} from '@vigil/models';
import { UsageError } from '@vigil/shared';
import {
  ARTIFACTS_DIR,
  L1B_FILE,
  LOCAL_DIR,
  LOCAL_FILE,
  l1bThreshold as l1bThresholdOf,
  loadL1bModel,
  readL1b,
  readL2,
  writeModel,
  type LocalMeta,
} from './artifacts.js';
import { collectCapture } from './collect.js';
import { calibrateL2, l1bErrorsOf, learnLocal } from './detector.js';
import { paddedWindow } from './history.js';
import { MODEL_FEATURE_SCHEMAS, NW, WINDOW_STEPS, isFitSecond, standardise } from './features.js';
import { l1bExamples } from './models.js';
import type { Progress } from './train.js';

export interface LocalTrainOptions {
  pcap: string;
  dataDir: string;
  facility: string;
  /** Only the capture's first N seconds. */
  seconds?: number | undefined;
  far: number;
  /** Fine-tuning epochs for Layer 1b (0 keeps the shared weights, only its threshold is the plant's). */
  epochs: number;
  artifactsDir?: string | undefined;
  progress?: Progress | undefined;
}

export interface LocalTrainResult {
  meta: LocalMeta;
  dir: string;
  flowSeconds: number;
  windows: number;
  l1bTuned: boolean;
}

export async function trainLocalBaseline(o: LocalTrainOptions): Promise<LocalTrainResult> {
  const artifacts = o.artifactsDir ?? ARTIFACTS_DIR;
  const shared = readL1b(artifacts);
  let c;
  try {
    c = await collectCapture(o.pcap, { learnS: Number.POSITIVE_INFINITY, maxSeconds: o.seconds });
  } catch (e) {
    throw new UsageError(
      `cannot read ${o.pcap}: ${(e as NodeJS.ErrnoException).code ?? (e instanceof Error ? e.message : String(e))} (give a readable pcap or pcapng file)`,
    );
  }
  o.progress?.tick(1, 'capture read');
  if (c.frames === 0)
    throw new UsageError(`${o.pcap}: no packets (give a capture of the plant's normal traffic)`);
  const fit = c.rows.filter((r) => isFitSecond(r.sec)).map((r) => r.x);
  const held = c.rows.filter((r) => !isFitSecond(r.sec)).map((r) => r.x);
  if (fit.length < 32 || held.length < 8) {
    throw new UsageError(
      `${o.pcap}: only ${c.rows.length} flow-seconds of traffic; give a longer capture of normal traffic (minutes)`,
    );
  }
  const steps = c.history.steps(c.firstSec, c.history.endSec);
  const model = loadL1bModel(artifacts);
  let tuned = false;
  let onnx = shared.onnx;
  // the scaler first (learnLocal fits the same one), then fine-tuning on fit-second windows
  const probe = await learnLocal({
    facility: o.facility,
    source: o.pcap,
    fit,
    held,
    steps,
    knownPairs: c.knownPairs,
    knownServices: c.knownServices,
    knownTopics: c.knownTopics,
    far: o.far,
    seed: 7,
    l1bErrors: () => Promise.resolve([1]),
    fallbackL1bThreshold: shared.meta.threshold,
  });
  const scaler = probe.meta.scaler;
  const nSteps = steps.length / NW;
  const fitWins: Float32Array[] = [];
  const heldWins: Float32Array[] = [];
  for (let end = WINDOW_STEPS; end <= nSteps; end++) {
    const w = standardise(steps.slice((end - WINDOW_STEPS) * NW, end * NW), scaler);
    (isFitSecond(c.firstSec + end - 1) ? fitWins : heldWins).push(w);
  }
  if (o.epochs > 0 && fitWins.length >= 16) {
    const rng = seededRng(11);
    const trainer = new Trainer({
      model,
      loss: meanSquaredError,
      optimizer: new Adam({ learningRate: 0.003 }),
    });
    const data = l1bExamples(fitWins.filter((_, i) => i % 2 === 0));
    for (let e = 0; e < o.epochs; e++) {
      trainer.fit(data, { epochs: 1, batchSize: 16, rng });
      o.progress?.tick(1, `L1b fine-tuning epoch ${e + 1}/${o.epochs}`);
    }
    onnx = exportSequential(model, { inputShape: [WINDOW_STEPS, NW], name: 'vigil_l1b_lstm_ae_local' });
    tuned = true;
  }
  const session = await SwappableSession.create(onnx);
  let l1bThreshold = shared.meta.threshold;
  try {
    const wins = heldWins.length > 0 ? heldWins : fitWins;
    if (wins.length > 0) {
      const local = l1bThresholdOf(await l1bErrorsOf(session, wins), o.far);
      l1bThreshold = wins.length >= 200 ? local : Math.max(local, shared.meta.threshold);
    }
  } finally {
    await session.close();
  }
  const l2 = readL2(artifacts);
  const l2Session = await SwappableSession.create(l2.onnx);
  let l2ClassMin: Record<string, number>;
  try {
    l2ClassMin = await calibrateL2({
      rows: c.rows,
      forest: probe.forest,
      windowAt: (end) => paddedWindow(c.history, end, scaler),
      session: l2Session,
      meta: l2.meta,
    });
  } finally {
    await l2Session.close();
  }
  const meta: LocalMeta = {
    ...probe.meta,
    l1bThreshold,
    l2ClassMin,
    windows: heldWins.length + fitWins.length,
  };
  const dir = join(o.dataDir, LOCAL_DIR);
  writeModel(
    dir,
    LOCAL_FILE,
    exportIsolationForest(probe.forest, { metadata: { facility: o.facility } }),
    meta,
  );
  if (tuned) {
    writeModel(
      dir,
      L1B_FILE,
      onnx,
      {
        ...shared.meta,
        threshold: l1bThreshold,
        trainedAt: meta.trainedAt,
        parameterNames: model.parameterNames(),
        schemas: { ...MODEL_FEATURE_SCHEMAS },
      },
      model,
    );
  }
  o.progress?.tick(1, 'written');
  return { meta, dir, flowSeconds: c.rows.length, windows: meta.windows, l1bTuned: tuned };
}
