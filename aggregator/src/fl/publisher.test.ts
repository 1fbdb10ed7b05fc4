// The model publisher over the real link: a real LinkServer on loopback and an enrolled agent's real LinkClient.
import { createHash } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { LinkClient, Push } from '@vigil/agent/link/client';
import type { LinkServer } from '../link/server.js';
import { waitFor } from '../link/testing/fixtures.js';
import { linkAgent, servedLink, type ServedLink } from '../link/testing/served.js';
import { deserializeArrays } from './arrays.js';
import { ModelPublisher } from './publisher.js';
import { GLOBAL_MODEL, ModelRegistry, UndescribedModelError } from './registry.js';
import { localModel, modelArrays } from './testing/local-fleet.js';

/** A description, as every version a round stores carries one. */
const META = { kind: 'test-model' };

describe('model publisher', () => {
  let fx: ServedLink;
  let server: LinkServer;

  beforeEach(async () => {
    fx = await servedLink();
    server = fx.server;
  });
  afterEach(() => fx.cleanup());

  async function agent(facility: string, pushes: Push[], refuse = false): Promise<LinkClient> {
    const { client } = await linkAgent(fx, facility, {
      client: {
        onPush: (p) => {
          pushes.push(p);
          return refuse ? Promise.reject(new Error('unknown model format')) : Promise.resolve();
        },
      },
    });
    await client.start();
    await waitFor(() => client.stats.connected, 5000);
    return client;
  }

  it('pushes the active global model once per facility, and again after a rollback', async () => {
    const pushes: Push[] = [];
    const refused: Push[] = [];
    await agent('plant-a', pushes);
    await agent('plant-b', refused, true);
    const lines: string[] = [];
    await fx.store.addFacility({ id: 'plant-idle', name: 'no agent connected' });
    const registry = new ModelRegistry(fx.store);
    const v1 = await registry.save({
      name: GLOBAL_MODEL,
      arrays: modelArrays(localModel(1)),
      roundId: null,
      accuracy: 0.5,
      meta: META,
    });
    const publisher = new ModelPublisher({ store: fx.store, link: server, log: (l) => lines.push(l) });

    const first = await publisher.publish();
    const repeat = await publisher.publish();
    const v2 = await registry.save({
      name: GLOBAL_MODEL,
      arrays: modelArrays(localModel(2)),
      roundId: null,
      accuracy: 0.7,
      meta: META,
    });
    const second = await publisher.publish();
    await registry.rollback(v1.version);
    const rolledBack = await publisher.publish();

    expect(first).toEqual(['plant-a']);
    expect(repeat).toEqual([]);
    expect(second).toEqual(['plant-a']);
    expect(rolledBack).toEqual(['plant-a']);
    const models = pushes.map((p) => ('model' in p ? p.model : null));
    expect(models.map((m) => m?.version)).toEqual([
      String(v1.version),
      String(v2.version),
      String(v1.version),
    ]);
    const got = models[2]!;
    expect(createHash('sha256').update(got.payload).digest('hex')).toBe(got.sha256);
    expect(got).toMatchObject({ name: GLOBAL_MODEL, format: 'vigil-arrays-v1', sha256: v1.sha256 });
    expect(deserializeArrays(got.payload)).toEqual(modelArrays(localModel(1)));
    // The refusing agent was asked once per version (three activations), not again on every poll.
    expect(refused).toHaveLength(3);
    expect(
      lines.filter((l) => /refused by an agent of plant-b: .*unknown model format/.test(l)),
    ).toHaveLength(3);
  });

  it('does not push an undescribed version (stored before models were described), and refuses to roll back to it', async () => {
    const pushes: Push[] = [];
    await agent('plant-a', pushes);
    const lines: string[] = [];
    const registry = new ModelRegistry(fx.store);
    const old = await registry.save({
      name: GLOBAL_MODEL,
      arrays: modelArrays(localModel(1)),
      roundId: null,
      accuracy: 0.5,
    });
    const publisher = new ModelPublisher({ store: fx.store, link: server, log: (l) => lines.push(l) });

    const first = await publisher.publish();
    const again = await publisher.publish();
    const described = await registry.save({
      name: GLOBAL_MODEL,
      arrays: modelArrays(localModel(2)),
      roundId: null,
      accuracy: 0.7,
      meta: META,
    });
    const next = await publisher.publish();
    const rollback = registry.rollback(old.version);

    expect([first, again, next]).toEqual([[], [], ['plant-a']]);
    expect(pushes.map((p) => ('model' in p ? p.model.version : null))).toEqual([String(described.version)]);
    expect(lines.filter((l) => l.includes('not pushed'))).toEqual([
      `model fl-global v${old.version} not pushed: model version ${old.version} was stored before models carried a description (kind, feature schemas), so agents cannot check what it was trained on and refuse to serve it; the next round stores a described version`,
    ]);
    await expect(rollback).rejects.toThrow(UndescribedModelError);
    await expect(rollback).rejects.toThrow(/roll back to a version a round made since/);
    expect((await fx.store.activeModelVersion(GLOBAL_MODEL))?.version).toBe(described.version);
  });

  it('does not push an active version of another model than the agents serve (after an upgrade), and pushes the next of this build', async () => {
    const pushes: Push[] = [];
    await agent('plant-a', pushes);
    const lines: string[] = [];
    const registry = new ModelRegistry(fx.store);
    const upgraded = { kind: 'test-model', inputs: '75' };
    const before = await registry.save({
      name: GLOBAL_MODEL,
      arrays: modelArrays(localModel(1)),
      roundId: null,
      accuracy: 0.5,
      meta: { kind: 'test-model', inputs: '74' },
    });
    const publisher = new ModelPublisher({
      store: fx.store,
      link: server,
      modelMeta: upgraded,
      log: (l) => lines.push(l),
    });

    const first = await publisher.publish();
    const again = await publisher.publish();
    const current = await registry.save({
      name: GLOBAL_MODEL,
      arrays: modelArrays(localModel(2)),
      roundId: null,
      accuracy: 0.7,
      meta: upgraded,
    });
    const next = await publisher.publish();

    expect([first, again, next]).toEqual([[], [], ['plant-a']]);
    expect(pushes.map((p) => ('model' in p ? p.model.version : null))).toEqual([String(current.version)]);
    expect(lines.filter((l) => l.includes('not pushed'))).toEqual([
      `model fl-global v${before.version} not pushed: it is another model than this build's agents serve (its inputs is 74, this build's 75); the next round stores this build's model`,
    ]);
  });
});
