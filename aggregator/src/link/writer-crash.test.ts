// The SQLite store's writer thread dying while an agent streams alerts (over the real link: loopback, mTLS, the
// agent's outbox and client): the aggregator acknowledges only alerts whose transaction committed, so at every
// moment each alert the agent has dropped from its outbox (acknowledged) is stored; the refused batches come back
// from the outbox, a new thread stores them, and every alert ends up stored once, counted and searchable.
import type { Worker } from 'node:worker_threads';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { sampleAlert, waitFor } from './testing/fixtures.js';
import { linkAgent, servedLink, type ServedLink } from './testing/served.js';

const ALERTS = 10_000;
const KILLS = 3;

let link: ServedLink;
const workers: Worker[] = [];
beforeEach(async () => {
  workers.length = 0;
  link = await servedLink({ storeOptions: { onWriterStart: (w) => workers.push(w) } });
});
afterEach(() => link.cleanup());

it('acknowledges no alert the writer thread did not commit when it dies mid-stream, and stores every alert once', async () => {
  const { outbox, client } = await linkAgent(link, 'plant-a');
  const alerts = Array.from({ length: ALERTS }, (_, i) => sampleAlert(i));
  outbox.enqueue(alerts);
  const unstoredAcks: { acked: number; stored: number }[] = [];
  let kills = 0;
  let storedAtKill = -1;

  await client.start();
  const done = await waitFor(
    async () => {
      // acknowledged first, then stored: the stored count only grows, so acked > stored means an unstored ack
      const acked = ALERTS - outbox.depth().count;
      const stored = (await link.store.alertStats()).total;
      if (acked > stored) unstoredAcks.push({ acked, stored });
      if (kills < KILLS && workers.length > kills && stored > storedAtKill) {
        storedAtKill = stored;
        await workers[kills]?.terminate();
        kills++;
      }
      return stored === ALERTS && outbox.depth().count === 0;
    },
    90_000,
    5,
  );

  expect(done).toBe(true);
  expect(kills).toBe(KILLS);
  expect(unstoredAcks).toEqual([]);
  // each alert reported new once (what the dashboard announces): a batch the thread committed but died before
  // confirming is answered from what the store finds stored, so its resend is not the first report of it
  expect(link.server.stats.alerts_stored).toBe(ALERTS);
  const page = await link.store.queryAlerts({ page: 1, limit: 1, facility: 'plant-a', status: 'new' });
  expect(page.total).toBe(ALERTS);
  const missing = [];
  for (const a of alerts) if ((await link.store.getAlert(a.id)) === null) missing.push(a.id);
  expect(missing).toEqual([]);
  const found = await link.store.queryAlerts({ page: 1, limit: 1, search: 'modbus write burst' });
  expect(found.total).toBe(ALERTS);
}, 120_000);
