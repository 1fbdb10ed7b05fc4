// Bad input, one class per test, on both stores: each answer is the spec's error shape with its status, never a 500,
// and a WebSocket stays open whatever a client sends.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Store } from '../store/types.js';
import { postgresHarness, sqliteHarness, type StoreHarness } from './testing/stores.js';
import { http, startTestApi, TestWs, type HttpResult } from './testing/client.js';
import { issueToken, makeAlert } from './testing/fixtures.js';
import type { RunningApi } from './server.js';

const HARNESSES: [string, () => Promise<StoreHarness>][] = [
  ['sqlite', () => Promise.resolve(sqliteHarness())],
  ['postgres', postgresHarness],
];

function expectError(res: HttpResult, status: number, code?: string): void {
  expect(res.status, `${res.status} ${res.text}`).toBe(status);
  const body = res.body as { error: { code: string; message: string; details: unknown } };
  expect(typeof body.error.code).toBe('string');
  expect(typeof body.error.message).toBe('string');
  expect(typeof body.error.details).toBe('object');
  if (code !== undefined) expect(body.error.code).toBe(code);
}

describe.each(HARNESSES)('bad input on %s', (_kind, makeHarness) => {
  let harness: StoreHarness;
  let raw: Store;
  let api: RunningApi;
  let token: string;
  const alert = makeAlert({ title: 'Modbus write burst', attack_name: "Operator's 100% override_" });

  beforeAll(async () => {
    harness = await makeHarness();
  });
  afterAll(async () => {
    await harness.close();
  });
  beforeEach(async (ctx) => {
    if (!harness.available()) ctx.skip();
    raw = await harness.open();
    await raw.addFacility({ id: 'plant-a', name: 'Plant A' });
    await raw.insertAlerts([alert]);
    token = await issueToken(raw, 'operator');
    api = await startTestApi(raw);
  });
  afterEach(async () => {
    if (!harness.available()) return;
    await api.close();
    await raw.close();
  });

  it('answers malformed JSON and a non-JSON body with 400', async () => {
    const path = `/api/alerts/${alert.id}/status`;
    expectError(await http(api, 'PUT', path, { token, rawBody: '{"status": ' }), 400, 'invalid_json');
    expectError(await http(api, 'PUT', path, { token, rawBody: '' }), 400);
    expectError(
      await http(api, 'PUT', path, {
        token,
        rawBody: 'status=resolved',
        headers: { 'Content-Type': 'text/plain' },
      }),
      400,
    );
  });

  it('answers wrong types with 400', async () => {
    for (const res of [
      await http(api, 'PUT', `/api/alerts/${alert.id}/status`, { token, body: { status: 42 } }),
      await http(api, 'PUT', `/api/alerts/${alert.id}/status`, { token, body: ['resolved'] }),
      await http(api, 'GET', '/api/alerts?page=abc', { token }),
      await http(api, 'GET', '/api/alerts?limit=2.5', { token }),
      await http(api, 'GET', '/api/alerts?from=yesterday', { token }),
      await http(api, 'GET', '/api/predictions?validated=maybe', { token }),
      await http(api, 'GET', '/api/fl/rounds?offset=-1', { token }),
      await http(api, 'POST', '/api/predictions/predict', { token, body: { current_technique: 846 } }),
    ]) {
      expectError(res, 400, 'validation_failed');
    }
  });

  it('answers unknown enum values with 400', async () => {
    for (const res of [
      await http(api, 'GET', '/api/alerts?severity=extreme', { token }),
      await http(api, 'GET', '/api/alerts?status=closed', { token }),
      await http(api, 'GET', '/api/alerts?status_filter=open', { token }),
      await http(api, 'GET', '/api/alerts?time_range=1y', { token }),
      await http(api, 'PUT', `/api/alerts/${alert.id}/status`, { token, body: { status: 'deleted' } }),
      await http(api, 'PUT', `/api/alerts/${alert.id}/status`, { token, body: { status: 'new' } }),
    ]) {
      expectError(res, 400, 'validation_failed');
    }
  });

  it('answers a limit over 500 with 400', async () => {
    for (const path of [
      '/api/alerts?limit=501',
      '/api/fl/rounds?limit=1000',
      '/api/predictions?limit=100000',
    ]) {
      expectError(await http(api, 'GET', path, { token }), 400, 'validation_failed');
    }
    expect((await http(api, 'GET', '/api/alerts?limit=500', { token })).status).toBe(200);
  });

  it('answers bad ids (UUIDs, round numbers, slugs, technique ids) with 400', async () => {
    for (const path of [
      '/api/alerts/not-a-uuid',
      "/api/alerts/1'%20OR%20'1'='1",
      '/api/context/12345/evidence',
      '/api/context/zz/timeline',
      '/api/predictions/42',
      '/api/fl/clients/abc',
      '/api/fl/rounds/abc',
      '/api/fl/rounds/99999999999',
      '/api/context/Plant_A/current',
      '/api/mitre/technique/T1234',
    ]) {
      expectError(await http(api, 'GET', path, { token }), 400, 'validation_failed');
    }
  });

  it('treats SQL-looking and full-text-syntax search strings as plain text', async () => {
    const searches = [
      "' OR 1=1; DROP TABLE alerts; --",
      '"unbalanced',
      'NEAR(a b',
      '*',
      'title:*',
      '%',
      '_',
      'AND OR NOT',
      '100% override_',
      '\\',
    ];
    for (const s of searches) {
      const res = await http(api, 'GET', `/api/alerts?search=${encodeURIComponent(s)}`, { token });
      expect(res.status, `${s}: ${res.text}`).toBe(200);
    }
    const literal = await http(api, 'GET', `/api/alerts?search=${encodeURIComponent('100% override_')}`, {
      token,
    });
    const injected = await http(api, 'GET', `/api/alerts?search=${encodeURIComponent("' OR 1=1 --")}`, {
      token,
    });
    expect((literal.body as { total: number }).total).toBe(1);
    expect((injected.body as { total: number }).total).toBe(0);
    expectError(await http(api, 'GET', '/api/alerts?search=a%00b', { token }), 400, 'validation_failed');
    expect((await raw.alertStats()).total).toBe(1);
  });

  it('answers unknown paths with 404 in the error shape', async () => {
    expectError(await http(api, 'GET', '/api/nothing-here', { token }), 404, 'not_found');
  });

  it('answers unknown WebSocket actions, rooms and malformed messages without closing', async () => {
    const ws = await TestWs.connect(`${api.wsUrl}?token=${token}`);

    ws.send({ action: 'explode' });
    const unknownAction = await ws.next((m) => m.type === 'error');
    ws.send({ action: 'subscribe', room: 'kitchen' });
    const unknownRoom = await ws.next((m) => m.type === 'error');
    ws.send('{"action": "subscribe", ');
    const malformed = await ws.next((m) => m.type === 'error');
    ws.send('[1,2,3]');
    const notObject = await ws.next((m) => m.type === 'error');
    ws.send({ action: 'subscribe', channels: ['alerts', 7, 'nope'] });
    const mixed = await ws.next((m) => m.type === 'subscribed');

    for (const m of [unknownAction, unknownRoom, malformed, notObject])
      expect(typeof m.message).toBe('string');
    expect(unknownAction.message).toContain('explode');
    expect(unknownRoom.message).toContain('kitchen');
    expect(mixed).toEqual({ type: 'subscribed', room: 'alerts', status: 'ok' });
    expect(ws.open).toBe(true);
    await ws.close();
  });

  it('answers floods over the rate limit with 429, and a WebSocket flood with errors, never closing', async () => {
    await api.close();
    api = await startTestApi(raw, { rateLimit: { perSecond: 1, burst: 5 } });

    const results = await Promise.all(
      Array.from({ length: 12 }, () => http(api, 'GET', '/api/alerts/stats', { token })),
    );
    const limited = results.filter((r) => r.status === 429);

    expect(results.filter((r) => r.status === 200).length).toBeLessThanOrEqual(5);
    expect(limited.length).toBeGreaterThanOrEqual(7);
    for (const r of limited) {
      expectError(r, 429, 'rate_limited');
      expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);
    }

    await api.close();
    api = await startTestApi(raw, { wsRateLimit: { perSecond: 1, burst: 3 } });
    const ws = await TestWs.connect(`${api.wsUrl}?token=${token}`);
    for (let i = 0; i < 10; i++) ws.send({ action: 'ping' });
    const error = await ws.next((m) => m.type === 'error');
    expect(error.message).toMatch(/too many/);
    expect(ws.open).toBe(true);
    await ws.close();
  });
});
