import { describe, expect, it } from 'vitest';
import { shippedCatalog, type DetectionStrategy } from '@vigil/shared';
import { buildGraphModel } from './model.js';
import { UsesStats } from './stats.js';

// Four entities over techniques A..E; tactic order A=0, B=1, C=1, D=2, E unknown.
const sets = [
  { entity: 'S1', techniques: ['A', 'B', 'D'] },
  { entity: 'S2', techniques: ['A', 'B'] },
  { entity: 'S3', techniques: ['A', 'C'] },
  { entity: 'S4', techniques: ['C', 'D', 'E'] },
];
const order = new Map([
  ['A', 0],
  ['B', 1],
  ['C', 1],
  ['D', 2],
]);
const stats = new UsesStats(['A', 'B', 'C', 'D', 'E', 'F'], sets, order);

describe('statistics of the uses sets', () => {
  it('counts each unordered pair used together once per entity', () => {
    expect(stats.cooccurrencePairs()).toEqual([
      { source: 'A', target: 'B', count: 2 },
      { source: 'A', target: 'C', count: 1 },
      { source: 'A', target: 'D', count: 1 },
      { source: 'B', target: 'D', count: 1 },
      { source: 'C', target: 'D', count: 1 },
      { source: 'C', target: 'E', count: 1 },
      { source: 'D', target: 'E', count: 1 },
    ]);
  });

  it('counts a transition only from an earlier tactic to a strictly later one', () => {
    expect(stats.transitionPairs()).toEqual([
      { source: 'A', target: 'B', count: 2 },
      { source: 'A', target: 'C', count: 1 },
      { source: 'A', target: 'D', count: 1 },
      { source: 'B', target: 'D', count: 1 },
      { source: 'C', target: 'D', count: 1 },
    ]);
  });

  it('ranks by popularity regardless of what was observed, ties by id', () => {
    expect(stats.rank('popularity', ['A'])).toEqual([
      { id: 'B', score: 0.5 },
      { id: 'C', score: 0.5 },
      { id: 'D', score: 0.5 },
      { id: 'E', score: 0.25 },
      { id: 'F', score: 0 },
    ]);
  });

  it('ranks by the mean conditional co-occurrence of the observed techniques', () => {
    // Given A (used by 3): B 2/3, C 1/3, D 1/3; C and D tie on score and on users (2 each), so id order.
    expect(stats.rank('cooccurrence', ['A']).slice(0, 3)).toEqual([
      { id: 'B', score: 0.666666667 },
      { id: 'C', score: 0.333333333 },
      { id: 'D', score: 0.333333333 },
    ]);
    // Given A and E: mean of (A row, E row); E (1 user) co-occurs with C and D.
    const both = stats.rank('cooccurrence', ['A', 'E']);
    expect(both.slice(0, 3).map((s) => s.id)).toEqual(['C', 'D', 'B']);
    expect(both[0]?.score).toBeCloseTo((1 / 3 + 1) / 2, 9);
  });

  it('ranks by similarity-weighted votes of the nearest uses sets', () => {
    // Observed {A, B}: Jaccard S1 2/3, S2 1, S3 1/3, S4 0. Total 2. D gets (2/3)/2, C gets (1/3)/2.
    const ranked = stats.rank('jaccard-knn', ['A', 'B']);
    expect(ranked[0]).toEqual({ id: 'D', score: 0.333333333 });
    expect(ranked[1]).toEqual({ id: 'C', score: 0.166666667 });
  });

  it('gives no score without evidence', () => {
    expect(stats.rank('cooccurrence', ['F']).every((s) => s.score === 0)).toBe(true);
    expect(stats.rank('jaccard-knn', []).every((s) => s.score === 0)).toBe(true);
  });
});

describe('the graph model of the shipped bundle', () => {
  const catalog = shippedCatalog();
  const model = buildGraphModel(catalog);
  const tacticIndex = new Map(catalog.tactics.map((t, i) => [t.id, i]));
  const firstTactic = (id: string) =>
    tacticIndex.get(model.nodes.find((n) => n.id === id)?.tactics?.[0] ?? '') ?? -1;

  it('keeps every followed-by edge going forward in the matrix order', () => {
    const follows = model.edges.filter((e) => e.type === 'followed-by');
    expect(follows.length).toBeGreaterThan(0);
    for (const e of follows) expect(firstTactic(e.source)).toBeLessThan(firstTactic(e.target));
  });

  it('takes the uses sets of groups, software and campaigns only, with live techniques', () => {
    const kinds = new Set(model.usesSets.map((s) => catalog.byId.get(s.entity)?.kind));
    expect([...kinds].sort()).toEqual(['campaign', 'group', 'software']);
    for (const s of model.usesSets) for (const t of s.techniques) expect(catalog.technique(t)).toBeDefined();
  });

  it('links each detection strategy to its analytics', () => {
    const has = model.edges.filter((e) => e.type === 'has-analytic');
    const refs = [...catalog.byStixId.values()]
      .filter((e) => e.kind === 'detection-strategy')
      .flatMap((d) => (d as DetectionStrategy).analyticStixIds)
      .filter((ref) => catalog.byStixId.get(ref)?.kind === 'analytic');
    expect(has.length).toBe(refs.length);
    for (const e of has) {
      expect(catalog.byId.get(e.source)?.kind).toBe('detection-strategy');
      expect(catalog.byId.get(e.target)?.kind).toBe('analytic');
    }
  });
});
