// The round engine against a real SQLite store (wrapped so that writes publish to the event bus, as in `vigil serve`)
// and an in-process fleet whose clients really train a small Sequential with DP-SGD on seeded data.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { OPACUS_ORDERS, rdpEpsilon, rdpToEpsilon, seededRng, subsampledGaussianRdp } from '@vigil/models';
import { LocalEventBus, type BusEvent } from '../events/bus.js';
import { PublishingStore } from '../events/publishing-store.js';
import { openStore } from '../store/open.js';
import type { Store } from '../store/types.js';
import { deserializeArrays } from './arrays.js';
import {
  NotEnoughClientsError,
  RoundEngine,
  RoundInProgressError,
  clientIdOf,
  type RoundEngineOptions,
} from './engine.js';
import { DP_METRICS } from './privacy.js';
import { GLOBAL_MODEL, ModelRegistry } from './registry.js';
import { CentralDp, FedAvg } from './strategy.js';
import { LocalFleet, localModel, modelArrays, type LocalClientOptions } from './testing/local-fleet.js';
import type { Arrays } from './transport.js';

const dir = mkdtempSync(join(tmpdir(), 'vigil-fl-engine-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

function client(i: number, over: Partial<LocalClientOptions> = {}): LocalClientOptions {
  return {
    nodeId: String(1000 + i),
    facilityId: `plant-${i}`,
    seed: 100 + i,
    trainExamples: 160 + 40 * i,
    validationExamples: 60 + 10 * i,
    shift: 0.3 * (i - 1),
    ...over,
  };
}

/** The weighted average of replies, computed here independently of strategy.ts. */
function expectedAverage(replies: { arrays: Arrays; n: number }[]): Float32Array[] {
  const total = replies.reduce((s, r) => s + r.n, 0);
  const first = [...replies[0]!.arrays.values()];
  return first.map((t, ti) => {
    const out = new Float32Array(t.data.length);
    for (let k = 0; k < out.length; k++) {
      let s = 0;
      for (const r of replies) s += ([...r.arrays.values()][ti]!.data[k]! * r.n) / total;
      out[k] = s;
    }
    return out;
  });
}

describe('round engine', () => {
  let raw: Store;
  let store: Store;
  let events: BusEvent[];
  let lines: string[];
  let engine: RoundEngine | undefined;

  beforeEach(async () => {
    raw = await openStore(`sqlite:${join(dir, `engine-${n++}.db`)}`);
    const bus = new LocalEventBus();
    events = [];
    bus.subscribe((e) => events.push(e));
    store = new PublishingStore(raw, bus);
    for (let i = 0; i < 6; i++) await raw.addFacility({ id: `plant-${i}`, name: `Plant ${i}` });
    lines = [];
  });
  afterEach(async () => {
    await engine?.shutdown();
    engine = undefined;
    await raw.close();
  });

  function makeEngine(fleet: LocalFleet, over: Partial<RoundEngineOptions> = {}): RoundEngine {
    const rng = seededRng(5);
    engine = new RoundEngine({
      store,
      transport: fleet,
      strategy: new FedAvg(),
      privacy: { delta: 1e-5, epsilonBudget: 10 },
      initialArrays: () => modelArrays(localModel(1)),
      random: () => rng.next(),
      log: (l) => lines.push(l),
      ...over,
    });
    return engine;
  }

  it('runs a round: trains for real, averages by examples, marks a silent node delayed and a failing one offline', async () => {
    const fleet = new LocalFleet([
      client(1),
      client(2),
      client(3),
      client(4, { behaviour: 'silent' }),
      client(5, { behaviour: 'error' }),
    ]);
    const e = makeEngine(fleet);

    const { round, done } = await e.start({ minClients: 3, timeoutMs: 3000, localEpochs: 3 });
    const finished = await done;

    expect(round).toMatchObject({
      round_number: 1,
      model: GLOBAL_MODEL,
      status: 'in-progress',
      total_clients: 5,
    });
    expect(finished).toMatchObject({
      status: 'completed',
      phase: 'complete',
      progress: 100,
      clients_active: 3,
      total_clients: 5,
    });
    const status = Object.fromEntries(finished.clients.map((c) => [c.facility_id, c.status]));
    expect(status).toEqual({
      'plant-1': 'active',
      'plant-2': 'active',
      'plant-3': 'active',
      'plant-4': 'delayed',
      'plant-5': 'offline',
    });
    const trained = finished.clients.filter((c) => c.status === 'active');
    for (const c of trained) expect(c).toMatchObject({ progress: 100, current_epoch: 3, total_epochs: 3 });
    expect(finished.clients.find((c) => c.facility_id === 'plant-1')?.id).toBe(clientIdOf('1001'));
    expect(
      lines.some((l) => /node 1004 \(plant-4\) did not answer within 3000 ms; marked delayed/.test(l)),
    ).toBe(true);
    expect(lines.some((l) => /node 1005 \(plant-5\) failed: .*local training failed/.test(l))).toBe(true);

    // The new global model is the example-weighted average of the three replies.
    const model = await new ModelRegistry(raw).active(GLOBAL_MODEL);
    const replies = fleet.replies.map((r) => ({ arrays: r.res.arrays, n: r.res.metrics['num-examples']! }));
    expect(replies.map((r) => r.n).sort()).toEqual([200, 240, 280]);
    const want = expectedAverage(replies);
    [...model!.arrays.values()].forEach((t, i) => {
      for (let k = 0; k < t.data.length; k++) expect(t.data[k]).toBeCloseTo(want[i]![k]!, 5);
    });
    expect(model!.model.round_id).toBe(round.id);

    // model_accuracy: the new model's accuracy on the clients' validation sets, weighted by their size.
    const checks = ['1001', '1002', '1003'].map((id) => fleet.validationAccuracy(id, model!.arrays));
    const weighted =
      checks.reduce((s, c) => s + c.accuracy * c.examples, 0) / checks.reduce((s, c) => s + c.examples, 0);
    expect(finished.model_accuracy).toBeCloseTo(weighted, 10);
    expect(finished.model_accuracy).toBeGreaterThan(0.85);
    expect(model!.model.model_accuracy).toBe(finished.model_accuracy);

    // Every training facility's epsilon is the accountant's figure for the steps it reported.
    const accounts = await raw.listPrivacyAccounts();
    expect(accounts.map((a) => a.facility_id)).toEqual(['plant-1', 'plant-2', 'plant-3']);
    for (const a of accounts) {
      const m = fleet.replies.find((r) => `plant-${Number(r.nodeId) - 1000}` === a.facility_id)!.res.metrics;
      const eps = rdpEpsilon({
        sigma: m[DP_METRICS.noiseMultiplier]!,
        sampleRate: m[DP_METRICS.sampleRate]!,
        steps: m[DP_METRICS.steps]!,
        delta: 1e-5,
      }).epsilon;
      expect(a.epsilon).toBeCloseTo(eps, 8);
      expect(a.examples).toBe(m['num-examples']);
    }
    expect(finished.epsilon).toBeCloseTo(Math.max(...accounts.map((a) => a.epsilon)), 10);

    // The dashboard saw the round start, progress with per-client epochs, and complete.
    const types = events.map((ev) => ev.type);
    expect(types[0]).toBe('fl_round_started');
    expect(types.at(-1)).toBe('fl_round_completed');
    const progress = events
      .filter((ev) => ev.type === 'fl_progress')
      .map(
        (ev) => ev.data as { clients: { current_epoch: number; loss: number | null }[]; progress: number },
      );
    expect(progress.some((p) => p.clients.some((c) => c.current_epoch === 2 && c.loss !== null))).toBe(true);
    expect(progress.map((p) => p.progress)).toEqual(
      [...progress.map((p) => p.progress)].sort((a, b) => a - b),
    );
  });

  it('starts the next round from the stored model, and the model keeps improving', async () => {
    const fleet = new LocalFleet([client(1), client(2)]);
    const e = makeEngine(fleet);

    const first = await (await e.start({ localEpochs: 1, timeoutMs: 5000 })).done;
    const second = await (await e.start({ localEpochs: 1, timeoutMs: 5000 })).done;

    expect(first.status).toBe('completed');
    expect(second).toMatchObject({ status: 'completed', round_number: 2 });
    const versions = await raw.listModelVersions(10, 0);
    expect(versions.items.map((v) => v.round_id)).toEqual([second.id, first.id]);
    const firstModel = deserializeArrays((await raw.modelPayload(versions.items[1]!.version))!);
    const sent = [...fleet.received.filter((r) => r.round === 2)];
    expect(sent).toHaveLength(2);
    expect(sent[0]!.config).toMatchObject({
      'server-round': 2,
      'local-epochs': 1,
      'vigil-model': 'fl-global',
    });
    // Round 2 started from round 1's model: each client's round-2 reply differs from it only by local training.
    expect(fleet.validationAccuracy('1001', firstModel).accuracy).toBeGreaterThan(0.6);
    expect(second.model_accuracy!).toBeGreaterThanOrEqual(first.model_accuracy! - 0.05);
  });

  it('after an upgrade that changed the model, starts from the initial model instead of the stored old one', async () => {
    const fleet = new LocalFleet([client(1), client(2)]);
    // the active version is the model of an older build: other arrays, other feature schemas
    const old = await new ModelRegistry(raw).save({
      name: GLOBAL_MODEL,
      arrays: new Map([['0.weight', { shape: [3], data: new Float32Array([1, 2, 3]) }]]),
      roundId: null,
      accuracy: null,
      meta: { kind: 'test-model', schemas: 'flow:old' },
    });
    const e = makeEngine(fleet, { modelMeta: { kind: 'test-model', schemas: 'flow:new' } });

    const round = await (await e.start({ localEpochs: 1, timeoutMs: 5000 })).done;

    expect(round.status).toBe('completed');
    expect(lines.join('\n')).toContain(
      `the active "fl-global" (version ${old.version}) is another model than this build trains (its schemas is flow:old, this build's flow:new): the round starts from the initial model`,
    );
    const active = await new ModelRegistry(raw).active(GLOBAL_MODEL);
    expect(active?.model.version).toBeGreaterThan(old.version);
    expect(active?.meta).toMatchObject({ schemas: 'flow:new' });
  });

  it('stops selecting a facility whose privacy budget is spent, visibly', async () => {
    // plant-2 trains with little noise: one round spends more than the budget; the others stay within it.
    const fleet = new LocalFleet([
      client(1, { noiseMultiplier: 1.5 }),
      client(2, { noiseMultiplier: 0.45 }),
      client(3, { noiseMultiplier: 1.5 }),
    ]);
    const e = makeEngine(fleet, { privacy: { delta: 1e-5, epsilonBudget: 8 } });

    const first = await (await e.start({ minClients: 2, timeoutMs: 5000, localEpochs: 2 })).done;
    const second = await (await e.start({ minClients: 2, timeoutMs: 5000, localEpochs: 2 })).done;

    const accounts = Object.fromEntries((await raw.listPrivacyAccounts()).map((a) => [a.facility_id, a]));
    expect(accounts['plant-2']!.epsilon).toBeGreaterThanOrEqual(8);
    expect(accounts['plant-1']!.epsilon).toBeLessThan(8);
    expect(accounts['plant-2']!.exhausted_at).not.toBeNull();
    expect(accounts['plant-1']!.exhausted_at).toBeNull();
    expect(first.total_clients).toBe(3);
    expect(second.total_clients).toBe(2);
    expect(second.clients.map((c) => c.facility_id).sort()).toEqual(['plant-1', 'plant-3']);
    expect(accounts['plant-2']!.rounds).toBe(1);
    expect(lines.some((l) => /facility plant-2 has spent its privacy budget/.test(l))).toBe(true);
    expect(
      lines.some((l) => /facility plant-2 \(node 1002\) not selected: its privacy budget is spent/.test(l)),
    ).toBe(true);
  });

  it("counts a central-DP strategy's noise in each facility's epsilon", async () => {
    // plant-1 trains with little local noise; the aggregator adds much central noise (z = 40)
    const fleet = new LocalFleet([client(1, { noiseMultiplier: 0.45 }), client(2)]);
    const rng = seededRng(9);
    const e = makeEngine(fleet, {
      strategy: new CentralDp(new FedAvg(), { clipNorm: 1, noiseMultiplier: 40, rng }),
    });

    const done = await (await e.start({ localEpochs: 2, timeoutMs: 5000 })).done;

    expect(done.status).toBe('completed');
    const accounts = await raw.listPrivacyAccounts();
    const total = fleet.replies.reduce((t, r) => t + r.res.metrics['num-examples']!, 0);
    for (const a of accounts) {
      const m = fleet.replies.find((r) => `plant-${Number(r.nodeId) - 1000}` === a.facility_id)!.res.metrics;
      const spend = {
        sigma: m[DP_METRICS.noiseMultiplier]!,
        sampleRate: m[DP_METRICS.sampleRate]!,
        steps: m[DP_METRICS.steps]!,
      };
      // noise std z C / n (n updates); one example moves the average by at most 2 C w (w: its FedAvg weight)
      const sigmaCentral = (40 * 1) / fleet.replies.length / ((2 * 1 * m['num-examples']!) / total);
      const local = rdpEpsilon({ ...spend, delta: 1e-5 }).epsilon;
      const rdp = OPACUS_ORDERS.map((alpha) =>
        Math.min(
          spend.steps * subsampledGaussianRdp(spend.sampleRate, spend.sigma, alpha),
          alpha / (2 * sigmaCentral ** 2),
        ),
      );
      expect(a.epsilon).toBeCloseTo(rdpToEpsilon([...OPACUS_ORDERS], rdp, 1e-5).epsilon, 8);
      expect(a.epsilon).toBeLessThanOrEqual(local);
      if (a.facility_id === 'plant-1') expect(a.epsilon).toBeLessThan(0.5 * local);
    }
    expect(done.epsilon).toBeCloseTo(Math.max(...accounts.map((a) => a.epsilon)), 10);
  });

  it('refuses to start with too few clients or while a round runs', async () => {
    const fleet = new LocalFleet([client(1), client(2, { behaviour: 'silent' }), client(3)]);
    fleet.setOnline('1003', false);
    const e = makeEngine(fleet);

    await expect(e.start({ minClients: 3 })).rejects.toBeInstanceOf(NotEnoughClientsError);
    const running = await e.start({ minClients: 2, timeoutMs: 400 });
    await expect(e.start({ minClients: 2 })).rejects.toBeInstanceOf(RoundInProgressError);
    await expect(e.start({ minClients: 0 })).rejects.toBeInstanceOf(RoundInProgressError);
    const failed = await running.done;

    // One of two answered: fewer usable replies than minClients fail the round, and no model is stored.
    expect(failed).toMatchObject({ status: 'failed', clients_active: 1 });
    expect(failed.end_time).not.toBeNull();
    expect(await raw.listModelVersions(10, 0)).toMatchObject({ total: 0 });
    expect(lines.some((l) => /round 1 failed: 1 usable replies of 2, fewer than 2/.test(l))).toBe(true);
    await expect(e.start({ minClients: 0 })).rejects.toThrow(/minClients must be/);
    await expect(e.start({ fractionFit: 0 })).rejects.toThrow(/fractionFit must be/);
  });

  it('refuses a reply without DP accounting or with the wrong layout', async () => {
    const fleet = new LocalFleet([
      client(1),
      client(2, { behaviour: 'bad-layout' }),
      client(3, { behaviour: 'no-dp' }),
    ]);
    const e = makeEngine(fleet);

    const round = await (await e.start({ minClients: 1, timeoutMs: 5000 })).done;

    expect(round).toMatchObject({ status: 'completed', clients_active: 1, total_clients: 3 });
    expect(
      round.clients
        .filter((c) => c.status === 'offline')
        .map((c) => c.facility_id)
        .sort(),
    ).toEqual(['plant-2', 'plant-3']);
    expect(
      lines.some((l) => /node 1002 \(plant-2\) sent an unusable reply \(5 arrays, expected 4\)/.test(l)),
    ).toBe(true);
    expect(
      lines.some((l) =>
        /node 1003 \(plant-3\) sent an unusable reply \(the reply carries no DP accounting/.test(l),
      ),
    ).toBe(true);
    // The layout-broken reply still reported its DP-SGD training: that privacy is spent even though it was refused.
    expect((await raw.listPrivacyAccounts()).map((a) => a.facility_id)).toEqual(['plant-1', 'plant-2']);
  });

  it('fails the running round on shutdown', async () => {
    const fleet = new LocalFleet([client(1), client(2, { behaviour: 'silent' })]);
    const e = makeEngine(fleet);

    const { done } = await e.start({ minClients: 2, timeoutMs: 60_000 });
    await e.shutdown();
    const stopped = await done;

    expect(stopped.status).toBe('failed');
    expect(e.inProgress).toBe(false);
    expect(lines.some((l) => /round 1 failed: the aggregator is shutting down/.test(l))).toBe(true);
  });
});
