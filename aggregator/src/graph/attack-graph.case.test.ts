// One contract for every AttackGraph: the embedded graph and Neo4j (a real server started from deploy/neo4j.sh).
// Expected values come from the shipped catalog by plain set counting, independent of the implementations.
import { mkdtempSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import neo4j from 'neo4j-driver';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { shippedCatalog } from '@vigil/shared';
import { needComponent } from '@vigil/shared/testing';
import {
  NEO4J_HOW_TO_INSTALL,
  neo4jAvailable,
  startTestNeo4j,
  type TestNeo4j,
} from '../testing/neo4j-server.js';
import { makeAlert } from '../api/testing/fixtures.js';
import { buildProgram } from '../cli/program.js';
import { startAggregator } from '../runtime.js';
import { DEFAULT_RETENTION } from '../store/retention.js';
import { EmbeddedAttackGraph } from './embedded.js';
import { buildGraphModel } from './model.js';
import { Neo4jAttackGraph } from './neo4j.js';
import { openAttackGraph } from './open.js';
import { SERVED_RANKER, type ServedRanker } from './stats.js';
import type { AttackGraph } from './types.js';
import { GNN_ARTIFACT, GnnPredictor } from './predictor.js';

const catalog = shippedCatalog();
const model = buildGraphModel(catalog);

/** The mitigations, assets and detection strategies joined to a technique by mitigates/targets/detects, sorted. */
function contextOf(technique: string): string[] {
  const out = new Set<string>();
  for (const r of catalog.relationships) {
    if (r.type !== 'mitigates' && r.type !== 'targets' && r.type !== 'detects') continue;
    const s = catalog.byStixId.get(r.source);
    const t = catalog.byStixId.get(r.target);
    if (s === undefined || t === undefined) continue;
    if (s.id === technique && t.kind !== 'technique') out.add(t.id);
    if (t.id === technique && s.kind !== 'technique') out.add(s.id);
  }
  return [...out].sort();
}

/** entity id -> its technique ids, straight from the catalog's `uses` relationships. */
function usesSets(): Map<string, Set<string>> {
  const sets = new Map<string, Set<string>>();
  for (const r of catalog.relationships) {
    const s = catalog.byStixId.get(r.source);
    const t = catalog.byStixId.get(r.target);
    if (r.type !== 'uses' || t?.kind !== 'technique' || s === undefined) continue;
    const set = sets.get(s.id) ?? new Set<string>();
    set.add(t.id);
    sets.set(s.id, set);
  }
  return sets;
}

/** Oracle for co-occurrence: mean over observed o of |entities using o and c| / |entities using o|. */
function cooccurrenceOracle(current: string[], c: string): number {
  const sets = [...usesSets().values()];
  const users = (t: string) => sets.filter((s) => s.has(t)).length;
  const evidence = current.filter((o) => users(o) > 0);
  if (evidence.length === 0) return 0;
  const sum = evidence.reduce(
    (acc, o) => acc + sets.filter((s) => s.has(o) && s.has(c)).length / users(o),
    0,
  );
  return sum / evidence.length;
}

/** Oracle for Jaccard kNN: the 10 entities most similar to the observed set vote with their similarity. */
function knnOracle(current: string[], c: string): number {
  const observed = new Set(current.filter((t) => catalog.technique(t) !== undefined));
  const neighbours = [...usesSets().entries()]
    .map(([entity, s]) => {
      const inter = [...s].filter((t) => observed.has(t)).length;
      return { entity, s, sim: inter / (s.size + observed.size - inter) };
    })
    .filter((x) => x.sim > 0)
    .sort((a, b) => b.sim - a.sim || a.entity.localeCompare(b.entity))
    .slice(0, 10);
  const total = neighbours.reduce((acc, x) => acc + x.sim, 0);
  return total === 0 ? 0 : neighbours.filter((x) => x.s.has(c)).reduce((acc, x) => acc + x.sim, 0) / total;
}

const ORACLE: Record<ServedRanker, (current: string[], c: string) => number> = {
  cooccurrence: cooccurrenceOracle,
  'jaccard-knn': knnOracle,
};

/** The oracle's top k: positive probability, best first, ties to the more used technique, then the smaller id. */
function expectedNext(ranker: ServedRanker, current: string[], k: number): { id: string; p: number }[] {
  const sets = [...usesSets().values()];
  return catalog.techniques
    .map((t) => t.id)
    .filter((c) => !current.includes(c))
    .map((c) => ({ id: c, users: sets.filter((s) => s.has(c)).length, p: ORACLE[ranker](current, c) }))
    .filter((x) => x.p > 1e-12)
    .sort((a, b) => b.p - a.p || b.users - a.users || a.id.localeCompare(b.id))
    .slice(0, k)
    .map(({ id, p }) => ({ id, p }));
}

interface Subject {
  /** The graph serving `ranker`, or the default (SERVED_RANKER) when absent. */
  graph: (ranker?: ServedRanker) => AttackGraph;
}

function contract(name: string, subject: Subject): void {
  describe(`AttackGraph contract: ${name}`, () => {
    it('holds every live ATT&CK for ICS object of the bundle, by kind', async () => {
      const stats = await subject.graph().stats();
      expect(stats.bundleVersion).toBe(catalog.version);
      expect(stats.nodes.technique).toBe(83);
      expect(stats.nodes.tactic).toBe(12);
      for (const kind of ['group', 'software', 'campaign', 'mitigation', 'asset', 'analytic'] as const) {
        const n = [...catalog.byStixId.values()].filter((e) => e.kind === kind).length;
        expect(stats.nodes[kind], kind).toBe(n);
      }
    });

    it('holds each STIX relationship as an edge and each technique in its tactics', async () => {
      const stats = await subject.graph().stats();
      for (const type of ['uses', 'mitigates', 'targets', 'detects', 'attributed-to'] as const) {
        expect(stats.edges[type], type).toBe(catalog.relationships.filter((r) => r.type === type).length);
      }
      const memberships = catalog.techniques.reduce((acc, t) => acc + t.tacticShortnames.length, 0);
      expect(stats.edges['in-tactic']).toBe(memberships);
    });

    it('derives one co-occurrence edge per technique pair that some entity uses together', async () => {
      const pairs = new Set<string>();
      for (const s of usesSets().values()) {
        const ts = [...s].sort();
        for (let i = 0; i < ts.length; i++)
          for (let j = i + 1; j < ts.length; j++) pairs.add(`${ts[i]}|${ts[j]}`);
      }
      const stats = await subject.graph().stats();
      expect(stats.edges['co-occurs']).toBe(pairs.size);
      expect(stats.edges['followed-by']).toBeGreaterThan(0);
      expect(stats.edges['followed-by']).toBeLessThanOrEqual(2 * pairs.size);
    });

    it('describes a technique with its tactics in matrix order and how many entities use it', async () => {
      const t = await subject.graph().technique('T0846');
      const users = [...usesSets().values()].filter((s) => s.has('T0846')).length;
      expect(t).toEqual({ id: 'T0846', name: 'Remote System Discovery', tactics: ['TA0102'], users });
      const multi = catalog.techniques.find((x) => x.tacticShortnames.length > 1);
      const m = await subject.graph().technique(multi?.id ?? '');
      const order = (id: string) => catalog.tactics.findIndex((x) => x.id === id);
      expect(m?.tactics.length).toBe(multi?.tacticShortnames.length);
      expect(m?.tactics.map(order)).toEqual(m?.tactics.map(order).sort((a, b) => a - b));
    });

    it('answers undefined for an unknown technique', async () => {
      expect(await subject.graph().technique('T9999')).toBeUndefined();
      expect(await subject.graph().technique('TA0108')).toBeUndefined();
    });

    it('serves the best measured statistical ranker by default', () => {
      expect(subject.graph().ranker).toBe(SERVED_RANKER);
    });

    for (const ranker of ['cooccurrence', 'jaccard-knn'] as const) {
      it(`ranks next techniques with the ${ranker} ranker as its definition says`, async () => {
        for (const current of [
          ['T0846'],
          ['T0883', 'T0836'],
          ['T0869', 'T0855', 'T0813'],
          ['T0817', 'T9999'],
        ]) {
          const ranked = await subject.graph(ranker).nextTechniques(current, 5);
          const want = expectedNext(ranker, current, 5);
          expect(ranked.map((r) => r.id)).toEqual(want.map((w) => w.id));
          ranked.forEach((r, i) => {
            expect(r.rank).toBe(i + 1);
            expect(r.probability).toBeCloseTo(want[i]?.p ?? NaN, 8);
            expect(r.name).toBe(catalog.technique(r.id)?.name);
          });
        }
      });
    }

    it('never predicts an observed technique and returns at most k', async () => {
      const ranked = await subject.graph().nextTechniques(['T0846', 'T0888'], 80);
      expect(ranked.length).toBeLessThanOrEqual(80);
      expect(ranked.map((r) => r.id)).not.toContain('T0846');
      expect(ranked.map((r) => r.id)).not.toContain('T0888');
      for (let i = 1; i < ranked.length; i++)
        expect(ranked[i]?.probability).toBeLessThanOrEqual(ranked[i - 1]?.probability ?? 0);
    });

    it('ignores unknown technique ids and predicts nothing from no evidence', async () => {
      for (const ranker of ['cooccurrence', 'jaccard-knn'] as const) {
        const g = subject.graph(ranker);
        expect(await g.nextTechniques(['T9999', 'T0846'], 5)).toEqual(await g.nextTechniques(['T0846'], 5));
        expect(await g.nextTechniques(['T9999'], 5)).toEqual([]);
        expect(await g.nextTechniques([], 5)).toEqual([]);
      }
    });

    it('gives the GNN subgraph: tactics in matrix order, every live technique with its context, the uses sets', async () => {
      const sub = await subject.graph().subgraph();

      expect(sub.tactics).toEqual(catalog.tactics.map((t) => t.id));
      expect(sub.techniques.map((t) => t.id)).toEqual(catalog.techniques.map((t) => t.id).sort());
      expect(sub.techniques.find((t) => t.id === 'T0846')).toEqual({
        id: 'T0846',
        name: 'Remote System Discovery',
        tactics: ['TA0102'],
        context: contextOf('T0846'),
      });
      expect(contextOf('T0846').length).toBeGreaterThan(0);
      for (const t of sub.techniques) expect(t.context).toEqual(contextOf(t.id));
      const sets = usesSets();
      expect(sub.uses.map((u) => u.entity)).toEqual([...sets.keys()].sort());
      for (const u of sub.uses) expect(u.techniques).toEqual([...(sets.get(u.entity) ?? [])].sort());
    });

    it('serves the committed GNN over its subgraph with the same ranking as over the embedded graph', async () => {
      const bytes = new Uint8Array(await readFile(GNN_ARTIFACT));
      const here = await GnnPredictor.open(subject.graph(), bytes);
      const reference = await GnnPredictor.open(embedded['jaccard-knn'], bytes);
      try {
        const a = await here.predict(['T0846', 'T0886'], 10);
        const b = await reference.predict(['T0846', 'T0886'], 10);
        expect(a.map((t) => t.id)).toEqual(b.map((t) => t.id));
        a.forEach((t, i) => expect(t.probability).toBeCloseTo(b[i]!.probability, 6));
      } finally {
        await here.close();
        await reference.close();
      }
    });

    it('rejects a k that is not a positive integer', async () => {
      await expect(subject.graph().nextTechniques(['T0846'], 0)).rejects.toThrow(RangeError);
      await expect(subject.graph().nextTechniques(['T0846'], 2.5)).rejects.toThrow(/positive integer/);
    });
  });
}

const embedded = {
  cooccurrence: new EmbeddedAttackGraph(model, 'cooccurrence'),
  'jaccard-knn': new EmbeddedAttackGraph(model, 'jaccard-knn'),
};
contract('embedded', { graph: (ranker = SERVED_RANKER) => embedded[ranker] });

describe.runIf(needComponent('neo4j', neo4jAvailable(), NEO4J_HOW_TO_INSTALL))(
  'with a real Neo4j 5.26',
  () => {
    let server: TestNeo4j | undefined;
    let graph: Neo4jAttackGraph | undefined;
    let cooccurrence: Neo4jAttackGraph | undefined;
    beforeAll(async () => {
      server = await startTestNeo4j();
      graph = await Neo4jAttackGraph.connect({ url: server.url });
      await graph.load(model);
      cooccurrence = await Neo4jAttackGraph.connect({ url: server.url, ranker: 'cooccurrence' });
    });
    afterAll(async () => {
      await cooccurrence?.close();
      await graph?.close();
      await server?.stop();
    });
    const neo4jWrite = async (query: string): Promise<void> => {
      const driver = neo4j.driver(server?.url ?? '');
      try {
        await driver.executeQuery(query);
      } finally {
        await driver.close();
      }
    };
    const get = (ranker: ServedRanker = SERVED_RANKER): AttackGraph => {
      const g = ranker === 'cooccurrence' ? cooccurrence : graph;
      if (g === undefined || g.ranker !== ranker) throw new Error(`Neo4j graph for ${ranker} not started`);
      return g;
    };
    contract('neo4j', { graph: get });

    it('opening an empty Neo4j loads the shipped bundle into it', async () => {
      const before = await get().stats();
      await neo4jWrite('MATCH (n) DETACH DELETE n');
      expect((await get().stats()).nodes.technique).toBe(0);
      const opened = await openAttackGraph({ neo4j: { url: server?.url ?? '' } });
      try {
        expect(opened).toBeInstanceOf(Neo4jAttackGraph);
        expect(await opened.stats()).toEqual(before);
      } finally {
        await opened.close();
      }
    });

    it('loading removes what the bundle no longer has', async () => {
      const before = await get().stats();
      await neo4jWrite(
        `CREATE (:Attack:Technique {id: 'T9999', name: 'Gone', users: 5})
         WITH 1 AS x MATCH (a:Technique {id: 'T0846'}), (b:Technique {id: 'T0883'}) CREATE (a)-[:USES]->(b)`,
      );
      expect((await get().stats()).nodes.technique).toBe(84);
      await graph?.load(model);
      expect(await get().stats()).toEqual(before);
      expect(await get().technique('T9999')).toBeUndefined();
    });

    it('loading the same bundle again changes nothing', async () => {
      const before = await get().stats();
      const next = await get().nextTechniques(['T0883'], 10);
      await graph?.load(model);
      expect(await get().stats()).toEqual(before);
      expect(await get().nextTechniques(['T0883'], 10)).toEqual(next);
    });

    // The CLI's load path runs here too, against the same server, to pay for one Neo4j start only.
    it('`vigil graph load` loads the shipped bundle again without changing the graph', async () => {
      const before = await get().stats();
      const out: string[] = [];
      const spy = vi
        .spyOn(process.stdout, 'write')
        .mockImplementation((chunk) => out.push(String(chunk)) > 0);
      try {
        await buildProgram()
          .exitOverride()
          .parseAsync(['node', 'vigil', 'graph', 'load', '--neo4j', server?.url ?? '']);
      } finally {
        spy.mockRestore();
      }
      expect(out.join('')).toMatch(/loaded ATT&CK for ICS 18\.1 into bolt:.*\(83 techniques,/);
      expect(await get().stats()).toEqual(before);
    });

    it('an aggregator started with --neo4j reports the graph connected in /health and predicts with the GNN over it', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'vigil-neo4j-serve-'));
      const agg = await startAggregator({
        dataDir: dir,
        dbUrl: `sqlite:${join(dir, 'vigil.db')}`,
        host: '127.0.0.1',
        port: 0,
        anonymous: true,
        grpcHost: '127.0.0.1',
        grpcPort: 0,
        retention: DEFAULT_RETENTION,
        neo4j: { url: server?.url ?? '' },
        log: () => undefined,
      });
      try {
        const health = (await (await fetch(`${agg.api.url}/health`)).json()) as {
          services: { graph: string };
        };
        expect(health.services.graph).toBe('connected');
        await agg.store.addFacility({ id: 'plant-a', name: 'Plant A' });
        const alert = makeAlert({ facility_id: 'plant-a', attack_type: 'T0846' });
        await agg.store.insertAlerts([alert]);
        const res = await fetch(`${agg.api.url}/api/predictions/predict`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ current_technique: 'T0846', alert_id: alert.id }),
        });
        const p = (await res.json()) as { predicted_techniques: { technique_id: string }[] };
        // The served predictor is the GNN, over the subgraph read from Neo4j.
        const gnn = await GnnPredictor.open(get());
        const want = await gnn.predict(['T0846'], p.predicted_techniques.length);
        await gnn.close();
        expect(p.predicted_techniques.length).toBeGreaterThan(0);
        expect(p.predicted_techniques.map((t) => t.technique_id)).toEqual(want.map((t) => t.id));
      } finally {
        await agg.close();
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it("ranks every single technique and every entity's set exactly as the embedded graph does", async () => {
      for (const ranker of ['cooccurrence', 'jaccard-knn'] as const) {
        const queries = [
          ...catalog.techniques.map((t) => [t.id]),
          ...model.usesSets.map((s) => s.techniques.slice(1)),
        ];
        for (const q of queries) {
          const want = await embedded[ranker].nextTechniques(q, 10);
          expect(await get(ranker).nextTechniques(q, 10), `${ranker} ${q.join(',')}`).toEqual(want);
        }
      }
    });
  },
);
