import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UsageError } from '@vigil/shared';
import { startAggregator, type AggregatorOptions } from './runtime.js';
import { DEFAULT_RETENTION } from './store/retention.js';

describe('startAggregator', () => {
  let dir: string;
  let base: AggregatorOptions;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-runtime-'));
    base = {
      dataDir: dir,
      dbUrl: `sqlite:${join(dir, 'vigil.db')}`,
      host: '127.0.0.1',
      port: 0,
      anonymous: true,
      grpcHost: '127.0.0.1',
      grpcPort: 0,
      retention: DEFAULT_RETENTION,
      log: () => undefined,
    };
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('serves the API with the embedded graph and the agent port by default', async () => {
    const agg = await startAggregator(base);
    try {
      const health = (await (await fetch(`${agg.api.url}/health`)).json()) as {
        services: Record<string, string>;
      };
      expect(health.services).toMatchObject({ database: 'connected', graph: 'embedded', grpc: 'connected' });
      expect(agg.link.port).toBeGreaterThan(0);
    } finally {
      await agg.close();
    }
  });

  it('refuses to start with a clear error when the Neo4j it is told to use cannot be reached', async () => {
    const err = await startAggregator({ ...base, neo4j: { url: 'bolt://127.0.0.1:1' } }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toMatch(/--neo4j: cannot reach Neo4j at bolt:\/\/127\.0\.0\.1:1/);
  });
});
