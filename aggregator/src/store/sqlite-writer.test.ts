// The writer thread's queue: batches that arrive while the thread holds two go to it merged into one transaction (one
// commit for many agents' small batches), and each caller still learns which of its own alerts were new.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { sampleAlert } from '../link/testing/fixtures.js';
import { alertRowValues, batchWords } from './sqlite-alert-insert.js';
import { AlertWriterThread } from './sqlite-writer.js';
import { SqliteStore } from './sqlite.js';
import type { StoredAlert } from './types.js';

let dir: string;
let path: string;
let reader: Database.Database;
beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'vigil-writer-'));
  path = join(dir, 'v.db');
  const store = new SqliteStore({ path });
  await store.migrate();
  await store.close();
  reader = new Database(path);
});
afterEach(() => {
  reader.close();
  rmSync(dir, { recursive: true, force: true });
});

const alert = (i: number): StoredAlert => ({
  ...sampleAlert(i),
  id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
  facility_id: 'plant-a',
  generated: false,
});

it('merges the batches waiting for the thread into one transaction, each caller told its own new alerts', async () => {
  const writer = new AlertWriterThread(path, {
    top: () =>
      (
        reader.prepare('SELECT coalesce(max(rowid), 0) AS m FROM alerts').safeIntegers().get() as {
          m: bigint;
        }
      ).m,
    rowids: (ids) =>
      new Map(
        (
          reader
            .prepare('SELECT id, rowid AS r FROM alerts WHERE id IN (SELECT value FROM json_each(?))')
            .safeIntegers()
            .all(JSON.stringify(ids)) as { id: string; r: bigint }[]
        ).map((x) => [x.id, x.r]),
      ),
  });
  // 60 agents' batches of 3 in one turn; batch k repeats the last alert of batch k - 1 (a resend)
  const batches = Array.from({ length: 60 }, (_, k) => [alert(2 * k), alert(2 * k + 1), alert(2 * k + 2)]);

  const fresh = await Promise.all(batches.map((b) => writer.insert(b.map(alertRowValues), batchWords(b))));
  await writer.close();

  expect(fresh).toEqual(batches.map((b, k) => (k === 0 ? b : b.slice(1)).map((a) => a.id)));
  expect(writer.transactions).toBeLessThan(10);
  expect((reader.prepare('SELECT count(*) AS n FROM alerts').get() as { n: number }).n).toBe(121);
  const counted = reader.prepare('SELECT sum(n) AS n FROM alert_counts').get() as { n: number };
  expect(counted.n).toBe(121);
});
