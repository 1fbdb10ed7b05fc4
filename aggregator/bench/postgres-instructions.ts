// Postgres backend instructions per stored alert: a figure that does not move with the load of a shared machine,
// unlike CPU time (at load 10-25 two runs of one build differ by 20 % in server CPU per alert). The server and every
// process it forks run under valgrind's cachegrind (instruction counts only); the link bench's small alerts
// (sampleAlert: the agent's title form, ~0.9 kB of JSON) go in through PostgresStore.insertAlerts in batches of 4,096,
// as the link's batcher sends them. Each measured connection ends by cleaning the GIN pending list
// (gin_clean_pending_list), so the index work an insert defers is counted; autovacuum is off so that no worker takes
// part of it away. A connection that stores 1 batch is subtracted from one that stores 1 + BENCH_BATCHES, which leaves
// out the backend's start-up and first-use costs. User-space instructions only: the kernel's share (WAL and data
// file writes, fsync) is not in them, so the WAL bytes per alert are given beside.
// Run (in aggregator/, needs valgrind): npx tsx bench/postgres-instructions.ts. Compare two builds by running it in
// each. Options: BENCH_BATCHES (2), BENCH_PG_SQL (SQL run after the migrations: a variant of the schema to measure).
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { sampleAlert } from '../src/link/testing/fixtures.js';
import { PostgresStore } from '../src/store/postgres.js';
import { PG_BIN, startTestPostgres } from '../src/store/testing/postgres.js';
import type { StoredAlert } from '../src/store/types.js';

const BATCHES = Number(process.env.BENCH_BATCHES ?? 2);
const SCHEMA_SQL = process.env.BENCH_PG_SQL;
const BATCH = 4096;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The instructions a process executed, from its cachegrind file (written when it exits). */
async function instructions(dir: string, pid: number): Promise<number> {
  const file = join(dir, `cg.${pid}`);
  for (let waited = 0; waited < 60_000; waited += 100) {
    const summary = existsSync(file) ? /^summary: (\d+)/m.exec(readFileSync(file, 'utf8')) : null;
    if (summary?.[1] !== undefined) return Number(summary[1]);
    await sleep(100);
  }
  throw new Error(`no cachegrind summary in ${file}`);
}

interface Phase {
  alerts: number;
  instructions: number;
  walBytes: number;
}

const out = mkdtempSync(join(tmpdir(), 'vigil-pg-instructions-'));
chmodSync(out, 0o777); // the server runs as the postgres user when this runs as root
const wrapper = join(out, 'postgres');
writeFileSync(
  wrapper,
  `#!/bin/sh\nexec valgrind --tool=cachegrind --cache-sim=no --trace-children=yes --cachegrind-out-file=${out}/cg.%p ${join(PG_BIN, 'postgres')} "$@"\n`,
);
chmodSync(wrapper, 0o755);
const server = await startTestPostgres({
  durable: true,
  settings: { autovacuum: 'off' },
  executable: wrapper,
});
let next = 0;
const alerts = (n: number): StoredAlert[] =>
  Array.from({ length: n }, () => ({ ...sampleAlert(next++), facility_id: 'plant-a', generated: false }));

/** Stores `batches` batches on a connection of its own and counts what its backends executed. */
async function phase(url: string, batches: number): Promise<Phase> {
  const store = new PostgresStore({ url, maxConnections: 1 });
  const admin = new pg.Client({ connectionString: url });
  let walBytes: number;
  let pids: number[];
  try {
    await admin.connect();
    const lsn = (await admin.query<{ l: string }>('SELECT pg_current_wal_lsn() AS l')).rows[0]?.l;
    for (let b = 0; b < batches; b++) await store.insertAlerts(alerts(BATCH));
    await admin.query(
      `SELECT gin_clean_pending_list(i.indexrelid) FROM pg_index AS i
       JOIN pg_class AS c ON c.oid = i.indexrelid JOIN pg_am AS m ON m.oid = c.relam
       WHERE m.amname = 'gin' AND i.indrelid = 'alerts'::regclass`,
    );
    const wal = await admin.query<{ d: string }>('SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1) AS d', [
      lsn,
    ]);
    walBytes = Number(wal.rows[0]?.d);
    const backends = await admin.query<{ pid: number }>(
      "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'client backend'",
    );
    pids = backends.rows.map((r) => r.pid);
  } finally {
    // The backends write their counts when they exit.
    await store.close();
    await admin.end();
  }
  let executed = 0;
  for (const pid of pids) executed += await instructions(out, pid);
  return { alerts: batches * BATCH, instructions: executed, walBytes };
}

try {
  const url = await server.createDatabase();
  const store = new PostgresStore({ url });
  await store.migrate();
  await store.addFacility({ id: 'plant-a', name: 'Plant A' });
  await store.close();
  if (SCHEMA_SQL !== undefined) {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    await c.query(SCHEMA_SQL);
    await c.end();
  }
  const one = await phase(url, 1);
  const many = await phase(url, 1 + BATCHES);
  const n = many.alerts - one.alerts;
  process.stdout.write(
    [
      '| alerts measured | backend instructions per alert | WAL bytes per alert |',
      '| --- | --- | --- |',
      `| ${n} | ${Math.round((many.instructions - one.instructions) / n)} | ${Math.round((many.walBytes - one.walBytes) / n)} |`,
      '',
    ].join('\n'),
  );
} finally {
  await server.close();
  rmSync(out, { recursive: true, force: true });
}
