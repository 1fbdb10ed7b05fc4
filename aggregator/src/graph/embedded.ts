// The attack graph in memory: the default, no server. Ranks next techniques with a statistical ranker (stats.ts;
// by default the best one measured, SERVED_RANKER); the product serves the GNN over its subgraph (predictor.ts).
import type { AttackCatalog } from '@vigil/shared';
import type { AttackSubgraph } from './gnn.js';
import { buildGraphModel, techniqueContext, type GraphModel } from './model.js';
import { SERVED_RANKER, type ServedRanker } from './stats.js';
import {
  EDGE_TYPES,
  NODE_KINDS,
  checkK,
  type AttackGraph,
  type EdgeType,
  type GraphStats,
  type GraphTechnique,
  type NodeKind,
  type RankedTechnique,
} from './types.js';

export class EmbeddedAttackGraph implements AttackGraph {
  private readonly techniques = new Map<string, GraphTechnique>();
  private readonly context: Map<string, string[]>;

  constructor(
    private readonly model: GraphModel,
    readonly ranker: ServedRanker = SERVED_RANKER,
  ) {
    this.context = techniqueContext(model);
    for (const n of model.nodes) {
      if (n.kind !== 'technique') continue;
      this.techniques.set(n.id, {
        id: n.id,
        name: n.name,
        tactics: n.tactics ?? [],
        users: model.stats.usersOf(n.id),
      });
    }
  }

  static fromCatalog(catalog: AttackCatalog, ranker: ServedRanker = SERVED_RANKER): EmbeddedAttackGraph {
    return new EmbeddedAttackGraph(buildGraphModel(catalog), ranker);
  }

  // async so that a bad k rejects the promise, as the contract says, instead of throwing synchronously.
  // eslint-disable-next-line @typescript-eslint/require-await
  async nextTechniques(current: readonly string[], k: number): Promise<RankedTechnique[]> {
    checkK(k);
    const ranked = this.model.stats
      .rank(this.ranker, current)
      .filter((s) => s.score > 0)
      .slice(0, k);
    return ranked.map((s, i) => ({
      id: s.id,
      name: this.techniques.get(s.id)?.name ?? s.id,
      probability: s.score,
      rank: i + 1,
    }));
  }

  technique(id: string): Promise<GraphTechnique | undefined> {
    const t = this.techniques.get(id);
    return Promise.resolve(t === undefined ? undefined : { ...t, tactics: [...t.tactics] });
  }

  stats(): Promise<GraphStats> {
    const nodes = Object.fromEntries(NODE_KINDS.map((k) => [k, 0])) as Record<NodeKind, number>;
    const edges = Object.fromEntries(EDGE_TYPES.map((t) => [t, 0])) as Record<EdgeType, number>;
    for (const n of this.model.nodes) nodes[n.kind]++;
    for (const e of this.model.edges) edges[e.type]++;
    return Promise.resolve({ bundleVersion: this.model.bundleVersion, nodes, edges });
  }

  subgraph(): Promise<AttackSubgraph> {
    const tactics = this.model.nodes
      .filter((n) => n.kind === 'tactic')
      .sort((a, b) => (a.order ?? 0) - (b.order ?? 0))
      .map((n) => n.id);
    const techniques = [...this.techniques.values()]
      .map((t) => ({
        id: t.id,
        name: t.name,
        tactics: [...t.tactics],
        context: [...(this.context.get(t.id) ?? [])],
      }))
      .sort((a, b) => a.id.localeCompare(b.id));
    const uses = this.model.usesSets.map((s) => ({ entity: s.entity, techniques: [...s.techniques] }));
    return Promise.resolve({ tactics, techniques, uses });
  }

  readonly embedded = true;

  ping(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
