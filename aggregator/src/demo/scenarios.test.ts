import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeAlert } from '../api/testing/fixtures.js';
import { ApiError } from '../api/errors.js';
import { LocalEventBus } from '../events/bus.js';
import { PublishingStore } from '../events/publishing-store.js';
import { openStore } from '../store/open.js';
import type { Store } from '../store/types.js';
import { ScenarioRunner, type InjectResult } from './scenarios.js';

// The injector is the seam to the agent link (tested with real agents in the demo's end-to-end test); here it
// records what the runner asked for and answers as an agent would.
describe('ScenarioRunner', () => {
  let inner: Store;
  let store: Store;
  let bus: LocalEventBus;
  let asked: [string, string][];
  let answer: InjectResult;
  let runner: ScenarioRunner;
  let dir: string;
  const t0 = Date.UTC(2026, 10, 22, 9, 0, 0);

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-scenarios-'));
    inner = await openStore(`sqlite:${join(dir, 'vigil.db')}`);
    bus = new LocalEventBus();
    store = new PublishingStore(inner, bus);
    await store.addFacility({ id: 'water-a', name: 'Water A' });
    await store.addFacility({ id: 'factory-c', name: 'Factory C' });
    asked = [];
    answer = { accepted: true, error: '' };
    runner = new ScenarioRunner({
      store,
      bus,
      now: () => t0,
      timeoutMs: 60_000,
      inject: (facility, name) => {
        asked.push([facility, name]);
        return Promise.resolve(answer);
      },
    });
  });
  afterEach(async () => {
    runner.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const alertAt = (facility: string, technique: string, offsetMs = 5000) =>
    makeAlert({
      facility_id: facility,
      attack_type: technique,
      timestamp: new Date(t0 + offsetMs).toISOString(),
    });

  it('asks the facility agent to inject the attack and stays active until its technique is alerted', async () => {
    const s = await runner.start('port-scan', 'water-a');

    expect(asked).toEqual([['water-a', 'port-scan']]);
    expect(runner.status().active_scenarios.map((x) => x.scenario_id)).toEqual([s.scenario_id]);
    await store.insertAlerts([alertAt('factory-c', 'T0846'), alertAt('water-a', 'T0836')]);
    expect(s.outcome).toBe('running');
    const scan = alertAt('water-a', 'T0846');
    await store.insertAlerts([scan]);
    expect(s.outcome).toBe('detected');
    expect(s.alert_ids).toEqual([scan.id]);
    expect(runner.status()).toEqual({
      active_scenarios: [],
      last_scenario: {
        scenario_id: s.scenario_id,
        type: 'port-scan',
        started_at: new Date(t0).toISOString(),
        facility_id: 'water-a',
        outcome: 'detected',
        alert_ids: [scan.id],
      },
    });
  });

  it('completes a multi-stage scenario only when scan, recon and one of the write techniques arrived', async () => {
    const s = await runner.start('multi-stage', 'water-a');

    await store.insertAlerts([alertAt('water-a', 'T0846'), alertAt('water-a', 'T0888', 9000)]);
    expect(s.outcome).toBe('running');
    expect(s.awaiting).toEqual([['T0855', 'T0836']]);
    await store.insertAlerts([alertAt('water-a', 'T0836', 15_000)]);
    expect(s.outcome).toBe('detected');
  });

  it("counts a multi-stage scenario's stages only in order: a write alerted before the recon is not its write", async () => {
    const s = await runner.start('multi-stage', 'water-a');
    const early = alertAt('water-a', 'T0855', 500);
    const scan = alertAt('water-a', 'T0846', 2000);
    const recon = alertAt('water-a', 'T0888', 54_000);
    const write = alertAt('water-a', 'T0855', 99_000);

    await store.insertAlerts([early, scan, recon]);
    expect(s.outcome).toBe('running');
    await store.insertAlerts([write]);
    expect(s.outcome).toBe('detected');
    expect(s.alert_ids).toEqual([scan.id, recon.id, write.id]);
  });

  it('ignores alerts decided before the scenario started', async () => {
    const s = await runner.start('port-scan', 'water-a');

    await store.insertAlerts([alertAt('water-a', 'T0846', -60_000)]);
    expect(s.outcome).toBe('running');
  });

  it('refuses an unknown facility, a refused injection and a second scenario on a busy facility', async () => {
    await expect(runner.start('port-scan', 'nowhere')).rejects.toMatchObject({ code: 'not_found' });
    answer = { accepted: false, error: 'this agent replays a capture; only --sim can inject' };
    const refused = await runner.start('port-scan', 'water-a').catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ApiError);
    expect((refused as ApiError).message).toContain('only --sim can inject');
    answer = { accepted: true, error: '' };
    await runner.start('port-scan', 'water-a');
    await expect(runner.start('multi-stage', 'water-a')).rejects.toMatchObject({ code: 'conflict' });
  });

  it('reset ends running scenarios and tells each facility that ran one to stop injecting', async () => {
    const a = await runner.start('port-scan', 'water-a');
    const b = await runner.start('multi-stage', 'factory-c');

    await runner.reset();

    expect([a.outcome, b.outcome]).toEqual(['reset', 'reset']);
    expect(
      asked
        .filter(([, n]) => n === 'reset')
        .map(([f]) => f)
        .sort(),
    ).toEqual(['factory-c', 'water-a']);
    expect(runner.status().active_scenarios).toEqual([]);
  });
});
