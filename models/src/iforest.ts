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
  // The trees' nodes in two flat arrays for scoring (one lookup table instead of five arrays per tree):
  // per node [feature, left, right] and its threshold, or for a leaf (feature -1) its leafValue.
  private readonly links: Int32Array;
  private readonly values: Float32Array;
  private readonly roots: Int32Array;

  private constructor(
    readonly features: number,
    readonly sampleSize: number,
    readonly trees: readonly IsolationTree[],
  ) {
    const nodes = trees.reduce((n, t) => n + t.feature.length, 0);
    this.links = new Int32Array(3 * nodes);
    this.values = new Float32Array(nodes);
    this.roots = new Int32Array(trees.length);
    let base = 0;
    trees.forEach((t, ti) => {
      this.roots[ti] = base;
      for (let i = 0; i < t.feature.length; i++) {
        const f = t.feature[i]!;
        const g = base + i;
        this.links[3 * g] = f;
        this.links[3 * g + 1] = base + t.left[i]!;
        this.links[3 * g + 2] = base + t.right[i]!;
        this.values[g] = f >= 0 ? t.threshold[i]! : t.leafValue[i]!;
      }
      base += t.feature.length;
    });
  }

  /** Fits on `rows` (row-major, `features` values per row). */
  static fit(rows: Float32Array, features: number, opts: IsolationForestOptions): IsolationForest {
    if (features <= 0 || rows.length % features !== 0)
      throw new Error('isolation forest: rows do not fit features');
    const n = rows.length / features;
    if (n < 2) throw new Error('isolation forest: need at least 2 rows');
    const psi = Math.min(opts.sampleSize ?? 256, n);
    const limit = Math.ceil(Math.log2(psi));
    const trees: IsolationTree[] = [];
    const idx = new Int32Array(n);
    const grower = new TreeGrower(rows, features, psi, limit, opts.rng);
    for (let t = 0; t < (opts.trees ?? 100); t++) {
      // sample psi distinct rows (partial Fisher-Yates over 0..n-1)
      for (let i = 0; i < n; i++) idx[i] = i;
      for (let i = 0; i < psi; i++) {
        const j = i + Math.floor(opts.rng.next() * (n - i));
        const a = idx[i]!;
        idx[i] = idx[j]!;
        idx[j] = a;
      }
      trees.push(grower.tree(idx.subarray(0, psi)));
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
    const links = this.links;
    const values = this.values;
    const roots = this.roots;
    let sum = 0;
    for (let t = 0; t < roots.length; t++) {
      let node = roots[t]!;
      let f = links[3 * node]!;
      while (f >= 0) {
        node = x[f]! < values[node]! ? links[3 * node + 1]! : links[3 * node + 2]!;
        f = links[3 * node]!;
      }
      sum += values[node]!;
    }
    return sum / roots.length;
  }

  /** Anomaly score s(x) in (0, 1]. */
  score(x: Float32Array): number {
    return Math.pow(2, -this.pathLength(x) / averagePathLength(this.sampleSize));
  }

  /**
   * score() of every row of `rows` (row-major, `features` values per row), the same numbers: tree by tree over all
   * rows, so that one tree's nodes stay in the cache while every row walks it (each row's path lengths are still
   * summed in tree order).
   */
  scoreRows(rows: Float32Array): Float64Array {
    const F = this.features;
    if (rows.length % F !== 0)
      throw new Error(`isolation forest: rows do not fit ${F} values per row (${rows.length} values)`);
    const n = rows.length / F;
    const sums = new Float64Array(n);
    const { links, values, roots } = this;
    for (let t = 0; t < roots.length; t++) {
      const root = roots[t]!;
      for (let r = 0, base = 0; r < n; r++, base += F) {
        let node = root;
        let f = links[3 * node]!;
        while (f >= 0) {
          node = rows[base + f]! < values[node]! ? links[3 * node + 1]! : links[3 * node + 2]!;
          f = links[3 * node]!;
        }
        sums[r] = sums[r]! + values[node]!;
      }
    }
    const c = averagePathLength(this.sampleSize);
    for (let r = 0; r < n; r++) sums[r] = Math.pow(2, -(sums[r]! / roots.length) / c);
    return sums;
  }
}

/**
 * Grows isolation trees (Algorithm 2) over a sample's row indices, partitioned in place: a node's members are a
 * range of `members`, its left members first. Which members a node holds, never their order, decides its split,
 * and nodes are numbered and the random numbers drawn depth-first, left before right.
 */
class TreeGrower {
  private readonly members: Int32Array;
  private readonly spare: Int32Array;
  private readonly lo: Float64Array;
  private readonly hi: Float64Array;
  /**
   * Per depth, the features that vary among the members of the node being grown there, in feature order (a
   * feature constant in a node is constant in its children: they look at their parent's list only).
   */
  private readonly vary: Int32Array[] = [];
  // The tree being grown (every split leaves both sides non-empty, so a tree of psi rows has < 2 psi nodes).
  private readonly feature: Int32Array;
  private readonly threshold: Float32Array;
  private readonly left: Int32Array;
  private readonly right: Int32Array;
  private readonly leafValue: Float32Array;
  private nodes = 0;

  constructor(
    private readonly rows: Float32Array,
    private readonly F: number,
    psi: number,
    private readonly limit: number,
    private readonly rng: Rng,
  ) {
    this.feature = new Int32Array(2 * psi);
    this.threshold = new Float32Array(2 * psi);
    this.left = new Int32Array(2 * psi);
    this.right = new Int32Array(2 * psi);
    this.leafValue = new Float32Array(2 * psi);
    this.members = new Int32Array(psi);
    this.spare = new Int32Array(psi);
    this.lo = new Float64Array(F);
    this.hi = new Float64Array(F);
    for (let d = 0; d <= limit + 1; d++) this.vary.push(new Int32Array(F));
    for (let f = 0; f < F; f++) this.vary[0]![f] = f;
  }

  tree(sample: Int32Array): IsolationTree {
    this.members.set(sample);
    this.nodes = 0;
    this.grow(0, sample.length, 0, this.F);
    const n = this.nodes;
    return {
      feature: this.feature.slice(0, n),
      threshold: this.threshold.slice(0, n),
      left: this.left.slice(0, n),
      right: this.right.slice(0, n),
      leafValue: this.leafValue.slice(0, n),
    };
  }

  /** Grows the node of members[from, to) at `depth`, whose parent varied in `candidates` features; returns its id. */
  private grow(from: number, to: number, depth: number, candidates: number): number {
    const id = this.nodes++;
    this.feature[id] = -1;
    this.threshold[id] = 0;
    this.left[id] = 0;
    this.right[id] = 0;
    this.leafValue[id] = 0;
    const count = to - from;
    if (depth >= this.limit || count <= 1) return this.leaf(id, depth, count);
    // features that still vary among the members; a constant node cannot be split
    const { rows, F, lo, hi, members } = this;
    const cand = this.vary[depth]!;
    const mine = this.vary[depth + 1]!;
    for (let j = 0; j < candidates; j++) {
      const f = cand[j]!;
      lo[f] = Infinity;
      hi[f] = -Infinity;
    }
    for (let k = from; k < to; k++) {
      const base = members[k]! * F;
      for (let j = 0; j < candidates; j++) {
        const f = cand[j]!;
        const v = rows[base + f]!;
        if (v < lo[f]!) lo[f] = v;
        if (v > hi[f]!) hi[f] = v;
      }
    }
    let varying = 0;
    for (let j = 0; j < candidates; j++) {
      const f = cand[j]!;
      if (hi[f]! > lo[f]!) mine[varying++] = f;
    }
    if (varying === 0) return this.leaf(id, depth, count);
    const f = mine[Math.floor(this.rng.next() * varying)]!;
    const l0 = lo[f]!;
    const h0 = hi[f]!;
    let p = Math.fround(l0 + this.rng.next() * (h0 - l0));
    if (p <= l0) p = h0; // keep both sides non-empty after float32 rounding
    // members below p, then those at or above it (a NaN is in neither: it leaves the tree here)
    const spare = this.spare;
    let nl = 0;
    for (let k = from; k < to; k++) if (rows[members[k]! * F + f]! < p) spare[nl++] = members[k]!;
    let n = nl;
    for (let k = from; k < to; k++) if (rows[members[k]! * F + f]! >= p) spare[n++] = members[k]!;
    for (let k = 0; k < n; k++) members[from + k] = spare[k]!;
    this.feature[id] = f;
    this.threshold[id] = p;
    this.left[id] = this.grow(from, from + nl, depth + 1, varying);
    this.right[id] = this.grow(from + nl, from + n, depth + 1, varying);
    return id;
  }

  private leaf(id: number, depth: number, count: number): number {
    this.leafValue[id] = depth + averagePathLength(count);
    return id;
  }
}
