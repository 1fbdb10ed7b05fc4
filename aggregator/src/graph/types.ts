// The attack graph: ATT&CK for ICS as nodes and edges, plus next-technique ranking over it. Two implementations pass
// one contract suite (attack-graph.case.test.ts): EmbeddedAttackGraph (in memory, the default, no server) and
// Neo4jAttackGraph (neo4j-driver, Cypher).

import type { AttackSubgraph } from './gnn.js';
import type { ServedRanker } from './stats.js';

export const NODE_KINDS = [
  'technique',
  'tactic',
  'group',
  'software',
  'campaign',
  'mitigation',
  'asset',
  'detection-strategy',
  'analytic',
] as const;
export type NodeKind = (typeof NODE_KINDS)[number];

/**
 * Edge types. The first five are MITRE's STIX relationships; `in-tactic` is the technique's kill-chain phase;
 * `has-analytic` is a detection strategy's x_mitre_analytic_refs. `co-occurs` and `followed-by` are derived from the
 * real `uses` sets of groups, software and campaigns (see stats.ts); they carry a `count`.
 */
export const EDGE_TYPES = [
  'uses',
  'mitigates',
  'targets',
  'detects',
  'attributed-to',
  'in-tactic',
  'has-analytic',
  'co-occurs',
  'followed-by',
] as const;
export type EdgeType = (typeof EDGE_TYPES)[number];

export interface RankedTechnique {
  /** ATT&CK id, e.g. `T0836`. */
  id: string;
  name: string;
  /** The ranker's probability estimate in (0, 1]; see the ranker's documentation for what it means. */
  probability: number;
  /** 1-based. */
  rank: number;
}

export interface GraphTechnique {
  id: string;
  name: string;
  /** Tactic ids (e.g. `TA0108`) in matrix order. */
  tactics: string[];
  /** Number of groups, software and campaigns whose `uses` include this technique. */
  users: number;
}

export interface GraphStats {
  /** ATT&CK for ICS version of the loaded bundle, e.g. `18.1`. */
  bundleVersion: string;
  nodes: Record<NodeKind, number>;
  edges: Record<EdgeType, number>;
}

export interface AttackGraph {
  /** The statistical ranker behind nextTechniques (stats.ts) until the GNN serves. */
  readonly ranker: ServedRanker;
  /**
   * The k most likely next techniques given the techniques observed so far, best first, observed ones excluded.
   * Unknown ids in `current` carry no evidence and are ignored; only techniques with positive probability are
   * returned, so fewer than k may come back. Throws RangeError when k is not a positive integer.
   */
  nextTechniques(current: readonly string[], k: number): Promise<RankedTechnique[]>;
  /** A live technique, or undefined. */
  technique(id: string): Promise<GraphTechnique | undefined>;
  stats(): Promise<GraphStats>;
  /** True for the in-memory graph, which cannot be down; false for a server (Neo4j). */
  readonly embedded: boolean;
  /** Resolves when the graph answers a trivial query; rejects when its server cannot be reached. */
  ping(): Promise<void>;
  /** Tactics, techniques and the `uses` sets: what the GNN runs over (graph/gnn.ts). */
  subgraph(): Promise<AttackSubgraph>;
  close(): Promise<void>;
}

export function checkK(k: number): void {
  if (!Number.isInteger(k) || k < 1) throw new RangeError(`k must be a positive integer, got ${k}`);
}
