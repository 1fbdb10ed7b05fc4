// Long short-term memory layer over one sequence (T steps of `inputSize` values, flat, time-major).
// Cell (Hochreiter & Schmidhuber 1997 with the forget gate of Gers, Schmidhuber & Cummins 2000), written as in the
// ONNX LSTM operator spec so export is a copy: gates in ONNX order i, o, f, c;
//   i = sigmoid(W_i x + R_i h + b_i)   o = sigmoid(...)   f = sigmoid(...)   g = tanh(W_c x + R_c h + b_c)
//   c_t = f * c_{t-1} + i * g          h_t = o * tanh(c_t)
// Backward is backpropagation through time (Werbos 1990), derivatives by the chain rule:
//   do = dh * tanh(c);  dc = dh * o * (1 - tanh(c)^2) + dc_next;  di = dc * g;  dg = dc * i;  df = dc * c_{t-1}
//   dc_next = dc * f;   pre-activation: da_{i,o,f} = d{i,o,f} * s (1 - s),  da_c = dg * (1 - g^2)
//   dW += da x_t^T;  dR += da h_{t-1}^T;  db += da;  dx_t = W^T da;  dh_next = R^T da.
import { sigmoid } from './activation.js';
import { glorotUniform, makeParam, rowsOf, type Layer, type Param } from './layer.js';
import type { Rng } from './rng.js';

export interface LstmOptions {
  inputSize: number;
  hiddenSize: number;
  /** true: output every step's h (T x H); false: only the last h (H). */
  returnSequences: boolean;
  rng: Rng;
}

export class Lstm implements Layer {
  readonly kind = 'lstm';
  readonly inputSize: number;
  readonly hiddenSize: number;
  readonly returnSequences: boolean;
  /** [4H x I], gate blocks in order i, o, f, c. */
  readonly w: Param;
  /** [4H x H] recurrence weights, same gate order. */
  readonly r: Param;
  /** [4H] bias (ONNX's Wb; its Rb is exported as zeros). */
  readonly b: Param;
  readonly params: readonly Param[];
  private x: Float32Array = new Float32Array(0);
  private steps = 0;
  private hs: Float32Array = new Float32Array(0); // (T+1) x H, row 0 = initial zeros
  private cs: Float32Array = new Float32Array(0); // (T+1) x H
  private gates: Float32Array = new Float32Array(0); // T x 4H post-activation

  constructor(opts: LstmOptions) {
    this.inputSize = opts.inputSize;
    this.hiddenSize = opts.hiddenSize;
    this.returnSequences = opts.returnSequences;
    const H = opts.hiddenSize;
    this.w = makeParam('lstm.w', [4 * H, opts.inputSize]);
    this.r = makeParam('lstm.r', [4 * H, H]);
    this.b = makeParam('lstm.b', [4 * H]);
    glorotUniform(this.w, opts.inputSize, H, opts.rng);
    glorotUniform(this.r, H, H, opts.rng);
    // Forget-gate bias 1 (Jozefowicz, Zaremba & Sutskever 2015): remembers by default early in training.
    this.b.value.fill(1, 2 * H, 3 * H);
    this.params = [this.w, this.r, this.b];
  }

  outputLength(n: number): number {
    const t = rowsOf(n, this.inputSize, this.kind);
    return this.returnSequences ? t * this.hiddenSize : this.hiddenSize;
  }

  forward(x: Float32Array): Float32Array {
    const T = rowsOf(x.length, this.inputSize, this.kind);
    const I = this.inputSize;
    const H = this.hiddenSize;
    const W = this.w.value;
    const R = this.r.value;
    const B = this.b.value;
    this.x = x;
    this.steps = T;
    const hs = new Float32Array((T + 1) * H);
    const cs = new Float32Array((T + 1) * H);
    const gates = new Float32Array(T * 4 * H);
    const a = new Float64Array(4 * H);
    for (let t = 0; t < T; t++) {
      const xo = t * I;
      const hp = t * H;
      for (let k = 0; k < 4 * H; k++) {
        let s = B[k]!;
        const wo = k * I;
        for (let i = 0; i < I; i++) s += W[wo + i]! * x[xo + i]!;
        const ro = k * H;
        for (let j = 0; j < H; j++) s += R[ro + j]! * hs[hp + j]!;
        a[k] = s;
      }
      const go = t * 4 * H;
      const hn = (t + 1) * H;
      for (let j = 0; j < H; j++) {
        const gi = sigmoid(a[j]!);
        const gO = sigmoid(a[H + j]!);
        const gf = sigmoid(a[2 * H + j]!);
        const gc = Math.tanh(a[3 * H + j]!);
        gates[go + j] = gi;
        gates[go + H + j] = gO;
        gates[go + 2 * H + j] = gf;
        gates[go + 3 * H + j] = gc;
        const c = gf * cs[hp + j]! + gi * gc;
        cs[hn + j] = c;
        hs[hn + j] = gO * Math.tanh(c);
      }
    }
    this.hs = hs;
    this.cs = cs;
    this.gates = gates;
    return this.returnSequences ? hs.slice(H) : hs.slice(T * H);
  }

  backward(dy: Float32Array): Float32Array {
    const T = this.steps;
    const I = this.inputSize;
    const H = this.hiddenSize;
    const W = this.w.value;
    const R = this.r.value;
    const gW = this.w.grad;
    const gR = this.r.grad;
    const gB = this.b.grad;
    const { x, hs, cs, gates } = this;
    const dx = new Float32Array(T * I);
    const dhNext = new Float64Array(H);
    const dcNext = new Float64Array(H);
    const da = new Float64Array(4 * H);
    for (let t = T - 1; t >= 0; t--) {
      const go = t * 4 * H;
      const hp = t * H;
      const hn = (t + 1) * H;
      for (let j = 0; j < H; j++) {
        const fromOut = this.returnSequences ? dy[t * H + j]! : t === T - 1 ? dy[j]! : 0;
        const dh = fromOut + dhNext[j]!;
        const gi = gates[go + j]!;
        const gO = gates[go + H + j]!;
        const gf = gates[go + 2 * H + j]!;
        const gc = gates[go + 3 * H + j]!;
        const tc = Math.tanh(cs[hn + j]!);
        const dc = dh * gO * (1 - tc * tc) + dcNext[j]!;
        da[j] = dc * gc * gi * (1 - gi);
        da[H + j] = dh * tc * gO * (1 - gO);
        da[2 * H + j] = dc * cs[hp + j]! * gf * (1 - gf);
        da[3 * H + j] = dc * gi * (1 - gc * gc);
        dcNext[j] = dc * gf;
      }
      dhNext.fill(0);
      const xo = t * I;
      for (let k = 0; k < 4 * H; k++) {
        const g = da[k]!;
        if (g === 0) continue;
        gB[k]! += g;
        const wo = k * I;
        for (let i = 0; i < I; i++) {
          gW[wo + i]! += g * x[xo + i]!;
          dx[xo + i]! += g * W[wo + i]!;
        }
        const ro = k * H;
        for (let j = 0; j < H; j++) {
          gR[ro + j]! += g * hs[hp + j]!;
          dhNext[j]! += g * R[ro + j]!;
        }
      }
    }
    return dx;
  }
}

/** Repeats a vector T times (the bridge from an LSTM encoder's last state to its decoder). */
export class RepeatVector implements Layer {
  readonly kind = 'repeat';
  readonly params: readonly Param[] = [];
  private width = 0;
  constructor(readonly times: number) {}

  outputLength(n: number): number {
    return n * this.times;
  }

  forward(x: Float32Array): Float32Array {
    this.width = x.length;
    const y = new Float32Array(x.length * this.times);
    for (let t = 0; t < this.times; t++) y.set(x, t * x.length);
    return y;
  }

  backward(dy: Float32Array): Float32Array {
    const n = this.width;
    const dx = new Float32Array(n);
    for (let t = 0; t < this.times; t++) for (let i = 0; i < n; i++) dx[i]! += dy[t * n + i]!;
    return dx;
  }
}
