// Secure-aggregation rounds end to end in one process: real CA, enrolled agents over mTLS, the agents' real SuperNode
// and SequentialDpTrainer, the real Fleet server and round engine with SecureDpSgd, a real SQLite store. Runtime:
// about 5 s.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  SequentialDpTrainer,
  modelArrays,
  type LocalTrainer,
  type SecureStepOutcome,
} from '@vigil/agent/fl/local-trainer';
import { SECAGG_KNOWN_SHARES as AGENT_KNOWN_SHARES } from '@vigil/agent/fl/supernode';
import { rdpEpsilon, seededRng, softmaxCrossEntropy } from '@vigil/models';
import { defaultBound, fixedPointFor } from '@vigil/proto/secagg';
import { waitFor } from '../link/testing/fixtures.js';
import { fleetNode, servedLink, type ServedLink } from '../link/testing/served.js';
import { RoundEngine, SECAGG_KNOWN_SHARES } from './engine.js';
import { FleetServer } from './fleet-server.js';
import { GLOBAL_MODEL, ModelRegistry } from './registry.js';
import { SecureDpSgd, type ClientUpdate } from './strategy.js';
import { blobs, localModel } from './testing/local-fleet.js';
import type { Arrays } from './transport.js';

const DP = { noiseMultiplier: 1.1, sampleRate: 0.25, clipNorm: 1, learningRate: 0.5 };

/** A plant's trainer: its own data and seed (a replica with the same seed draws the same sample and noise). */
function trainer(i: number): SequentialDpTrainer {
  return new SequentialDpTrainer({
    model: localModel(50 + i),
    loss: softmaxCrossEntropy,
    data: blobs(40 + 24 * i, 0, seededRng(10 + i)),
    dp: { clipNorm: DP.clipNorm, noiseMultiplier: 0.5, sampleRate: 0.5 },
    rng: seededRng(900 + i),
  });
}

/** A plant that crashes in the masked stage, after it sent its key: a dropout. */
class DroppingTrainer implements LocalTrainer {
  constructor(private readonly inner: SequentialDpTrainer) {}
  train: LocalTrainer['train'] = (a, c, s) => this.inner.train(a, c, s);
  evaluate: LocalTrainer['evaluate'] = (a, c) => this.inner.evaluate(a, c);
  secureStep(): Promise<SecureStepOutcome> {
    return Promise.reject(new Error('the plant went down'));
  }
}

describe('secure-aggregation rounds over the link', () => {
  let fx: ServedLink;
  let fleet: FleetServer;
  let engine: RoundEngine;
  const lines: string[] = [];
  const initial = modelArrays(localModel(1));

  beforeEach(async () => {
    fleet = new FleetServer({ log: (l) => lines.push(l) });
    fx = await servedLink({ services: [fleet] });
    engine = new RoundEngine({
      store: fx.store,
      transport: fleet,
      strategy: new SecureDpSgd(DP),
      privacy: { delta: 1e-5, epsilonBudget: 10 },
      initialArrays: () => initial,
      defaults: { minClients: 3, timeoutMs: 20_000, evaluateTimeoutMs: 20_000 },
      log: (l) => lines.push(l),
    });
  });
  afterEach(async () => {
    await engine.shutdown();
    await fx.cleanup();
  });

  async function agent(facility: string, t: LocalTrainer): Promise<void> {
    await fleetNode(fx, facility, { trainer: t, pollMs: 20, log: (l) => lines.push(l) });
  }

  async function threePlants(third: LocalTrainer = trainer(2)): Promise<void> {
    await agent('plant-0', trainer(0));
    await agent('plant-1', trainer(1));
    await agent('plant-2', third);
    expect(await waitFor(() => fleet.nodes().filter((n) => n.online).length === 3, 10_000)).toBe(true);
  }

  it('gives the model of plain aggregation of the same steps, up to the fixed-point rounding', async () => {
    await threePlants();

    const { done } = await engine.start();
    const round = await done;

    expect(round.status).toBe('completed');
    expect(round.clients_active).toBe(3);
    const saved = await new ModelRegistry(fx.store).active(GLOBAL_MODEL);
    // the same three steps without masks: replicas of the plants (same seeds) give their plain sums
    const config = new SecureDpSgd(DP).configureFit();
    const plain: ClientUpdate[] = [];
    for (const i of [0, 1, 2]) {
      const out = await trainer(i).secureStep(initial, config, { participants: 3, known: 1 });
      plain.push({
        nodeId: String(i),
        facilityId: `plant-${i}`,
        arrays: split(initial, out.sum),
        numExamples: out.numExamples,
        metrics: {},
      });
    }
    const expected = new SecureDpSgd(DP).aggregate(1, initial, plain)!;
    const fp = fixedPointFor(3, defaultBound(DP.clipNorm));
    const examples = plain.reduce((t, u) => t + u.numExamples, 0);
    // 3 roundings of 1/(2 scale) each, through the step lr / (q N), plus float32 rounding of the weights
    const tolerance = ((3 / (2 * fp.scale)) * DP.learningRate) / (DP.sampleRate * examples) + 1e-6;
    let moved = 0;
    for (const [name, t] of expected) {
      const got = saved!.arrays.get(name)!.data;
      t.data.forEach((v, k) => {
        expect(Math.abs(got[k]! - v)).toBeLessThanOrEqual(tolerance);
        moved = Math.max(moved, Math.abs(v - initial.get(name)!.data[k]!));
      });
    }
    expect(moved).toBeGreaterThan(1e-3); // the step did move the model
  });

  it('charges each facility one DP-SGD step of (q, sigma), the guarantee against any single party', async () => {
    await threePlants();

    const round = await (await engine.start()).done;

    expect(round.status).toBe('completed');
    const accounts = await fx.store.listPrivacyAccounts();
    expect(accounts.map((a) => a.facility_id).sort()).toEqual(['plant-0', 'plant-1', 'plant-2']);
    const expected = rdpEpsilon({
      sigma: DP.noiseMultiplier,
      sampleRate: DP.sampleRate,
      steps: 1,
      delta: 1e-5,
    }).epsilon;
    for (const a of accounts) {
      expect(a.rounds).toBe(1);
      expect(a.epsilon).toBeCloseTo(expected, 9);
    }
    expect(round.epsilon).toBeCloseTo(expected, 9);
    expect(SECAGG_KNOWN_SHARES).toBe(AGENT_KNOWN_SHARES); // both sides split the noise alike
  });

  it('aborts the round when a plant drops out after sending its key: no model, nothing charged', async () => {
    await threePlants(new DroppingTrainer(trainer(2)));

    const round = await (await engine.start()).done;

    expect(round.status).toBe('failed');
    expect(await new ModelRegistry(fx.store).active(GLOBAL_MODEL)).toBeNull();
    expect(await fx.store.listPrivacyAccounts()).toEqual([]);
    expect(lines.some((l) => /2 of 3 masked vectors arrived; the round is aborted/.test(l))).toBe(true);
  });

  it('refuses a round whose noise multiplier is below what an agent is configured with', async () => {
    await threePlants();
    engine = new RoundEngine({
      store: fx.store,
      transport: fleet,
      strategy: new SecureDpSgd({ ...DP, noiseMultiplier: 0.3 }),
      privacy: { delta: 1e-5, epsilonBudget: 10 },
      initialArrays: () => initial,
      defaults: { minClients: 3, timeoutMs: 20_000 },
      log: (l) => lines.push(l),
    });

    const round = await (await engine.start()).done;

    expect(round.status).toBe('failed');
    expect(lines.some((l) => /noise multiplier 0.3 is below this agent's 0.5/.test(l))).toBe(true);
    expect(await fx.store.listPrivacyAccounts()).toEqual([]);
  });
});

function split(like: Arrays, flat: Float32Array): Arrays {
  let at = 0;
  const out: Arrays = new Map();
  for (const [name, t] of like) {
    out.set(name, { shape: t.shape, data: flat.slice(at, at + t.data.length) });
    at += t.data.length;
  }
  return out;
}
