import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Store } from '../../store/types.js';
import type { RunningApi } from '../server.js';
import { http, startTestApi } from '../testing/client.js';
import { issueToken } from '../testing/fixtures.js';
import { sqliteHarness, type StoreHarness } from '../testing/stores.js';

describe('GET /api/facilities/{facility_id}/agents', () => {
  let harness: StoreHarness;
  let raw: Store;
  let api: RunningApi;
  let viewer: string;

  beforeEach(async () => {
    harness = sqliteHarness();
    raw = await harness.open();
    viewer = await issueToken(raw, 'viewer');
    api = await startTestApi(raw);
  });
  afterEach(async () => {
    await api.close();
    await raw.close();
    await harness.close();
  });

  it("shows each agent's last heartbeat and reported health, and the facility's liveness", async () => {
    await raw.addFacility({ id: 'plant-a', name: 'Plant A' });
    await raw.upsertAgent({ id: 'agent-1', facility_id: 'plant-a', enrolled_at: '2026-03-01T10:00:00Z' });
    const beat = new Date().toISOString();
    await raw.recordHeartbeat('agent-1', beat, { outbox_depth: 12, alerts_refused_outbox_full: 1 });

    const res = await http(api, 'GET', '/api/facilities/plant-a/agents', { token: viewer });

    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      facility_id: 'plant-a',
      name: 'Plant A',
      status: 'online',
      revoked_at: null,
      agents: [
        {
          id: 'agent-1',
          enrolled_at: '2026-03-01T10:00:00.000Z',
          last_heartbeat: beat,
          health: { outbox_depth: 12, alerts_refused_outbox_full: 1 },
        },
      ],
    });
  });

  it('answers 404 for an unknown facility', async () => {
    const res = await http(api, 'GET', '/api/facilities/nowhere/agents', { token: viewer });

    expect(res.status).toBe(404);
    expect((res.body as { error: { code: string } }).error.code).toBe('not_found');
  });
});

describe('GET /api/facilities/{facility_id}/assets', () => {
  let harness: StoreHarness;
  let raw: Store;
  let api: RunningApi;
  let viewer: string;

  beforeEach(async () => {
    harness = sqliteHarness();
    raw = await harness.open();
    viewer = await issueToken(raw, 'viewer');
    api = await startTestApi(raw);
  });
  afterEach(async () => {
    await api.close();
    await raw.close();
    await harness.close();
  });

  it("lists the facility's reported assets by address, removed ones marked", async () => {
    await raw.addFacility({ id: 'plant-a', name: 'Plant A' });
    const plc = {
      address: '10.10.2.11',
      mac: '00:80:f4:01:02:03',
      protocols: ['modbus'],
      role: 'plc',
      first_seen: '2026-03-01T10:00:00.000Z',
      last_seen: '2026-03-01T10:05:00.000Z',
    };
    await raw.applyAssetChanges('plant-a', [
      { change: 'added', ...plc },
      { change: 'added', ...plc, address: '10.10.1.9', role: 'unknown' },
      { change: 'removed', ...plc, address: '10.10.1.9', last_seen: '2026-03-01T10:06:00.000Z' },
    ]);

    const res = await http(api, 'GET', '/api/facilities/plant-a/assets', { token: viewer });

    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      facility_id: 'plant-a',
      assets: [
        {
          ...plc,
          address: '10.10.1.9',
          role: 'unknown',
          last_seen: '2026-03-01T10:06:00.000Z',
          removed_at: '2026-03-01T10:06:00.000Z',
        },
        { ...plc, removed_at: null },
      ],
    });
  });

  it('answers 404 for an unknown facility', async () => {
    const res = await http(api, 'GET', '/api/facilities/nowhere/assets', { token: viewer });

    expect(res.status).toBe(404);
  });
});
