// The link end to end in one process: real SQLite store, real CA, the gRPC server on loopback, the agent's real
// enrollment, outbox and client.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Push } from '@vigil/agent/link/client';
import { writeLegacyOutbox } from '@vigil/agent/testing/outbox';
import type { LinkServer } from './server.js';
import { sampleAlert, waitFor } from './testing/fixtures.js';
import { linkAgent, servedLink, type ServedLink } from './testing/served.js';

describe('agent link', () => {
  let fx: ServedLink;
  let server: LinkServer;

  beforeEach(async () => {
    fx = await servedLink();
    server = fx.server;
  });
  afterEach(() => fx.cleanup());

  /** An enrolled agent; `beforeOutbox` runs on the outbox file's path before the outbox is opened. */
  function agent(facility: string, name = 'agent', pushes?: Push[], beforeOutbox?: (path: string) => void) {
    return linkAgent(fx, facility, {
      name,
      ...(beforeOutbox ? { beforeOutbox } : {}),
      client: {
        onPush: (p) => {
          pushes?.push(p);
          return Promise.resolve();
        },
      },
    });
  }

  it('enrolls an agent for its token facility and stores its alerts under that facility, each once', async () => {
    const { identity, outbox, client } = await agent('plant-a');
    const alerts = Array.from({ length: 1200 }, (_, i) => sampleAlert(i));
    outbox.enqueue(alerts);
    outbox.enqueue(alerts.slice(0, 100)); // a resend of the same ids

    await client.start();
    const drained = await waitFor(() => outbox.depth().count === 0, 20_000);

    expect(drained).toBe(true);
    expect(identity.facilityId).toBe('plant-a');
    const page = await fx.store.queryAlerts({ facility: 'plant-a', page: 1, limit: 1 });
    expect(page.total).toBe(1200);
    const one = await fx.store.getAlert(alerts[7]!.id);
    expect(one).toMatchObject({ ...alerts[7], facility_id: 'plant-a', generated: false });
  });

  it('delivers an outbox an older agent left (JSON rows) after the upgrade, with the alerts queued since, each once', async () => {
    const old = Array.from({ length: 700 }, (_, i) => sampleAlert(i));
    const { outbox, client } = await agent('plant-a', 'upgraded', undefined, (path) =>
      writeLegacyOutbox(path, old, 200),
    );
    const since = Array.from({ length: 300 }, (_, i) => sampleAlert(1000 + i));
    outbox.enqueue(since);
    outbox.enqueue(old.slice(300, 310)); // queued again after the upgrade: a resend

    await client.start();
    const drained = await waitFor(() => outbox.depth().count === 0, 20_000);

    expect(drained).toBe(true);
    const expected = [...old.slice(200), ...since];
    expect((await fx.store.queryAlerts({ facility: 'plant-a', page: 1, limit: 1 })).total).toBe(
      expected.length,
    );
    for (const a of [expected[0]!, expected[499]!, expected.at(-1)!]) {
      expect(await fx.store.getAlert(a.id)).toMatchObject({ ...a, facility_id: 'plant-a', generated: false });
    }
    expect(await fx.store.getAlert(old[0]!.id)).toBeNull();
  });

  it('records heartbeats with the agent health, and per-second aggregates for the facility', async () => {
    const { identity, client } = await agent('plant-b');
    await client.start();
    client.sendAggregates([
      {
        time: '2026-03-01T10:00:00.000Z',
        packets_per_sec: 10,
        bytes_per_sec: 900,
        unique_src_ips: 2,
        unique_dest_ips: 3,
        protocol_distribution: { modbus: 1 },
        failed_connections: 0,
        avg_packet_size: 90,
        inter_arrival_time: 0.1,
      },
    ]);

    const beat = await waitFor(async () => {
      const [a] = await fx.store.listAgents('plant-b');
      return a?.last_heartbeat !== null && a?.last_heartbeat !== undefined;
    }, 5000);
    const stored = await waitFor(
      async () =>
        (await fx.store.aggregates('plant-b', '2026-03-01T00:00:00Z', '2026-03-02T00:00:00Z')).length === 1,
      5000,
    );

    expect(beat && stored).toBe(true);
    const [a] = await fx.store.listAgents('plant-b');
    expect(a?.id).toBe(identity.agentId);
    expect(a?.health).toMatchObject({
      outbox_depth: 0,
      outbox_capacity_bytes: 8 << 20,
      alerts_refused_outbox_full: 0,
    });
  });

  it('persists the asset inventory an agent reports, and refuses a malformed change', async () => {
    const { client } = await agent('plant-b');
    await client.start();
    const plc = {
      address: '10.20.2.11',
      mac: '00:80:f4:00:00:01',
      protocols: ['modbus'],
      role: 'plc',
      first_seen: '2026-03-01T10:00:00.000Z',
      last_seen: '2026-03-01T10:00:05.000Z',
    };
    client.sendInventory([
      { change: 'added', ...plc },
      { change: 'added', ...plc, address: '10.20.1.11', role: 'hmi' },
      {
        change: 'removed',
        ...plc,
        address: '10.20.1.11',
        role: 'hmi',
        last_seen: '2026-03-01T10:01:00.000Z',
      },
    ]);

    const stored = await waitFor(async () => (await fx.store.listAssets('plant-b')).length === 2, 5000);

    expect(stored).toBe(true);
    expect(await fx.store.listAssets('plant-b')).toEqual([
      expect.objectContaining({ address: '10.20.1.11', removed_at: '2026-03-01T10:01:00.000Z' }),
      expect.objectContaining({ address: '10.20.2.11', role: 'plc', removed_at: null }),
    ]);
    expect(server.stats.inventory_changes).toBe(3);
    const rejected = server.stats.messages_rejected;
    client.sendInventory([{ change: 'renamed', ...plc }]);
    expect(await waitFor(() => server.stats.messages_rejected > rejected, 5000)).toBe(true);
    expect(await fx.store.listAssets('plant-b')).toHaveLength(2);
  });

  it('delivers a config push to the facility agent and returns its answer', async () => {
    const pushes: Push[] = [];
    const { client } = await agent('plant-c', 'agent', pushes);
    await client.start();
    await waitFor(() => client.stats.connected, 5000);

    const answers = await server.push(
      'plant-c',
      { config: { settings_json: '{"heartbeat_ms":1000}' } },
      5000,
    );

    expect(answers).toEqual([{ accepted: true, error: '' }]);
    expect(pushes).toHaveLength(1);
    expect(pushes[0]).toMatchObject({ config: { settings_json: '{"heartbeat_ms":1000}' } });
  });

  it('keeps at most 16 alert batches unacknowledged (or its maxInFlight), and sends the next on each ack', async () => {
    // the store holds every insert until `release`: nothing is acknowledged before then
    let release = (): void => undefined;
    const held = new Promise<void>((r) => (release = r));
    const insert = fx.store.insertAlerts.bind(fx.store);
    fx.store.insertAlerts = async (alerts) => {
      await held;
      return insert(alerts);
    };
    const sent = async (batchAlerts: number, maxInFlight?: number): Promise<number[]> => {
      const { outbox, client } = await linkAgent(fx, 'plant-a', {
        name: `window-${maxInFlight ?? 'default'}`,
        client: { batchAlerts, ...(maxInFlight !== undefined ? { maxInFlight } : {}) },
      });
      outbox.enqueue(Array.from({ length: 40 * batchAlerts }, (_, i) => sampleAlert(i)));
      // what the client reads from its outbox it sends: every alert peeked is an alert sent
      const peeked: number[] = [];
      const peek = outbox.peek.bind(outbox);
      outbox.peek = (afterId, limit) => {
        const rows = peek(afterId, limit);
        peeked.push(...rows.map((r) => r.id));
        return rows;
      };
      await client.start();
      await waitFor(() => client.stats.connected, 5000);
      return peeked;
    };

    const byDefault = await sent(5);
    const set = await sent(5, 3);
    // time for a client that kept no bound to send far more (it sends as soon as it reads)
    await new Promise((r) => setTimeout(r, 500));
    const before = { byDefault: byDefault.length, set: set.length };
    release();
    const delivered = await waitFor(async () => (await fx.store.alertStats()).total === 400, 20_000);

    expect(before).toEqual({ byDefault: 16 * 5, set: 3 * 5 });
    expect(delivered).toBe(true);
    expect(new Set(byDefault).size).toBe(200);
    expect(new Set(set).size).toBe(200);
  });

  it('cuts a revoked facility off within a second, open stream included, and refuses it afterwards', async () => {
    const { outbox, client } = await agent('plant-d');
    await client.start();
    await waitFor(() => client.stats.connected, 5000);

    const t0 = Date.now();
    await fx.store.revokeFacility('plant-d', new Date().toISOString());
    const cut = await waitFor(() => !client.stats.connected, 1000, 10);
    const elapsed = Date.now() - t0;
    outbox.enqueue([sampleAlert(1)]);
    client.notify();
    await new Promise((r) => setTimeout(r, 500));

    expect(cut).toBe(true);
    expect(elapsed).toBeLessThan(1000);
    expect(client.stats.last_error).toMatch(/PERMISSION_DENIED/);
    expect(outbox.depth().count).toBe(1);
    expect((await fx.store.queryAlerts({ page: 1, limit: 1 })).total).toBe(0);
  });
});
