// What only the SQLite store has to get right beyond the contract suite: its alert insert switches the per-row index
// and counter triggers off for its own batch (migration 11) and must leave them on for every other writer, also when
// the batch fails.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sampleAlert } from '../link/testing/fixtures.js';
import { SqliteStore } from './sqlite.js';
import type { StoredAlert } from './types.js';

const stored = (i: number, over: Partial<StoredAlert> = {}): StoredAlert => ({
  ...sampleAlert(i),
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

  it('leaves the per-row triggers on for other writers after a batch, and after a batch that failed', async () => {
    const path = join(dir, 'v.db');
    const store = new SqliteStore({ path });
    const raw = new Database(path);
    try {
      await store.migrate();
      await store.insertAlerts([stored(1), stored(2)]);
      await expect(store.insertAlerts([stored(3), stored(4, { timestamp: 'not a time' })])).rejects.toThrow(
        /invalid time/,
      );
      const other = stored(5, { title: 'Inserted by another writer' });

      raw
        .prepare(
          `INSERT INTO alerts (id, ts, facility_id, severity, title, description, status, correlation_confidence,
           correlation_summary, attack_type, attack_name, sources, context, generated)
           VALUES (?, ?, ?, ?, ?, ?, 'new', 0.5, '', 'T0846', 'Remote System Discovery', '[]', '{}', 0)`,
        )
        .run(other.id, other.timestamp, other.facility_id, other.severity, other.title, other.description);

      expect(raw.prepare('SELECT bulk FROM alert_insert_mode').all()).toEqual([{ bulk: 0 }]);
      expect((await store.alertStats()).total).toBe(3);
      const page = (q: object): Promise<number> =>
        store.queryAlerts({ page: 1, limit: 1, ...q }).then((p) => p.total);
      expect(await page({ facility: 'plant-a', status: 'new' })).toBe(3);
      expect(await page({ search: 'another writer' })).toBe(1);
      expect(await page({ from: '2020-01-01T00:00:00.000Z', to: '2100-01-01T00:00:00.000Z' })).toBe(3);
    } finally {
      raw.close();
      await store.close();
    }
  });
});
