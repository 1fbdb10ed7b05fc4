// Fully connected layer y = W x + b (W is [out x in], row-major). An input of k*in values is treated as k rows
// (time-distributed), each mapped independently: this is what the LSTM autoencoder's output projection needs.
// Backward (standard matrix calculus, e.g. Goodfellow et al., Deep Learning, 6.5): dW += dy x^T, db += dy, dx = W^T dy.
import { glorotUniform, makeParam, rowsOf, type Layer, type Param } from './layer.js';
import type { Rng } from './rng.js';

export interface DenseOptions {
  inputSize: number;
  outputSize: number;
  rng: Rng;
}

export class Dense implements Layer {
  readonly kind = 'dense';
  readonly inputSize: number;
  readonly outputSize: number;
  readonly weight: Param;
  readonly bias: Param;
  readonly params: readonly Param[];
  private x: Float32Array = new Float32Array(0);

  constructor(opts: DenseOptions) {
    this.inputSize = opts.inputSize;
    this.outputSize = opts.outputSize;
    this.weight = makeParam('dense.weight', [opts.outputSize, opts.inputSize]);
    this.bias = makeParam('dense.bias', [opts.outputSize]);
    glorotUniform(this.weight, opts.inputSize, opts.outputSize, opts.rng);
    this.params = [this.weight, this.bias];
  }

  outputLength(n: number): number {
    return rowsOf(n, this.inputSize, this.kind) * this.outputSize;
  }

  forward(x: Float32Array): Float32Array {
    const rows = rowsOf(x.length, this.inputSize, this.kind);
    this.x = x;
    const I = this.inputSize;
    const O = this.outputSize;
    const w = this.weight.value;
    const b = this.bias.value;
    const y = new Float32Array(rows * O);
    for (let r = 0; r < rows; r++) {
      const xo = r * I;
      for (let o = 0; o < O; o++) {
        let s = b[o]!;
        const wo = o * I;
        for (let i = 0; i < I; i++) s += w[wo + i]! * x[xo + i]!;
        y[r * O + o] = s;
      }
    }
    return y;
  }

  backward(dy: Float32Array): Float32Array {
    const I = this.inputSize;
    const O = this.outputSize;
    const rows = dy.length / O;
    const x = this.x;
    const w = this.weight.value;
    const gw = this.weight.grad;
    const gb = this.bias.grad;
    const dx = new Float32Array(rows * I);
    for (let r = 0; r < rows; r++) {
      const xo = r * I;
      for (let o = 0; o < O; o++) {
        const g = dy[r * O + o]!;
        if (g === 0) continue;
        gb[o]! += g;
        const wo = o * I;
        for (let i = 0; i < I; i++) {
          gw[wo + i]! += g * x[xo + i]!;
          dx[xo + i]! += g * w[wo + i]!;
        }
      }
    }
    return dx;
  }
}
