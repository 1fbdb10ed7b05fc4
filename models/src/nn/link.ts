// Link prediction over node embeddings Z (N x D, e.g. the output of GraphSage layers), as in GraphSAGE's
// unsupervised loss (Hamilton et al. 2017, eq. 1): the logit of an edge (u, v) is s = z_u . z_v, and the loss is the
// binary cross-entropy with logits, mean over the pairs:
//   L = max(s, 0) - s y + log(1 + e^{-|s|})   (the stable form),   dL/ds = sigmoid(s) - y,   ds/dz_u = z_v, ds/dz_v = z_u.
// Pairs travel in the example's target as triples [u, v, label, u, v, label, ...] (label 1 = edge, 0 = non-edge), so a
// whole graph is one Example and the Trainer (and DP-SGD) work unchanged.
import { sigmoid } from './activation.js';
import type { Loss } from './loss.js';

export function linkPredictionLoss(dim: number): Loss {
  return (z, pairs, grad) => {
    if (pairs.length % 3 !== 0 || pairs.length === 0)
      throw new Error('link loss: target must be [u, v, label] triples');
    if (z.length % dim !== 0) throw new Error(`link loss: embeddings are not a multiple of ${dim}`);
    const nodes = z.length / dim;
    grad.fill(0);
    const count = pairs.length / 3;
    let loss = 0;
    for (let p = 0; p < pairs.length; p += 3) {
      const u = pairs[p]!;
      const v = pairs[p + 1]!;
      const y = pairs[p + 2]!;
      if (!Number.isInteger(u) || !Number.isInteger(v) || u < 0 || v < 0 || u >= nodes || v >= nodes) {
        throw new Error(`link loss: pair (${u}, ${v}) outside 0..${nodes - 1}`);
      }
      let s = 0;
      for (let d = 0; d < dim; d++) s += z[u * dim + d]! * z[v * dim + d]!;
      loss += Math.max(s, 0) - s * y + Math.log1p(Math.exp(-Math.abs(s)));
      const g = (sigmoid(s) - y) / count;
      for (let d = 0; d < dim; d++) {
        grad[u * dim + d]! += g * z[v * dim + d]!;
        grad[v * dim + d]! += g * z[u * dim + d]!;
      }
    }
    return loss / count;
  };
}

/** Probability of a link for each (u, v) pair given embeddings Z (N x dim): sigmoid(z_u . z_v). */
export function linkProbabilities(
  z: Float32Array,
  dim: number,
  pairs: readonly (readonly [number, number])[],
): Float32Array {
  return Float32Array.from(pairs, ([u, v]) => {
    let s = 0;
    for (let d = 0; d < dim; d++) s += z[u * dim + d]! * z[v * dim + d]!;
    return sigmoid(s);
  });
}
