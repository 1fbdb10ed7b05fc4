// A SQLite writer thread that dies after committing a batch and before answering it: the alerts it stored reach the
// dashboard's WebSocket clients once (the store answers the batch from what it finds stored), and the batch it never
// ran is refused, stored and announced when resent. Before, the committed batch was refused too, and its resend was a
// duplicate: stored and searchable, never announced live.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { startTestApi, TestWs } from '../api/testing/client.js';
import { issueToken } from '../api/testing/fixtures.js';
import type { RunningApi } from '../api/server.js';
import { sampleAlert } from '../link/testing/fixtures.js';
import { SqliteStore } from './sqlite.js';
import { StoreUnavailableError, type StoredAlert } from './types.js';

const BATCH = 300;

let dir: string;
let raw: SqliteStore;
let api: RunningApi;
beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'vigil-writer-announce-'));
  // the first thread commits the second batch it is given, then dies without answering it
  raw = new SqliteStore({ path: join(dir, 'v.db'), failWriterAfterCommit: 2 });
  await raw.migrate();
  await raw.addFacility({ id: 'plant-a', name: 'Plant A' });
  api = await startTestApi(raw);
});
afterEach(async () => {
  await api.close();
  await raw.close();
  rmSync(dir, { recursive: true, force: true });
});

const alert = (i: number): StoredAlert => ({ ...sampleAlert(i), facility_id: 'plant-a', generated: false });

async function subscribed(token: string): Promise<TestWs> {
  const ws = await TestWs.connect(`${api.wsUrl}?token=${token}`);
  ws.send({ action: 'subscribe', room: 'alerts' });
  await ws.next((m) => m.type === 'subscribed');
  return ws;
}

it('announces each alert once when the writer thread dies between a commit and its answer', async () => {
  const token = await issueToken(raw, 'viewer');
  const clients = [await subscribed(token), await subscribed(token)];
  const batches = [0, 1, 2].map((b) => Array.from({ length: BATCH }, (_, i) => alert(b * BATCH + i)));

  // sent at once: the thread answers the first, commits the second and dies unanswered, never runs the third
  const results = await Promise.allSettled(batches.map((b) => api.store.insertAlerts(b)));
  // what an agent does: resend all it holds unacknowledged (here everything, as after a lost acknowledgement)
  const resent = await api.store.insertAlerts(batches.flat());
  const last = alert(3 * BATCH);
  await api.store.insertAlerts([last]);

  expect(results.map((r): unknown => (r.status === 'fulfilled' ? r.value : r.reason))).toEqual([
    BATCH,
    BATCH,
    expect.any(StoreUnavailableError),
  ]);
  expect(resent).toBe(BATCH);
  const ids = [...batches.flat(), last].map((a) => a.id);
  for (const ws of clients) {
    // the last alert comes after every announcement before it
    await ws.next((m) => m.type === 'alert_created' && (m.data as { id: string }).id === last.id);
    const announced = ws.messages
      .filter((m) => m.type === 'alert_created' && m.channel === 'alerts')
      .map((m) => (m.data as { id: string }).id);
    expect([...announced, last.id].sort()).toEqual([...ids].sort());
    await ws.close();
  }
  expect((await raw.alertStats()).total).toBe(ids.length);
  const found = await raw.queryAlerts({ page: 1, limit: 1, search: 'modbus write burst' });
  expect(found.total).toBe(ids.length);
});
