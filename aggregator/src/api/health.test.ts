// /health reports the real database: a real Postgres is stopped (503, health event) and started again (recovery).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../store/types.js';
import { postgresHarness, type StoreHarness } from './testing/stores.js';
import { http, startTestApi, TestWs } from './testing/client.js';
import { issueToken } from './testing/fixtures.js';
import type { RunningApi } from './server.js';

describe('health with a real Postgres', () => {
  let harness: StoreHarness;
  let raw: Store | undefined;
  let api: RunningApi | undefined;

  beforeAll(async () => {
    harness = await postgresHarness();
  });
  afterAll(async () => {
    await api?.close();
    await raw?.close();
    await harness.close();
  });

  it('answers 503 while the database is down and recovers when it is back', async (ctx) => {
    if (!harness.available() || harness.server === undefined) return ctx.skip();
    raw = await harness.open();
    const token = await issueToken(raw, 'viewer');
    api = await startTestApi(raw, { healthIntervalMs: 100 });
    const ws = await TestWs.connect(`${api.wsUrl}?token=${token}`);
    ws.send({ action: 'subscribe', room: 'system' });
    await ws.next((m) => m.type === 'subscribed');
    expect((await http(api, 'GET', '/health')).status).toBe(200);

    await harness.server.stop();
    const down = await http(api, 'GET', '/health');
    const read = await http(api, 'GET', '/api/alerts/stats', { token: 'x' });
    const readWithCachedToken = await http(api, 'GET', '/api/fl/rounds/current', { token });
    const downEvent = await ws.next(
      (m) => m.type === 'health' && (m.data as { status: string }).status === 'unhealthy',
    );

    expect(down.status).toBe(503);
    expect(down.body).toEqual({
      status: 'unhealthy',
      services: { database: 'down', graph: 'embedded', grpc: 'down' },
      details: { database: expect.stringMatching(/cannot connect to Postgres at .*ECONNREFUSED/) as unknown },
    });
    expect(read.status).toBe(503);
    expect(readWithCachedToken.status).toBe(503);
    expect((readWithCachedToken.body as { error: { code: string } }).error.code).toBe('dependency_down');
    expect(downEvent.channel).toBe('system');

    await harness.server.start();
    const upEvent = await ws.next(
      (m) => m.type === 'health' && (m.data as { status: string }).status !== 'unhealthy',
      10_000,
    );
    const up = await http(api, 'GET', '/health');

    expect(up.status).toBe(200);
    expect((up.body as { services: { database: string } }).services.database).toBe('connected');
    expect((upEvent.data as { services: { database: string } }).services.database).toBe('connected');
    expect((await http(api, 'GET', '/api/fl/rounds/current', { token })).status).toBe(200);
    await ws.close();
  });
});
