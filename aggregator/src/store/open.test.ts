import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openStore } from './open.js';

describe('openStore', () => {
  let dir: string;
  let cwd: string;
  beforeEach(() => {
    cwd = process.cwd();
    dir = mkdtempSync(join(tmpdir(), 'vigil-open-'));
    process.chdir(dir);
  });
  afterEach(() => {
    process.chdir(cwd);
    rmSync(dir, { recursive: true, force: true });
  });

  it('opens sqlite::memory: as a private in-memory database and writes no file', async () => {
    const first = await openStore('sqlite::memory:');
    const second = await openStore('sqlite::memory:');
    try {
      await first.addFacility({ id: 'plant-a', name: 'Plant A' });

      const seenByFirst = await first.listFacilities();
      const seenBySecond = await second.listFacilities();

      expect(seenByFirst.map((f) => f.id)).toEqual(['plant-a']);
      expect(seenBySecond).toEqual([]);
      expect(readdirSync(dir)).toEqual([]);
    } finally {
      await first.close();
      await second.close();
    }
  });
});
