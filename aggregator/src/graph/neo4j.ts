// The attack graph in Neo4j through neo4j-driver. load() writes the model with MERGE under uniqueness constraints, so
// loading the same bundle twice changes nothing. nextTechniques computes the ranker's scores in Cypher (Jaccard kNN
// over the USES edges, or co-occurrence over the CO_OCCURS edges); the final rounding and ordering use the same rule
// as the embedded graph (stats.ts) so both rank identically.
import neo4j, { type Driver } from 'neo4j-driver';
import type { AttackSubgraph } from './gnn.js';
import { CONTEXT_EDGES, type GraphModel } from './model.js';
import { KNN_NEIGHBOURS, SERVED_RANKER, roundScore, type ServedRanker } from './stats.js';
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

export interface Neo4jOptions {
  /** bolt:// or neo4j:// URL. */
  url: string;
  user?: string;
  password?: string;
  /** Database name; the server's default when absent. */
  database?: string;
  /** Ranker behind nextTechniques; SERVED_RANKER when absent. */
  ranker?: ServedRanker;
}

/** Neo4j label of each node kind. Every node also carries the label `Attack` (ATT&CK ids are unique across kinds). */
export const LABEL: Record<NodeKind, string> = {
  technique: 'Technique',
  tactic: 'Tactic',
  group: 'Group',
  software: 'Software',
  campaign: 'Campaign',
  mitigation: 'Mitigation',
  asset: 'Asset',
  'detection-strategy': 'DetectionStrategy',
  analytic: 'Analytic',
};

/** Neo4j relationship type of each edge type. */
export const REL: Record<EdgeType, string> = {
  uses: 'USES',
  mitigates: 'MITIGATES',
  targets: 'TARGETS',
  detects: 'DETECTS',
  'attributed-to': 'ATTRIBUTED_TO',
  'in-tactic': 'IN_TACTIC',
  'has-analytic': 'HAS_ANALYTIC',
  'co-occurs': 'CO_OCCURS',
  'followed-by': 'FOLLOWED_BY',
};

const BATCH = 500;

const COOCCURRENCE_QUERY = `
  MATCH (o:Technique) WHERE o.id IN $current AND o.users > 0
  WITH collect(o) AS obs
  WITH obs, size(obs) AS n
  UNWIND obs AS o
  MATCH (o)-[r:CO_OCCURS]-(c:Technique) WHERE NOT c.id IN $current
  WITH c, n, sum(toFloat(r.count) / o.users) AS total
  RETURN c.id AS id, c.name AS name, c.users AS users, total / n AS s`;

const KNN_QUERY = `
  MATCH (o:Technique) WHERE o.id IN $current
  WITH count(o) AS n
  WHERE n > 0
  MATCH (e)-[:USES]->(t:Technique) WHERE e:Group OR e:Software OR e:Campaign
  WITH n, e, count(t) AS size, sum(CASE WHEN t.id IN $current THEN 1 ELSE 0 END) AS inter
  WHERE inter > 0
  WITH e, toFloat(inter) / (size + n - inter) AS sim
  ORDER BY sim DESC, e.id ASC
  LIMIT $neighbours
  WITH collect({e: e, sim: sim}) AS nbrs
  WITH nbrs, reduce(acc = 0.0, x IN nbrs | acc + x.sim) AS total
  UNWIND nbrs AS nb
  WITH nb.e AS e, nb.sim AS sim, total
  MATCH (e)-[:USES]->(c:Technique) WHERE NOT c.id IN $current
  WITH c, total, sum(sim) AS votes
  RETURN c.id AS id, c.name AS name, c.users AS users, votes / total AS s`;

export class Neo4jAttackGraph implements AttackGraph {
  private constructor(
    private readonly driver: Driver,
    private readonly database: string | undefined,
    readonly ranker: ServedRanker,
  ) {}

  /** Connects and checks the server answers; throws an Error naming the URL when it does not. */
  static async connect(options: Neo4jOptions): Promise<Neo4jAttackGraph> {
    const auth =
      options.user === undefined ? undefined : neo4j.auth.basic(options.user, options.password ?? '');
    let driver: Driver;
    try {
      driver = neo4j.driver(options.url, auth, { disableLosslessIntegers: true, maxConnectionPoolSize: 20 });
    } catch (err) {
      throw new Error(`bad Neo4j URL ${options.url}: ${err instanceof Error ? err.message : String(err)}`);
    }
    try {
      await driver.verifyConnectivity(options.database === undefined ? {} : { database: options.database });
    } catch (err) {
      await driver.close();
      throw new Error(
        `cannot reach Neo4j at ${options.url}: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
    return new Neo4jAttackGraph(driver, options.database, options.ranker ?? SERVED_RANKER);
  }

  /**
   * Makes the database hold exactly the model: constraints, nodes, edges, derived counts; nodes and edges of
   * another bundle version that the model no longer has are removed. Idempotent.
   */
  async load(model: GraphModel): Promise<void> {
    await this.write('CREATE CONSTRAINT attack_id IF NOT EXISTS FOR (n:Attack) REQUIRE n.id IS UNIQUE');
    for (const kind of NODE_KINDS) {
      const label = LABEL[kind];
      await this.write(
        `CREATE CONSTRAINT ${label.toLowerCase()}_id IF NOT EXISTS FOR (n:${label}) REQUIRE n.id IS UNIQUE`,
      );
    }
    await this.write(
      'CREATE CONSTRAINT vigil_meta IF NOT EXISTS FOR (m:VigilGraphMeta) REQUIRE m.key IS UNIQUE',
    );
    for (const kind of NODE_KINDS) {
      const rows = model.nodes
        .filter((n) => n.kind === kind)
        .map((n) => ({
          id: n.id,
          stixId: n.stixId,
          name: n.name,
          tactics: n.tactics ?? null,
          order: n.order ?? null,
          users: kind === 'technique' ? model.stats.usersOf(n.id) : null,
        }));
      for (const batch of chunks(rows)) {
        await this.write(
          `UNWIND $rows AS r MERGE (n:Attack {id: r.id}) SET n:${LABEL[kind]},
             n.stixId = r.stixId, n.name = r.name, n.tactics = r.tactics, n.order = r.order, n.users = r.users`,
          { rows: batch },
        );
      }
    }
    for (const type of EDGE_TYPES) {
      const rows = model.edges
        .filter((e) => e.type === type)
        .map((e) => ({ source: e.source, target: e.target, count: e.count ?? null }));
      for (const batch of chunks(rows)) {
        await this.write(
          `UNWIND $rows AS r MATCH (a:Attack {id: r.source}) MATCH (b:Attack {id: r.target})
           MERGE (a)-[e:${REL[type]}]->(b) SET e.count = r.count`,
          { rows: batch },
        );
      }
    }
    await this.write('MATCH (n:Attack) WHERE NOT n.id IN $ids DETACH DELETE n', {
      ids: model.nodes.map((n) => n.id),
    });
    for (const type of EDGE_TYPES) {
      const pairs = model.edges.filter((e) => e.type === type).map((e) => `${e.source}|${e.target}`);
      await this.write(
        `MATCH (a:Attack)-[e:${REL[type]}]->(b:Attack) WHERE NOT a.id + '|' + b.id IN $pairs DELETE e`,
        { pairs },
      );
    }
    await this.write('MERGE (m:VigilGraphMeta {key: "attack"}) SET m.bundleVersion = $v', {
      v: model.bundleVersion,
    });
  }

  /** ATT&CK version of the bundle loaded in the database, or undefined when none was loaded. */
  async loadedVersion(): Promise<string | undefined> {
    const rows = await this.read('MATCH (m:VigilGraphMeta {key: "attack"}) RETURN m.bundleVersion AS v');
    return (rows[0]?.get('v') as string | null | undefined) ?? undefined;
  }

  async nextTechniques(current: readonly string[], k: number): Promise<RankedTechnique[]> {
    checkK(k);
    const rows =
      this.ranker === 'jaccard-knn'
        ? await this.read(KNN_QUERY, { current: [...current], neighbours: neo4j.int(KNN_NEIGHBOURS) })
        : await this.read(COOCCURRENCE_QUERY, { current: [...current] });
    const scored = rows
      .map((r) => ({
        id: r.get('id') as string,
        name: r.get('name') as string,
        users: r.get('users') as number,
        p: roundScore(r.get('s') as number),
      }))
      .filter((r) => r.p > 0)
      .sort((a, b) => b.p - a.p || b.users - a.users || a.id.localeCompare(b.id))
      .slice(0, k);
    return scored.map((r, i) => ({ id: r.id, name: r.name, probability: r.p, rank: i + 1 }));
  }

  async technique(id: string): Promise<GraphTechnique | undefined> {
    const rows = await this.read(
      `MATCH (t:Technique {id: $id})
       OPTIONAL MATCH (t)-[:IN_TACTIC]->(x:Tactic)
       WITH t, x ORDER BY x.order
       RETURN t.id AS id, t.name AS name, t.users AS users, collect(x.id) AS tactics`,
      { id },
    );
    const r = rows[0];
    if (r === undefined) return undefined;
    return {
      id: r.get('id') as string,
      name: r.get('name') as string,
      tactics: r.get('tactics') as string[],
      users: r.get('users') as number,
    };
  }

  async stats(): Promise<GraphStats> {
    const nodes = Object.fromEntries(NODE_KINDS.map((k) => [k, 0])) as Record<NodeKind, number>;
    const edges = Object.fromEntries(EDGE_TYPES.map((t) => [t, 0])) as Record<EdgeType, number>;
    for (const kind of NODE_KINDS) {
      const rows = await this.read(`MATCH (n:${LABEL[kind]}) RETURN count(n) AS c`);
      nodes[kind] = (rows[0]?.get('c') as number | undefined) ?? 0;
    }
    for (const type of EDGE_TYPES) {
      const rows = await this.read(`MATCH ()-[e:${REL[type]}]->() RETURN count(e) AS c`);
      edges[type] = (rows[0]?.get('c') as number | undefined) ?? 0;
    }
    return { bundleVersion: (await this.loadedVersion()) ?? 'not loaded', nodes, edges };
  }

  async subgraph(): Promise<AttackSubgraph> {
    const tactics = await this.read('MATCH (x:Tactic) RETURN x.id AS id ORDER BY x.order');
    const techniques = await this.read(
      `MATCH (t:Technique)
       OPTIONAL MATCH (t)-[:IN_TACTIC]->(x:Tactic)
       WITH t, x ORDER BY x.order
       RETURN t.id AS id, t.name AS name, collect(x.id) AS tactics ORDER BY id`,
    );
    const context = await this.read(
      `MATCH (t:Technique)
       OPTIONAL MATCH (t)-[:${CONTEXT_EDGES.map((e) => REL[e]).join('|')}]-(x) WHERE NOT x:Technique
       WITH t, x ORDER BY x.id
       RETURN t.id AS id, collect(DISTINCT x.id) AS context`,
    );
    const contextOf = new Map(context.map((r) => [r.get('id') as string, r.get('context') as string[]]));
    const uses = await this.read(
      `MATCH (e)-[:USES]->(t:Technique) WHERE e:Group OR e:Software OR e:Campaign
       WITH e, t ORDER BY t.id
       RETURN e.id AS entity, collect(t.id) AS techniques ORDER BY entity`,
    );
    return {
      tactics: tactics.map((r) => r.get('id') as string),
      techniques: techniques.map((r) => ({
        id: r.get('id') as string,
        name: r.get('name') as string,
        tactics: r.get('tactics') as string[],
        context: contextOf.get(r.get('id') as string) ?? [],
      })),
      uses: uses.map((r) => ({
        entity: r.get('entity') as string,
        techniques: r.get('techniques') as string[],
      })),
    };
  }

  readonly embedded = false;

  async ping(): Promise<void> {
    await this.driver.executeQuery(
      'RETURN 1',
      {},
      {
        routing: neo4j.routing.READ,
        ...(this.database === undefined ? {} : { database: this.database }),
      },
    );
  }

  async close(): Promise<void> {
    await this.driver.close();
  }

  private async write(query: string, params: Record<string, unknown> = {}): Promise<void> {
    await this.driver.executeQuery(query, params, {
      routing: neo4j.routing.WRITE,
      ...(this.database === undefined ? {} : { database: this.database }),
    });
  }

  private async read(query: string, params: Record<string, unknown> = {}) {
    const result = await this.driver.executeQuery(query, params, {
      routing: neo4j.routing.READ,
      ...(this.database === undefined ? {} : { database: this.database }),
    });
    return result.records;
  }
}

function chunks<T>(xs: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += BATCH) out.push(xs.slice(i, i + BATCH));
  return out;
}
