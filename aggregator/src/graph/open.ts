// Opens the aggregator's attack graph: in memory by default, or Neo4j when a URL is configured. A Neo4j that does
// not hold the shipped bundle's version (empty, or an older bundle) is brought up to date before use.
import { shippedCatalog } from '@vigil/shared';
import { EmbeddedAttackGraph } from './embedded.js';
import { buildGraphModel } from './model.js';
import { Neo4jAttackGraph, type Neo4jOptions } from './neo4j.js';
import { SERVED_RANKER, type ServedRanker } from './stats.js';
import type { AttackGraph } from './types.js';

export interface AttackGraphOptions {
  /** Use Neo4j at this server instead of the in-memory graph. */
  neo4j?: Omit<Neo4jOptions, 'ranker'>;
  ranker?: ServedRanker;
}

export async function openAttackGraph(options: AttackGraphOptions = {}): Promise<AttackGraph> {
  const model = buildGraphModel(shippedCatalog());
  const ranker = options.ranker ?? SERVED_RANKER;
  if (options.neo4j === undefined) return new EmbeddedAttackGraph(model, ranker);
  const graph = await Neo4jAttackGraph.connect({ ...options.neo4j, ranker });
  try {
    if ((await graph.loadedVersion()) !== model.bundleVersion) await graph.load(model);
  } catch (err) {
    await graph.close();
    throw err;
  }
  return graph;
}
