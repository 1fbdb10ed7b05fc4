// What only the Postgres store has to get right beyond the contract suite: its server going away under it (a
// connection the server closes while the store holds it, checked out of the pool, must fail that call, never crash
// the process, and the next call must reconnect), other writers storing the same alerts at the same moment, and
// batches that span several chunks of its binary COPY stream.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { shippedCatalog } from '@vigil/shared';
import { needComponent } from '@vigil/shared/testing';
import { AlertSeeder } from '../seed/generate.js';
import { POSTGRES_COUNT_ALERTS, PostgresStore } from './postgres.js';
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
