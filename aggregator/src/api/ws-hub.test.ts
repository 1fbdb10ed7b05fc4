// WebSocket behaviour that does not depend on the store kind: slow and silent clients are dropped without holding up
// the others, dashboard updates are throttled, facility liveness changes are announced.
import type { Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Store } from '../store/types.js';
import { sqliteHarness, type StoreHarness } from './testing/stores.js';
import { startTestApi, TestWs } from './testing/client.js';
import { issueToken, makeAlert } from './testing/fixtures.js';
import type { RunningApi } from './server.js';

function pauseReading(client: TestWs): void {
  (client.ws as unknown as { _socket: Socket })._socket.pause();
}

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('WebSocket hub', () => {
  let harness: StoreHarness;
  let raw: Store;
  let api: RunningApi;
  let token: string;

  beforeAll(() => {
    harness = sqliteHarness();
  });
  afterAll(async () => {
    await harness.close();
  });
  beforeEach(async () => {
    raw = await harness.open();
    await raw.addFacility({ id: 'plant-a', name: 'Plant A' });
    token = await issueToken(raw, 'viewer');
  });
  afterEach(async () => {
    await api.close();
    await raw.close();
  });

  async function subscribed(room: string): Promise<TestWs> {
    const ws = await TestWs.connect(`${api.wsUrl}?token=${token}`);
    ws.send({ action: 'subscribe', room });
    await ws.next((m) => m.type === 'subscribed');
    return ws;
  }

  it('drops a client that does not read instead of buffering for it, and keeps serving the others', async () => {
    api = await startTestApi(raw, { wsMaxBufferedBytes: 64 * 1024 });
    const slow = await subscribed('alerts');
    const fast = await subscribed('alerts');
    pauseReading(slow);
    const blob = 'x'.repeat(256 * 1024);

    for (let i = 0; i < 60; i++) {
      api.bus.publish({ type: 'alert_created', data: { i, blob } });
      await new Promise((r) => setImmediate(r));
    }

    await until(() => fast.messages.filter((m) => m.type === 'alert_created').length === 60, 20_000);
    await until(() => api.hub.connections === 1);
    await fast.close();
  });

  it('delivers fanned-out events of every frame length in order, between its own replies, per room spelling', async () => {
    api = await startTestApi(raw);
    const underscore = await subscribed('fl_status');
    const dash = await subscribed('fl-status');
    // Payloads under 126 bytes, under 64 KiB and over it take the three length forms of a WebSocket frame header.
    const sizes = [1, 200, 70_000];

    for (const [i, n] of sizes.entries()) {
      api.bus.publish({ type: 'fl_progress', data: { i, pad: 'x'.repeat(n) } });
      underscore.send({ action: 'ping' });
      await until(() => underscore.messages.filter((m) => m.type === 'pong').length > i);
    }
    await until(() => dash.messages.length >= 3);

    expect(underscore.messages.map((m) => m.type)).toEqual(sizes.flatMap(() => ['fl_progress', 'pong']));
    expect(
      underscore.messages
        .filter((m) => m.type === 'fl_progress')
        .map((m) => [m.channel, (m.data as { pad: string }).pad.length]),
    ).toEqual(sizes.map((n) => ['fl_status', n]));
    expect(dash.messages.map((m) => [m.channel, (m.data as { i: number }).i])).toEqual([
      ['fl-status', 0],
      ['fl-status', 1],
      ['fl-status', 2],
    ]);
    await underscore.close();
    await dash.close();
  });

  it('drops a client that stops answering pings', async () => {
    api = await startTestApi(raw, { wsPingIntervalMs: 100 });
    const silent = await subscribed('system');
    const alive = await subscribed('system');
    pauseReading(silent);

    await until(() => api.hub.connections === 1);
    await new Promise((r) => setTimeout(r, 350));

    expect(alive.open).toBe(true);
    expect(api.hub.connections).toBe(1);
    await alive.close();
  });

  it('sends dashboard_update at most once a second however many alerts arrive', async () => {
    api = await startTestApi(raw);
    const ws = await subscribed('dashboard');

    for (let i = 0; i < 5; i++) {
      await api.store.insertAlerts([makeAlert()]);
      await new Promise((r) => setTimeout(r, 50));
    }
    const last = await ws.next(
      (m) =>
        m.type === 'dashboard_update' && (m.data as { alertStats: { total: number } }).alertStats.total === 5,
      3000,
    );
    await new Promise((r) => setTimeout(r, 1200));

    const updates = ws.messages.filter((m) => m.type === 'dashboard_update');
    expect(updates.length).toBeLessThanOrEqual(1);
    expect(last.channel).toBe('dashboard');
    expect(ws.messages.filter((m) => m.type === 'alert_created')).toHaveLength(5);
    await ws.close();
  });

  it('announces facility liveness changes to the system room', async () => {
    api = await startTestApi(raw, { healthIntervalMs: 100 });
    const ws = await subscribed('system');
    await new Promise((r) => setTimeout(r, 300));

    await api.store.upsertAgent({
      id: 'agent-a',
      facility_id: 'plant-a',
      enrolled_at: new Date().toISOString(),
    });
    await api.store.recordHeartbeat('agent-a', new Date().toISOString(), {});
    const online = await ws.next((m) => m.type === 'facility_status');

    expect(online).toEqual({
      channel: 'system',
      type: 'facility_status',
      data: { facility_id: 'plant-a', name: 'Plant A', status: 'online' },
    });
    await ws.close();
  });
});
