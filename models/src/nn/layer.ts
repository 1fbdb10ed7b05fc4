// The contract every layer keeps. A layer works on ONE example at a time (a flat Float32Array), caches what its
// backward pass needs, and ADDS its parameter gradients into `param.grad`. Working per example is what makes
// per-example gradients (DP-SGD) free: the model's gradient after one backward pass is that example's gradient.
import type { Rng } from './rng.js';

export interface Param {
  readonly name: string;
  readonly shape: readonly number[];
  /** Values; the owning model may re-home this into a view of one flat buffer. */
  value: Float32Array;
  /** Gradient, same length as value; accumulated by backward(). */
  grad: Float32Array;
}

export interface Layer {
  readonly kind: string;
  readonly params: readonly Param[];
  /** Output length for an input of the given length (throws when the input length does not fit). */
  outputLength(inputLength: number): number;
  forward(x: Float32Array): Float32Array;
  /** Given dLoss/dOutput of the last forward(), adds parameter gradients and returns dLoss/dInput. */
  backward(dy: Float32Array): Float32Array;
}

export function makeParam(name: string, shape: readonly number[]): Param {
  const n = shape.reduce((a, b) => a * b, 1);
  return { name, shape, value: new Float32Array(n), grad: new Float32Array(n) };
}

/** Glorot/Xavier uniform init (Glorot & Bengio 2010, eq. 16): U(-sqrt(6/(fanIn+fanOut)), +sqrt(...)). */
export function glorotUniform(p: Param, fanIn: number, fanOut: number, rng: Rng): void {
  const limit = Math.sqrt(6 / (fanIn + fanOut));
  for (let i = 0; i < p.value.length; i++) p.value[i] = (rng.next() * 2 - 1) * limit;
}

export function rowsOf(inputLength: number, width: number, kind: string): number {
  if (width <= 0 || inputLength % width !== 0 || inputLength === 0) {
    throw new Error(`${kind}: input length ${inputLength} is not a positive multiple of ${width}`);
  }
  return inputLength / width;
}
