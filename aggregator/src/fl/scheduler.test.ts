import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openStore } from '../store/open.js';
import { RoundEngine } from './engine.js';
import { RoundScheduler } from './scheduler.js';
import { FedAvg } from './strategy.js';
import { LocalFleet, localModel, modelArrays } from './testing/local-fleet.js';

const dir = mkdtempSync(join(tmpdir(), 'vigil-fl-schedule-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function until(pred: () => Promise<boolean>, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await pred()) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  return false;
}

describe('round scheduler', () => {
  it('starts rounds on its interval, skips ticks while one runs, and retries when too few clients are online', async () => {
    const store = await openStore(`sqlite:${join(dir, 'schedule.db')}`);
    const fleet = new LocalFleet(
      [0, 1, 2].map((i) => ({
        nodeId: String(500 + i),
        facilityId: `plant-${i}`,
        seed: 60 + i,
        trainExamples: 80,
        validationExamples: 20,
        shift: 0,
        behaviour: i === 2 ? ('silent' as const) : ('train' as const),
      })),
    );
    fleet.setOnline('501', false);
    fleet.setOnline('502', false);
    const lines: string[] = [];
    const engine = new RoundEngine({
      store,
      transport: fleet,
      strategy: new FedAvg(),
      privacy: { delta: 1e-5, epsilonBudget: 100 },
      initialArrays: () => modelArrays(localModel(3)),
      log: () => undefined,
    });
    // The silent node holds each round open for 300 ms, longer than the 100 ms interval.
    const scheduler = new RoundScheduler({
      engine,
      intervalMs: 100,
      settings: { minClients: 2, timeoutMs: 300 },
      log: (l) => lines.push(l),
    });

    scheduler.start();
    const refused = await until(
      () => Promise.resolve(lines.some((l) => /not started: a round needs at least 2/.test(l))),
      5000,
    );
    fleet.setOnline('501', true);
    fleet.setOnline('502', true);
    const twoDone = await until(
      async () => (await store.listRounds(10, 0)).items.filter((r) => r.status === 'completed').length >= 2,
      15_000,
    );
    await scheduler.shutdown();
    await engine.shutdown();
    const rounds = await store.listRounds(10, 0);
    await store.close();

    expect(refused).toBe(true);
    expect(twoDone).toBe(true);
    expect(scheduler.started).toBe(rounds.total);
    expect(lines.some((l) => /skipped: a round is still in progress/.test(l))).toBe(true);
    expect(rounds.items.every((r) => r.total_clients === 3)).toBe(true);
    expect(() => new RoundScheduler({ engine, intervalMs: 0 })).toThrow(/interval must be > 0/);
  });
});
