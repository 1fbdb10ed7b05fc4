import { afterEach, describe, expect, it, vi } from 'vitest';
import { shippedCatalog, UsageError } from '@vigil/shared';
import { EmbeddedAttackGraph } from '../graph/embedded.js';
import { GnnPredictor } from '../graph/predictor.js';
import { buildProgram } from './program.js';

function run(args: string[]): Promise<unknown> {
  return buildProgram()
    .exitOverride()
    .parseAsync(['node', 'vigil', ...args]);
}

async function output(args: string[]): Promise<string[]> {
  const lines: string[] = [];
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    lines.push(...String(chunk).split('\n').filter(Boolean));
    return true;
  });
  try {
    await run(args);
  } finally {
    spy.mockRestore();
  }
  return lines;
}

describe('vigil predict', () => {
  afterEach(() => vi.restoreAllMocks());

  it('prints the served predictor (the GNN) top k with probabilities and timeframes', async () => {
    const gnn = await GnnPredictor.open(EmbeddedAttackGraph.fromCatalog(shippedCatalog()));
    const expected = await gnn.predict(['T0846', 'T0886'], 4);
    await gnn.close();

    const lines = await output(['predict', '--technique', 'T0846', '--technique', 'T0886', '--k', '4']);

    expect(lines[0]).toMatch(
      /^predictor gnn; observed T0846 Remote System Discovery, T0886 Remote Services$/,
    );
    expect(lines.slice(1)).toHaveLength(4);
    lines.slice(1).forEach((l, i) => {
      const t = expected[i]!;
      expect(l).toContain(`${i + 1}. ${t.id}`);
      expect(l).toContain(`p=${t.probability.toFixed(3)}`);
      expect(l).toMatch(/(minutes|hours) \(timeframe_seconds \d+\)$/);
    });
  });

  it('runs a statistical ranker when asked', async () => {
    const expected = await EmbeddedAttackGraph.fromCatalog(shippedCatalog()).nextTechniques(['T0846'], 2);

    const lines = await output(['predict', '--technique', 'T0846', '--model', 'jaccard-knn', '--k', '2']);

    expect(lines[0]).toMatch(/^predictor jaccard-knn;/);
    expect(lines.slice(1).map((l) => /\d+\. (T\d+)/.exec(l)?.[1])).toEqual(expected.map((t) => t.id));
  });

  it('refuses unknown techniques, a bad k or model, and an unreachable Neo4j with usage errors', async () => {
    await expect(run(['predict', '--technique', 'T0999'])).rejects.toThrow(/T0999: not a live/);
    await expect(run(['predict', '--technique', 'X1'])).rejects.toThrow(UsageError);
    await expect(run(['predict'])).rejects.toThrow(/--technique/);
    await expect(run(['predict', '--technique', 'T0846', '--k', '0'])).rejects.toThrow(
      /--k must be at least 1/,
    );
    await expect(run(['predict', '--technique', 'T0846', '--model', 'magic'])).rejects.toThrow(/--model/);
    await expect(run(['predict', '--technique', 'T0846', '--neo4j', 'bolt://127.0.0.1:1'])).rejects.toThrow(
      /cannot reach Neo4j/,
    );
  });
});
