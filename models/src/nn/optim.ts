// Optimisers over the flat parameter vector.
// SGD with optional momentum: v = mu v + g; theta -= lr v (the form used by PyTorch's SGD).
// Adam (Kingma & Ba 2015, Algorithm 1): m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
//   theta -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps).

export interface Optimizer {
  step(params: Float32Array, grad: Float32Array): void;
}

export interface SgdOptions {
  learningRate: number;
  momentum?: number;
}

export class Sgd implements Optimizer {
  private velocity: Float32Array | null = null;
  constructor(private readonly opts: SgdOptions) {}

  step(params: Float32Array, grad: Float32Array): void {
    const lr = this.opts.learningRate;
    const mu = this.opts.momentum ?? 0;
    if (mu === 0) {
      for (let i = 0; i < params.length; i++) params[i]! -= lr * grad[i]!;
      return;
    }
    const v = (this.velocity ??= new Float32Array(params.length));
    for (let i = 0; i < params.length; i++) {
      v[i] = mu * v[i]! + grad[i]!;
      params[i]! -= lr * v[i]!;
    }
  }
}

export interface AdamOptions {
  learningRate: number;
  beta1?: number;
  beta2?: number;
  epsilon?: number;
}

export class Adam implements Optimizer {
  private m: Float32Array | null = null;
  private v: Float32Array | null = null;
  private t = 0;
  constructor(private readonly opts: AdamOptions) {}

  step(params: Float32Array, grad: Float32Array): void {
    const lr = this.opts.learningRate;
    const b1 = this.opts.beta1 ?? 0.9;
    const b2 = this.opts.beta2 ?? 0.999;
    const eps = this.opts.epsilon ?? 1e-8;
    const m = (this.m ??= new Float32Array(params.length));
    const v = (this.v ??= new Float32Array(params.length));
    this.t++;
    const c1 = 1 - Math.pow(b1, this.t);
    const c2 = 1 - Math.pow(b2, this.t);
    for (let i = 0; i < params.length; i++) {
      const g = grad[i]!;
      m[i] = b1 * m[i]! + (1 - b1) * g;
      v[i] = b2 * v[i]! + (1 - b2) * g * g;
      params[i]! -= (lr * (m[i]! / c1)) / (Math.sqrt(v[i]! / c2) + eps);
    }
  }
}
