// `npm run bench:api`: dashboard API latency at 1,000,000 stored alerts on SQLite and on Postgres, and the time one
// WebSocket message takes to reach 1,000 local clients. Writes its section of bench/RESULTS.md.
// VIGIL_BENCH_ALERTS overrides the alert count, VIGIL_BENCH_PG_ALERTS the Postgres one.
// The seeded databases are kept in .cache/bench/api (VIGIL_BENCH_CACHE overrides) and reused by the next run while the
// seed data's version (SEED_DATA_VERSION) and the counts are the same; otherwise they are made again: SQLite in this
// thread and Postgres in a worker thread at the same time, through Store.seedAlerts. A newer schema does not reseed:
// opening a cached store applies the pending migrations in place, as in a deployment, and the run says how long that
// took; meta.json records the schema the databases were migrated to.
// The API then runs with its clock at the seeding time, so "last 24 hours" means the same alerts on every reuse.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { openStore } from '../src/store/open.js';
import { MIGRATIONS } from '../src/store/migrations/index.js';
import { postgresAvailable, startTestPostgres, type TestPostgres } from '../src/store/testing/postgres.js';
import type { Store } from '../src/store/types.js';
import { SEED_DATA_VERSION } from '../src/seed/generate.js';
import { startApiServer, type RunningApi } from '../src/api/server.js';
import { benchWebSocket, WS_CLIENTS, type FanoutResult } from './ws-fanout.js';
import { SEED_BATCH, SEED_SPAN_SECONDS, seedBench } from './seed-data.js';

const ALERTS = Number(process.env.VIGIL_BENCH_ALERTS ?? 1_000_000);
const PG_ALERTS = Math.min(ALERTS, Number(process.env.VIGIL_BENCH_PG_ALERTS ?? ALERTS));
const CACHE =
  process.env.VIGIL_BENCH_CACHE ?? fileURLToPath(new URL('../../.cache/bench/api', import.meta.url));
const ROUNDS = 25;
/**
 * The Postgres server's buffer cache. Its default, 128 MB, is sized for a small machine; at a million alerts the
 * alerts heap is 3.7 GB and a search's pages were read from the OS cache again on every query. A server given a
 * quarter of this machine's RAM (the usual advice) holds the hot part; 1 GB is set here, and
 * VIGIL_BENCH_PG_SHARED_BUFFERS=128MB measures the default.
 */
const PG_SHARED_BUFFERS = process.env.VIGIL_BENCH_PG_SHARED_BUFFERS ?? '1GB';

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
  '/api/alerts?search=write&facility=plant-b&page=20&limit=50',
];

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}

function summary(ms: number[]): { p50: number; p99: number; max: number; min: number; n: number } {
  const s = [...ms].sort((a, b) => a - b);
  return {
    p50: percentile(s, 50),
    p99: percentile(s, 99),
    max: s[s.length - 1] ?? NaN,
    min: s[0] ?? NaN,
    n: s.length,
  };
}

const f = (x: number): string => x.toFixed(2);

/** What a cached database was seeded with; a different key means it is made again. */
interface CacheMeta {
  key: string;
  nowMs: number;
  seconds: { sqlite: number; postgres: number | null };
  /** The schema version the databases were last migrated to. */
  schema?: number;
}

const SCHEMA = Math.max(...MIGRATIONS.map((m) => m.version));

function cacheKey(withPostgres: boolean): string {
  return `seed data v${SEED_DATA_VERSION}, SQLite ${ALERTS}, Postgres ${withPostgres ? PG_ALERTS : 'none'}`;
}

/** A cache's key, also from a meta.json of the sessions that put the schema in the key (", schema N"). */
function keyOf(meta: CacheMeta): string {
  return meta.key.replace(/, schema \d+/, '');
}

/** Opens a cached store, applying pending migrations; says which it applied and how long they took. */
async function openMigrated(kind: string, url: string): Promise<{ store: Store; note: string }> {
  let applied: number[] = [];
  const t0 = performance.now();
  const store = await openStore(url, { onMigrated: (versions) => (applied = versions) });
  const seconds = (performance.now() - t0) / 1000;
  const note =
    applied.length === 0
      ? ''
      : `${kind}: opening the cached store applied migration${applied.length > 1 ? 's' : ''} ${applied.join(', ')} in ${seconds.toFixed(1)} s`;
  if (note !== '') process.stderr.write(`${note}\n`);
  return { store, note };
}

function readMeta(): CacheMeta | undefined {
  const path = join(CACHE, 'meta.json');
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as CacheMeta;
  } catch {
    return undefined;
  }
}

/** VACUUM ANALYZE of the alerts table; returns the seconds it took. */
async function vacuumAnalyze(url: string): Promise<number> {
  const pg = (await import('pg')).default;
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const t0 = performance.now();
    await client.query('VACUUM ANALYZE alerts');
    return (performance.now() - t0) / 1000;
  } finally {
    await client.end();
  }
}

/** Seeds the store at `url` in a worker thread; resolves with the seconds it took. */
function seedInWorker(url: string, count: number, nowMs: number): Promise<number> {
  const entry = new URL('./seed-worker.ts', import.meta.url).href;
  const worker = new Worker(
    `import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(entry)}); })`,
    { eval: true, workerData: { url, count, nowMs } },
  );
  return new Promise((resolve, reject) => {
    worker.once('error', reject);
    worker.on('message', (msg: { progress?: number; seconds?: number }) => {
      if (msg.progress !== undefined && msg.progress % 100_000 === 0) {
        process.stderr.write(`postgres: seeded ${msg.progress}\n`);
      }
      if (msg.seconds !== undefined) resolve(msg.seconds);
    });
    worker.once('exit', (code) => reject(new Error(`the Postgres seeding worker exited (${code})`)));
  });
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
  seedSeconds: number | null;
  perQuery: { path: string; p50: number; p99: number; min: number }[];
  alerts: ReturnType<typeof summary>;
  stats: ReturnType<typeof summary>;
}

async function benchStore(
  kind: string,
  store: Store,
  seedSeconds: number | null,
  nowMs: number,
  expected: number,
): Promise<StoreResult> {
  process.stderr.write(`${kind}: querying\n`);
  const api = await startApiServer({
    store,
    clock: { now: () => nowMs },
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
      perQuery.push({ path, p50: s.p50, p99: s.p99, min: s.min });
    }
    const stats: number[] = [];
    for (let r = 0; r < ROUNDS * 4; r++) stats.push(await timeGet(api, '/api/alerts/stats'));
    const alertsStored = (await store.alertStats()).total;
    if (alertsStored !== expected) {
      throw new Error(
        `${kind} holds ${alertsStored} alerts, not ${expected}: delete ${CACHE} to seed it again`,
      );
    }
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
  const env = [
    'VIGIL_BENCH_ALERTS',
    'VIGIL_BENCH_PG_ALERTS',
    'VIGIL_BENCH_PG_SHARED_BUFFERS',
    'VIGIL_BENCH_CACHE',
  ]
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
  const started = performance.now();
  const results: StoreResult[] = [];
  let pg: TestPostgres | undefined;
  let ws: FanoutResult | undefined;
  const withPostgres = postgresAvailable();
  // An external server (VIGIL_TEST_PG_URL) gets a fresh database each run; the harness's own cluster is kept.
  const pgKept = withPostgres && (process.env.VIGIL_TEST_PG_URL ?? '') === '';
  const key = cacheKey(withPostgres);
  let meta = readMeta();
  const reused = meta !== undefined && keyOf(meta) === key;
  const migrations: string[] = [];
  if (!reused) {
    rmSync(CACHE, { recursive: true, force: true });
    mkdirSync(CACHE, { recursive: true });
  }
  const sqliteUrl = `sqlite:${join(CACHE, 'bench.db')}`;
  let sqlite: Store | undefined;
  let postgres: Store | undefined;
  const wsDir = mkdtempSync(join(tmpdir(), 'vigil-bench-ws-'));
  try {
    if (withPostgres) {
      pg = await startTestPostgres({
        ...(pgKept ? { dir: join(CACHE, 'postgres') } : {}),
        settings: { shared_buffers: PG_SHARED_BUFFERS },
      });
      const server = pg;
      // An interrupted run still stops its Postgres cluster (a kept one cleanly).
      for (const signal of ['SIGINT', 'SIGTERM'] as const) {
        process.once(signal, () => {
          void server.close().finally(() => process.exit(130));
        });
      }
    } else {
      process.stderr.write('Postgres not available: skipped (apt-get install postgresql)\n');
    }
    const pgUrl =
      pg === undefined
        ? undefined
        : pgKept
          ? Object.assign(new URL(pg.url), { pathname: '/vigil_bench' }).toString()
          : await pg.createDatabase();
    if (!reused || !pgKept) {
      const nowMs = reused && meta !== undefined ? meta.nowMs : Date.now();
      process.stderr.write(
        `seeding ${reused ? '' : `SQLite ${ALERTS} and `}${pgUrl === undefined ? '' : `Postgres ${PG_ALERTS}`}\n`,
      );
      const pgSeconds = pgUrl === undefined ? Promise.resolve(null) : seedInWorker(pgUrl, PG_ALERTS, nowMs);
      let sqliteSeconds = meta?.seconds.sqlite ?? NaN;
      if (!reused) {
        const fresh = await openStore(sqliteUrl);
        try {
          sqliteSeconds = await seedBench(fresh, ALERTS, nowMs, (done) => {
            if (done % 100_000 === 0) process.stderr.write(`sqlite: seeded ${done}\n`);
          });
        } finally {
          await fresh.close();
        }
      }
      meta = { key, nowMs, seconds: { sqlite: sqliteSeconds, postgres: await pgSeconds }, schema: SCHEMA };
      writeFileSync(join(CACHE, 'meta.json'), `${JSON.stringify(meta, null, 2)}\n`);
    }
    const nowMs = meta?.nowMs ?? Date.now();
    const opened = await openMigrated('SQLite', sqliteUrl);
    sqlite = opened.store;
    migrations.push(opened.note);
    results.push(
      await benchStore('SQLite', sqlite, reused ? null : (meta?.seconds.sqlite ?? null), nowMs, ALERTS),
    );
    if (pgUrl !== undefined) {
      // A store that gathered its alerts over 30 days has been vacuumed and analysed by autovacuum by now; a bulk load
      // an hour ago may not have been (the time-range totals then fetch heap pages instead of an index-only scan).
      // Cheap when it already is.
      const pgOpened = await openMigrated('Postgres', pgUrl);
      postgres = pgOpened.store;
      migrations.push(pgOpened.note);
      process.stderr.write(`postgres: VACUUM ANALYZE took ${(await vacuumAnalyze(pgUrl)).toFixed(1)} s\n`);
      const pgSeeded = reused && pgKept ? null : (meta?.seconds.postgres ?? null);
      results.push(await benchStore('Postgres', postgres, pgSeeded, nowMs, PG_ALERTS));
    }
    if (meta !== undefined && meta.schema !== SCHEMA) {
      meta = { ...meta, key, schema: SCHEMA };
      writeFileSync(join(CACHE, 'meta.json'), `${JSON.stringify(meta, null, 2)}\n`);
    }
    // The fan-out needs no stored alerts: a throwaway store keeps the cached ones as they were seeded.
    const wsStore = await openStore(`sqlite:${join(wsDir, 'ws.db')}`);
    try {
      ws = await benchWebSocket(wsStore);
    } finally {
      await wsStore.close();
    }
  } finally {
    await sqlite?.close();
    await postgres?.close();
    await pg?.close();
    rmSync(wsDir, { recursive: true, force: true });
  }
  const wallSeconds = (performance.now() - started) / 1000;
  const seeding = reused
    ? `Reused the databases seeded before (${CACHE}, ${key}; seeding them took ${meta?.seconds.sqlite.toFixed(0) ?? '?'} s ` +
      `for SQLite and ${meta?.seconds.postgres?.toFixed(0) ?? '-'} s for Postgres at the same time).`
    : `Seeded for this run (${key}): SQLite in the main thread and Postgres in a worker thread at the same time.`;

  const lines = [
    '## Dashboard API (`npm run bench:api`)',
    '',
    `Command: \`${command()}\` (aggregator/bench/api.ts), ${wallSeconds.toFixed(0)} s in all. Date: ${new Date().toISOString()}. Machine: ${machine()}.`,
    `Generated alerts over ${SEED_SPAN_SECONDS / 86_400} days, oldest first, with 60-s context timelines (AlertSeeder, seed 42, Store.seedAlerts in batches of ${SEED_BATCH}),`,
    `3 facilities; Postgres is the test harness cluster (fsync off: it affects the seeding time, not the reads; shared_buffers ${PG_SHARED_BUFFERS}), VACUUM ANALYZE before the queries. ${seeding}`,
    ...migrations.filter((m) => m !== '').map((m) => `${m}.`),
    `the API on 127.0.0.1 over real HTTP (fetch, keep-alive), one request at a time, ${ROUNDS} rounds of ${QUERIES.length} queries.`,
    'Goal: p99 <= 10 ms.',
    '',
    '| store | alerts stored | seeding | GET /api/alerts p50 | p99 | max | GET /api/alerts/stats p50 | p99 |',
    '|---|---|---|---|---|---|---|---|',
    ...results.map(
      (r) =>
        `| ${r.kind} | ${r.alerts_stored.toLocaleString('en-US')} | ${r.seedSeconds === null ? 'reused' : `${r.seedSeconds.toFixed(0)} s`} | ${f(r.alerts.p50)} ms | ${f(r.alerts.p99)} ms | ${f(r.alerts.max)} ms | ${f(r.stats.p50)} ms | ${f(r.stats.p99)} ms |`,
    ),
    '',
    'Per query (p50 / p99 / min, ms; on a loaded machine the minimum is the least-preempted run):',
    '',
    `| query | ${results.map((r) => r.kind).join(' | ')} |`,
    `|---|${results.map(() => '---').join('|')}|`,
    ...QUERIES.map(
      (q, i) =>
        `| \`${q}\` | ${results.map((r) => `${f(r.perQuery[i]?.p50 ?? NaN)} / ${f(r.perQuery[i]?.p99 ?? NaN)} / ${f(r.perQuery[i]?.min ?? NaN)}`).join(' | ')} |`,
    ),
    '',
    ws === undefined
      ? ''
      : `WebSocket fan-out (bench/ws-fanout.ts): one ~1.6 kB message published on the bus to ${WS_CLIENTS} local clients ` +
        `subscribed to \`alerts\` (in a worker thread), time until the last client has it, over ${ws.n} messages: ` +
        `p50 ${f(ws.p50)} ms, p90 ${f(ws.p90)} ms, max ${f(ws.max)} ms at message ${ws.maxAt} (goal <= 20 ms). The hub's synchronous send to all ${WS_CLIENTS} ` +
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
