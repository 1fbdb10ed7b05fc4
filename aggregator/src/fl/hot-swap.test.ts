// A federated round's global model reaches the agent's running detector over the real link: a real LinkServer with
// the Fleet API on loopback and mTLS, the round engine and the model publisher; the enrolled agent's real LinkClient,
// push handler and SuperNode training the shipped Layer 2 with DP-SGD, and a ModelDetector with live ORT sessions.
// After the round the detector serves the new version (heartbeat: models_serving); a later version with non-finite
// weights is refused, the round's model keeps serving and the heartbeat says why. Runtime: about 5 s.
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { meanSquaredError, seededRng, softmaxCrossEntropy, type Example } from '@vigil/models';
import { ARTIFACTS_DIR, loadL1bModel, loadL2Model, readL1b, readL2 } from '@vigil/agent/detect/ml/artifacts';
import { loadModelDetectors } from '@vigil/agent/detect/ml/detector';
import { runScenario } from '@vigil/agent/detect/scenario';
import { GlobalModels, l1bModelMeta, l2ModelMeta } from '@vigil/agent/fl/global-model';
import {
  ModelTrainers,
  SequentialDpTrainer,
  modelArrays,
  type LocalTrainer,
} from '@vigil/agent/fl/local-trainer';
import { modelVersions, pushHandler } from '@vigil/agent/link/pushes';
import type { LinkServer } from '../link/server.js';
import { waitFor } from '../link/testing/fixtures.js';
import { fleetNode, linkAgent, servedLink, type ServedLink } from '../link/testing/served.js';
import { RoundEngine } from './engine.js';
import { FleetServer } from './fleet-server.js';
import { ModelPublisher } from './publisher.js';
import { GLOBAL_L1B_MODEL, GLOBAL_MODEL, ModelRegistry } from './registry.js';
import { RoundSeries } from './series.js';
import { FedAvg } from './strategy.js';

const l2 = readL2(ARTIFACTS_DIR).meta;
const l1b = readL1b(ARTIFACTS_DIR).meta;

/** Standardised-looking Layer 1b windows (an autoencoder's examples are their own targets). */
function windows(n: number): Example[] {
  const rng = seededRng(22);
  return Array.from({ length: n }, () => {
    const x = Float32Array.from({ length: l1b.steps * l1b.features }, () => 0.5 * rng.normal());
    return { x, y: x };
  });
}

/** Labelled Layer 2 rows (two classes told apart by the first inputs): enough for DP-SGD to move the weights. */
function examples(n: number): Example[] {
  const rng = seededRng(21);
  return Array.from({ length: n }, (_, i) => {
    const c = i % 2 === 0 ? 0 : 1;
    const x = Float32Array.from(
      { length: l2.inputs },
      (_, k) => (k < 8 ? c * 2 - 1 : 0) + 0.3 * rng.normal(),
    );
    const y = new Float32Array(l2.classes.length);
    y[c] = 1;
    return { x, y };
  });
}

describe('global model hot-swap over the link', () => {
  let fx: ServedLink;
  let server: LinkServer;
  let fleet: FleetServer;

  beforeEach(async () => {
    fleet = new FleetServer({ log: () => undefined });
    fx = await servedLink({ services: [fleet] });
    server = fx.server;
  });
  afterEach(() => fx.cleanup());

  /**
   * The enrolled agent's link as `vigil-agent run` wires it for global models (pushes installed by `globals`, their
   * state in its health), started, and its federated node training with `trainer`.
   */
  async function connect(facility: string, globals: GlobalModels, trainer: LocalTrainer): Promise<void> {
    const dataDir = join(fx.dir, facility);
    const { identity, client } = await linkAgent(fx, facility, {
      client: {
        onPush: pushHandler(dataDir, { onModel: (m) => globals.install(m) }),
        health: () => ({
          capture_drops: 0,
          malformed_packets: 0,
          model_versions: modelVersions(dataDir),
          ...globals.health(),
        }),
      },
    });
    await client.start();
    await fleetNode(fx, facility, { identity, trainer });
  }

  it('serves the round model in the running detector, and keeps it when a broken version is pushed', async () => {
    // the agent: enrolled, a detector with live sessions (the committed water-a baseline), link, federated node
    const dataDir = join(fx.dir, 'plant-a');
    const detectors = loadModelDetectors({
      facility: 'plant-a',
      dataDir: join(ARTIFACTS_DIR, 'facilities', 'water-a'),
    });
    fx.defer(() => Promise.all(detectors.map((d) => d.close())).then(() => undefined));
    await runScenario({ topology: 'water-a', seed: 3, durationS: 3, learnS: 0, attacks: [], detectors });
    expect(detectors[0]!.stats.ready).toBe(true);
    const globals = new GlobalModels({ dataDir, l2, detectors: () => detectors, log: () => undefined });
    await connect(
      'plant-a',
      globals,
      new SequentialDpTrainer({
        model: loadL2Model(),
        loss: softmaxCrossEntropy,
        data: examples(256),
        dp: { clipNorm: 1, noiseMultiplier: 1.1, sampleRate: 0.25 },
        rng: seededRng(4),
      }),
    );
    // the aggregator: rounds on the shipped Layer 2, the publisher pushing the active version
    const engine = new RoundEngine({
      store: fx.store,
      transport: fleet,
      strategy: new FedAvg(),
      privacy: { delta: 1e-5, epsilonBudget: 10 },
      initialArrays: () => modelArrays(loadL2Model()),
      modelMeta: l2ModelMeta(l2),
      defaults: { minClients: 1, timeoutMs: 30_000, evaluateTimeoutMs: 15_000 },
      log: () => undefined,
    });
    fx.defer(() => engine.shutdown());
    const published: string[] = [];
    const publisher = new ModelPublisher({
      store: fx.store,
      link: server,
      intervalMs: 100,
      log: (l) => published.push(l),
    });
    fx.defer(() => publisher.shutdown());
    const health = async () => (await fx.store.listAgents('plant-a'))[0]?.health ?? {};
    expect(await waitFor(() => fleet.nodes().some((n) => n.online), 10_000)).toBe(true);

    const round = await (await engine.start()).done;
    publisher.start();
    const swapped = await waitFor(() => detectors[0]!.serving.l2 === 'fl-global v1', 15_000);
    const reported = await waitFor(
      async () => JSON.stringify((await health()).models_serving).includes('fl-global v1'),
      5_000,
    );
    const after = await health();
    const broken = modelArrays(loadL2Model());
    [...broken.values()][2]!.data[3] = NaN;
    await new ModelRegistry(fx.store).save({
      name: GLOBAL_MODEL,
      arrays: broken,
      roundId: null,
      accuracy: null,
      meta: l2ModelMeta(l2),
    });
    const refused = await waitFor(
      () => published.some((l) => /v2 refused by an agent of plant-a/.test(l)),
      15_000,
    );
    await waitFor(async () => Boolean((await health()).model_error), 5_000);
    const later = await health();

    expect(round.status).toBe('completed');
    expect([swapped, reported]).toEqual([true, true]);
    expect(after.models_serving).toEqual({ l1b: 'shipped', l2: 'fl-global v1' });
    expect(after.model_versions).toEqual({ 'fl-global': '1' });
    expect(refused).toBe(true);
    expect(published.join('\n')).toMatch(
      /v2 refused by an agent of plant-a: fl-global v2 not served: .*non-finite value at 3/,
    );
    expect(detectors[0]!.serving.l2).toBe('fl-global v1');
    expect(later.models_serving).toEqual({ l1b: 'shipped', l2: 'fl-global v1' });
    expect(later.model_versions).toEqual({ 'fl-global': '1' });
    expect(later.model_error).toMatch(
      /^fl-global v2 refused: array "2\.dense\.weight" holds a non-finite value at 3$/,
    );
  });

  it('federates Layer 1b too: a round after the Layer 2 round, its threshold recalibrated at the plant before serving', async () => {
    // the agent: a detector that learnt this facility in this run (its normal windows stay at the agent)
    const dataDir = join(fx.dir, 'plant-b');
    const detectors = loadModelDetectors({ facility: 'plant-b' });
    fx.defer(() => Promise.all(detectors.map((d) => d.close())).then(() => undefined));
    await runScenario({ topology: 'water-a', seed: 5, durationS: 140, learnS: 120, attacks: [], detectors });
    const shippedThreshold = detectors[0]!.stats.l1bThreshold;
    const lines: string[] = [];
    const globals = new GlobalModels({
      dataDir,
      l2,
      l1b,
      detectors: () => detectors,
      log: (l) => lines.push(l),
    });
    const dp = { clipNorm: 1, noiseMultiplier: 1.1, sampleRate: 0.25 };
    await connect(
      'plant-b',
      globals,
      new ModelTrainers(
        new Map([
          [
            GLOBAL_MODEL,
            new SequentialDpTrainer({
              model: loadL2Model(),
              loss: softmaxCrossEntropy,
              data: examples(128),
              dp,
              rng: seededRng(4),
            }),
          ],
          [
            GLOBAL_L1B_MODEL,
            new SequentialDpTrainer({
              model: loadL1bModel(),
              loss: meanSquaredError,
              data: windows(32),
              dp,
              rng: seededRng(5),
              correct: () => true,
            }),
          ],
        ]),
        GLOBAL_MODEL,
      ),
    );
    // the aggregator: a Layer 2 and a Layer 1b engine in one series, a publisher per model
    const common = {
      store: fx.store,
      transport: fleet,
      strategy: new FedAvg(),
      privacy: { delta: 1e-5, epsilonBudget: 10 },
      defaults: { minClients: 1, timeoutMs: 30_000, evaluateTimeoutMs: 15_000 },
      log: () => undefined,
    };
    const series = new RoundSeries(
      [
        new RoundEngine({
          ...common,
          initialArrays: () => modelArrays(loadL2Model()),
          modelMeta: l2ModelMeta(l2),
        }),
        new RoundEngine({
          ...common,
          modelName: GLOBAL_L1B_MODEL,
          initialArrays: () => modelArrays(loadL1bModel()),
          modelMeta: l1bModelMeta(l1b),
        }),
      ],
      () => undefined,
    );
    fx.defer(() => series.shutdown());
    const published: string[] = [];
    const publishers = [GLOBAL_MODEL, GLOBAL_L1B_MODEL].map(
      (name) =>
        new ModelPublisher({
          store: fx.store,
          link: server,
          name,
          intervalMs: 100,
          log: (l) => published.push(l),
        }),
    );
    for (const p of publishers) fx.defer(() => p.shutdown());
    const health = async () => (await fx.store.listAgents('plant-b'))[0]?.health ?? {};
    expect(await waitFor(() => fleet.nodes().some((n) => n.online), 10_000)).toBe(true);

    await series.start();
    const seriesDone = await waitFor(() => !series.inProgress, 60_000);
    for (const p of publishers) p.start();
    const swapped = await waitFor(
      () => detectors[0]!.serving.l1b === 'fl-global-l1b v2' && detectors[0]!.serving.l2 === 'fl-global v1',
      15_000,
    );
    const rounds = (await fx.store.listRounds(10, 0)).items.map((r) => [r.round_number, r.status, r.model]);
    const account = (await fx.store.listPrivacyAccounts()).find((a) => a.facility_id === 'plant-b');
    const recalibrated = detectors[0]!.stats.l1bThreshold;
    const broken = modelArrays(loadL1bModel());
    [...broken.values()][0]!.data[5] = NaN;
    await new ModelRegistry(fx.store).save({
      name: GLOBAL_L1B_MODEL,
      arrays: broken,
      roundId: null,
      accuracy: null,
      meta: l1bModelMeta(l1b),
    });
    const refused = await waitFor(
      () => published.some((l) => /fl-global-l1b v3 refused by an agent of plant-b/.test(l)),
      15_000,
    );
    await waitFor(async () => Boolean((await health()).model_error), 5_000);
    const later = await health();

    expect([seriesDone, swapped, refused]).toEqual([true, true, true]);
    // each stored round says which model it trained: Layer 2 first, then Layer 1b
    expect(rounds.sort()).toEqual([
      [1, 'completed', GLOBAL_MODEL],
      [2, 'completed', GLOBAL_L1B_MODEL],
    ]);
    // both rounds' local DP-SGD is charged to the facility's privacy ledger
    expect(account?.rounds).toBe(2);
    expect(recalibrated).not.toBe(shippedThreshold);
    expect(lines.join('\n')).toMatch(/L1b threshold [\d.]+ -> [\d.]+ on \d+ normal windows/);
    expect(later.models_serving).toEqual({ l1b: 'fl-global-l1b v2', l2: 'fl-global v1' });
    expect(later.model_versions).toEqual({ 'fl-global': '1', 'fl-global-l1b': '2' });
    expect(later.model_error).toMatch(
      /^fl-global-l1b v3 refused: array "0\.lstm\.w" holds a non-finite value at 5$/,
    );
    expect(detectors[0]!.stats.l1bThreshold).toBe(recalibrated);
  });
});
