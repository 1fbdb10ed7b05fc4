// `npm run bench:api`: dashboard API latency at 1,000,000 stored alerts on SQLite and on Postgres, and the time one
// WebSocket message takes to reach 1,000 local clients. Writes its section of bench/RESULTS.md.
// VIGIL_BENCH_ALERTS overrides the alert count, VIGIL_BENCH_PG_ALERTS the Postgres one (seeding through the store
// is the slow part: the alerts are generated once and written to both stores).
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { shippedCatalog } from '@vigil/shared';
import { openStore } from '../src/store/open.js';
import { postgresAvailable, startTestPostgres, type TestPostgres } from '../src/store/testing/postgres.js';
import type { Store } from '../src/store/types.js';
import { AlertSeeder } from '../src/seed/generate.js';
import { startApiServer, type RunningApi } from '../src/api/server.js';
import { benchWebSocket, WS_CLIENTS, type FanoutResult } from './ws-fanout.js';

const ALERTS = Number(process.env.VIGIL_BENCH_ALERTS ?? 1_000_000);
const PG_ALERTS = Math.min(ALERTS, Number(process.env.VIGIL_BENCH_PG_ALERTS ?? ALERTS));
const ROUNDS = 25;
const FACILITIES = ['plant-a', 'plant-b', 'plant-c'];

/** The fixed set of dashboard queries: filtered pages of 50, one deep page, searches. */
const QUERIES = [
  '/api/alerts?limit=50',
  '/api/alerts?severity=critical&limit=50',
  '/api/alerts?facility=plant-b&status=new&limit=50',
  '/api/alerts?time_range=Last%2024%20hours&limit=50',
  '/api/alerts?status_filter=resolved&page=20&limit=50',
  '/api/alerts?severity=high&facility=plant-a&time_range=7d&page=3&limit=50',
  '/api/alerts?search=scan&limit=50',
  '/api/alerts?search=Modify%20Parameter&facility=plant-c&limit=50',
];

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}

function summary(ms: number[]): { p50: number; p99: number; max: number; n: number } {
  const s = [...ms].sort((a, b) => a - b);
  return { p50: percentile(s, 50), p99: percentile(s, 99), max: s[s.length - 1] ?? NaN, n: s.length };
}

const f = (x: number): string => x.toFixed(2);

/** Generates the alerts once and writes them through each store's insertAlerts; returns seconds per store. */
async function seed(targets: { store: Store; count: number }[]): Promise<number[]> {
  for (const t of targets) for (const id of FACILITIES) await t.store.addFacility({ id, name: id });
  const seeder = new AlertSeeder({
    facilities: FACILITIES,
    nowMs: Date.now(),
    spanSeconds: 30 * 86_400,
    seed: 42,
    catalog: shippedCatalog(),
  });
  const seconds = targets.map(() => 0);
  const most = Math.max(...targets.map((t) => t.count));
  for (let done = 0; done < most; done += 5000) {
    const batch = seeder.batch(Math.min(5000, most - done));
    for (const [i, t] of targets.entries()) {
      if (done >= t.count) continue;
      const started = performance.now();
      await t.store.insertAlerts(batch.slice(0, t.count - done));
      seconds[i] = (seconds[i] ?? 0) + (performance.now() - started) / 1000;
    }
    if (done % 100_000 === 0) process.stderr.write(`seeded ${done + batch.length}\n`);
  }
  return seconds;
}

async function timeGet(api: RunningApi, path: string): Promise<number> {
  const t0 = performance.now();
  const res = await fetch(`${api.url}${path}`);
  await res.arrayBuffer();
  const ms = performance.now() - t0;
  if (res.status !== 200) throw new Error(`${path} answered ${res.status}`);
  return ms;
}

interface StoreResult {
  kind: string;
  alerts_stored: number;
  seedSeconds: number;
  perQuery: { path: string; p50: number; p99: number }[];
  alerts: ReturnType<typeof summary>;
  stats: ReturnType<typeof summary>;
}

async function benchStore(kind: string, store: Store, seedSeconds: number): Promise<StoreResult> {
  process.stderr.write(`${kind}: querying\n`);
  const api = await startApiServer({
    store,
    host: '127.0.0.1',
    port: 0,
    anonymous: true,
    rateLimit: { perSecond: 1e9, burst: 1e9 },
    log: () => undefined,
  });
  try {
    for (const q of QUERIES) await timeGet(api, q); // warm caches and connections
    await timeGet(api, '/api/alerts/stats');
    const all: number[] = [];
    const perQuery: StoreResult['perQuery'] = [];
    const byQuery = new Map<string, number[]>(QUERIES.map((q) => [q, []]));
    for (let r = 0; r < ROUNDS; r++) {
      for (const q of QUERIES) {
        const ms = await timeGet(api, q);
        all.push(ms);
        byQuery.get(q)?.push(ms);
      }
    }
    for (const [path, ms] of byQuery) {
      const s = summary(ms);
      perQuery.push({ path, p50: s.p50, p99: s.p99 });
    }
    const stats: number[] = [];
    for (let r = 0; r < ROUNDS * 4; r++) stats.push(await timeGet(api, '/api/alerts/stats'));
    const alertsStored = (await store.alertStats()).total;
    return {
      kind,
      alerts_stored: alertsStored,
      seedSeconds,
      perQuery,
      alerts: summary(all),
      stats: summary(stats),
    };
  } finally {
    await api.close();
  }
}

/** The command as run, with the count overrides that were set. */
function command(): string {
  const env = ['VIGIL_BENCH_ALERTS', 'VIGIL_BENCH_PG_ALERTS']
    .filter((k) => process.env[k] !== undefined)
    .map((k) => `${k}=${process.env[k] ?? ''} `)
    .join('');
  return `${env}npm run bench:api`;
}

function machine(): string {
  const c = cpus();
  const load = loadavg()
    .map((x) => x.toFixed(1))
    .join(' ');
  return `${c.length} cores (${c[0]?.model.trim() ?? 'unknown cpu'}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM, Node ${process.version}, load average at the end ${load} (machine shared with other jobs)`;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-bench-api-'));
  const results: StoreResult[] = [];
  let pg: TestPostgres | undefined;
  let ws: FanoutResult | undefined;
  const sqlite = await openStore(`sqlite:${join(dir, 'bench.db')}`);
  let postgres: Store | undefined;
  try {
    if (postgresAvailable()) {
      pg = await startTestPostgres();
      const server = pg;
      // An interrupted run still stops its throwaway Postgres cluster.
      for (const signal of ['SIGINT', 'SIGTERM'] as const) {
        process.once(signal, () => {
          void server.close().finally(() => process.exit(130));
        });
      }
      postgres = await openStore(await pg.createDatabase());
    } else {
      process.stderr.write('Postgres not available: skipped (apt-get install postgresql)\n');
    }
    const targets = [{ store: sqlite, count: ALERTS }];
    if (postgres !== undefined) targets.push({ store: postgres, count: PG_ALERTS });
    process.stderr.write(`seeding ${targets.map((t) => `${t.store.kind} ${t.count}`).join(', ')}\n`);
    const seconds = await seed(targets);
    results.push(await benchStore('SQLite', sqlite, seconds[0] ?? NaN));
    if (postgres !== undefined) results.push(await benchStore('Postgres', postgres, seconds[1] ?? NaN));
    ws = await benchWebSocket(sqlite);
  } finally {
    await sqlite.close();
    await postgres?.close();
    await pg?.close();
    rmSync(dir, { recursive: true, force: true });
  }

  const lines = [
    '## Dashboard API (`npm run bench:api`)',
    '',
    `Command: \`${command()}\` (aggregator/bench/api.ts). Date: ${new Date().toISOString()}. Machine: ${machine()}.`,
    `Stores seeded through Store.insertAlerts with generated alerts over 30 days (AlertSeeder, seed 42, batches of 5000),`,
    '3 facilities; Postgres is the test harness cluster (fsync off: it affects the seeding time, not the reads).',
    `the API on 127.0.0.1 over real HTTP (fetch, keep-alive), one request at a time, ${ROUNDS} rounds of ${QUERIES.length} queries.`,
    'Goal: p99 <= 10 ms.',
    '',
    '| store | alerts stored | seeding | GET /api/alerts p50 | p99 | max | GET /api/alerts/stats p50 | p99 |',
    '|---|---|---|---|---|---|---|---|',
    ...results.map(
      (r) =>
        `| ${r.kind} | ${r.alerts_stored.toLocaleString('en-US')} | ${r.seedSeconds.toFixed(0)} s | ${f(r.alerts.p50)} ms | ${f(r.alerts.p99)} ms | ${f(r.alerts.max)} ms | ${f(r.stats.p50)} ms | ${f(r.stats.p99)} ms |`,
    ),
    '',
    'Per query (p50 / p99, ms):',
    '',
    `| query | ${results.map((r) => r.kind).join(' | ')} |`,
    `|---|${results.map(() => '---').join('|')}|`,
    ...QUERIES.map(
      (q, i) =>
        `| \`${q}\` | ${results.map((r) => `${f(r.perQuery[i]?.p50 ?? NaN)} / ${f(r.perQuery[i]?.p99 ?? NaN)}`).join(' | ')} |`,
    ),
    '',
    ws === undefined
      ? ''
      : `WebSocket fan-out (bench/ws-fanout.ts): one ~1.6 kB message published on the bus to ${WS_CLIENTS} local clients ` +
        `subscribed to \`alerts\` (in a worker thread), time until the last client has it, over ${ws.n} messages: ` +
        `p50 ${f(ws.p50)} ms, max ${f(ws.max)} ms (goal <= 20 ms). The hub's synchronous send to all ${WS_CLIENTS} ` +
        `sockets: p50 ${f(ws.sendP50)} ms, min ${f(ws.sendMin)} ms.`,
    '',
  ];
  const section = `<!-- bench:api:start -->\n${lines.join('\n')}\n<!-- bench:api:end -->`;
  const resultsPath = fileURLToPath(new URL('./RESULTS.md', import.meta.url));
  const before = existsSync(resultsPath) ? readFileSync(resultsPath, 'utf8') : '# Aggregator benchmarks\n';
  const pattern = /<!-- bench:api:start -->[\s\S]*<!-- bench:api:end -->/;
  const after = pattern.test(before)
    ? before.replace(pattern, section)
    : `${before.trimEnd()}\n\n${section}\n`;
  writeFileSync(resultsPath, after);
  process.stdout.write(`${lines.join('\n')}\n`);
}

await main();
