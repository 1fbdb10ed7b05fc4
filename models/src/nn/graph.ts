// GraphSAGE layer with the mean aggregator (Hamilton, Ying & Leskovec 2017, Algorithm 1 with the mean aggregator,
// concatenation W [h_v || mean_u h_u] written as two linear maps): for every node v
//   y_v = W_self x_v + W_neigh (sum_u A[v,u] x_u) + b
// where A is a dense N x N adjacency, row-normalised so that the sum is the neighbourhood mean (see
// `meanAdjacency`). Input and output are node-major flat matrices (N x F in, N x O out).
// Backward: dW_self += dy_v x_v^T, dW_neigh += dy_v agg_v^T, db += dy_v, dx_u = W_self^T dy_u + sum_v A[v,u] W_neigh^T dy_v.
import { glorotUniform, makeParam, rowsOf, type Layer, type Param } from './layer.js';
import type { Rng } from './rng.js';

export interface GraphSageOptions {
  inputSize: number;
  outputSize: number;
  rng: Rng;
}

/** Row-normalised dense adjacency for undirected edges: A[v,u] = 1/deg(v) for each neighbour u of v. */
export function meanAdjacency(nodes: number, edges: readonly (readonly [number, number])[]): Float32Array {
  const a = new Float32Array(nodes * nodes);
  for (const [u, v] of edges) {
    if (u < 0 || v < 0 || u >= nodes || v >= nodes)
      throw new Error(`edge (${u}, ${v}) outside 0..${nodes - 1}`);
    a[u * nodes + v] = 1;
    a[v * nodes + u] = 1;
  }
  for (let v = 0; v < nodes; v++) {
    let deg = 0;
    for (let u = 0; u < nodes; u++) deg += a[v * nodes + u]!;
    if (deg > 0) for (let u = 0; u < nodes; u++) a[v * nodes + u]! /= deg;
  }
  return a;
}

interface Csr {
  rowStart: Int32Array;
  cols: Int32Array;
  vals: Float32Array;
}

/** Compressed sparse rows of a dense N x N matrix (same sums as the dense loop, zeros skipped). */
function csrOf(a: Float32Array, n: number): Csr {
  let nnz = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== 0) nnz++;
  const rowStart = new Int32Array(n + 1);
  const cols = new Int32Array(nnz);
  const vals = new Float32Array(nnz);
  let k = 0;
  for (let v = 0; v < n; v++) {
    rowStart[v] = k;
    for (let u = 0; u < n; u++) {
      const x = a[v * n + u]!;
      if (x === 0) continue;
      cols[k] = u;
      vals[k++] = x;
    }
  }
  rowStart[n] = k;
  return { rowStart, cols, vals };
}

export class GraphSage implements Layer {
  readonly kind = 'graphsage';
  readonly inputSize: number;
  readonly outputSize: number;
  readonly wSelf: Param;
  readonly wNeigh: Param;
  readonly bias: Param;
  readonly params: readonly Param[];
  private adjacency: Float32Array = new Float32Array(0);
  /** The non-zero entries of the adjacency, row by row (CSR): the aggregation touches only these. */
  private sparse: Csr = { rowStart: new Int32Array(1), cols: new Int32Array(0), vals: new Float32Array(0) };
  private nodes = 0;
  private x: Float32Array = new Float32Array(0);
  private agg: Float32Array = new Float32Array(0);

  constructor(opts: GraphSageOptions) {
    this.inputSize = opts.inputSize;
    this.outputSize = opts.outputSize;
    this.wSelf = makeParam('graphsage.w_self', [opts.outputSize, opts.inputSize]);
    this.wNeigh = makeParam('graphsage.w_neigh', [opts.outputSize, opts.inputSize]);
    this.bias = makeParam('graphsage.bias', [opts.outputSize]);
    glorotUniform(this.wSelf, opts.inputSize, opts.outputSize, opts.rng);
    glorotUniform(this.wNeigh, opts.inputSize, opts.outputSize, opts.rng);
    this.params = [this.wSelf, this.wNeigh, this.bias];
  }

  /**
   * Sets the graph the next forward passes run on (N x N, e.g. from `meanAdjacency`). Its non-zeros are indexed once
   * per array: do not change an adjacency in place after passing it here.
   */
  setAdjacency(adjacency: Float32Array, nodes: number): void {
    if (adjacency.length !== nodes * nodes) throw new Error(`adjacency must be ${nodes} x ${nodes}`);
    if (adjacency !== this.adjacency) this.sparse = csrOf(adjacency, nodes);
    this.adjacency = adjacency;
    this.nodes = nodes;
  }

  outputLength(n: number): number {
    return rowsOf(n, this.inputSize, this.kind) * this.outputSize;
  }

  forward(x: Float32Array): Float32Array {
    const N = rowsOf(x.length, this.inputSize, this.kind);
    if (N !== this.nodes) throw new Error(`graphsage: input has ${N} nodes, adjacency has ${this.nodes}`);
    const F = this.inputSize;
    const O = this.outputSize;
    const { rowStart, cols, vals } = this.sparse;
    const agg = new Float32Array(N * F);
    for (let v = 0; v < N; v++) {
      for (let k = rowStart[v]!; k < rowStart[v + 1]!; k++) {
        const a = vals[k]!;
        const u = cols[k]!;
        for (let f = 0; f < F; f++) agg[v * F + f]! += a * x[u * F + f]!;
      }
    }
    const ws = this.wSelf.value;
    const wn = this.wNeigh.value;
    const b = this.bias.value;
    const y = new Float32Array(N * O);
    for (let v = 0; v < N; v++) {
      for (let o = 0; o < O; o++) {
        let s = b[o]!;
        for (let f = 0; f < F; f++) s += ws[o * F + f]! * x[v * F + f]! + wn[o * F + f]! * agg[v * F + f]!;
        y[v * O + o] = s;
      }
    }
    this.x = x;
    this.agg = agg;
    return y;
  }

  backward(dy: Float32Array): Float32Array {
    const N = this.nodes;
    const F = this.inputSize;
    const O = this.outputSize;
    const { x, agg } = this;
    const ws = this.wSelf.value;
    const wn = this.wNeigh.value;
    const gws = this.wSelf.grad;
    const gwn = this.wNeigh.grad;
    const gb = this.bias.grad;
    const dx = new Float32Array(N * F);
    const dagg = new Float32Array(N * F);
    for (let v = 0; v < N; v++) {
      for (let o = 0; o < O; o++) {
        const g = dy[v * O + o]!;
        if (g === 0) continue;
        gb[o]! += g;
        for (let f = 0; f < F; f++) {
          gws[o * F + f]! += g * x[v * F + f]!;
          gwn[o * F + f]! += g * agg[v * F + f]!;
          dx[v * F + f]! += g * ws[o * F + f]!;
          dagg[v * F + f]! += g * wn[o * F + f]!;
        }
      }
    }
    const { rowStart, cols, vals } = this.sparse;
    for (let v = 0; v < N; v++) {
      for (let k = rowStart[v]!; k < rowStart[v + 1]!; k++) {
        const a = vals[k]!;
        const u = cols[k]!;
        for (let f = 0; f < F; f++) dx[u * F + f]! += a * dagg[v * F + f]!;
      }
    }
    return dx;
  }
}
