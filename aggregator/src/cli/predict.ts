// `vigil predict --technique T0846 [--technique ...] --k 5`: the k most likely next ATT&CK for ICS techniques given the
// observed ones, with probabilities and a timeframe (graph/timeframe.ts: a label and its upper bound in seconds, from
// the tactic distance between the furthest observed technique and the predicted one). Uses the served predictor
// (graph/predictor.ts) over the embedded graph, or over Neo4j with --neo4j.
import type { Command } from 'commander';
import { z } from 'zod';
import { UsageError } from '@vigil/shared';
import { openAttackGraph } from '../graph/open.js';
import { withTimeframes } from '../graph/prediction-service.js';
import { openPredictor, SERVED_PREDICTOR } from '../graph/predictor.js';
import type { AttackGraph } from '../graph/types.js';

const MODELS = ['gnn', 'jaccard-knn', 'cooccurrence'] as const;

const PredictOptions = z.object({
  technique: z
    .array(z.string().regex(/^T\d{4}(\.\d{3})?$/, 'must be an ATT&CK for ICS technique id such as T0846'))
    .min(1, 'is required: give at least one observed technique'),
  k: z.coerce
    .number()
    .int('must be a whole number')
    .min(1, 'must be at least 1')
    .max(100, 'must be at most 100'),
  model: z.enum(MODELS, { message: `must be one of ${MODELS.join(', ')}` }),
  neo4j: z
    .string()
    .regex(/^(bolt|neo4j)(\+s|\+ssc)?:\/\/\S+$/, 'must be a bolt:// or neo4j:// URL')
    .optional(),
  user: z.string().min(1).optional(),
  password: z.string().optional(),
});

const collect = (v: string, acc: string[]) => [...acc, v];

export function registerPredict(program: Command): void {
  program
    .command('predict')
    .description('predict the next ATT&CK for ICS techniques given the observed ones')
    .option('--technique <id>', 'an observed technique (repeat for several)', collect, [])
    .option('--k <n>', 'how many techniques to list', '5')
    .option('--model <name>', `predictor: ${MODELS.join(', ')}`, SERVED_PREDICTOR)
    .option('--neo4j <url>', 'read the graph from this Neo4j instead of the embedded copy')
    .option('--user <user>', 'Neo4j user (omit when authentication is off)')
    .option('--password <password>', 'Neo4j password (or set NEO4J_PASSWORD)')
    .action(async (raw: Record<string, unknown>) => {
      const parsed = PredictOptions.safeParse({
        ...raw,
        password: raw.password ?? process.env.NEO4J_PASSWORD,
      });
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        throw new UsageError(`--${String(issue?.path[0] ?? 'technique')} ${issue?.message ?? 'is invalid'}`);
      }
      const o = parsed.data;
      let graph: AttackGraph;
      try {
        graph = await openAttackGraph(
          o.neo4j === undefined
            ? { ...(o.model === 'gnn' ? {} : { ranker: o.model }) }
            : {
                ...(o.model === 'gnn' ? {} : { ranker: o.model }),
                neo4j: {
                  url: o.neo4j,
                  ...(o.user === undefined ? {} : { user: o.user }),
                  ...(o.password === undefined ? {} : { password: o.password }),
                },
              },
        );
      } catch (err) {
        throw new UsageError(
          `${err instanceof Error ? err.message : String(err)} (is Neo4j running? deploy/neo4j.sh run 7687 starts one)`,
        );
      }
      try {
        const observed = [...new Set(o.technique)];
        const known = await Promise.all(observed.map((id) => graph.technique(id)));
        const unknown = observed.filter((_, i) => known[i] === undefined);
        if (unknown.length > 0)
          throw new UsageError(
            `--technique ${unknown.join(', ')}: not a live ATT&CK for ICS technique (see GET /api/mitre/techniques)`,
          );
        const predictor = await openPredictor(graph, o.model);
        try {
          const ranked = await predictor.predict(observed, o.k);
          const rows = await withTimeframes(graph, observed, ranked);
          process.stdout.write(
            `predictor ${predictor.name}; observed ${known.map((t) => `${t?.id} ${t?.name}`).join(', ')}\n`,
          );
          for (const r of rows)
            process.stdout.write(
              `${String(r.rank).padStart(2)}. ${r.technique_id.padEnd(6)} ${r.technique_name.padEnd(42)} ` +
                `p=${r.probability.toFixed(3)}  ${r.timeframe} (timeframe_seconds ${r.timeframe_seconds})\n`,
            );
          if (rows.length < o.k)
            process.stdout.write(`(only ${rows.length} techniques have a positive score)\n`);
        } finally {
          await predictor.close();
        }
      } finally {
        await graph.close();
      }
    });
}
