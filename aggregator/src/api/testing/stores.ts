// The two stores the API contract runs on: SQLite in a temp dir and a real throwaway Postgres.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { needComponent } from '@vigil/shared/testing';
import { openStore } from '../../store/open.js';
import {
  PG_INSTALL_HINT,
  postgresAvailable,
  startTestPostgres,
  type TestPostgres,
} from '../../store/testing/postgres.js';
import type { Store } from '../../store/types.js';

export interface StoreHarness {
  readonly kind: 'sqlite' | 'postgres';
  /** False (locally) when the backing database cannot run here; under CI a missing one throws. */
  available(): boolean;
  /** A fresh, migrated, empty store. */
  open(): Promise<Store>;
  /** The Postgres server (postgres harness only), to stop and start it. */
  readonly server?: TestPostgres;
  close(): Promise<void>;
}

export function sqliteHarness(): StoreHarness {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-api-'));
  let n = 0;
  return {
    kind: 'sqlite',
    available: () => true,
    open: () => openStore(`sqlite:${join(dir, `api-${n++}.db`)}`),
    close: () => {
      rmSync(dir, { recursive: true, force: true });
      return Promise.resolve();
    },
  };
}

export async function postgresHarness(): Promise<StoreHarness> {
  const ok = needComponent('PostgreSQL', postgresAvailable(), PG_INSTALL_HINT);
  const server = ok ? await startTestPostgres() : undefined;
  return {
    kind: 'postgres',
    available: () => ok,
    server,
    open: async () => {
      if (server === undefined) throw new Error('PostgreSQL is not available');
      return openStore(await server.createDatabase());
    },
    close: async () => {
      await server?.close();
    },
  };
}
