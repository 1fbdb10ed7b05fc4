// What a federated round asks of an agent: train the global model on local data (with DP-SGD) and report the new
// parameters, or evaluate the global model on local data. `SequentialDpTrainer` does it for any learning-core
// Sequential; the Fleet client (supernode.ts) turns Flower "train"/"evaluate" messages into these calls.
import {
  DpSgd,
  Sgd,
  Trainer,
  distributedNoiseStd,
  noisyClippedSum,
  type Example,
  type Loss,
  type Rng,
  type Sequential,
} from '@vigil/models';
import type { NamedTensors } from '@vigil/proto/flower/records';

/** Scalars of a Flower ConfigRecord as the trainer sees them (integers arrive as numbers). */
export type TrainConfig = Record<string, number | string | boolean>;

export interface TrainOutcome {
  arrays: NamedTensors;
  /** The real number of local training examples (Flower's "num-examples", FedAvg's weight). */
  numExamples: number;
  /** Mean training loss of the last local epoch. */
  loss: number;
  /** Accuracy of the trained model on the local training data. */
  accuracy: number;
  /** Extra metrics to report (e.g. the DP-SGD steps the privacy accountant needs). */
  extra?: Record<string, number>;
}

export interface EvaluateOutcome {
  numExamples: number;
  loss: number;
  accuracy: number;
}

/**
 * A secure-aggregation round's DP-SGD step (DP-FedSGD with distributed noise): the round's global model, the DP
 * parameters every plant of the round uses (config 'dp-noise-multiplier', 'dp-sample-rate', 'dp-clip-norm'), how
 * many plants take part, and how many noise shares one party may know (1: its own).
 */
export interface SecureStepRequest {
  participants: number;
  known: number;
}

/** This plant's clipped gradient sum with its share of the noise, flat in model order, for masking. */
export interface SecureStepOutcome {
  sum: Float32Array;
  numExamples: number;
  /** Mean loss of the sampled examples (NaN when none were sampled). */
  loss: number;
  /** The DP-SGD accounting of the step as seen by any single party (DP_METRICS keys). */
  extra: Record<string, number>;
}

export interface LocalTrainer {
  train(arrays: NamedTensors, config: TrainConfig, signal?: AbortSignal): Promise<TrainOutcome>;
  evaluate(arrays: NamedTensors, config: TrainConfig, signal?: AbortSignal): Promise<EvaluateOutcome>;
  /** Absent when the trainer cannot take part in secure-aggregation rounds. */
  secureStep?(
    arrays: NamedTensors,
    config: TrainConfig,
    req: SecureStepRequest,
    signal?: AbortSignal,
  ): Promise<SecureStepOutcome>;
}

/** A round instruction the trainer cannot carry out (wrong arrays, bad config); the reply is a Flower error. */
export class TrainingRequestError extends Error {
  override readonly name = 'TrainingRequestError';
}

/** The model's parameters as named tensors (copies), in model order. */
export function modelArrays(model: Sequential): NamedTensors {
  const names = model.parameterNames();
  return new Map(model.params.map((p, i) => [names[i]!, { shape: [...p.shape], data: p.value.slice() }]));
}

export interface SequentialDpTrainerOptions {
  model: Sequential;
  loss: Loss;
  /** Local training examples, or where to read them at each round (they may grow, e.g. by operator feedback). */
  data: readonly Example[] | (() => readonly Example[]);
  /** Local validation examples for "evaluate" (default: the training data). */
  validation?: readonly Example[];
  /**
   * DP-SGD: clipping norm, noise multiplier and either a fixed sample rate or a batch size (the sample rate then is
   * batchSize / the round's example count, and is reported as such to the privacy accountant).
   */
  dp: { clipNorm: number; noiseMultiplier: number } & ({ sampleRate: number } | { batchSize: number });
  /** Sampling and noise randomness (cryptoRng() outside tests). */
  rng: Rng;
  /** SGD learning rate when the round's config has no "lr". */
  learningRate?: number;
  /** Local epochs when the round's config has no "local-epochs"; an epoch is round(1 / sampleRate) DP-SGD steps. */
  localEpochs?: number;
  /** Class of an output / a label (default: argmax; a single output is thresholded at 0.5). */
  classOf?: (v: Float32Array) => number;
  /** Whether an output counts as right for its target (the reported accuracy; default: same class by classOf). */
  correct?: (output: Float32Array, target: Float32Array) => boolean;
}

function argmaxClass(v: Float32Array): number {
  if (v.length === 1) return v[0]! >= 0.5 ? 1 : 0;
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i]! > v[best]!) best = i;
  return best;
}

/**
 * Trains a learning-core Sequential with the learning core's DP-SGD. The arrays of a round map onto the model's
 * parameters in order (names are echoed back; shapes must match).
 */
export class SequentialDpTrainer implements LocalTrainer {
  private readonly classOf: (v: Float32Array) => number;

  constructor(private readonly o: SequentialDpTrainerOptions) {
    if (this.data().length === 0) throw new Error('SequentialDpTrainer: no training data');
    this.classOf = o.classOf ?? argmaxClass;
  }

  private data(): readonly Example[] {
    return typeof this.o.data === 'function' ? this.o.data() : this.o.data;
  }

  private sampleRate(n: number): number {
    const dp = this.o.dp;
    return 'sampleRate' in dp ? dp.sampleRate : Math.min(1, dp.batchSize / Math.max(1, n));
  }

  private load(arrays: NamedTensors): string[] {
    const params = this.o.model.params;
    if (arrays.size !== params.length) {
      throw new TrainingRequestError(
        `the round sent ${arrays.size} arrays, the model has ${params.length} parameters`,
      );
    }
    const names = [...arrays.keys()];
    const tensors = [...arrays.values()];
    tensors.forEach((t, i) => {
      const p = params[i]!;
      if (t.shape.join(',') !== p.shape.join(',')) {
        throw new TrainingRequestError(
          `array "${names[i]}" has shape [${t.shape.join(', ')}], parameter ${i} (${p.name}) is [${p.shape.join(', ')}]`,
        );
      }
    });
    this.o.model.setWeights(tensors.map((t) => t.data));
    return names;
  }

  private measure(data: readonly Example[], loss: Loss): { loss: number; accuracy: number } {
    let sum = 0;
    let correct = 0;
    for (const ex of data) {
      const pred = this.o.model.forward(ex.x);
      sum += loss(pred, ex.y, new Float32Array(pred.length));
      if (
        this.o.correct !== undefined ? this.o.correct(pred, ex.y) : this.classOf(pred) === this.classOf(ex.y)
      )
        correct++;
    }
    return { loss: sum / data.length, accuracy: correct / data.length };
  }

  train(arrays: NamedTensors, config: TrainConfig, signal?: AbortSignal): Promise<TrainOutcome> {
    return new Promise((resolve) => resolve(this.trainNow(arrays, config, signal)));
  }

  evaluate(arrays: NamedTensors, _config: TrainConfig): Promise<EvaluateOutcome> {
    return new Promise((resolve) => resolve(this.evaluateNow(arrays)));
  }

  private trainNow(arrays: NamedTensors, config: TrainConfig, signal?: AbortSignal): TrainOutcome {
    const names = this.load(arrays);
    const lr = num(config.lr, this.o.learningRate ?? 0.05, 'lr');
    const epochs = Math.round(num(config['local-epochs'], this.o.localEpochs ?? 1, 'local-epochs'));
    if (!(lr > 0) || epochs < 1) throw new TrainingRequestError('lr must be > 0 and local-epochs >= 1');
    const trainer = new Trainer({
      model: this.o.model,
      loss: this.o.loss,
      optimizer: new Sgd({ learningRate: lr }),
    });
    const data = this.data();
    if (data.length === 0) throw new TrainingRequestError('no local training data');
    const sampleRate = this.sampleRate(data.length);
    const dp = new DpSgd({
      trainer,
      rng: this.o.rng,
      clipNorm: this.o.dp.clipNorm,
      noiseMultiplier: this.o.dp.noiseMultiplier,
      sampleRate,
    });
    const stepsPerEpoch = Math.max(1, Math.round(1 / sampleRate));
    let lastEpochLoss = NaN;
    for (let e = 0; e < epochs; e++) {
      let sum = 0;
      let n = 0;
      for (let s = 0; s < stepsPerEpoch; s++) {
        if (signal?.aborted) throw new TrainingRequestError('training aborted');
        const r = dp.step(data);
        if (r.batchSize > 0) {
          sum += r.meanLoss * r.batchSize;
          n += r.batchSize;
        }
      }
      lastEpochLoss = n > 0 ? sum / n : NaN;
    }
    const after = this.measure(data, this.o.loss);
    const out = this.o.model.getWeights();
    return {
      arrays: new Map(
        names.map((name, i) => [name, { shape: [...this.o.model.params[i]!.shape], data: out[i]! }]),
      ),
      numExamples: data.length,
      loss: Number.isFinite(lastEpochLoss) ? lastEpochLoss : after.loss,
      accuracy: after.accuracy,
      extra: {
        'dp-steps': dp.steps,
        'dp-noise-multiplier': this.o.dp.noiseMultiplier,
        'dp-sample-rate': sampleRate,
      },
    };
  }

  secureStep(
    arrays: NamedTensors,
    config: TrainConfig,
    req: SecureStepRequest,
    signal?: AbortSignal,
  ): Promise<SecureStepOutcome> {
    return new Promise((resolve) => resolve(this.secureStepNow(arrays, config, req, signal)));
  }

  /**
   * One DP-SGD step's privatised gradient sum at the global model, with this plant's share of the noise. The round
   * sets sigma, q and C so that the plants' sum is one central DP-SGD step; a sigma below this agent's own
   * noise multiplier is refused (the agent never weakens its configured guarantee).
   */
  private secureStepNow(
    arrays: NamedTensors,
    config: TrainConfig,
    req: SecureStepRequest,
    signal?: AbortSignal,
  ): SecureStepOutcome {
    this.load(arrays);
    const sigma = num(config['dp-noise-multiplier'], NaN, 'dp-noise-multiplier');
    const q = num(config['dp-sample-rate'], NaN, 'dp-sample-rate');
    const clipNorm = num(config['dp-clip-norm'], NaN, 'dp-clip-norm');
    if (!(sigma >= this.o.dp.noiseMultiplier))
      throw new TrainingRequestError(
        `the round's noise multiplier ${sigma} is below this agent's ${this.o.dp.noiseMultiplier}`,
      );
    if (!(q > 0 && q <= 1)) throw new TrainingRequestError(`dp-sample-rate ${q} is not in (0, 1]`);
    if (!(clipNorm > 0)) throw new TrainingRequestError(`dp-clip-norm ${clipNorm} is not > 0`);
    let noiseStd: number;
    try {
      noiseStd = distributedNoiseStd({ noiseMultiplier: sigma, clipNorm, ...req });
    } catch (err) {
      throw new TrainingRequestError((err as Error).message);
    }
    if (signal?.aborted) throw new TrainingRequestError('training aborted');
    const data = this.data();
    if (data.length === 0) throw new TrainingRequestError('no local training data');
    const trainer = new Trainer({
      model: this.o.model,
      loss: this.o.loss,
      optimizer: new Sgd({ learningRate: 1 }),
    });
    const r = noisyClippedSum(trainer, data, { clipNorm, sampleRate: q, noiseStd, rng: this.o.rng });
    return {
      sum: r.sum,
      numExamples: data.length,
      loss: r.meanLoss,
      extra: { 'dp-steps': 1, 'dp-noise-multiplier': sigma, 'dp-sample-rate': q },
    };
  }

  private evaluateNow(arrays: NamedTensors): EvaluateOutcome {
    this.load(arrays);
    const data = this.o.validation ?? this.data();
    if (data.length === 0) throw new TrainingRequestError('no validation data');
    return { numExamples: data.length, ...this.measure(data, this.o.loss) };
  }
}

function num(v: number | string | boolean | undefined, fallback: number, key: string): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v))
    throw new TrainingRequestError(`config "${key}" must be a number`);
  return v;
}

/** The round config key naming the registry model a train or evaluate message is about (the engine sends it). */
export const MODEL_CONFIG_KEY = 'vigil-model';

/**
 * One trainer per federated model, chosen by the message's config "vigil-model" (the model's registry name); a
 * message without it (e.g. from Flower's own ServerApp) goes to `fallback`.
 */
export class ModelTrainers implements LocalTrainer {
  constructor(
    private readonly trainers: ReadonlyMap<string, LocalTrainer>,
    private readonly fallback: string,
  ) {
    if (!trainers.has(fallback)) throw new Error(`ModelTrainers: no trainer for the fallback "${fallback}"`);
  }

  private pick(config: TrainConfig): LocalTrainer | TrainingRequestError {
    const name = config[MODEL_CONFIG_KEY] ?? this.fallback;
    const t = typeof name === 'string' ? this.trainers.get(name) : undefined;
    if (t === undefined)
      return new TrainingRequestError(
        `config "${MODEL_CONFIG_KEY}" is ${JSON.stringify(name)}; this node trains ${[...this.trainers.keys()].join(', ')}`,
      );
    return t;
  }

  train(arrays: NamedTensors, config: TrainConfig, signal?: AbortSignal): Promise<TrainOutcome> {
    const t = this.pick(config);
    return t instanceof Error ? Promise.reject(t) : t.train(arrays, config, signal);
  }

  evaluate(arrays: NamedTensors, config: TrainConfig, signal?: AbortSignal): Promise<EvaluateOutcome> {
    const t = this.pick(config);
    return t instanceof Error ? Promise.reject(t) : t.evaluate(arrays, config, signal);
  }

  secureStep(
    arrays: NamedTensors,
    config: TrainConfig,
    req: SecureStepRequest,
    signal?: AbortSignal,
  ): Promise<SecureStepOutcome> {
    const t = this.pick(config);
    if (t instanceof Error) return Promise.reject(t);
    if (t.secureStep === undefined)
      return Promise.reject(
        new TrainingRequestError('this model does not train in secure-aggregation rounds'),
      );
    return t.secureStep(arrays, config, req, signal);
  }
}
