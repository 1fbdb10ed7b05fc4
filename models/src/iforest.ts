// Isolation Forest (Liu, Ting & Zhou 2008, "Isolation Forest", ICDM; Algorithms 1-3):
// each tree isolates a random subsample of psi rows by random axis-parallel splits up to height ceil(log2 psi);
// the path length of x in a tree is the depth of the leaf it reaches plus c(size of that leaf), with
// c(n) = 2 H(n-1) - 2 (n-1)/n and H(i) ~ ln(i) + Euler's constant (their eq. 1); the anomaly score is
// s(x) = 2^(-E[h(x)] / c(psi)) (eq. 2): near 1 is anomalous, below 0.5 is normal.
// Thresholds are float32 so that our comparisons and ONNX Runtime's are bit-identical.
import type { Rng } from './nn/rng.js';

const EULER = 0.5772156649015329;

/** Average path length of an unsuccessful search in a binary search tree of n nodes. */
export function averagePathLength(n: number): number {
  if (n <= 1) return 0;
  if (n === 2) return 1;
  return 2 * (Math.log(n - 1) + EULER) - (2 * (n - 1)) / n;
}

/** One isolation tree in flat arrays; node 0 is the root; feature -1 marks a leaf. */
export interface IsolationTree {
  feature: Int32Array;
  threshold: Float32Array;
  left: Int32Array;
  right: Int32Array;
  /** For leaves: depth + c(leaf size), the path length of any x that ends here. */
  leafValue: Float32Array;
}

export interface IsolationForestOptions {
  /** Number of trees (paper: 100). */
  trees?: number;
  /** Subsample size psi (paper: 256). */
  sampleSize?: number;
  rng: Rng;
}

export class IsolationForest {
  private constructor(
    readonly features: number,
    readonly sampleSize: number,
    readonly trees: readonly IsolationTree[],
  ) {}

  /** Fits on `rows` (row-major, `features` values per row). */
  static fit(rows: Float32Array, features: number, opts: IsolationForestOptions): IsolationForest {
    if (features <= 0 || rows.length % features !== 0)
      throw new Error('isolation forest: rows do not fit features');
    const n = rows.length / features;
    if (n < 2) throw new Error('isolation forest: need at least 2 rows');
    const psi = Math.min(opts.sampleSize ?? 256, n);
    const limit = Math.ceil(Math.log2(psi));
    const trees: IsolationTree[] = [];
    for (let t = 0; t < (opts.trees ?? 100); t++) {
      // sample psi distinct rows (partial Fisher-Yates)
      const idx = Array.from({ length: n }, (_, i) => i);
      for (let i = 0; i < psi; i++) {
        const j = i + Math.floor(opts.rng.next() * (n - i));
        [idx[i], idx[j]] = [idx[j]!, idx[i]!];
      }
      trees.push(buildTree(rows, features, idx.slice(0, psi), limit, opts.rng));
    }
    return new IsolationForest(features, psi, trees);
  }

  /** Rebuilds a forest from its parts (e.g. after deserialising). */
  static fromTrees(features: number, sampleSize: number, trees: readonly IsolationTree[]): IsolationForest {
    return new IsolationForest(features, sampleSize, trees);
  }

  /** E[h(x)]: mean path length over the trees for one row. */
  pathLength(x: Float32Array): number {
    if (x.length !== this.features)
      throw new Error(`isolation forest: row has ${x.length} values, expected ${this.features}`);
    let sum = 0;
    for (const t of this.trees) {
      let node = 0;
      while (t.feature[node]! >= 0)
        node = x[t.feature[node]!]! < t.threshold[node]! ? t.left[node]! : t.right[node]!;
      sum += t.leafValue[node]!;
    }
    return sum / this.trees.length;
  }

  /** Anomaly score s(x) in (0, 1]. */
  score(x: Float32Array): number {
    return Math.pow(2, -this.pathLength(x) / averagePathLength(this.sampleSize));
  }
}

function buildTree(rows: Float32Array, F: number, sample: number[], limit: number, rng: Rng): IsolationTree {
  const feature: number[] = [];
  const threshold: number[] = [];
  const left: number[] = [];
  const right: number[] = [];
  const leafValue: number[] = [];
  const grow = (members: number[], depth: number): number => {
    const id = feature.length;
    feature.push(-1);
    threshold.push(0);
    left.push(0);
    right.push(0);
    leafValue.push(0);
    const leaf = (): number => {
      leafValue[id] = depth + averagePathLength(members.length);
      return id;
    };
    if (depth >= limit || members.length <= 1) return leaf();
    // features that still vary among the members; a constant node cannot be split
    const varying: { f: number; lo: number; hi: number }[] = [];
    for (let f = 0; f < F; f++) {
      let lo = Infinity;
      let hi = -Infinity;
      for (const m of members) {
        const v = rows[m * F + f]!;
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
      if (hi > lo) varying.push({ f, lo, hi });
    }
    if (varying.length === 0) return leaf();
    const { f, lo, hi } = varying[Math.floor(rng.next() * varying.length)]!;
    let p = Math.fround(lo + rng.next() * (hi - lo));
    if (p <= lo) p = hi; // keep both sides non-empty after float32 rounding
    const l = members.filter((m) => rows[m * F + f]! < p);
    const r = members.filter((m) => rows[m * F + f]! >= p);
    feature[id] = f;
    threshold[id] = p;
    left[id] = grow(l, depth + 1);
    right[id] = grow(r, depth + 1);
    return id;
  };
  grow(sample, 0);
  return {
    feature: Int32Array.from(feature),
    threshold: Float32Array.from(threshold),
    left: Int32Array.from(left),
    right: Int32Array.from(right),
    leafValue: Float32Array.from(leafValue),
  };
}
