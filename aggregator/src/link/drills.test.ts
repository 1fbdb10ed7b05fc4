// The link drills with real processes on loopback: `vigil serve` and `vigil-agent run`, killed with SIGKILL midway.
// (1) the aggregator dies while 10,000 alerts stream: after its restart every alert is stored exactly once;
// (2) the agent dies with alerts in its outbox: after its restart all are delivered;
// (3) `vigil facilities revoke`, run as its own process, cuts a connected agent off within a second.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
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
  afterEach(async () => {
    for (const p of procs.splice(0)) await p.kill9();
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
});
