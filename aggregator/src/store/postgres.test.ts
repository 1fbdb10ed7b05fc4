// What only the Postgres store has to get right beyond the contract suite: its server going away under it (a
// connection the server closes while the store holds it, checked out of the pool, must fail that call, never crash
// the process, and the next call must reconnect), other writers storing the same alerts at the same moment,
// batches that span several chunks of its binary COPY stream, and a database whose alerts were written before the
// store kept the search document and the counters itself (migration 12), and one written before the severity and
// status indexes went (migration 13).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { shippedCatalog } from '@vigil/shared';
import { needComponent } from '@vigil/shared/testing';
import { AlertSeeder } from '../seed/generate.js';
import { POSTGRES_SEARCH_DOCUMENT } from './migrations/001-initial.js';
import { postgresBulkAlertInsert } from './migrations/012-postgres-bulk-alert-insert.js';
import { postgresAlertFilterIndexes } from './migrations/013-postgres-alert-filter-indexes.js';
import { MIGRATIONS } from './migrations/index.js';
import { POSTGRES_COUNT_ALERTS, PostgresStore, alertSearchWords } from './postgres.js';
import type { AlertQuery, StoredAlert } from './types.js';
import {
  PG_INSTALL_HINT,
  postgresAvailable,
  startTestPostgres,
  type TestPostgres,
} from './testing/postgres.js';

/** The key migrate() serialises on (see postgres.ts): holding it elsewhere parks a migration inside its transaction. */
const MIGRATION_LOCK = 0x76_69_67_69;

describe.runIf(needComponent('PostgreSQL server', postgresAvailable(), PG_INSTALL_HINT))(
  'PostgresStore beyond the contract',
  () => {
    let server: TestPostgres;
    beforeAll(async () => {
      server = await startTestPostgres();
    });
    afterAll(async () => {
      await server.close();
    });

    it('fails the call of a connection killed inside a transaction, reports it, and reconnects', async () => {
      const url = await server.createDatabase();
      const lost: Error[] = [];
      const store = new PostgresStore({ url, onConnectionError: (err) => lost.push(err) });
      const admin = new pg.Client({ connectionString: url });
      await admin.connect();
      try {
        await admin.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
        const migrating = store.migrate();
        const settled = migrating.then(
          () => null,
          (err: unknown) => err,
        );
        const pid = await waitForBlockedBackend(admin);

        await admin.query('SELECT pg_terminate_backend($1)', [pid]);
        const err = await settled;
        await admin.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]);
        // Give the dead socket's 'end' (which the driver emits as an 'error' event) time to arrive.
        await new Promise((resolve) => setTimeout(resolve, 200));

        expect(err).toBeInstanceOf(Error);
        expect(lost.map((e) => e.message).join('\n')).toMatch(/terminat/);
        expect(await store.migrate()).not.toHaveLength(0);
        await expect(store.ping()).resolves.toBeUndefined();
      } finally {
        await admin.end();
        await store.close();
      }
    });

    it('stores a batch larger than one COPY chunk exactly as given', async () => {
      const url = await server.createDatabase();
      const store = new PostgresStore({ url });
      await store.migrate();
      // 60-point context timelines, ~11 kB of JSON each: 300 alerts span several of the binary COPY's 1 MB chunks.
      const alerts = new AlertSeeder({
        facilities: ['plant-a', 'plant-b'],
        nowMs: Date.parse('2026-03-01T12:00:00Z'),
        spanSeconds: 86_400,
        seed: 11,
        catalog: shippedCatalog(),
        timelineStepSeconds: 1,
      }).batch(300);
      try {
        const inserted = await store.insertAlerts(alerts);
        const read = await Promise.all(alerts.map((a) => store.getAlert(a.id)));

        expect(inserted).toBe(300);
        expect(read).toEqual(alerts);
      } finally {
        await store.close();
      }
    });

    it("sends each alert's search words in the server's lexeme order, whatever the script", async () => {
      const url = await server.createDatabase();
      const store = new PostgresStore({ url });
      await store.migrate();
      const admin = new pg.Client({ connectionString: url });
      await admin.connect();
      const [sample] = new AlertSeeder({
        facilities: ['plant-a'],
        nowMs: Date.parse('2026-03-01T12:00:00Z'),
        spanSeconds: 60,
        seed: 13,
        catalog: shippedCatalog(),
        timelineStepSeconds: 10,
      }).batch(1);
      if (sample === undefined) throw new Error('the seeder gave no alert');
      // Words that JavaScript's string order and the server's byte order put differently (a code point above U+FFFF
      // against one in U+E000-U+FFFF), prefixes of each other, digits, and a word in both title and description.
      const alert: StoredAlert = {
        ...sample,
        title: 'Write 𝐀𝐛c ｚeta ab abc 10 9 ﬀ',
        description: 'write zeta Ωmega дверь 𝐀b 100',
        attack_name: 'Modify Parameter',
      };
      try {
        await store.insertAlerts([alert]);
        const stored = await admin.query<{ words: string[] }>(
          'SELECT tsvector_to_array(search_doc) AS words FROM alerts WHERE id = $1',
          [alert.id],
        );

        expect(alertSearchWords(alert)).toEqual(stored.rows[0]?.words);
      } finally {
        await admin.end();
        await store.close();
      }
    });

    it('upgrades a database written through the per-row triggers: old and new alerts found alike, every counter equal to a recount', async () => {
      const url = await server.createDatabase();
      const admin = new pg.Client({ connectionString: url });
      await admin.connect();
      const seeder = new AlertSeeder({
        facilities: ['plant-a', 'plant-b', 'plant-c'],
        nowMs: Date.parse('2026-03-01T12:00:00Z'),
        spanSeconds: 6 * 3600,
        seed: 12,
        catalog: shippedCatalog(),
        timelineStepSeconds: 10,
      });
      const old = seeder.batch(150);
      const fresh = seeder.batch(150);
      const store = new PostgresStore({ url });
      const recount = async (): Promise<unknown[][]> =>
        Promise.all(
          [
            [
              'SELECT facility_id, severity, status, n FROM alert_counts WHERE n <> 0 ORDER BY 1, 2, 3',
              'SELECT facility_id, severity, status, count(*) AS n FROM alerts GROUP BY 1, 2, 3 ORDER BY 1, 2, 3',
            ],
            [
              'SELECT hour, facility_id, severity, status, n FROM alert_hour_counts WHERE n <> 0 ORDER BY 1, 2, 3, 4',
              `SELECT date_trunc('hour', ts, 'UTC') AS hour, facility_id, severity, status, count(*) AS n FROM alerts
               GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4`,
            ],
            [
              'SELECT term, facility_id, n FROM alert_term_counts WHERE n <> 0 ORDER BY term COLLATE "C", facility_id',
              `SELECT w.term, a.facility_id, count(*) AS n FROM alerts AS a, unnest(tsvector_to_array(a.search_doc)) AS w (term)
               GROUP BY 1, 2 ORDER BY w.term COLLATE "C", a.facility_id`,
            ],
          ].map(async ([kept, counted]) => [
            (await admin.query(kept ?? '')).rows,
            (await admin.query(counted ?? '')).rows,
          ]),
        );
      try {
        // The schema before migration 12, applied as migrate() does, and rows written as its store did: the search
        // document generated, the counters kept by the insert triggers.
        await admin.query(
          'CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL)',
        );
        for (const m of MIGRATIONS.filter((m) => m.version < postgresBulkAlertInsert.version)) {
          await admin.query(m.postgres);
          await admin.query('INSERT INTO schema_migrations VALUES ($1, $2, now())', [m.version, m.name]);
        }
        await admin.query(
          `INSERT INTO alerts (id, ts, facility_id, severity, title, description, status, correlation_confidence,
             correlation_summary, attack_type, attack_name, sources, context)
           SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
             $8::float8[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[])`,
          [
            old.map((a) => a.id),
            old.map((a) => a.timestamp),
            old.map((a) => a.facility_id),
            old.map((a) => a.severity),
            old.map((a) => a.title),
            old.map((a) => a.description),
            old.map((a) => a.status),
            old.map((a) => a.correlation_confidence),
            old.map((a) => a.correlation_summary),
            old.map((a) => a.attack_type),
            old.map((a) => a.attack_name),
            old.map((a) => JSON.stringify(a.sources)),
            old.map((a) => JSON.stringify(a.context_analysis)),
          ],
        );

        const applied = await store.migrate();
        const inserted = await store.insertAlerts([...old.slice(0, 10), ...fresh]);
        await store.setAlertStatus(old[0]?.id ?? '', 'resolved');
        await store.setAlertStatus(fresh[0]?.id ?? '', 'false-positive');
        const counters = await recount();
        const documents = await admin.query<{ differ: string }>(
          `SELECT count(*) AS differ FROM alerts WHERE strip(search_doc) <> strip(${POSTGRES_SEARCH_DOCUMENT})`,
        );
        const found = async (a: (typeof old)[number] | undefined): Promise<string[]> =>
          (await store.queryAlerts({ search: a?.title ?? '', page: 1, limit: 100 })).items.map((x) => x.id);

        expect(applied).toEqual(
          MIGRATIONS.filter((m) => m.version >= postgresBulkAlertInsert.version).map((m) => m.version),
        );
        expect(inserted).toBe(150);
        expect((await store.alertStats()).total).toBe(300);
        for (const [kept, counted] of counters) expect(kept).toEqual(counted);
        // The store's words are the words Postgres's parser made of this text: old and new documents alike.
        expect(documents.rows[0]?.differ).toBe('0');
        expect(await found(old[5])).toContain(old[5]?.id);
        expect(await found(fresh[5])).toContain(fresh[5]?.id);
      } finally {
        await admin.end();
        await store.close();
      }
    });

    it('upgrades a database written at schema 12: without the severity and status indexes, filtered pages and totals are the same', async () => {
      const url = await server.createDatabase();
      const admin = new pg.Client({ connectionString: url });
      await admin.connect();
      const nowMs = Date.parse('2026-03-01T12:00:00Z');
      const alerts = new AlertSeeder({
        facilities: ['plant-a', 'plant-b', 'plant-c'],
        nowMs,
        spanSeconds: 3 * 86_400,
        seed: 13,
        catalog: shippedCatalog(),
        timelineStepSeconds: 10,
      }).batch(600);
      const store = new PostgresStore({ url });
      const hoursAgo = (h: number): string => new Date(nowMs - h * 3_600_000).toISOString();
      const queries: AlertQuery[] = [
        { severity: 'critical', page: 1, limit: 20 },
        { status: 'resolved', page: 3, limit: 25 },
        { facility: 'plant-b', status: 'new', page: 1, limit: 10 },
        { facility: 'plant-a', severity: 'high', from: hoursAgo(40), to: hoursAgo(2.5), page: 2, limit: 5 },
        { severity: 'low', status: 'false-positive', page: 1, limit: 50 },
        { severity: 'medium', page: 400, limit: 50 },
        { search: 'modbus', severity: 'high', page: 1, limit: 10 },
        { search: 'write', facility: 'plant-c', status: 'acknowledged', page: 1, limit: 10 },
      ];
      // What each query must answer, from the alerts themselves: newest first, ties by id.
      const expected = (q: AlertQuery, stored: readonly StoredAlert[]): { ids: string[]; total: number } => {
        const words = (q.search ?? '')
          .toLowerCase()
          .split(/\s+/)
          .filter((w) => w !== '');
        const all = stored
          .filter(
            (a) =>
              (q.severity === undefined || a.severity === q.severity) &&
              (q.status === undefined || a.status === q.status) &&
              (q.facility === undefined || a.facility_id === q.facility) &&
              (q.from === undefined || a.timestamp >= q.from) &&
              (q.to === undefined || a.timestamp < q.to) &&
              words.every((w) => alertSearchWords(a).some((x) => x.startsWith(w))),
          )
          .sort((x, y) =>
            x.timestamp === y.timestamp ? (x.id < y.id ? 1 : -1) : x.timestamp < y.timestamp ? 1 : -1,
          );
        const start = (q.page - 1) * q.limit;
        return { ids: all.slice(start, start + q.limit).map((a) => a.id), total: all.length };
      };
      const answers = async (): Promise<{ ids: string[]; total: number }[]> =>
        Promise.all(
          queries.map(async (q) => {
            const page = await store.queryAlerts(q);
            return { ids: page.items.map((a) => a.id), total: page.total };
          }),
        );
      const indexes = async (): Promise<string[]> =>
        (
          await admin.query<{ indexname: string }>(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'alerts' ORDER BY indexname",
          )
        ).rows.map((r) => r.indexname);
      try {
        await admin.query(
          'CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL)',
        );
        for (const m of MIGRATIONS.filter((m) => m.version < postgresAlertFilterIndexes.version)) {
          await admin.query(m.postgres);
          await admin.query('INSERT INTO schema_migrations VALUES ($1, $2, now())', [m.version, m.name]);
        }
        // Written by the store at schema 12 (its insert path is the same on both), then handled on the dashboard.
        await store.insertAlerts(alerts);
        const stored = await Promise.all(
          alerts.map(async (a, i) =>
            i % 7 === 0 ? ((await store.setAlertStatus(a.id, 'acknowledged')) ?? a) : a,
          ),
        );
        const before = await indexes();

        const applied = await store.migrate();
        await admin.query('VACUUM ANALYZE alerts');
        const after = await answers();

        expect(applied).toEqual([postgresAlertFilterIndexes.version]);
        expect(before).toEqual(expect.arrayContaining(['alerts_severity_ts', 'alerts_status_ts']));
        expect(await indexes()).toEqual(
          before.filter((name) => name !== 'alerts_severity_ts' && name !== 'alerts_status_ts'),
        );
        expect(after).toEqual(queries.map((q) => expected(q, stored)));
        // Every query has something to find except the page past the end.
        expect(after.filter((a) => a.ids.length === 0)).toHaveLength(1);
      } finally {
        await admin.end();
        await store.close();
      }
    });

    it('stores each alert once when another writer commits some of the same ids during the insert', async () => {
      const url = await server.createDatabase();
      const store = new PostgresStore({ url });
      await store.migrate();
      const alerts = new AlertSeeder({
        facilities: ['plant-a'],
        nowMs: Date.parse('2026-03-01T12:00:00Z'),
        spanSeconds: 3600,
        seed: 3,
        catalog: shippedCatalog(),
        timelineStepSeconds: 10,
      }).batch(6);
      const rival = new PostgresStore({ url });
      const admin = new pg.Client({ connectionString: url });
      await admin.connect();
      try {
        // The rival's transaction holds two of the ids uncommitted: the store's look-up does not see them, and its
        // COPY then waits on them in the primary key until the rival commits (a unique violation).
        await admin.query('BEGIN');
        // A rival writes rows as the store does: with their search document, counted in the same transaction.
        await admin.query(
          `INSERT INTO alerts (id, ts, facility_id, severity, title, description, status, correlation_confidence,
             correlation_summary, attack_type, attack_name, sources, context, search_doc)
           SELECT id, now(), 'plant-a', 'low', 'rival', '', 'new', 0, '', '', '', '[]', '{}', 'rival'::tsvector
           FROM unnest($1::text[]) AS id`,
          [[alerts[1]?.id, alerts[4]?.id]],
        );
        await admin.query(POSTGRES_COUNT_ALERTS, [[alerts[1]?.id, alerts[4]?.id]]);
        const inserting = store.insertAlerts(alerts);
        await waitForBlocked(admin, 'COPY alerts');
        await admin.query('COMMIT');
        const inserted = await inserting;
        const again = await rival.insertAlerts(alerts);
        const rows = await admin.query<{ id: string; title: string }>(
          'SELECT id, title FROM alerts ORDER BY id',
        );

        expect(inserted).toBe(4);
        expect(again).toBe(0);
        expect(rows.rows).toHaveLength(6);
        expect(rows.rows.filter((r) => r.title === 'rival').map((r) => r.id)).toEqual(
          [alerts[1]?.id, alerts[4]?.id].sort(),
        );
        expect((await store.alertStats()).total).toBe(6);
      } finally {
        await admin.end();
        await rival.close();
        await store.close();
      }
    });

    it('survives the server stopping while idle and checked-out connections are open, and recovers', async () => {
      const url = await server.createDatabase();
      const store = new PostgresStore({ url });
      const admin = new pg.Client({ connectionString: url });
      // The test's own lock-holding connection dies with the server too.
      admin.on('error', () => undefined);
      await store.migrate();
      await admin.connect();
      try {
        await admin.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
        // Several calls at once leave several pool connections open; one is parked in a transaction.
        await Promise.all([store.ping(), store.ping(), store.ping()]);
        const parked = store.migrate().then(
          () => null,
          (err: unknown) => err,
        );
        await waitForBlockedBackend(admin);

        await server.stop();
        const err = await parked;
        await expect(store.ping()).rejects.toThrow(/Postgres/);
        await server.start();

        expect(err).toBeInstanceOf(Error);
        await expect(store.ping()).resolves.toBeUndefined();
      } finally {
        await admin.end().catch(() => undefined);
        await store.close();
      }
    });
  },
);

/** The pid of the backend waiting on the migration lock, once it waits. */
function waitForBlockedBackend(admin: pg.Client): Promise<number> {
  return waitForBlocked(admin, 'pg_advisory_xact_lock');
}

/** The pid of the backend whose query contains `query` once it waits on a lock. */
async function waitForBlocked(admin: pg.Client, query: string): Promise<number> {
  for (let i = 0; i < 200; i++) {
    // Inside a transaction the activity view is read once and cached unless the snapshot is cleared.
    await admin.query('SELECT pg_stat_clear_snapshot()');
    const r = await admin.query<{ pid: number }>(
      `SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND strpos(query, $1) > 0`,
      [query],
    );
    const pid = r.rows[0]?.pid;
    if (pid !== undefined) return pid;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`no query with ${query} waited on a lock`);
}
