// A stack of layers whose parameters live in ONE flat Float32Array (and their gradients in another), so
// optimisers, clipping and noise work on a single vector and federated learning sees a flat list of tensors.
import type { Layer, Param } from './layer.js';
import type { Loss } from './loss.js';

export interface Example {
  x: Float32Array;
  y: Float32Array;
}

export class Sequential {
  readonly layers: readonly Layer[];
  readonly params: readonly Param[];
  /** All parameter values, concatenated in layer order. */
  readonly flatValues: Float32Array;
  /** All parameter gradients, same layout as flatValues. */
  readonly flatGrads: Float32Array;

  constructor(layers: readonly Layer[]) {
    if (layers.length === 0) throw new Error('a model needs at least one layer');
    this.layers = layers;
    this.params = layers.flatMap((l) => l.params);
    const total = this.params.reduce((s, p) => s + p.value.length, 0);
    this.flatValues = new Float32Array(total);
    this.flatGrads = new Float32Array(total);
    let off = 0;
    for (const p of this.params) {
      const n = p.value.length;
      this.flatValues.set(p.value, off);
      p.value = this.flatValues.subarray(off, off + n);
      p.grad = this.flatGrads.subarray(off, off + n);
      off += n;
    }
  }

  get parameterCount(): number {
    return this.flatValues.length;
  }

  forward(x: Float32Array): Float32Array {
    let h = x;
    for (const l of this.layers) h = l.forward(h);
    return h;
  }

  /** Backward through all layers after forward(); adds into flatGrads; returns dLoss/dInput. */
  backward(dy: Float32Array): Float32Array {
    let g = dy;
    for (let i = this.layers.length - 1; i >= 0; i--) g = this.layers[i]!.backward(g);
    return g;
  }

  zeroGrad(): void {
    this.flatGrads.fill(0);
  }

  /**
   * The gradient of one example's loss, written into `out` (length parameterCount); returns the loss.
   * This is the per-example gradient DP-SGD clips.
   */
  exampleGradient(ex: Example, loss: Loss, out: Float32Array): number {
    this.zeroGrad();
    const pred = this.forward(ex.x);
    const dPred = new Float32Array(pred.length);
    const l = loss(pred, ex.y, dPred);
    this.backward(dPred);
    out.set(this.flatGrads);
    return l;
  }

  /**
   * The parameters' stable names, in getWeights() order: "<parameter index>.<layer's parameter name>", e.g.
   * "0.dense.weight", "1.dense.bias". They name the arrays on the federated-learning wire and in stored global
   * models, and the model cards print them.
   */
  parameterNames(): string[] {
    return this.params.map((p, i) => `${i}.${p.name}`);
  }

  /** Copies of every parameter tensor, in a fixed order (the federated-learning wire format). */
  getWeights(): Float32Array[] {
    return this.params.map((p) => p.value.slice());
  }

  /** Replaces all parameters; shapes must match getWeights(). Nothing changes when one does not. */
  setWeights(weights: readonly Float32Array[]): void {
    if (weights.length !== this.params.length) {
      throw new Error(`setWeights: expected ${this.params.length} tensors, got ${weights.length}`);
    }
    this.params.forEach((p, i) => {
      if (weights[i]!.length !== p.value.length) {
        throw new Error(
          `setWeights: tensor ${i} (${p.name}) has ${weights[i]!.length} values, expected ${p.value.length}`,
        );
      }
    });
    this.params.forEach((p, i) => p.value.set(weights[i]!));
  }
}
