// Layer 1b and Layer 2 as learning-core Sequential models, built by functions, with their example builders, so that
// `npm run train`, `vigil-agent models train` and federated learning (DP-SGD on the agent) build the same networks.
//
// Parameter naming (stable; federated learning averages parameters by these names, in this order):
//   `${parameterIndex}.${param.name}`, e.g. L1b: 0.lstm.w, 1.lstm.r, 2.lstm.b, 3.lstm.w, 4.lstm.r, 5.lstm.b,
//   6.dense.weight, 7.dense.bias; L2: 0.dense.weight, 1.dense.bias, 2.dense.weight, 3.dense.bias.
// `model.parameterNames()` lists them in the order of `model.getWeights()`; the shapes follow from the builder
// options (L1B_DEFAULTS / L2_DEFAULTS), which the artifacts' metadata records.
import {
  Activation,
  Dense,
  Lstm,
  RepeatVector,
  Sequential,
  seededRng,
  type Example,
  type Rng,
} from '@vigil/models';
import { NL2, NW, WINDOW_STEPS } from './features.js';

/** Layer 2's classes: index 0 is normal traffic, the rest are ATT&CK for ICS technique ids. */
export const L2_CLASSES = [
  'normal',
  'T0846',
  'T0888',
  'T0855',
  'T0836',
  'T0814',
  'T0812',
  'T0856',
  'T0869',
  'T0859',
  'T0843',
] as const;
export type L2Class = (typeof L2_CLASSES)[number];

export interface L1bOptions {
  /** Encoder and decoder LSTM width. */
  hidden: number;
  steps: number;
  features: number;
}
export const L1B_DEFAULTS: L1bOptions = { hidden: 16, steps: WINDOW_STEPS, features: NW };

/**
 * Layer 1b, the LSTM autoencoder over [steps, features]: LSTM(features -> hidden, last state) -> RepeatVector(steps)
 * -> LSTM(hidden -> hidden, every step) -> Dense(hidden -> features) per step. Its score is the mean squared
 * reconstruction error.
 */
export function buildL1b(opts: Partial<L1bOptions> & { rng?: Rng } = {}): Sequential {
  const o = { ...L1B_DEFAULTS, ...opts };
  const rng = opts.rng ?? seededRng(1);
  return new Sequential([
    new Lstm({ inputSize: o.features, hiddenSize: o.hidden, returnSequences: false, rng }),
    new RepeatVector(o.steps),
    new Lstm({ inputSize: o.hidden, hiddenSize: o.hidden, returnSequences: true, rng }),
    new Dense({ inputSize: o.hidden, outputSize: o.features, rng }),
  ]);
}

export interface L2Options {
  inputs: number;
  hidden: number;
  classes: number;
}
export const L2_DEFAULTS: L2Options = { inputs: NL2, hidden: 32, classes: L2_CLASSES.length };

/** Layer 2, the classifier: Dense(inputs -> hidden), ReLU, Dense(hidden -> classes) logits (softmax at export). */
export function buildL2(opts: Partial<L2Options> & { rng?: Rng } = {}): Sequential {
  const o = { ...L2_DEFAULTS, ...opts };
  const rng = opts.rng ?? seededRng(2);
  return new Sequential([
    new Dense({ inputSize: o.inputs, outputSize: o.hidden, rng }),
    new Activation('relu'),
    new Dense({ inputSize: o.hidden, outputSize: o.classes, rng }),
  ]);
}

/** Autoencoder examples: each standardised window ([steps * features], oldest step first) is its own target. */
export function l1bExamples(windows: readonly Float32Array[]): Example[] {
  return windows.map((x) => ({ x, y: x }));
}

/** Mean squared reconstruction error of one window (the Layer 1b score). */
export function reconstructionError(x: Float32Array, y: Float32Array): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) {
    const d = x[i]! - y[i]!;
    s += d * d;
  }
  return s / x.length;
}

/** Index of a label in L2_CLASSES; an unknown technique or no label is normal (0). */
export function classIndex(label: string | undefined): number {
  const i = label === undefined ? 0 : (L2_CLASSES as readonly string[]).indexOf(label);
  return i < 0 ? 0 : i;
}

/** Classifier examples: L2 input rows (l2Input) with a one-hot target. */
export function l2Examples(rows: readonly { x: Float32Array; label: string | undefined }[]): Example[] {
  return rows.map((r) => {
    const y = new Float32Array(L2_CLASSES.length);
    y[classIndex(r.label)] = 1;
    return { x: r.x, y };
  });
}
