// Store benchmark: batched alert insert throughput on SQLite and Postgres, then the dashboard API's list and stats
// queries with the store holding 1,000,000 alerts. Run: npm run bench:store (from the repo root, builds first).
// Insert throughput goes through the Store API with generated alerts. Filling up to 1,000,000 for the query timings
// is done in SQL inside the database (the same table, indexes and counter triggers), because generating and shipping
// a million alerts from the client would take most of the benchmark's time budget.
// Insert rows also give CPU per alert (this process; and the Postgres server's processes, read from /proc), which the
// load of a shared machine distorts far less than wall time.
// Options (environment): BENCH_ALERTS (default 1000000; 0 = the insert runs only), BENCH_INSERT (alerts per insert run, default 20000),
// BENCH_BATCH (alerts per insertAlerts call, default 5000), BENCH_STORES (sqlite,postgres).
// Postgres is a throwaway local server (store/testing/postgres.ts) with production durability (fsync and
// synchronous_commit on), or VIGIL_TEST_PG_URL.
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { shippedCatalog } from '@vigil/shared';
import { AlertSeeder } from '../src/seed/generate.js';
import { openStore } from '../src/store/open.js';
import { POSTGRES_SEARCH_DOCUMENT } from '../src/store/migrations/001-initial.js';
import { POSTGRES_COUNT_ALERTS } from '../src/store/postgres.js';
import { BULK_INDEX } from '../src/store/sqlite-alert-insert.js';
import { startTestPostgres, type TestPostgres } from '../src/store/testing/postgres.js';
import { postgresCpu, type ServerCpu } from './postgres-cpu.js';
import type { AlertQuery, Store, StoredAlert } from '../src/store/types.js';

const TOTAL = Number(process.env.BENCH_ALERTS ?? 1_000_000);
const INSERT_RUN = Number(process.env.BENCH_INSERT ?? 20_000);
const BATCH = Number(process.env.BENCH_BATCH ?? 5000);
const STORES = (process.env.BENCH_STORES ?? 'sqlite,postgres').split(',');
const NOW = Date.now();
const FACILITIES = ['plant-a', 'plant-b', 'plant-c', 'plant-d', 'plant-e'];
const QUERY_REPEATS = 15;
const FILL_CHUNK = 100_000;

const catalog = shippedCatalog();
let seed = 1;
function seeder(step: number): AlertSeeder {
  return new AlertSeeder({
    facilities: FACILITIES,
    nowMs: NOW,
    spanSeconds: 30 * 86_400,
    seed: seed++,
    catalog,
    timelineStepSeconds: step,
  });
}

interface InsertRun {
  perSecond: number;
  /** CPU microseconds per alert in this process (the store's client side; all of it for SQLite). */
  clientUs: number;
  /** CPU microseconds per alert in the Postgres server's processes, when they can be read. */
  serverUs: number | null;
}

/** Inserts `count` alerts in batches; only the insertAlerts calls are timed (wall and CPU). */
async function insertTimed(
  store: Store,
  gen: AlertSeeder,
  count: number,
  serverCpu: ServerCpu | null,
): Promise<InsertRun> {
  let ms = 0;
  let clientUs = 0;
  let serverS = 0;
  for (let done = 0; done < count; done += BATCH) {
    const batch: StoredAlert[] = gen.batch(Math.min(BATCH, count - done));
    const s0 = serverCpu?.() ?? 0;
    const c0 = process.cpuUsage();
    const t = performance.now();
    await store.insertAlerts(batch);
    ms += performance.now() - t;
    const c = process.cpuUsage(c0);
    clientUs += c.user + c.system;
    serverS += (serverCpu?.() ?? 0) - s0;
  }
  return {
    perSecond: count / (ms / 1000),
    clientUs: clientUs / count,
    serverUs: serverCpu === null ? null : (serverS * 1e6) / count,
  };
}

function insertResult(r: InsertRun): string {
  const server = r.serverUs === null ? '' : `, server CPU ${Math.round(r.serverUs)} us/alert`;
  return `${Math.round(r.perSecond)} alerts/s (client CPU ${Math.round(r.clientUs)} us/alert${server})`;
}

/** Techniques the SQL fill cycles through (from the shipped catalog). */
const FILL_TECHNIQUES = catalog.techniques.slice(0, 40).map((t) => [t.id, t.name] as const);
const sqlText = (s: string): string => `'${s.replaceAll("'", "''")}'`;

/** A CASE over `key` that picks the i-th of `values` (SQL text literals). */
function pickSql(key: string, values: readonly string[]): string {
  return `CASE ${key} ${values.map((v, i) => `WHEN ${i} THEN ${sqlText(v)}`).join(' ')} END`;
}

/**
 * Adds `count` alerts inside the database: random facility, severity (10/25/35/30 %), status, time over 30 days,
 * one of 40 techniques, titles and descriptions from the generator's vocabulary, a 6-point context.
 */
async function fillInDatabase(store: Store, url: string, count: number): Promise<void> {
  if (count <= 0) return;
  const sample = seeder(10).next();
  const context = JSON.stringify(sample.context_analysis);
  const sources = JSON.stringify(sample.sources);
  const ids = FILL_TECHNIQUES.map(([id]) => id);
  const names = FILL_TECHNIQUES.map(([, n]) => n);
  const titles = [
    'Network scan from 10.0.3.17',
    'Unauthorized Command Message from 10.1.2.9',
    'Modbus write burst',
  ];
  const descriptions = [
    'one host contacting many addresses and ports in a short burst (modbus, source 10.0.3.17).',
    'unexpected write commands to field devices (modbus, source 10.1.2.9).',
    'traffic volume far above baseline towards control devices (mqtt, source 10.2.0.4).',
  ];
  const severity = (r: string): string =>
    `CASE WHEN ${r} < 0.10 THEN 'critical' WHEN ${r} < 0.35 THEN 'high' WHEN ${r} < 0.70 THEN 'medium' ELSE 'low' END`;
  const status = (r: string): string =>
    `CASE WHEN ${r} < 0.20 THEN 'new' WHEN ${r} < 0.35 THEN 'acknowledged' WHEN ${r} < 0.85 THEN 'resolved' ELSE 'false-positive' END`;
  const cols =
    'id, ts, facility_id, severity, title, description, status, correlation_confidence, correlation_summary, ' +
    'attack_type, attack_name, sources, context, generated';
  // Alerts arrive roughly in time order, so the fill writes them oldest first, in chunks of FILL_CHUNK.
  const spanMs = 30 * 86_400_000;
  if (store.kind === 'sqlite') {
    const Database = (await import('better-sqlite3')).default;
    const db = new Database(url.slice('sqlite:'.length));
    db.pragma('cache_size = -262144');
    const insert = db.prepare(
      `WITH RECURSIVE n(i) AS (SELECT ? UNION ALL SELECT i + 1 FROM n WHERE i < ?),
       r AS (SELECT i, abs(random()) % 1000000 / 1000000.0 AS r1, abs(random()) % 1000000 / 1000000.0 AS r2,
               abs(random()) % 1000 AS k FROM n)
       INSERT INTO alerts (${cols})
       SELECT printf('f0000000-0000-4000-8000-%012d', i),
         strftime('%Y-%m-%dT%H:%M:%fZ', (${NOW} - ${spanMs} + i * ${spanMs} / ?) / 1000.0, 'unixepoch'),
         ${pickSql('k % 5', FACILITIES)}, ${severity('r1')}, ${pickSql('k % 3', titles)},
         ${pickSql('(k / 3) % 3', descriptions)}, ${status('r2')}, 0.9, 'bulk fill',
         ${pickSql('k % 40', ids)}, ${pickSql('k % 40', names)}, ?, ?, 1
       FROM r`,
    );
    try {
      // alerts has no insert triggers (migration 11): index and count each chunk's rows as insertAlerts does.
      const top = db.prepare('SELECT coalesce(max(rowid), 0) AS m FROM alerts').safeIntegers();
      const index = BULK_INDEX.map((sql) => db.prepare(sql));
      for (let from = 1; from <= count; from += FILL_CHUNK) {
        db.transaction(() => {
          const { m: before } = top.get() as { m: bigint };
          insert.run(from, Math.min(count, from + FILL_CHUNK - 1), count, sources, context);
          for (const s of index) s.run(before);
        })();
        process.stderr.write(`  filled ${Math.min(count, from + FILL_CHUNK - 1)}\n`);
      }
      // The fill bypasses insertAlerts, which keeps the search vocabulary: add the words as migration 3 does.
      db.exec(`CREATE VIRTUAL TABLE temp.fill_vocabulary USING fts5vocab (main, alerts_fts, row);
        INSERT INTO alert_terms (term) SELECT term FROM temp.fill_vocabulary WHERE true ON CONFLICT (term) DO NOTHING;
        DROP TABLE temp.fill_vocabulary;`);
    } finally {
      db.close();
    }
    return;
  }
  const pg = (await import('pg')).default;
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const id = (i: number): string => `f0000000-0000-4000-8000-${String(i).padStart(12, '0')}`;
    for (let from = 1; from <= count; from += FILL_CHUNK) {
      const to = Math.min(count, from + FILL_CHUNK - 1);
      // alerts has no insert triggers (migration 12): the fill gives the search document (the old generated
      // column's expression: the same words for this ASCII text) and counts each chunk's rows as insertAlerts does.
      await client.query('BEGIN');
      await client.query(
        `INSERT INTO alerts (${cols}, search_doc)
         SELECT id, ts, facility_id, severity, title, description, status, correlation_confidence, correlation_summary,
           attack_type, attack_name, sources, context, generated,
           ${POSTGRES_SEARCH_DOCUMENT}
         FROM (SELECT 'f0000000-0000-4000-8000-' || lpad(i::text, 12, '0') AS id,
           to_timestamp((${NOW} - ${spanMs} + i * ${spanMs}::float8 / $3) / 1000.0),
           ${pickSql('k % 5', FACILITIES)}, ${severity('r1')}, ${pickSql('k % 3', titles)},
           ${pickSql('(k / 3) % 3', descriptions)}, ${status('r2')}, 0.9, 'bulk fill',
           ${pickSql('k % 40', ids)}, ${pickSql('k % 40', names)}, $4, $5, true
         FROM (SELECT i, random() AS r1, random() AS r2, floor(random() * 1000)::int AS k
               FROM generate_series($1::int, $2::int) AS i) AS r) AS a (${cols})`,
        [from, to, count, sources, context],
      );
      await client.query(POSTGRES_COUNT_ALERTS, [
        Array.from({ length: to - from + 1 }, (_, k) => id(from + k)),
      ]);
      await client.query('COMMIT');
      process.stderr.write(`  filled ${Math.min(count, from + FILL_CHUNK - 1)}\n`);
    }
    await client.query('VACUUM ANALYZE alerts');
  } finally {
    await client.end();
  }
}

async function timeQuery(run: () => Promise<unknown>): Promise<{ median: number; p95: number }> {
  await run(); // warm caches and plans
  const times: number[] = [];
  for (let i = 0; i < QUERY_REPEATS; i++) {
    const t = performance.now();
    await run();
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  const at = (q: number): number => times[Math.min(times.length - 1, Math.floor(q * times.length))] ?? NaN;
  return { median: at(0.5), p95: at(0.95) };
}

const iso = (ms: number): string => new Date(ms).toISOString();
const QUERIES: [string, AlertQuery | 'stats'][] = [
  ['alertStats()', 'stats'],
  ['list page 1, limit 25, no filter', { page: 1, limit: 25 }],
  ['list page 200, limit 25', { page: 200, limit: 25 }],
  ['severity=critical', { severity: 'critical', page: 1, limit: 25 }],
  ['facility=plant-b & status=new', { facility: 'plant-b', status: 'new', page: 1, limit: 25 }],
  ['time_range=24h', { from: iso(NOW - 86_400_000), page: 1, limit: 25 }],
  [
    'facility=plant-c & severity=high & 7d',
    { facility: 'plant-c', severity: 'high', from: iso(NOW - 7 * 86_400_000), page: 1, limit: 25 },
  ],
  ['search "modbus" (common)', { search: 'modbus', page: 1, limit: 25 }],
  ['search "program download" (less common)', { search: 'program download', page: 1, limit: 25 }],
  [
    'search "write" & facility=plant-b, page 20',
    { search: 'write', facility: 'plant-b', page: 20, limit: 25 },
  ],
];

async function benchStore(name: string, url: string): Promise<string[]> {
  const lines: string[] = [];
  const store = await openStore(url);
  try {
    for (const f of FACILITIES) await store.addFacility({ id: f, name: f });
    const serverCpu = store.kind === 'postgres' ? await postgresCpu(url) : null;
    const full = await insertTimed(store, seeder(1), INSERT_RUN, serverCpu);
    const light = await insertTimed(store, seeder(10), INSERT_RUN, serverCpu);
    lines.push(
      `| ${name} | insert, 60-point timelines (~10 KB JSON/alert) | ${INSERT_RUN} alerts, batches of ${BATCH} | ${insertResult(full)} |`,
      `| ${name} | insert, 6-point timelines (~1.4 KB JSON/alert) | ${INSERT_RUN} alerts, batches of ${BATCH} | ${insertResult(light)} |`,
    );
    process.stderr.write(`${name}: insert ${insertResult(full)} full, ${insertResult(light)} light\n`);
    if (TOTAL === 0) return lines;
    process.stderr.write(`${name}: filling to ${TOTAL}\n`);
    const have = (await store.alertStats()).total;
    const fillStart = performance.now();
    await fillInDatabase(store, url, TOTAL - have);
    lines.push(
      `| ${name} | fill to ${TOTAL} in SQL (not via the store API; indexed and counted as the store does) | ${TOTAL - have} alerts | ${Math.round((performance.now() - fillStart) / 1000)} s |`,
    );
    const stats = await store.alertStats();
    process.stderr.write(`${name}: ${stats.total} alerts; timing queries\n`);
    for (const [label, q] of QUERIES) {
      let total = 0;
      const r = await timeQuery(async () => {
        if (q === 'stats') total = (await store.alertStats()).total;
        else total = (await store.queryAlerts(q)).total;
      });
      lines.push(
        `| ${name} | ${label} at ${stats.total} alerts | total=${total} | median ${r.median.toFixed(2)} ms, p95 ${r.p95.toFixed(2)} ms |`,
      );
    }
  } finally {
    await store.close();
  }
  return lines;
}

const lines: string[] = [];
const dir = mkdtempSync(join(tmpdir(), 'vigil-bench-'));
let pg: TestPostgres | undefined;
try {
  if (STORES.includes('sqlite'))
    lines.push(...(await benchStore('SQLite', `sqlite:${join(dir, 'bench.db')}`)));
  if (STORES.includes('postgres')) {
    pg = await startTestPostgres({ durable: true });
    lines.push(...(await benchStore('Postgres 15', await pg.createDatabase())));
  }
} finally {
  await pg?.close();
  rmSync(dir, { recursive: true, force: true });
}

const cpu = cpus()[0]?.model ?? 'unknown CPU';
const load = loadavg()
  .map((x) => x.toFixed(1))
  .join(', ');
process.stdout.write(
  [
    `Date: ${new Date().toISOString()}; machine: ${cpus().length} cores (${cpu}), ${Math.round(totalmem() / 2 ** 30)} GB RAM, Node ${process.version}; load average at the end: ${load}`,
    '',
    '| store | what | size | result |',
    '| ----- | ---- | ---- | ------ |',
    ...lines,
    '',
  ].join('\n'),
);
