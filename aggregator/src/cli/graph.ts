// `vigil graph load --neo4j URL`: writes the shipped ATT&CK for ICS bundle into Neo4j (idempotent MERGE).
import type { Command } from 'commander';
import { z } from 'zod';
import { UsageError, shippedCatalog } from '@vigil/shared';
import { buildGraphModel } from '../graph/model.js';
import { Neo4jAttackGraph } from '../graph/neo4j.js';

const LoadOptions = z.object({
  neo4j: z
    .string()
    .regex(
      /^(bolt|neo4j)(\+s|\+ssc)?:\/\/\S+$/,
      'must be a bolt:// or neo4j:// URL, e.g. bolt://127.0.0.1:7687',
    ),
  user: z.string().min(1).optional(),
  password: z.string().optional(),
  database: z.string().min(1).optional(),
});

export function registerGraph(program: Command): void {
  const graph = program.command('graph').description('the ATT&CK for ICS attack graph');
  graph
    .command('load')
    .description('load the shipped ATT&CK for ICS bundle into Neo4j (safe to run again)')
    .requiredOption('--neo4j <url>', 'Bolt URL of the Neo4j server, e.g. bolt://127.0.0.1:7687')
    .option('--user <user>', 'Neo4j user (omit when authentication is off)')
    .option('--password <password>', 'Neo4j password (or set NEO4J_PASSWORD)')
    .option('--database <name>', 'Neo4j database (default: the server default)')
    .action(async (raw: Record<string, unknown>) => {
      const parsed = LoadOptions.safeParse({ ...raw, password: raw.password ?? process.env.NEO4J_PASSWORD });
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        throw new UsageError(`--${String(issue?.path[0] ?? 'neo4j')} ${issue?.message ?? 'is invalid'}`);
      }
      const o = parsed.data;
      const catalog = shippedCatalog();
      let g: Neo4jAttackGraph;
      try {
        g = await Neo4jAttackGraph.connect({
          url: o.neo4j,
          ...(o.user === undefined ? {} : { user: o.user }),
          ...(o.password === undefined ? {} : { password: o.password }),
          ...(o.database === undefined ? {} : { database: o.database }),
        });
      } catch (err) {
        throw new UsageError(
          `${err instanceof Error ? err.message : String(err)} (is Neo4j running? deploy/neo4j.sh run 7687 starts one)`,
        );
      }
      try {
        await g.load(buildGraphModel(catalog));
        const s = await g.stats();
        const nodes = Object.values(s.nodes).reduce((a, b) => a + b, 0);
        const edges = Object.values(s.edges).reduce((a, b) => a + b, 0);
        process.stdout.write(
          `loaded ATT&CK for ICS ${s.bundleVersion} into ${o.neo4j}: ${nodes} nodes, ${edges} edges ` +
            `(${s.nodes.technique} techniques, ${s.edges['co-occurs']} co-occurrence and ` +
            `${s.edges['followed-by']} transition edges)\n`,
        );
      } finally {
        await g.close();
      }
    });
}
