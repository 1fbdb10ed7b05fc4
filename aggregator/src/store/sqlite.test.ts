import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AlertSeeder } from '../seed/generate.js';
import { shippedCatalog } from '@vigil/shared';
import { openStore } from './open.js';
import type { Store } from './types.js';

describe('SQLite search index upkeep', () => {
  let dir: string;
  let store: Store;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-sqlite-'));
    store = await openStore(`sqlite:${join(dir, 'a.db')}`);
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const segments = (): number => {
    const db = new Database(join(dir, 'a.db'), { readonly: true });
    try {
      return (db.prepare('SELECT count(DISTINCT segid) AS n FROM alerts_fts_idx').get() as { n: number }).n;
    } finally {
      db.close();
    }
  };

  it('merges the segments that batches of inserts leave into one', async () => {
    const seeder = new AlertSeeder({
      facilities: ['plant-a', 'plant-b'],
      nowMs: Date.parse('2026-11-01T00:00:00Z'),
      spanSeconds: 86_400,
      seed: 7,
      catalog: shippedCatalog(),
      timelineStepSeconds: 10,
    });
    for (let i = 0; i < 6; i++) await store.insertAlerts(seeder.batch(500));
    const before = segments();

    await store.compactSearchIndex();

    expect(before).toBeGreaterThan(1);
    expect(segments()).toBe(1);
  });
});
