// Element-wise activations. Derivatives: relu' = [x > 0]; tanh' = 1 - tanh^2; sigmoid' = s (1 - s)
// (standard identities; expressed in terms of the output so backward needs only the cached output).
import type { Layer, Param } from './layer.js';

export type ActivationKind = 'relu' | 'tanh' | 'sigmoid';

export function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

export class Activation implements Layer {
  readonly params: readonly Param[] = [];
  private y: Float32Array = new Float32Array(0);
  constructor(readonly kind: ActivationKind) {}

  outputLength(n: number): number {
    return n;
  }

  forward(x: Float32Array): Float32Array {
    const y = new Float32Array(x.length);
    if (this.kind === 'relu') for (let i = 0; i < x.length; i++) y[i] = x[i]! > 0 ? x[i]! : 0;
    else if (this.kind === 'tanh') for (let i = 0; i < x.length; i++) y[i] = Math.tanh(x[i]!);
    else for (let i = 0; i < x.length; i++) y[i] = sigmoid(x[i]!);
    this.y = y;
    return y;
  }

  backward(dy: Float32Array): Float32Array {
    const y = this.y;
    const dx = new Float32Array(dy.length);
    if (this.kind === 'relu') for (let i = 0; i < dy.length; i++) dx[i] = y[i]! > 0 ? dy[i]! : 0;
    else if (this.kind === 'tanh') for (let i = 0; i < dy.length; i++) dx[i] = dy[i]! * (1 - y[i]! * y[i]!);
    else for (let i = 0; i < dy.length; i++) dx[i] = dy[i]! * y[i]! * (1 - y[i]!);
    return dx;
  }
}
