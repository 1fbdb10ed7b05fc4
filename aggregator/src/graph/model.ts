// Builds the attack graph's nodes and edges from the shipped ATT&CK catalog, plus the derived statistics.
// One model feeds both implementations, so the embedded graph and Neo4j hold the same data.
import type { AttackCatalog, DetectionStrategy } from '@vigil/shared';
import { UsesStats, type UsesSet } from './stats.js';
import type { EdgeType, NodeKind } from './types.js';

export interface GraphNode {
  id: string;
  stixId: string;
  kind: NodeKind;
  name: string;
  /** Techniques only: tactic ids in matrix order. */
  tactics?: string[];
  /** Tactics only: 0-based position in the ICS matrix. */
  order?: number;
}

export interface GraphEdge {
  type: EdgeType;
  /** ATT&CK ids. For `co-occurs` the pair is unordered and stored once with source < target. */
  source: string;
  target: string;
  /** `co-occurs` and `followed-by` only. */
  count?: number;
}

export interface GraphModel {
  bundleVersion: string;
  nodes: GraphNode[];
  edges: GraphEdge[];
  /** The `uses` sets of groups, software and campaigns: the evidence behind the derived statistics. */
  usesSets: UsesSet[];
  /** Technique id -> position of its earliest tactic in the ICS matrix. */
  tacticOrder: Map<string, number>;
  stats: UsesStats;
}

const USER_KINDS = new Set<NodeKind>(['group', 'software', 'campaign']);

/** Edge types that link a technique to its context: the mitigations, assets and detection strategies about it. */
export const CONTEXT_EDGES: readonly EdgeType[] = ['mitigates', 'targets', 'detects'];

/**
 * Technique id -> sorted ids of the non-technique nodes joined to it by a CONTEXT_EDGES edge (either direction): what
 * the GNN's technique-technique context edges are computed from (gnn.ts).
 */
export function techniqueContext(model: Pick<GraphModel, 'nodes' | 'edges'>): Map<string, string[]> {
  const kind = new Map(model.nodes.map((n) => [n.id, n.kind]));
  const out = new Map<string, Set<string>>();
  const add = (t: string, x: string) => {
    if (kind.get(t) !== 'technique' || kind.get(x) === 'technique') return;
    let set = out.get(t);
    if (set === undefined) out.set(t, (set = new Set()));
    set.add(x);
  };
  for (const e of model.edges) {
    if (!CONTEXT_EDGES.includes(e.type)) continue;
    add(e.source, e.target);
    add(e.target, e.source);
  }
  return new Map([...out].map(([t, xs]) => [t, [...xs].sort()]));
}

export function buildGraphModel(catalog: AttackCatalog): GraphModel {
  const tacticByShortname = new Map(catalog.tactics.map((t) => [t.shortname, t]));
  const nodes: GraphNode[] = [];
  const edges: GraphEdge[] = [];
  for (const e of catalog.byStixId.values()) {
    const node: GraphNode = { id: e.id, stixId: e.stixId, kind: e.kind, name: e.name };
    if (e.kind === 'tactic') node.order = catalog.tactics.findIndex((t) => t.stixId === e.stixId);
    nodes.push(node);
  }
  for (const t of catalog.techniques) {
    const tactics = t.tacticShortnames
      .map((s) => tacticByShortname.get(s))
      .filter((x) => x !== undefined)
      .sort((a, b) => a.order - b.order);
    const node = nodes.find((n) => n.stixId === t.stixId);
    if (node !== undefined) node.tactics = tactics.map((x) => x.id);
    for (const x of tactics) edges.push({ type: 'in-tactic', source: t.id, target: x.id });
  }
  for (const e of catalog.byStixId.values()) {
    if (e.kind !== 'detection-strategy') continue;
    for (const ref of (e as DetectionStrategy).analyticStixIds) {
      const a = catalog.byStixId.get(ref);
      if (a?.kind === 'analytic') edges.push({ type: 'has-analytic', source: e.id, target: a.id });
    }
  }
  const uses = new Map<string, Set<string>>();
  for (const r of catalog.relationships) {
    const s = catalog.byStixId.get(r.source);
    const t = catalog.byStixId.get(r.target);
    if (s === undefined || t === undefined) continue;
    edges.push({ type: r.type, source: s.id, target: t.id });
    if (r.type === 'uses' && t.kind === 'technique' && USER_KINDS.has(s.kind)) {
      let set = uses.get(s.id);
      if (set === undefined) uses.set(s.id, (set = new Set()));
      set.add(t.id);
    }
  }
  const usesSets: UsesSet[] = [...uses.entries()]
    .map(([entity, techniques]) => ({ entity, techniques: [...techniques].sort() }))
    .sort((a, b) => a.entity.localeCompare(b.entity));
  const tacticOrder = new Map<string, number>();
  for (const n of nodes) {
    if (n.kind === 'technique') {
      const first = n.tactics?.[0];
      const order = first === undefined ? undefined : catalog.tactics.findIndex((t) => t.id === first);
      if (order !== undefined && order >= 0) tacticOrder.set(n.id, order);
    }
  }
  const stats = new UsesStats(
    catalog.techniques.map((t) => t.id),
    usesSets,
    tacticOrder,
  );
  for (const p of stats.cooccurrencePairs()) edges.push({ type: 'co-occurs', ...p });
  for (const p of stats.transitionPairs()) edges.push({ type: 'followed-by', ...p });
  return { bundleVersion: catalog.version, nodes, edges, usesSets, tacticOrder, stats };
}
