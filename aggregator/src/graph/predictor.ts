// The next-technique predictor the product serves: the GNN (graph/gnn.ts, run by onnxruntime-node) when it beats the
// statistical baselines in `npm run eval:predict`, else the best statistical ranker served by the attack graph.
// The choice is SERVED_PREDICTOR, set from the evaluation recorded in models/EVAL.md.
import { readFile } from 'node:fs/promises';
import { OnnxGnn } from './gnn.js';
import type { ServedRanker } from './stats.js';
import { checkK, type AttackGraph, type RankedTechnique } from './types.js';

export type PredictorName = 'gnn' | ServedRanker;

/**
 * What the product serves. models/EVAL.md (2026-11-22, session 5): the query-node GNN beats Jaccard kNN on the
 * leave-one-entity-out evaluation by the rule fixed before the run (leave-one-out hit@10 0.455 against 0.410, paired
 * difference +0.045 [+0.005, +0.089]; MRR 0.234 against 0.197, +0.037 [+0.003, +0.073]; from one technique not
 * worse), so the product serves the GNN; a GNN that cannot be opened falls back to the graph's own ranker.
 */
export const SERVED_PREDICTOR: PredictorName = 'gnn';

/** The committed GNN trained on the whole shipped bundle (`npm run train:gnn`, model card next to it). */
export const GNN_ARTIFACT = new URL('../../../models/artifacts/next-technique-gnn.onnx', import.meta.url);

export interface NextTechniquePredictor {
  readonly name: PredictorName;
  /** The k most likely next techniques, best first, the observed ones excluded (see AttackGraph.nextTechniques). */
  predict(current: readonly string[], k: number): Promise<RankedTechnique[]>;
  close(): Promise<void>;
}

/** The attack graph's own statistical ranker. */
export class RankerPredictor implements NextTechniquePredictor {
  constructor(private readonly graph: AttackGraph) {}
  get name(): PredictorName {
    return this.graph.ranker;
  }
  predict(current: readonly string[], k: number): Promise<RankedTechnique[]> {
    return this.graph.nextTechniques(current, k);
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** The exported GNN over the subgraph read from the attack graph store. */
export class GnnPredictor implements NextTechniquePredictor {
  readonly name = 'gnn';
  private constructor(private readonly gnn: OnnxGnn) {}

  /**
   * Opens the model (the committed artifact unless `onnx` is given) over the graph's subgraph and runs it once, so a
   * model that does not fit this graph (another bundle's tactics, a damaged file) fails here and not on an alert.
   */
  static async open(graph: AttackGraph, onnx?: Uint8Array): Promise<GnnPredictor> {
    const bytes = onnx ?? new Uint8Array(await readFile(GNN_ARTIFACT));
    const gnn = await OnnxGnn.create(bytes, await graph.subgraph());
    try {
      const { logits } = await gnn.logits([]);
      if (logits.length !== gnn.inputs.t)
        throw new Error(`gnn: the model gave ${logits.length} scores for ${gnn.inputs.t} techniques`);
    } catch (err) {
      await gnn.close();
      throw err;
    }
    return new GnnPredictor(gnn);
  }

  async predict(current: readonly string[], k: number): Promise<RankedTechnique[]> {
    checkK(k);
    const ranked = await this.gnn.rank(current);
    return ranked
      .slice(0, k)
      .map((s, i) => ({ id: s.id, name: s.name, probability: s.probability, rank: i + 1 }));
  }

  close(): Promise<void> {
    return this.gnn.close();
  }
}

export interface OpenPredictorOptions {
  /** ONNX bytes to use instead of the committed GNN artifact. */
  onnx?: Uint8Array;
  /**
   * With it, a GNN that cannot be opened (artifact missing or damaged, or not fitting this graph) is replaced by the
   * graph's own statistical ranker, and this is told why: what the server does, so that alerts still get
   * predictions. Without it (a GNN asked for by name, as `vigil predict --model gnn`) the error is thrown.
   */
  onFallback?: (reason: string) => void;
}

export async function openPredictor(
  graph: AttackGraph,
  name: PredictorName = SERVED_PREDICTOR,
  opts: OpenPredictorOptions = {},
): Promise<NextTechniquePredictor> {
  if (name !== 'gnn') return new RankerPredictor(graph);
  if (opts.onFallback === undefined) return GnnPredictor.open(graph, opts.onnx);
  try {
    return await GnnPredictor.open(graph, opts.onnx);
  } catch (err) {
    opts.onFallback(
      `the GNN could not be opened (${err instanceof Error ? err.message : String(err)}); serving ${graph.ranker}`,
    );
    return new RankerPredictor(graph);
  }
}
