// Skip connection by concatenation (the "dense"/jumping-knowledge pattern of DenseNet, Huang et al. 2017, and JK-Net,
// Xu et al. 2018): for every row v, y_v = [x_v || f(x)_v] where f is a stack of row-wise or graph layers (e.g.
// GraphSage + ReLU). The layers after it see the raw input unchanged next to what f made of it, so a final Dense can
// fall back to a linear function of the input (a GNN over signals that are already good rankers can keep them as
// they are and learn only a correction). Input N x F, inner output N x O, output N x (F + O).
// Backward: dx_v = dy_v[0..F) + (df^T dy_v[F..F+O)) from the inner stack.
import { rowsOf, type Layer, type Param } from './layer.js';

export class Skip implements Layer {
  readonly kind = 'skip';
  readonly inputSize: number;
  readonly innerSize: number;
  readonly layers: readonly Layer[];
  readonly params: readonly Param[];
  private rows = 0;

  /** `layers` map `inputSize` columns per row to `innerSize` columns per row. */
  constructor(opts: { inputSize: number; innerSize: number; layers: readonly Layer[] }) {
    if (opts.layers.length === 0) throw new Error('skip: needs at least one inner layer');
    this.inputSize = opts.inputSize;
    this.innerSize = opts.innerSize;
    this.layers = opts.layers;
    this.params = opts.layers.flatMap((l) => l.params);
  }

  get outputSize(): number {
    return this.inputSize + this.innerSize;
  }

  outputLength(n: number): number {
    return rowsOf(n, this.inputSize, this.kind) * this.outputSize;
  }

  forward(x: Float32Array): Float32Array {
    const N = rowsOf(x.length, this.inputSize, this.kind);
    let h = x;
    for (const l of this.layers) h = l.forward(h);
    if (h.length !== N * this.innerSize)
      throw new Error(`skip: inner layers gave ${h.length / N} columns per row, expected ${this.innerSize}`);
    const F = this.inputSize;
    const O = this.innerSize;
    const y = new Float32Array(N * (F + O));
    for (let v = 0; v < N; v++) {
      y.set(x.subarray(v * F, (v + 1) * F), v * (F + O));
      y.set(h.subarray(v * O, (v + 1) * O), v * (F + O) + F);
    }
    this.rows = N;
    return y;
  }

  backward(dy: Float32Array): Float32Array {
    const N = this.rows;
    const F = this.inputSize;
    const O = this.innerSize;
    let dh: Float32Array = new Float32Array(N * O);
    for (let v = 0; v < N; v++) dh.set(dy.subarray(v * (F + O) + F, (v + 1) * (F + O)), v * O);
    for (let i = this.layers.length - 1; i >= 0; i--) dh = this.layers[i]!.backward(dh);
    const dx = new Float32Array(N * F);
    for (let v = 0; v < N; v++)
      for (let f = 0; f < F; f++) dx[v * F + f] = dy[v * (F + O) + f]! + dh[v * F + f]!;
    return dx;
  }
}
