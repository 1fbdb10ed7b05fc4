// Plain mini-batch training: the gradient of the mean loss over a batch, then one optimiser step.
// Differential privacy is NOT here; `DpSgd` (dp/dpsgd.ts) wraps a Trainer and replaces how the batch gradient is formed.
import type { Loss } from './loss.js';
import type { Example, Sequential } from './model.js';
import type { Optimizer } from './optim.js';
import type { Rng } from './rng.js';

export interface TrainerOptions {
  model: Sequential;
  loss: Loss;
  optimizer: Optimizer;
}

export class Trainer {
  readonly model: Sequential;
  readonly loss: Loss;
  readonly optimizer: Optimizer;
  private readonly exampleGrad: Float32Array;
  private readonly batchGrad: Float32Array;

  constructor(opts: TrainerOptions) {
    this.model = opts.model;
    this.loss = opts.loss;
    this.optimizer = opts.optimizer;
    this.exampleGrad = new Float32Array(opts.model.parameterCount);
    this.batchGrad = new Float32Array(opts.model.parameterCount);
  }

  /** One example's gradient (a view reused by the next call) and its loss. */
  exampleGradient(ex: Example): { loss: number; grad: Float32Array } {
    const loss = this.model.exampleGradient(ex, this.loss, this.exampleGrad);
    return { loss, grad: this.exampleGrad };
  }

  /** Applies a ready gradient (already averaged/noised as the caller wants). */
  applyGradient(grad: Float32Array): void {
    this.optimizer.step(this.model.flatValues, grad);
  }

  /** One step on the mean loss of `batch`; returns the mean loss. */
  step(batch: readonly Example[]): number {
    if (batch.length === 0) return 0;
    const acc = this.batchGrad.fill(0);
    let total = 0;
    for (const ex of batch) {
      const { loss, grad } = this.exampleGradient(ex);
      total += loss;
      for (let i = 0; i < acc.length; i++) acc[i]! += grad[i]!;
    }
    const inv = 1 / batch.length;
    for (let i = 0; i < acc.length; i++) acc[i]! *= inv;
    this.applyGradient(acc);
    return total / batch.length;
  }

  /** Shuffled mini-batch epochs; returns the mean loss of each epoch. */
  fit(data: readonly Example[], opts: { epochs: number; batchSize: number; rng: Rng }): number[] {
    const order = data.map((_, i) => i);
    const losses: number[] = [];
    for (let e = 0; e < opts.epochs; e++) {
      shuffle(order, opts.rng);
      let sum = 0;
      for (let s = 0; s < order.length; s += opts.batchSize) {
        const batch = order.slice(s, s + opts.batchSize).map((i) => data[i]!);
        sum += this.step(batch) * batch.length;
      }
      losses.push(sum / Math.max(1, data.length));
    }
    return losses;
  }

  /** Mean loss over `data` without changing the model. */
  evaluate(data: readonly Example[]): number {
    let sum = 0;
    for (const ex of data) {
      const pred = this.model.forward(ex.x);
      sum += this.loss(pred, ex.y, new Float32Array(pred.length));
    }
    return sum / Math.max(1, data.length);
  }
}

/** Fisher-Yates shuffle in place (Knuth, TAOCP vol. 2, Algorithm P). */
export function shuffle<T>(a: T[], rng: Rng): void {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    const t = a[i]!;
    a[i] = a[j]!;
    a[j] = t;
  }
}
