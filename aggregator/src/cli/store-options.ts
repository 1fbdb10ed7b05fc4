// The `--db` and `--data-dir` options every store command takes, and opening the store they name: created and
// migrated when new; an unreachable or unusable database becomes a UsageError (one line, exit code 2).
import type { Command } from 'commander';
import { UsageError } from '@vigil/shared';
import { defaultDbUrl, redactDbUrl, resolveDataDir } from '../config.js';
import { openStore, type OpenStoreOptions } from '../store/open.js';
import { StoreUnavailableError, type Store } from '../store/types.js';

export interface StoreFlags {
  db?: string;
  dataDir?: string;
}

export function addStoreOptions(cmd: Command): Command {
  return cmd
    .option(
      '--db <url>',
      'database: sqlite:PATH or postgres://USER:PASSWORD@HOST:PORT/DATABASE (default: vigil.db in the data directory)',
    )
    .option('--data-dir <dir>', 'data directory (default: $VIGIL_DATA_DIR, else ./.vigil)');
}

/** The database URL the flags name. */
export function dbUrlFrom(flags: StoreFlags): string {
  return flags.db ?? defaultDbUrl(resolveDataDir(flags.dataDir));
}

/** Opens the store the flags name, runs `fn`, and closes the store whatever happens. */
export async function withStore<T>(
  flags: StoreFlags,
  fn: (store: Store, url: string) => Promise<T>,
  options: OpenStoreOptions = {},
): Promise<T> {
  const url = dbUrlFrom(flags);
  let store: Store;
  try {
    store = await openStore(url, options);
  } catch (err) {
    if (err instanceof StoreUnavailableError) {
      throw new UsageError(
        `${err.message}; check that the database in --db ${redactDbUrl(url)} exists and is reachable, ` +
          'or pass --db sqlite:PATH',
      );
    }
    throw err;
  }
  try {
    return await fn(store, url);
  } finally {
    await store.close();
  }
}
