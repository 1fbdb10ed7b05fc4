// Two models' rounds in series (Layer 2, then Layer 1b, as `vigil serve` runs them): real round engines over a real
// SQLite store and an in-process fleet whose clients train for real; each engine names its model in the train
// messages and stores its own registry versions.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openStore } from '../store/open.js';
import type { Store } from '../store/types.js';
import { RoundEngine, RoundInProgressError } from './engine.js';
import { GLOBAL_L1B_MODEL, GLOBAL_MODEL } from './registry.js';
import { RoundSeries } from './series.js';
import { FedAvg } from './strategy.js';
import { LocalFleet, localModel, modelArrays } from './testing/local-fleet.js';

const dir = mkdtempSync(join(tmpdir(), 'vigil-fl-series-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

describe('round series', () => {
  let store: Store;
  let series: RoundSeries | undefined;

  beforeEach(async () => {
    store = await openStore(`sqlite:${join(dir, `series-${n++}.db`)}`);
    for (let i = 1; i <= 2; i++) await store.addFacility({ id: `plant-${i}`, name: `Plant ${i}` });
  });
  afterEach(async () => {
    await series?.shutdown();
    series = undefined;
    await store.close();
  });

  function make(fleet: LocalFleet, lines: string[]): RoundSeries {
    const engine = (modelName: string) =>
      new RoundEngine({
        store,
        transport: fleet,
        strategy: new FedAvg(),
        privacy: { delta: 1e-5, epsilonBudget: 10 },
        modelName,
        initialArrays: () => modelArrays(localModel(1)),
        defaults: { minClients: 2 },
        log: (l) => lines.push(l),
      });
    series = new RoundSeries([engine(GLOBAL_MODEL), engine(GLOBAL_L1B_MODEL)], (l) => lines.push(l));
    return series;
  }

  const clients = [1, 2].map((i) => ({
    nodeId: String(1000 + i),
    facilityId: `plant-${i}`,
    seed: 100 + i,
    trainExamples: 120,
    validationExamples: 40,
    shift: 0,
  }));

  it("runs the second model's round after the first, each naming its model and storing its own version", async () => {
    const fleet = new LocalFleet(clients);
    const lines: string[] = [];
    const s = make(fleet, lines);

    const first = await s.start();
    const busy = s.inProgress;
    const again = s.start().then(
      () => null,
      (e: unknown) => e,
    );
    await first.done;
    for (let i = 0; i < 600 && s.inProgress; i++) await new Promise((r) => setTimeout(r, 50));

    expect(await again).toBeInstanceOf(RoundInProgressError);
    expect(busy).toBe(true);
    expect(s.inProgress).toBe(false);
    expect(first.round.round_number).toBe(1);
    const rounds = (await store.listRounds(10, 0)).items.map((r) => [r.round_number, r.status]);
    expect(rounds.sort()).toEqual([
      [1, 'completed'],
      [2, 'completed'],
    ]);
    const named = fleet.received.map((r) => [r.round, r.config['vigil-model']]);
    expect(new Set(named.map(String))).toEqual(new Set(['1,fl-global', '2,fl-global-l1b']));
    expect((await store.activeModelVersion(GLOBAL_MODEL))?.round_id).not.toBeNull();
    expect((await store.activeModelVersion(GLOBAL_L1B_MODEL))?.version).toBe(2);
    expect((await store.listPrivacyAccounts()).map((a) => a.rounds)).toEqual([2, 2]);
  });

  it('starts no further round once shut down', async () => {
    const fleet = new LocalFleet(clients);
    const lines: string[] = [];
    const s = make(fleet, lines);

    const first = await s.start();
    await s.shutdown();
    const stopped = await first.done;

    expect(stopped.status).toBe('failed');
    expect(s.inProgress).toBe(false);
    expect((await store.listRounds(10, 0)).items).toHaveLength(1);
  });
});
