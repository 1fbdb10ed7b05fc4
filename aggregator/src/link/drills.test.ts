// The link drills with real processes on loopback: `vigil serve` and `vigil-agent run`, killed with SIGKILL midway.
// (1) the aggregator dies while 10,000 alerts stream: after its restart every alert is stored exactly once;
// (2) the agent dies with alerts in its outbox: after its restart all are delivered;
// (3) `vigil facilities revoke`, run as its own process, cuts a connected agent off within a second;
// (4) the aggregator's disk fills up (a small tmpfs): nothing is acknowledged that was not stored, the agent keeps its
// outbox, and once space is freed every alert arrives exactly once.
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { needComponent } from '@vigil/shared/testing';
import { openStore } from '../store/open.js';
import { sampleAlert, waitFor } from './testing/fixtures.js';
import {
  VIGIL,
  VIGIL_AGENT,
  enrollAgentProcess,
  freePort,
  runToEnd,
  start,
  type Proc,
} from './testing/processes.js';

function writeAlerts(path: string, n: number): string[] {
  const ids: string[] = [];
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    const a = { ...sampleAlert(i), id: randomUUID() };
    ids.push(a.id);
    lines.push(JSON.stringify(a));
  }
  writeFileSync(path, `${lines.join('\n')}\n`);
  return ids;
}

function countRows(dbPath: string, sql: string): number {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    return (db.prepare(sql).get() as { n: number }).n;
  } catch {
    return 0; // not created yet
  } finally {
    db.close();
  }
}

// Real processes, a kill -9 and a restart each: minutes, not seconds, on a loaded 2-core machine.
describe('link drills (real processes)', { timeout: 240_000 }, () => {
  let dir: string;
  let aggDir: string;
  let grpcPort: number;
  const procs: Proc[] = [];

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-drill-'));
    aggDir = join(dir, 'aggregator');
    grpcPort = await freePort();
  });
  let mounted: string | undefined;
  afterEach(async () => {
    for (const p of procs.splice(0)) await p.kill9();
    if (mounted !== undefined) execFileSync('umount', ['-l', mounted]);
    mounted = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  async function serve(): Promise<Proc> {
    const p = start(VIGIL, ['serve', '--data-dir', aggDir, '--port', '0', '--grpc-port', String(grpcPort)]);
    procs.push(p);
    await p.waitFor(/agents on/, 20_000);
    return p;
  }

  async function enrollAgent(agentDir: string): Promise<void> {
    const lines = await enrollAgentProcess({ aggDir, grpcPort, facility: 'plant-a', agentDir });
    expect(lines.join('\n')).toMatch(/enrolled agent/);
  }

  function runAgent(agentDir: string, file: string, extra: string[] = []): Proc {
    const p = start(VIGIL_AGENT, [
      'run',
      '--data-dir',
      agentDir,
      '--alerts-in',
      file,
      '--heartbeat-seconds',
      '1',
      ...extra,
    ]);
    procs.push(p);
    return p;
  }

  async function storedIds(): Promise<{ ids: Set<string>; total: number }> {
    const store = await openStore(`sqlite:${join(aggDir, 'vigil.db')}`);
    try {
      const total = (await store.alertStats()).total;
      const db = new Database(join(aggDir, 'vigil.db'), { readonly: true });
      const ids = new Set((db.prepare('SELECT id FROM alerts').all() as { id: string }[]).map((r) => r.id));
      db.close();
      return { ids, total };
    } finally {
      await store.close();
    }
  }

  it('(1) stores every one of 10,000 alerts exactly once although the aggregator is killed midway', async () => {
    let aggregator = await serve();
    const agentDir = join(dir, 'agent');
    await enrollAgent(agentDir);
    const file = join(dir, 'alerts.jsonl');
    const ids = writeAlerts(file, 10_000);
    const dbPath = join(aggDir, 'vigil.db');

    const agent = runAgent(agentDir, file, ['--exit-when-delivered']);
    const midway = await waitFor(() => countRows(dbPath, 'SELECT count(*) AS n FROM alerts') > 0, 30_000, 5);
    await aggregator.kill9();
    const atKill = countRows(dbPath, 'SELECT count(*) AS n FROM alerts');
    aggregator = await serve();
    const code = await agent.exited;

    expect(midway).toBe(true);
    expect(atKill).toBeLessThan(10_000);
    expect(code).toBe(0);
    const stored = await storedIds();
    expect(stored.total).toBe(10_000);
    expect(stored.ids).toEqual(new Set(ids));
  });

  it('(2) delivers every alert that was in the outbox when the agent was killed', async () => {
    const aggregator = await serve();
    const agentDir = join(dir, 'agent');
    await enrollAgent(agentDir);
    await aggregator.stop(); // the aggregator is unreachable while the agent reads: all stays in the outbox
    const file = join(dir, 'alerts.jsonl');
    const ids = writeAlerts(file, 3000);

    const first = runAgent(agentDir, file);
    await first.waitFor(/read 3000 alerts/, 30_000);
    await first.kill9();
    const waiting = countRows(join(agentDir, 'outbox.db'), 'SELECT count(*) AS n FROM outbox');
    await serve();
    const second = runAgent(agentDir, file, ['--exit-when-delivered']);
    const code = await second.exited;

    expect(waiting).toBe(3000);
    expect(code).toBe(0);
    expect(second.lines.join('\n')).toMatch(/read 0 alerts/); // the file position survived the kill
    const stored = await storedIds();
    expect(stored.total).toBe(3000);
    expect(stored.ids).toEqual(new Set(ids));
  });

  it('(3) cuts a connected agent off within a second of `vigil facilities revoke`', async () => {
    await serve();
    const agentDir = join(dir, 'agent');
    await enrollAgent(agentDir);
    const file = join(dir, 'alerts.jsonl');
    writeAlerts(file, 10);
    const agent = runAgent(agentDir, file);
    await agent.waitFor(/connected to/, 20_000);

    const revoked = await runToEnd(VIGIL, ['facilities', 'revoke', 'plant-a', '--data-dir', aggDir]);
    const t0 = Date.now();
    const line = await agent.waitFor(/refused this agent/, 5_000);
    const elapsed = Date.now() - t0;

    expect(revoked.code).toBe(0);
    expect(line).toMatch(/facility plant-a (was )?revoked/);
    expect(elapsed).toBeLessThan(1000);
  });

  const root = process.getuid?.() === 0;
  const canMount = needComponent('a tmpfs mount (root)', root, 'run as root: the drill mounts a small tmpfs');
  it.skipIf(!canMount)(
    '(4) acknowledges nothing it could not store while the disk is full, and stores all once space is back',
    async () => {
      // The aggregator's data directory on a 96 MB tmpfs: a real full disk (ENOSPC), not a simulated one.
      const fs = join(dir, 'fs');
      mkdirSync(fs);
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=96m', 'tmpfs', fs]);
      mounted = fs;
      aggDir = join(fs, 'aggregator');
      const aggregator = await serve();
      const url = /(http:\/\/\S+)/.exec(await aggregator.waitFor(/serving http/, 20_000))?.[1] ?? '';
      const health = async (): Promise<number> => (await fetch(new URL('/health', url))).status;
      const healthBody = async (): Promise<unknown> => (await fetch(new URL('/health', url))).json();
      const agentDir = join(dir, 'agent');
      await enrollAgent(agentDir);
      const before = await health();
      // Fill what is left of the disk.
      const filler = join(fs, 'filler');
      const fd = openSync(filler, 'w');
      const chunk = Buffer.alloc(64 * 1024, 1);
      try {
        for (;;) writeSync(fd, chunk);
      } catch (err) {
        expect((err as NodeJS.ErrnoException).code).toBe('ENOSPC');
      } finally {
        closeSync(fd);
      }
      const file = join(dir, 'alerts.jsonl');
      const ids = writeAlerts(file, 2000);

      const agent = runAgent(agentDir, file, ['--exit-when-delivered']);
      await agent.waitFor(/read 2000 alerts/, 60_000);
      const refused = await aggregator.waitFor(/failed: .*(full|ENOSPC)/i, 60_000);
      const whileFull = countRows(join(aggDir, 'vigil.db'), 'SELECT count(*) AS n FROM alerts');
      const waiting = countRows(join(agentDir, 'outbox.db'), 'SELECT count(*) AS n FROM outbox');
      const healthWhileFull = await health();
      const reportWhileFull = await healthBody();
      rmSync(filler);
      const code = await agent.exited;
      const healthAfter = await health();

      expect(refused).toMatch(/full/i);
      // /health says so while the disk is full (the database cannot take writes), and recovers.
      expect([before, healthWhileFull, healthAfter]).toEqual([200, 503, 200]);
      expect(reportWhileFull).toMatchObject({
        services: { database: 'down' },
        details: { database: expect.stringMatching(/disk of .* is full: \d+ MiB free/) as unknown },
      });
      expect(whileFull).toBe(0);
      expect(waiting).toBe(2000);
      expect(code).toBe(0);
      const stored = await storedIds();
      expect(stored.total).toBe(2000);
      expect(stored.ids).toEqual(new Set(ids));
      expect(aggregator.lines.join('\n')).not.toMatch(/uncaught|unhandled/i);
    },
  );
});
