// Losses for one example: return the loss and write dLoss/dPrediction into `grad`.
// Softmax cross-entropy with (one-hot or soft) targets y: L = -sum_k y_k log softmax(z)_k, dL/dz = softmax(z) - y
// (for sum_k y_k = 1; Bishop, PRML eq. 4.109). Softmax computed with the max subtracted (log-sum-exp trick).
// Mean squared error: L = (1/n) sum (p - y)^2, dL/dp = 2 (p - y) / n.

export type Loss = (prediction: Float32Array, target: Float32Array, grad: Float32Array) => number;

export const softmaxCrossEntropy: Loss = (z, y, grad) => {
  if (z.length !== y.length) throw new Error(`cross-entropy: ${z.length} logits, ${y.length} targets`);
  let max = -Infinity;
  for (let i = 0; i < z.length; i++) if (z[i]! > max) max = z[i]!;
  let sum = 0;
  for (let i = 0; i < z.length; i++) sum += Math.exp(z[i]! - max);
  const logSum = max + Math.log(sum);
  let loss = 0;
  let ySum = 0;
  for (let i = 0; i < z.length; i++) {
    const yi = y[i]!;
    ySum += yi;
    if (yi !== 0) loss -= yi * (z[i]! - logSum);
  }
  for (let i = 0; i < z.length; i++) grad[i] = ySum * Math.exp(z[i]! - logSum) - y[i]!;
  return loss;
};

export const meanSquaredError: Loss = (p, y, grad) => {
  if (p.length !== y.length) throw new Error(`mse: ${p.length} predictions, ${y.length} targets`);
  const n = p.length;
  let loss = 0;
  for (let i = 0; i < n; i++) {
    const d = p[i]! - y[i]!;
    loss += d * d;
    grad[i] = (2 * d) / n;
  }
  return loss / n;
};

/** Softmax of a logit vector (for inference). */
export function softmax(z: Float32Array): Float32Array {
  let max = -Infinity;
  for (const v of z) if (v > max) max = v;
  const out = new Float32Array(z.length);
  let sum = 0;
  for (let i = 0; i < z.length; i++) sum += out[i] = Math.exp(z[i]! - max);
  for (let i = 0; i < z.length; i++) out[i]! /= sum;
  return out;
}
