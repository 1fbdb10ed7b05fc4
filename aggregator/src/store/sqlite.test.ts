// What only the SQLite store has to get right beyond the contract suite: alerts has no insert triggers (migration 11),
// the store's insert indexes and counts each batch's new rows itself, so a batch that fails must leave no trace in
// the index or the counters, and the next batch must be indexed and counted whole.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sampleAlert } from '../link/testing/fixtures.js';
import { SqliteStore } from './sqlite.js';
import type { StoredAlert } from './types.js';

const stored = (i: number, over: Partial<StoredAlert> = {}): StoredAlert => ({
  ...sampleAlert(i),
  id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
  facility_id: 'plant-a',
  generated: false,
  ...over,
});

describe('SqliteStore beyond the contract', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-sqlite-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('indexes and counts nothing of a batch that failed, and the next batch whole', async () => {
    const path = join(dir, 'v.db');
    const store = new SqliteStore({ path });
    try {
      await store.migrate();
      await store.insertAlerts([stored(1), stored(2)]);

      await expect(
        store.insertAlerts([stored(3, { title: 'Rolled back' }), stored(4, { timestamp: 'not a time' })]),
      ).rejects.toThrow(/invalid time/);
      await store.insertAlerts([stored(3, { title: 'Stored after all' }), stored(2), stored(5)]);

      const page = (q: object): Promise<number> =>
        store.queryAlerts({ page: 1, limit: 1, ...q }).then((p) => p.total);
      expect((await store.alertStats()).total).toBe(4);
      expect(await page({ facility: 'plant-a', status: 'new' })).toBe(4);
      expect(await page({ search: 'rolled' })).toBe(0);
      expect(await page({ search: 'stored after' })).toBe(1);
      expect(await page({ from: '2020-01-01T00:00:00.000Z', to: '2100-01-01T00:00:00.000Z' })).toBe(4);
    } finally {
      await store.close();
    }
  });
});
