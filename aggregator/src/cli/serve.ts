// `vigil serve`: the dashboard API (REST + /ws) on one port. Loopback by default; off loopback it needs TLS (or an
// explicit --insecure-no-tls) and refuses anonymous access. Stops gracefully on SIGINT/SIGTERM.
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { z } from 'zod';
import { UsageError } from '@vigil/shared';
import { defaultDbUrl, parseAge, resolveDataDir } from '../config.js';
import { DEFAULT_CORS_ORIGINS, checkExposure } from '../api/server.js';
import { startAggregator } from '../runtime.js';
import { applyAggregatorConfig, readAggregatorConfig } from './serve-config.js';
import { parseStrategy, updateProtection, type ServeDeps } from './serve-fl.js';

const ServeOptions = z
  .object({
    host: z.string().min(1),
    port: z.coerce
      .number({ error: 'expected a port number' })
      .int()
      .min(0)
      .max(65535, 'expected a port number from 0 to 65535'),
    db: z.string().min(1).optional(),
    dataDir: z.string().min(1).optional(),
    cors: z.string().min(1),
    anonymous: z.boolean(),
    tlsCert: z.string().min(1).optional(),
    tlsKey: z.string().min(1).optional(),
    insecureNoTls: z.boolean(),
    rateLimit: z.coerce.number({ error: 'expected requests per second' }).positive(),
    grpcHost: z.string().min(1).optional(),
    grpcPort: z.coerce.number({ error: 'expected a port number' }).int().min(0).max(65535),
    retainAlerts: z.string().min(1),
    retainAggregates: z.string().min(1),
    neo4j: z
      .string()
      .regex(
        /^(bolt|neo4j)(\+s|\+ssc)?:\/\/\S+$/,
        'must be a bolt:// or neo4j:// URL, e.g. bolt://127.0.0.1:7687',
      )
      .optional(),
    neo4jUser: z.string().min(1).optional(),
    neo4jDatabase: z.string().min(1).optional(),
    flSchedule: z.string().min(1).optional(),
    flMinClients: z.coerce.number({ error: 'expected a whole number' }).int().min(1).max(10_000),
    flStrategy: z.string().min(1),
    flEpsilonBudget: z.coerce.number({ error: 'expected a number' }).positive().finite(),
    flDelta: z.coerce.number({ error: 'expected a number' }).gt(0).lt(1),
  })
  .refine((o) => (o.tlsCert === undefined) === (o.tlsKey === undefined), {
    message: '--tls-cert and --tls-key go together',
  });

function readPem(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new UsageError(`cannot read the TLS ${what} ${path}: ${(err as Error).message}`);
  }
}

export function registerServe(program: Command, deps: ServeDeps = {}): void {
  program
    .command('serve')
    .description('serve the dashboard API (REST and WebSocket /ws) on one port')
    .option('--host <address>', 'address to listen on (loopback by default)', '127.0.0.1')
    .option('--port <n>', 'port to listen on', '8000')
    .option(
      '--db <url>',
      'database: sqlite:PATH or postgres://USER:PASSWORD@HOST:PORT/DB (default: SQLite in the data dir)',
    )
    .option('--data-dir <dir>', 'data directory (default $VIGIL_DATA_DIR or ./.vigil)')
    .option(
      '--cors <origins>',
      'comma-separated allowed browser origins, or *',
      DEFAULT_CORS_ORIGINS.join(','),
    )
    .option('--anonymous', 'let callers without a token act as operator (loopback only)', false)
    .option('--tls-cert <file>', 'PEM certificate (required off loopback)')
    .option('--tls-key <file>', 'PEM private key (required off loopback)')
    .option('--insecure-no-tls', 'serve plain HTTP off loopback (not recommended)', false)
    .option('--rate-limit <n>', 'requests per second per token and per address (burst: 4x)', '50')
    .option('--grpc-host <address>', 'address the agent port listens on (default: --host)')
    .option('--grpc-port <n>', 'agent port (gRPC, mTLS; 0 picks a free port)', '8443')
    .option('--retain-alerts <age>', 'delete alerts older than this (e.g. 90d, 36h, or forever)', '90d')
    .option('--retain-aggregates <age>', 'delete per-second traffic aggregates older than this', '7d')
    .option(
      '--neo4j <url>',
      'hold the attack graph in Neo4j (Bolt URL; password in $NEO4J_PASSWORD); default in memory',
    )
    .option('--neo4j-user <user>', 'Neo4j user (omit when authentication is off)')
    .option('--neo4j-database <name>', 'Neo4j database (default: the server default)')
    .option('--fl-schedule <interval>', 'start a federated round every interval (e.g. 30m, 6h)')
    .option('--fl-min-clients <n>', 'fewest clients a federated round starts and completes with', '2')
    .option(
      '--fl-strategy <name>',
      'fedavg, fedprox:MU or trimmed-mean:BETA, optionally +central-dp:CLIP:NOISE; or secagg-dp:NOISE:RATE:CLIP:LR (secure aggregation, distributed DP)',
      'fedavg',
    )
    .option(
      '--fl-epsilon-budget <e>',
      'privacy budget per facility; a facility that spent it is no longer selected',
      '10',
    )
    .option('--fl-delta <d>', 'delta of the (epsilon, delta) accounting', '1e-5')
    .option('--config <file>', 'JSON config file (see deploy/aggregator.example.json); flags override it')
    .action(async (raw: Record<string, unknown>, cmd: Command) => {
      if (typeof raw.config === 'string') applyAggregatorConfig(cmd, raw, readAggregatorConfig(raw.config));
      delete raw.config;
      const parsed = ServeOptions.safeParse(raw);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        const flag = String(issue?.path[0] ?? '').replace(/[A-Z]/g, (ch) => `-${ch.toLowerCase()}`);
        throw new UsageError(
          `serve: ${flag === '' ? '' : `--${flag}: `}${issue?.message ?? 'invalid options'} (see vigil serve --help)`,
        );
      }
      const o = parsed.data;
      const tls =
        o.tlsCert !== undefined && o.tlsKey !== undefined
          ? { cert: readPem(o.tlsCert, 'certificate'), key: readPem(o.tlsKey, 'key') }
          : undefined;
      checkExposure({ host: o.host, tls, insecure: o.insecureNoTls, anonymous: o.anonymous });
      const policy = {
        alertsMaxAgeSeconds: parseAge(o.retainAlerts, '--retain-alerts'),
        aggregatesMaxAgeSeconds: parseAge(o.retainAggregates, '--retain-aggregates'),
      };
      const flIntervalS = o.flSchedule === undefined ? null : parseAge(o.flSchedule, '--fl-schedule');
      if (o.flSchedule !== undefined && flIntervalS === null)
        throw new UsageError('--fl-schedule needs an interval such as 30m or 6h, not forever');
      const strategy = parseStrategy(o.flStrategy);
      const privacy = {
        delta: o.flDelta,
        epsilonBudget: o.flEpsilonBudget,
        // Updates travel inside the link's mTLS unless a test transport is attached.
        encryption: updateProtection(deps.fl?.encryption ?? 'TLS with client certificates (mTLS)', strategy),
      };
      const dataDir = resolveDataDir(o.dataDir);
      const agg = await startAggregator({
        dataDir,
        dbUrl: o.db ?? defaultDbUrl(dataDir),
        host: o.host,
        port: o.port,
        tls,
        insecure: o.insecureNoTls,
        anonymous: o.anonymous,
        corsOrigins: o.cors
          .split(',')
          .map((s) => s.trim())
          .filter((s) => s !== ''),
        rateLimit: { perSecond: o.rateLimit, burst: o.rateLimit * 4 },
        grpcHost: o.grpcHost ?? o.host,
        grpcPort: o.grpcPort,
        retention: policy,
        fl: {
          strategy,
          privacy,
          minClients: o.flMinClients,
          scheduleMs: flIntervalS === null ? null : flIntervalS * 1000,
          transport: deps.fl,
        },
        neo4j:
          o.neo4j === undefined
            ? undefined
            : {
                url: o.neo4j,
                ...(o.neo4jUser === undefined ? {} : { user: o.neo4jUser }),
                ...(process.env.NEO4J_PASSWORD === undefined ? {} : { password: process.env.NEO4J_PASSWORD }),
                ...(o.neo4jDatabase === undefined ? {} : { database: o.neo4jDatabase }),
              },
        onPurged: (d) => {
          if (d.alerts + d.aggregates > 0)
            process.stdout.write(`vigil: retention deleted ${d.alerts} alerts, ${d.aggregates} aggregates\n`);
        },
      });
      const { api, link, ca } = agg;
      process.stdout.write(`vigil: serving ${api.url} (WebSocket ${api.wsUrl}), store ${agg.store.kind}\n`);
      process.stdout.write(
        `vigil: agents on ${o.grpcHost ?? o.host}:${link.port} (CA fingerprint ${ca.fingerprint})\n`,
      );
      process.stdout.write(
        agg.rounds === null
          ? 'vigil: federated rounds unavailable (no FL transport attached)\n'
          : `vigil: federated rounds with ${strategy.name}${flIntervalS === null ? '' : `, every ${o.flSchedule ?? ''}`}\n`,
      );
      deps.onReady?.({ url: api.url, grpcPort: link.port });
      const reason =
        deps.stop ??
        new Promise<string>((resolve) => {
          const stop = (signal: string): void => {
            process.off('SIGINT', onInt);
            process.off('SIGTERM', onTerm);
            resolve(signal);
          };
          const onInt = (): void => stop('SIGINT');
          const onTerm = (): void => stop('SIGTERM');
          process.on('SIGINT', onInt);
          process.on('SIGTERM', onTerm);
        });
      process.stdout.write(`vigil: ${await reason}, shutting down\n`);
      await agg.close();
    });
}
