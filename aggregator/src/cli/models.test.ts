// `vigil models` as a user runs it: the built binary against a real SQLite store holding two model versions.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { GLOBAL_MODEL, ModelRegistry } from '../fl/registry.js';
import { localModel, modelArrays } from '../fl/testing/local-fleet.js';
import { openStore } from '../store/open.js';

const BIN = fileURLToPath(new URL('../../bin/vigil.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'vigil-models-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function vigil(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { env: { ...process.env, VIGIL_DATA_DIR: '' }, timeout: 60_000 },
      (err, stdout, stderr) =>
        resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr }),
    );
  });
}

describe('vigil models', () => {
  it('lists versions with the active one marked, rolls back, and refuses an unknown or undescribed version', async () => {
    const db = `sqlite:${join(dir, 'models.db')}`;
    const store = await openStore(db);
    const registry = new ModelRegistry(store);
    // a version stored before models carried a description (agents refuse it)
    const v0 = await registry.save({
      name: GLOBAL_MODEL,
      arrays: modelArrays(localModel(3)),
      roundId: null,
      accuracy: 0.5,
    });
    const v1 = await registry.save({
      name: GLOBAL_MODEL,
      arrays: modelArrays(localModel(1)),
      roundId: null,
      accuracy: 0.61,
      meta: { kind: 'test-model' },
    });
    const v2 = await registry.save({
      name: GLOBAL_MODEL,
      arrays: modelArrays(localModel(2)),
      roundId: null,
      accuracy: 0.72,
      meta: { kind: 'test-model' },
    });
    await store.close();

    const before = await vigil(['models', 'list', '--db', db]);
    const rollback = await vigil(['models', 'rollback', '--to', `v${v1.version}`, '--db', db]);
    const after = await vigil(['models', 'list', '--db', db, '--json']);
    const unknown = await vigil(['models', 'rollback', '--to', '99', '--db', db]);
    const missing = await vigil(['models', 'rollback', '--db', db]);
    const undescribed = await vigil(['models', 'rollback', '--to', String(v0.version), '--db', db]);

    expect(before.code).toBe(0);
    expect(before.stdout.split('\n')[0]).toMatch(
      new RegExp(`^\\* v${v2.version}  fl-global  round -  accuracy 0\\.7200  58 parameters`),
    );
    expect(before.stdout.split('\n')[1]).toMatch(new RegExp(`^  v${v1.version}  fl-global`));
    expect(rollback.code).toBe(0);
    expect(rollback.stdout).toContain(`fl-global v${v1.version} is active again`);
    const listed = JSON.parse(after.stdout) as { version: number; active: boolean }[];
    expect(listed.map((m) => [m.version, m.active])).toEqual([
      [v2.version, false],
      [v1.version, true],
      [v0.version, false],
    ]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('there is no model version 99');
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('--to VERSION is required');
    expect(undescribed.code).toBe(2);
    expect(undescribed.stderr).toContain(
      `model version ${v0.version} was stored before models carried a description (kind, feature schemas)`,
    );
  });
});
