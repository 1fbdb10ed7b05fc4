import { describe, expect, it } from 'vitest';
import { leaveOneEntityOut, metrics, withBootstrap } from './evaluate.js';

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
});
