// ONNX export of our models. A Sequential becomes MatMul/Add (dense; weights transposed to [in, out]),
// Relu/Tanh/Sigmoid, LSTM (the ONNX LSTM operator: same gate order i, o, f, c, W [1, 4H, I], R [1, 4H, H],
// B = [Wb, Rb] with Rb = 0; sequences are transposed to ONNX's time-major layout around it), and Unsqueeze+Tile for
// RepeatVector, MatMul/Add for GraphSage (adjacency as a second input), and Concat (axis 1) of a Skip's input and
// its inner layers' output. The input is [N, ...inputShape] with a symbolic batch N; the output is the model output per row.
// An Isolation Forest becomes one ai.onnx.ml TreeEnsembleRegressor averaging per-tree path lengths (leaf weight =
// depth + c(leaf size)), followed by the score 2^(-E[h]/c(psi)) = exp(E[h] * (-ln 2 / c(psi))).
import { Activation } from '../nn/activation.js';
import { Dense } from '../nn/dense.js';
import { GraphSage } from '../nn/graph.js';
import type { Layer } from '../nn/layer.js';
import { Lstm, RepeatVector } from '../nn/lstm.js';
import type { Sequential } from '../nn/model.js';
import { Skip } from '../nn/skip.js';
import { averagePathLength, type IsolationForest } from '../iforest.js';
import { GraphBuilder } from './graph-builder.js';

export interface SequentialExportOptions {
  /** Shape of ONE example: [features] for vectors, [steps, features] for sequences. */
  inputShape: number[];
  /** Graph name (default "vigil_model"). */
  name?: string;
  /** Free-form key/value metadata stored in the model (e.g. model card fields, version). */
  metadata?: Record<string, string>;
  /** Append a Softmax over the last axis (classifier probabilities instead of logits). */
  softmax?: boolean;
}

export const INPUT_NAME = 'input';
/** Second input of graph models: the dense normalised adjacency [nodes, nodes]; their batch axis is the node axis. */
export const ADJACENCY_NAME = 'adjacency';
export const OUTPUT_NAME = 'output';

function transposed(w: Float32Array, rows: number, cols: number): Float32Array {
  const t = new Float32Array(w.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = w[r * cols + c]!;
  return t;
}

export function exportSequential(model: Sequential, opts: SequentialExportOptions): Uint8Array {
  const g = new GraphBuilder();
  const state = { cur: INPUT_NAME, rank: opts.inputShape.length + 1, usesGraph: false };
  exportLayers(g, model.layers, state);
  let { cur } = state;
  if (opts.softmax) [cur] = g.node('Softmax', [cur], { axis: -1 }) as [string];
  g.output(cur, OUTPUT_NAME);
  return g.encode({
    name: opts.name ?? 'vigil_model',
    inputs: [
      { name: INPUT_NAME, shape: ['N', ...opts.inputShape] },
      ...(state.usesGraph ? [{ name: ADJACENCY_NAME, shape: ['N', 'N'] }] : []),
    ],
    outputs: [{ name: OUTPUT_NAME }],
    metadata: opts.metadata ?? {},
  });
}

/** Appends `layers` to `g`, starting from the value `state.cur` of rank `state.rank`; updates `state`. */
function exportLayers(
  g: GraphBuilder,
  layers: readonly Layer[],
  state: { cur: string; rank: number; usesGraph: boolean },
): void {
  let { cur, rank, usesGraph } = state;
  for (const layer of layers) {
    if (layer instanceof Dense) {
      const wt = g.floatInit(
        'W',
        [layer.inputSize, layer.outputSize],
        transposed(layer.weight.value, layer.outputSize, layer.inputSize),
      );
      const b = g.floatInit('b', [layer.outputSize], layer.bias.value);
      [cur] = g.node('Add', [g.node('MatMul', [cur, wt])[0]!, b]) as [string];
    } else if (layer instanceof Activation) {
      const op = { relu: 'Relu', tanh: 'Tanh', sigmoid: 'Sigmoid' }[layer.kind];
      [cur] = g.node(op, [cur]) as [string];
    } else if (layer instanceof Lstm) {
      if (rank !== 3) throw new Error('onnx export: an LSTM needs a [steps, features] input');
      const H = layer.hiddenSize;
      const I = layer.inputSize;
      const W = g.floatInit('lstm_W', [1, 4 * H, I], layer.w.value);
      const R = g.floatInit('lstm_R', [1, 4 * H, H], layer.r.value);
      const bias = new Float32Array(8 * H);
      bias.set(layer.b.value);
      const B = g.floatInit('lstm_B', [1, 8 * H], bias);
      const [tm] = g.node('Transpose', [cur], { perm: [1, 0, 2] }) as [string];
      const [y, yh] = g.node('LSTM', [tm, W, R, B], { hidden_size: H }, 2) as [string, string];
      if (layer.returnSequences) {
        const [sq] = g.node('Squeeze', [y, g.int64Init('axes', [1])]) as [string];
        [cur] = g.node('Transpose', [sq], { perm: [1, 0, 2] }) as [string];
      } else {
        [cur] = g.node('Squeeze', [yh, g.int64Init('axes', [0])]) as [string];
        rank = 2;
      }
    } else if (layer instanceof GraphSage) {
      if (rank !== 2) throw new Error('onnx export: a GraphSage layer needs a [features] input per node');
      usesGraph = true;
      const ws = g.floatInit(
        'W_self',
        [layer.inputSize, layer.outputSize],
        transposed(layer.wSelf.value, layer.outputSize, layer.inputSize),
      );
      const wn = g.floatInit(
        'W_neigh',
        [layer.inputSize, layer.outputSize],
        transposed(layer.wNeigh.value, layer.outputSize, layer.inputSize),
      );
      const b = g.floatInit('b', [layer.outputSize], layer.bias.value);
      const [agg] = g.node('MatMul', [ADJACENCY_NAME, cur]) as [string];
      const [self] = g.node('MatMul', [cur, ws]) as [string];
      const [neigh] = g.node('MatMul', [agg, wn]) as [string];
      const [sum] = g.node('Add', [self, neigh]) as [string];
      [cur] = g.node('Add', [sum, b]) as [string];
    } else if (layer instanceof RepeatVector) {
      if (rank !== 2) throw new Error('onnx export: RepeatVector needs a vector input');
      const [u] = g.node('Unsqueeze', [cur, g.int64Init('axes', [1])]) as [string];
      [cur] = g.node('Tile', [u, g.int64Init('repeats', [1, layer.times, 1])]) as [string];
      rank = 3;
    } else if (layer instanceof Skip) {
      if (rank !== 2) throw new Error('onnx export: a Skip layer needs a [features] input per row');
      const inner = { cur, rank, usesGraph };
      exportLayers(g, layer.layers, inner);
      if (inner.rank !== 2)
        throw new Error('onnx export: the layers inside a Skip must keep one row per node');
      usesGraph = inner.usesGraph;
      [cur] = g.node('Concat', [cur, inner.cur], { axis: 1 }) as [string];
    } else {
      throw new Error(`onnx export: layer kind ${layer.kind} is not exportable`);
    }
  }
  state.cur = cur;
  state.rank = rank;
  state.usesGraph = usesGraph;
}

export const PATH_LENGTH_NAME = 'path_length';
export const SCORE_NAME = 'score';

/** Isolation Forest as ONNX: input [N, features]; outputs path_length [N, 1] (E[h(x)]) and score [N, 1]. */
export function exportIsolationForest(
  forest: IsolationForest,
  opts: { metadata?: Record<string, string> } = {},
): Uint8Array {
  const g = new GraphBuilder();
  const a = {
    treeIds: [] as number[],
    nodeIds: [] as number[],
    featureIds: [] as number[],
    values: [] as number[],
    modes: [] as string[],
    trueIds: [] as number[],
    falseIds: [] as number[],
    tTree: [] as number[],
    tNode: [] as number[],
    tWeight: [] as number[],
  };
  forest.trees.forEach((t, ti) => {
    for (let n = 0; n < t.feature.length; n++) {
      const leaf = t.feature[n]! < 0;
      a.treeIds.push(ti);
      a.nodeIds.push(n);
      a.featureIds.push(leaf ? 0 : t.feature[n]!);
      a.values.push(leaf ? 0 : t.threshold[n]!);
      a.modes.push(leaf ? 'LEAF' : 'BRANCH_LT');
      a.trueIds.push(leaf ? 0 : t.left[n]!);
      a.falseIds.push(leaf ? 0 : t.right[n]!);
      if (leaf) {
        a.tTree.push(ti);
        a.tNode.push(n);
        a.tWeight.push(t.leafValue[n]!);
      }
    }
  });
  const [pathLength] = g.node(
    'TreeEnsembleRegressor',
    [INPUT_NAME],
    {
      n_targets: 1,
      aggregate_function: 'AVERAGE',
      post_transform: 'NONE',
      nodes_treeids: a.treeIds,
      nodes_nodeids: a.nodeIds,
      nodes_featureids: a.featureIds,
      nodes_values: { floats: a.values },
      nodes_modes: a.modes,
      nodes_truenodeids: a.trueIds,
      nodes_falsenodeids: a.falseIds,
      target_treeids: a.tTree,
      target_nodeids: a.tNode,
      target_ids: a.tTree.map(() => 0),
      target_weights: { floats: a.tWeight },
    },
    1,
    'ai.onnx.ml',
  ) as [string];
  const k = g.floatInit(
    'neg_ln2_over_c',
    [1],
    Float32Array.of(-Math.LN2 / averagePathLength(forest.sampleSize)),
  );
  const [scaled] = g.node('Mul', [pathLength, k]) as [string];
  const [score] = g.node('Exp', [scaled]) as [string];
  g.output(pathLength, PATH_LENGTH_NAME);
  g.output(score, SCORE_NAME);
  return g.encode({
    name: 'isolation_forest',
    inputs: [{ name: INPUT_NAME, shape: ['N', forest.features] }],
    outputs: [{ name: PATH_LENGTH_NAME }, { name: SCORE_NAME }],
    metadata: {
      sample_size: String(forest.sampleSize),
      trees: String(forest.trees.length),
      ...(opts.metadata ?? {}),
    },
  });
}
