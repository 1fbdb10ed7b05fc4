import { describe, expect, it } from 'vitest';
import { EmbeddedAttackGraph } from './embedded.js';
import { openAttackGraph } from './open.js';
import { SERVED_RANKER } from './stats.js';

describe('opening the attack graph', () => {
  it('is the in-memory graph of the shipped bundle, serving the best measured ranker, by default', async () => {
    const g = await openAttackGraph();
    expect(g).toBeInstanceOf(EmbeddedAttackGraph);
    expect(g.ranker).toBe(SERVED_RANKER);
    expect((await g.stats()).nodes.technique).toBe(83);
    expect((await g.nextTechniques(['T0846'], 3)).length).toBe(3);
  });

  it('fails with the server named when the configured Neo4j cannot be reached', async () => {
    await expect(openAttackGraph({ neo4j: { url: 'bolt://127.0.0.1:1' } })).rejects.toThrow(
      /cannot reach Neo4j at bolt:\/\/127\.0\.0\.1:1/,
    );
  });
});
