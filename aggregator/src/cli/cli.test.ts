// The built `vigil` binary, run as a user runs it: store commands against a real SQLite file (and Postgres).
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isUuid, shippedCatalog } from '@vigil/shared';
import { needComponent } from '@vigil/shared/testing';
import { MIGRATIONS } from '../store/migrations/index.js';
import { openStore } from '../store/open.js';
import {
  PG_INSTALL_HINT,
  postgresAvailable,
  startTestPostgres,
  type TestPostgres,
} from '../store/testing/postgres.js';
import { hashTokenSecret } from '../store/token-secret.js';

const BIN = fileURLToPath(new URL('../../bin/vigil.js', import.meta.url));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function vigil(args: string[], env: Record<string, string> = {}, cwd?: string): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { env: { ...process.env, VIGIL_DATA_DIR: '', ...env }, cwd, timeout: 120_000 },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

let dir: string;
let db: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'vigil-cli-'));
  db = `sqlite:${join(dir, 'cli.db')}`;
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('vigil CLI', () => {
  it('lists its commands under --help and exits 0', async () => {
    const r = await vigil(['--help']);

    expect(r.code).toBe(0);
    for (const c of ['migrate', 'tokens', 'facilities', 'seed']) expect(r.stdout).toContain(c);
  });

  it('migrate creates the database in the data directory, then finds it up to date', async () => {
    const dataDir = join(dir, 'data-flag');

    const first = await vigil(['migrate', '--data-dir', dataDir]);
    const second = await vigil(['migrate', '--data-dir', dataDir]);

    expect(first).toMatchObject({ code: 0 });
    expect(first.stdout).toContain(
      `applied migrations ${MIGRATIONS.map((m) => m.version).join(', ')} to sqlite:${join(dataDir, 'vigil.db')}`,
    );
    expect(second.stdout).toContain('is up to date');
  });

  it('takes the data directory from VIGIL_DATA_DIR, else ./.vigil', async () => {
    const fromEnv = await vigil(['migrate'], { VIGIL_DATA_DIR: join(dir, 'data-env') });
    const fromCwd = await vigil(['migrate'], {}, dir);

    expect(fromEnv.stdout).toContain(join(dir, 'data-env', 'vigil.db'));
    expect(fromCwd.stdout).toContain(join(dir, '.vigil', 'vigil.db'));
  });

  it('creates a token, prints its secret once on stdout, stores only its hash, lists and revokes it', async () => {
    const created = await vigil(['tokens', 'create', '--role', 'operator', '--name', 'ci', '--db', db]);
    const secret = created.stdout.trim();
    const list = await vigil(['tokens', 'list', '--json', '--db', db]);
    const tokens = JSON.parse(list.stdout) as { id: string; name: string; role: string }[];
    const id = tokens.find((t) => t.name === 'ci')?.id ?? '';
    const revoked = await vigil(['tokens', 'revoke', id, '--db', db]);
    const again = await vigil(['tokens', 'revoke', id, '--db', db]);

    expect(created.code).toBe(0);
    expect(secret).toMatch(/^vgl_[A-Za-z0-9_-]{43}$/);
    expect(created.stderr).toContain('shown only now');
    expect(list.stdout).not.toContain(secret);
    expect(isUuid(id)).toBe(true);
    const store = await openStore(db);
    try {
      expect(await store.findTokenByHash(hashTokenSecret(secret))).toMatchObject({ id, role: 'operator' });
      expect((await store.listAudit(10, 0)).items.map((e) => e.action)).toEqual(
        expect.arrayContaining(['token.create', 'token.revoke']),
      );
    } finally {
      await store.close();
    }
    expect(revoked).toMatchObject({ code: 0 });
    expect(again.code).toBe(2);
    expect(again.stderr.trim().split('\n')).toHaveLength(1);
    expect(again.stderr).toContain('vigil tokens list');
  });

  it.each([
    [['tokens', 'create'], 'required option'],
    [['tokens', 'create', '--role', 'root'], 'Allowed choices'],
    [['seed', '--alerts', 'many'], 'whole number'],
    [['facilities', 'add', 'Plant_A'], 'not a facility id'],
    [['migrate', '--db', 'mysql://localhost/x'], 'neither sqlite: nor postgres://'],
    [['migrate', '--db', 'sqlite:/dev/null/x.db'], 'cannot open SQLite database'],
    [['migrate', '--db', 'postgres://vigil:secret@127.0.0.1:1/vigil'], 'cannot connect to Postgres'],
  ])('exits 2 with a message for %j', async (args, message) => {
    const r = await vigil([...args, ...(args.includes('--db') ? [] : ['--db', db])]);

    expect(r.code).toBe(2);
    expect(r.stderr).toContain(message);
    expect(r.stderr).not.toContain('secret@');
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('adds, lists and removes facilities; a taken or unknown id exits 2', async () => {
    const fdb = `sqlite:${join(dir, 'facilities.db')}`;

    const added = await vigil(['facilities', 'add', 'plant-north', '--name', 'North Plant', '--db', fdb]);
    const dup = await vigil(['facilities', 'add', 'plant-north', '--db', fdb]);
    const listed = await vigil(['facilities', 'list', '--db', fdb]);
    const removed = await vigil(['facilities', 'remove', 'plant-north', '--db', fdb]);
    const unknown = await vigil(['facilities', 'remove', 'plant-north', '--db', fdb]);

    expect(added.code).toBe(0);
    expect(dup.code).toBe(2);
    expect(dup.stderr).toContain('already exists');
    expect(listed.stdout).toContain('plant-north\tNorth Plant');
    expect(removed.code).toBe(0);
    expect(unknown.code).toBe(2);
  });

  it('seeds realistic generated alerts with ATT&CK for ICS techniques and 60-s timelines', async () => {
    const sdb = `sqlite:${join(dir, 'seed.db')}`;

    const r = await vigil([
      'seed',
      '--alerts',
      '300',
      '--seed',
      '7',
      '--aggregate-seconds',
      '60',
      '--db',
      sdb,
    ]);

    expect(r.code).toBe(0);
    const store = await openStore(sdb);
    try {
      const page = await store.queryAlerts({ page: 1, limit: 300 });
      expect(page.total).toBe(300);
      expect((await store.listFacilities()).map((f) => f.id)).toEqual(['plant-a', 'plant-b', 'plant-c']);
      const catalog = shippedCatalog();
      for (const a of page.items) {
        expect(a.generated).toBe(true);
        expect(catalog.technique(a.attack_type)?.name).toBe(a.attack_name);
        expect(a.context_analysis.timeline).toHaveLength(60);
        expect(a.context_analysis.timeline[59]?.time).toBe(a.timestamp);
        expect(a.sources.length).toBeGreaterThanOrEqual(2);
      }
      expect(new Set(page.items.map((a) => a.severity))).toEqual(
        new Set(['critical', 'high', 'medium', 'low']),
      );
      const now = new Date().toISOString();
      const recent = await store.aggregates('plant-b', new Date(Date.now() - 120_000).toISOString(), now);
      expect(recent).toHaveLength(60);
    } finally {
      await store.close();
    }
  });
});

describe('vigil CLI on Postgres', () => {
  const run = needComponent('PostgreSQL server', postgresAvailable(), PG_INSTALL_HINT);
  let server: TestPostgres | undefined;
  beforeAll(async () => {
    if (run) server = await startTestPostgres();
  });
  afterAll(async () => {
    await server?.close();
  });

  it.skipIf(!run)('creates a missing database, migrates it and seeds it', async () => {
    const url = new URL(server?.url ?? '');
    url.pathname = '/vigil_cli_new';

    const migrated = await vigil(['migrate', '--db', url.toString()]);
    const seeded = await vigil(['seed', '--alerts', '50', '--db', url.toString()]);

    expect(migrated.code).toBe(0);
    expect(migrated.stdout).toContain('applied migrations 1, 2, 3');
    expect(seeded.code).toBe(0);
    const store = await openStore(url.toString());
    try {
      expect((await store.alertStats()).total).toBe(50);
    } finally {
      await store.close();
    }
  });
});
