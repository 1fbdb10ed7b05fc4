import { describe, expect, it } from 'vitest';
import { UsageError } from '@vigil/shared';
import { buildProgram } from './program.js';

function run(args: string[]): Promise<unknown> {
  return buildProgram()
    .exitOverride()
    .parseAsync(['node', 'vigil', ...args]);
}

describe('vigil graph load', () => {
  it('rejects a URL that is not Bolt with a usage error', async () => {
    await expect(run(['graph', 'load', '--neo4j', 'http://127.0.0.1:7474'])).rejects.toThrow(UsageError);
  });

  it('names the server and how to start one when Neo4j cannot be reached', async () => {
    const err = await run(['graph', 'load', '--neo4j', 'bolt://127.0.0.1:1']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toMatch(
      /cannot reach Neo4j at bolt:\/\/127\.0\.0\.1:1.*deploy\/neo4j\.sh/s,
    );
  });
});
