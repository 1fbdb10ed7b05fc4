import { describe, expect, it } from 'vitest';
import {
  leaveOneEntityOut,
  metrics,
  pairedBootstrap,
  splitsOf,
  withBootstrap,
  type Query,
} from './evaluate.js';

// S1 and S2 share {A, B}; S3 alone uses {C, D}, so once S3 is held out nothing else knows C or D.
const input = {
  techniques: ['A', 'B', 'C', 'D'],
  usesSets: [
    { entity: 'S1', techniques: ['A', 'B'] },
    { entity: 'S2', techniques: ['A', 'B'] },
    { entity: 'S3', techniques: ['C', 'D'] },
  ],
  tacticOrder: new Map<string, number>(),
};

describe('leave-one-entity-out evaluation', () => {
  it('removes the held-out entity from training before ranking its hidden techniques', () => {
    const queries = leaveOneEntityOut(input, 'cooccurrence');
    expect(queries).toEqual([
      { entity: 'S1', hidden: 'A', rank: 1 },
      { entity: 'S1', hidden: 'B', rank: 1 },
      { entity: 'S2', hidden: 'A', rank: 1 },
      { entity: 'S2', hidden: 'B', rank: 1 },
      // Without S3 nobody uses C or D: no evidence, popularity order A, B, then the hidden one.
      { entity: 'S3', hidden: 'C', rank: 3 },
      { entity: 'S3', hidden: 'D', rank: 3 },
    ]);
  });

  it('in the single-technique protocol observes one technique and hides each other one of the entity', () => {
    expect(splitsOf(['A', 'B', 'C'], 'single')).toEqual([
      { observed: ['A'], hidden: 'B', given: 'A' },
      { observed: ['A'], hidden: 'C', given: 'A' },
      { observed: ['B'], hidden: 'A', given: 'B' },
      { observed: ['B'], hidden: 'C', given: 'B' },
      { observed: ['C'], hidden: 'A', given: 'C' },
      { observed: ['C'], hidden: 'B', given: 'C' },
    ]);

    const queries = leaveOneEntityOut(input, 'cooccurrence', 'single');

    expect(queries).toContainEqual({ entity: 'S1', given: 'A', hidden: 'B', rank: 1 });
    expect(queries).toContainEqual({ entity: 'S3', given: 'C', hidden: 'D', rank: 3 });
    expect(queries).toHaveLength(6);
  });

  it('skips entities with fewer than two techniques', () => {
    const queries = leaveOneEntityOut(
      { ...input, usesSets: [...input.usesSets, { entity: 'S4', techniques: ['A'] }] },
      'popularity',
    );
    expect(queries.map((q) => q.entity)).not.toContain('S4');
  });

  it('averages hits and reciprocal ranks over the queries', () => {
    const m = metrics(leaveOneEntityOut(input, 'cooccurrence'));
    expect(m).toMatchObject({ 'hit@1': 4 / 6, 'hit@3': 1, 'hit@5': 1, 'hit@10': 1, n: 6 });
    expect(m.mrr).toBeCloseTo((4 + 2 / 3) / 6, 12);
  });

  it('gives reproducible 95% intervals that hold the point estimate', () => {
    const queries = leaveOneEntityOut(input, 'cooccurrence');
    const a = withBootstrap(queries, 500, 7);
    expect(withBootstrap(queries, 500, 7)).toEqual(a);
    expect(a.ci95['hit@1'][0]).toBeLessThanOrEqual(a['hit@1']);
    expect(a.ci95['hit@1'][1]).toBeGreaterThanOrEqual(a['hit@1']);
    expect(a.ci95['hit@1'][0]).toBeLessThan(a.ci95['hit@1'][1]);
    expect(a.ci95['hit@3']).toEqual([1, 1]);
  });

  it('pairs two rankers on the same resampled entities: a gain on every entity is above 0, no gain is 0', () => {
    // Ten entities of two queries; `better` ranks every hidden technique first, `worse` ranks one of each pair 20th.
    const better: Query[] = [];
    const worse: Query[] = [];
    for (let e = 0; e < 10; e++)
      for (const hidden of ['A', 'B']) {
        better.push({ entity: `E${e}`, hidden, rank: 1 });
        worse.push({ entity: `E${e}`, hidden, rank: hidden === 'A' ? 1 : 20 });
      }

    const d = pairedBootstrap(better, [...worse].reverse(), 500, 7);
    const same = pairedBootstrap(worse, worse, 500, 7);

    expect(d['hit@10']).toEqual({ diff: 0.5, ci95: [0.5, 0.5] });
    expect(d.mrr.diff).toBeCloseTo((1 - 1 / 20) / 2, 12);
    expect(d.mrr.ci95[0]).toBeGreaterThan(0);
    expect(same.mrr).toEqual({ diff: 0, ci95: [0, 0] });
    expect(() => pairedBootstrap(better, worse.slice(1))).toThrow(/same queries/);
  });
});
