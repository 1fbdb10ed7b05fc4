// openStore(url): the one way the aggregator opens its database. `sqlite:PATH` or `postgres://...` (see config.ts);
// the store is migrated before it is returned, so a new database is created and brought up to date on first use.
import type { Clock } from '@vigil/shared';
import { parseDbUrl } from '../config.js';
import { PostgresStore } from './postgres.js';
import { SqliteStore } from './sqlite.js';
import type { Store } from './types.js';

export interface OpenStoreOptions {
  clock?: Clock;
  /** Apply pending migrations before returning (default true). */
  migrate?: boolean;
}

/** Opens (creating when new) and migrates the store `url` names. Throws UsageError for a malformed url. */
export async function openStore(url: string, options: OpenStoreOptions = {}): Promise<Store> {
  const target = parseDbUrl(url);
  const store: Store =
    target.kind === 'sqlite'
      ? new SqliteStore({ path: target.path, clock: options.clock })
      : new PostgresStore({ url: target.url, clock: options.clock });
  if (options.migrate !== false) {
    try {
      await store.migrate();
    } catch (err) {
      await store.close();
      throw err;
    }
  }
  return store;
}
