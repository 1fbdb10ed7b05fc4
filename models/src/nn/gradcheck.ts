// Finite-difference gradient check (central differences, (L(θ+h) - L(θ-h)) / 2h, error O(h^2)) for a model and a
// loss, over every parameter and every input value. Returns the relative error ||a - n|| / (||a|| + ||n||) of the
// analytic gradient a against the numeric n (the measure in CS231n's notes on gradient checks).
import type { Loss } from './loss.js';
import type { Example, Sequential } from './model.js';

export interface GradCheckResult {
  paramError: number;
  inputError: number;
}

export function gradientCheck(model: Sequential, loss: Loss, ex: Example, h = 1e-3): GradCheckResult {
  const analytic = new Float32Array(model.parameterCount);
  model.zeroGrad();
  const pred = model.forward(ex.x);
  const dPred = new Float32Array(pred.length);
  loss(pred, ex.y, dPred);
  const dInput = model.backward(dPred);
  analytic.set(model.flatGrads);

  const lossAt = (x: Float32Array): number => {
    const p = model.forward(x);
    return loss(p, ex.y, new Float32Array(p.length));
  };
  const theta = model.flatValues;
  const numeric = new Float64Array(theta.length);
  for (let i = 0; i < theta.length; i++) {
    const orig = theta[i]!;
    theta[i] = orig + h;
    const up = lossAt(ex.x);
    theta[i] = orig - h;
    const down = lossAt(ex.x);
    theta[i] = orig;
    numeric[i] = (up - down) / (2 * h);
  }
  const x = ex.x.slice();
  const numericX = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const orig = x[i]!;
    x[i] = orig + h;
    const up = lossAt(x);
    x[i] = orig - h;
    const down = lossAt(x);
    x[i] = orig;
    numericX[i] = (up - down) / (2 * h);
  }
  return { paramError: relativeError(analytic, numeric), inputError: relativeError(dInput, numericX) };
}

function relativeError(a: ArrayLike<number>, n: ArrayLike<number>): number {
  let diff = 0;
  let na = 0;
  let nn = 0;
  for (let i = 0; i < a.length; i++) {
    diff += (a[i]! - n[i]!) ** 2;
    na += a[i]! ** 2;
    nn += n[i]! ** 2;
  }
  const denom = Math.sqrt(na) + Math.sqrt(nn);
  return denom === 0 ? 0 : Math.sqrt(diff) / denom;
}
