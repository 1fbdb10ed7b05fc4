// What only the Postgres store has to survive: its server going away under it. A connection the server closes while
// the store holds it (checked out of the pool) must fail that call, never crash the process, and the next call must
// reconnect.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { needComponent } from '@vigil/shared/testing';
import { PostgresStore } from './postgres.js';
import {
  PG_INSTALL_HINT,
  postgresAvailable,
  startTestPostgres,
  type TestPostgres,
} from './testing/postgres.js';

/** The key migrate() serialises on (see postgres.ts): holding it elsewhere parks a migration inside its transaction. */
const MIGRATION_LOCK = 0x76_69_67_69;

describe.runIf(needComponent('PostgreSQL server', postgresAvailable(), PG_INSTALL_HINT))(
  'PostgresStore when the server drops its connections',
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
async function waitForBlockedBackend(admin: pg.Client): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const r = await admin.query<{ pid: number }>(
      `SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%pg_advisory_xact_lock%'`,
    );
    const pid = r.rows[0]?.pid;
    if (pid !== undefined) return pid;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error('the migration never waited on the lock');
}
