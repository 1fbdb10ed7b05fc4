// openStore(url): the one way the aggregator opens its database. `sqlite:PATH` or `postgres://...` (see config.ts);
// the store is migrated before it is returned, so a new database is created and brought up to date on first use.
import type { Worker } from 'node:worker_threads';
import type { Clock } from '@vigil/shared';
import { parseDbUrl } from '../config.js';
import { createPostgresDatabase, isMissingDatabase, PostgresStore } from './postgres.js';
import { SqliteStore } from './sqlite.js';
import type { Store } from './types.js';

export interface OpenStoreOptions {
  clock?: Clock;
  /** Apply pending migrations before returning (default true). */
  migrate?: boolean;
  /** Told which migration versions were applied on opening (empty when the schema was up to date). */
  onMigrated?: (applied: number[]) => void;
  /** Postgres only: told when the server drops a connection (the call using it fails; the next one reconnects). */
  onConnectionError?: (err: Error) => void;
  /** SQLite only: told of each alert writer thread the store starts (tests stop one to show what a crash does). */
  onWriterStart?: (worker: Worker) => void;
}

/**
 * Opens (creating when new) and migrates the store `url` names. Throws UsageError for a malformed url and
 * StoreUnavailableError when the database cannot be reached.
 */
export async function openStore(url: string, options: OpenStoreOptions = {}): Promise<Store> {
  const target = parseDbUrl(url);
  if (target.kind === 'sqlite') {
    return prepared(
      new SqliteStore({ path: target.path, clock: options.clock, onWriterStart: options.onWriterStart }),
      options,
    );
  }
  try {
    return await prepared(
      new PostgresStore({
        url: target.url,
        clock: options.clock,
        onConnectionError: options.onConnectionError,
      }),
      options,
    );
  } catch (err) {
    if (options.migrate === false || !isMissingDatabase(err)) throw err;
    // A new Postgres database is created like a new SQLite file, when the role may create databases.
    await createPostgresDatabase(target.url);
    return prepared(
      new PostgresStore({
        url: target.url,
        clock: options.clock,
        onConnectionError: options.onConnectionError,
      }),
      options,
    );
  }
}

async function prepared(store: Store, options: OpenStoreOptions): Promise<Store> {
  try {
    if (options.migrate === false) await store.ping();
    else {
      const applied = await store.migrate();
      options.onMigrated?.(applied);
    }
    return store;
  } catch (err) {
    await store.close();
    throw err;
  }
}
