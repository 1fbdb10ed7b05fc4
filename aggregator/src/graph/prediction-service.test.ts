import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { shippedCatalog, type Alert } from '@vigil/shared';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeAlert } from '../api/testing/fixtures.js';
import { LocalEventBus } from '../events/bus.js';
import { PublishingStore } from '../events/publishing-store.js';
import { openStore } from '../store/open.js';
import type { StoredAlert, Store } from '../store/types.js';
import { EmbeddedAttackGraph } from './embedded.js';
import { PREDICTION_K, PredictionService, RECENT_WINDOW_MS } from './prediction-service.js';
import { RankerPredictor } from './predictor.js';

const T0 = Date.parse('2026-11-22T10:00:00Z');
const at = (ms: number) => new Date(T0 + ms).toISOString();
const ids = (p: { predicted_techniques: { technique_id: string }[] } | null | undefined) =>
  p?.predicted_techniques.map((t) => t.technique_id) ?? [];

describe('the prediction service', () => {
  let dir: string;
  let store: Store;
  let graph: EmbeddedAttackGraph;
  let predictor: RankerPredictor;
  let service: PredictionService;
  const newService = () => new PredictionService({ store, bus: new LocalEventBus(), graph, predictor });
  /** What the server does: the alert is stored, then the service hears of it. */
  const arrive = async (s: PredictionService, a: StoredAlert) => {
    await store.insertAlerts([a]);
    return s.onAlert(a);
  };

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-predict-'));
    store = await openStore(`sqlite:${join(dir, 'p.db')}`);
    await store.addFacility({ id: 'plant-a', name: 'Plant A' });
    await store.addFacility({ id: 'plant-b', name: 'Plant B' });
    graph = EmbeddedAttackGraph.fromCatalog(shippedCatalog());
    predictor = new RankerPredictor(graph);
    service = newService();
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('makes one prediction for a burst of alerts of one technique at one facility while it stays recent', async () => {
    const made = [];
    for (let i = 0; i < 50; i++)
      made.push(await arrive(service, makeAlert({ attack_type: 'T0846', timestamp: at(i * 1000) })));
    const elsewhere = await arrive(
      service,
      makeAlert({ facility_id: 'plant-b', attack_type: 'T0846', timestamp: at(0) }),
    );
    const afterWindow = await arrive(
      service,
      makeAlert({ attack_type: 'T0846', timestamp: at(49_000 + RECENT_WINDOW_MS + 1000) }),
    );

    expect(made[0]?.current_technique).toBe('T0846');
    expect(made.slice(1).every((p) => p === null)).toBe(true);
    expect(elsewhere?.current_technique).toBe('T0846');
    expect(afterWindow?.current_technique).toBe('T0846');
    expect((await store.listPredictions({ limit: 100, offset: 0 })).total).toBe(3);
  });

  it("predicts the predictor's unmodified top k from every technique recently seen at the facility", async () => {
    await arrive(service, makeAlert({ attack_type: 'T0846', timestamp: at(0) }));
    await arrive(service, makeAlert({ facility_id: 'plant-b', attack_type: 'T0855', timestamp: at(1000) }));
    const second = await arrive(service, makeAlert({ attack_type: 'T0888', timestamp: at(2000) }));
    const third = await arrive(service, makeAlert({ attack_type: 'T0855', timestamp: at(3000) }));

    const expected = async (observed: string[]) =>
      (await predictor.predict(observed, PREDICTION_K)).map((r) => r.id);
    expect(second?.current_technique).toBe('T0888');
    expect(ids(second)).toEqual(await expected(['T0888', 'T0846']));
    expect(ids(third)).toEqual(await expected(['T0855', 'T0846', 'T0888']));
    expect(ids(third)).not.toEqual(await expected(['T0855']));
    for (const t of ['T0846', 'T0888', 'T0855']) expect(ids(third)).not.toContain(t);
  });

  it('tries again at the next alert of a technique whose prediction could not be stored', async () => {
    // A second connection to the same database makes every prediction insert fail, as a full disk would.
    const db = new Database(join(dir, 'p.db'));
    db.exec(
      "CREATE TRIGGER refuse_predictions BEFORE INSERT ON predictions BEGIN SELECT RAISE(ABORT, 'disk full'); END",
    );
    const failed = arrive(service, makeAlert({ attack_type: 'T0846', timestamp: at(0) }));
    await expect(failed).rejects.toThrow(/disk full/);
    expect((await store.listPredictions({ limit: 10, offset: 0 })).total).toBe(0);

    db.exec('DROP TRIGGER refuse_predictions');
    db.close();
    const retried = await arrive(service, makeAlert({ attack_type: 'T0846', timestamp: at(1000) }));
    const repeat = await arrive(service, makeAlert({ attack_type: 'T0846', timestamp: at(2000) }));

    expect(retried?.current_technique).toBe('T0846');
    expect(retried?.timestamp).toBe(at(1000));
    expect(repeat).toBeNull();
    expect((await store.listPredictions({ limit: 10, offset: 0 })).total).toBe(1);
  });

  it('forgets a technique seen longer ago than the window', async () => {
    await arrive(service, makeAlert({ attack_type: 'T0846', timestamp: at(0) }));
    const later = await arrive(
      service,
      makeAlert({ attack_type: 'T0888', timestamp: at(RECENT_WINDOW_MS + 1) }),
    );

    expect(ids(later)).toEqual((await predictor.predict(['T0888'], PREDICTION_K)).map((r) => r.id));
  });

  it('validates a prediction by the first later alert of a listed technique within its timeframe', async () => {
    const first = await arrive(service, makeAlert({ attack_type: 'T0846', timestamp: at(0) }));
    const listed = first?.predicted_techniques[0];
    const notListed = (await predictor.predict(['T0846'], 20))
      .map((r) => r.id)
      .find((t) => !ids(first).includes(t));

    await arrive(service, makeAlert({ attack_type: notListed ?? '', timestamp: at(1000) }));
    const unvalidated = await store.getPrediction(first?.id ?? '');
    await arrive(service, makeAlert({ attack_type: listed?.technique_id ?? '', timestamp: at(2000) }));
    const validated = await store.getPrediction(first?.id ?? '');

    expect(unvalidated?.validated).toBe(false);
    expect(validated?.validated).toBe(true);
    expect(validated?.validation_time).toBe(at(2000));
  });

  it('after a restart, neither predicts nor validates with a technique the facility showed before it', async () => {
    const fromScan = (await predictor.predict(['T0846'], PREDICTION_K)).map((r) => r.id);
    const seenBefore = fromScan[0] ?? '';
    await store.insertAlerts([makeAlert({ attack_type: seenBefore, timestamp: at(0) })]);

    const restarted = newService();
    const scan = await arrive(restarted, makeAlert({ attack_type: 'T0846', timestamp: at(60_000) }));
    const again = await arrive(restarted, makeAlert({ attack_type: seenBefore, timestamp: at(120_000) }));

    expect(ids(scan)).not.toContain(seenBefore);
    expect(ids(scan)).toEqual(
      (await predictor.predict(['T0846', seenBefore], PREDICTION_K)).map((r) => r.id),
    );
    expect(again).toBeNull();
    expect((await store.getPrediction(scan?.id ?? ''))?.validated).toBe(false);
  });

  it('takes the techniques of alerts an operator closed out of the picture, so the attack coming back predicts again', async () => {
    const bus = new LocalEventBus();
    const published = new PublishingStore(store, bus);
    const live = new PredictionService({ store: published, bus, graph, predictor });
    live.start();
    const heard = async (a: StoredAlert) => {
      await published.insertAlerts([a]);
      await live.enqueue(() => Promise.resolve());
    };
    const scan = makeAlert({ attack_type: 'T0846', timestamp: at(0) });
    const recon = makeAlert({ attack_type: 'T0888', timestamp: at(1000) });
    const stillOpen = makeAlert({ attack_type: 'T0855', timestamp: at(2000) });
    await heard(scan);
    await heard(recon);
    await heard(stillOpen);

    await published.setAlertStatus(scan.id, 'resolved');
    await published.setAlertStatus(recon.id, 'false-positive');
    await published.setAlertStatus(stillOpen.id, 'acknowledged');
    await heard(makeAlert({ attack_type: 'T0846', timestamp: at(60_000) }));
    await live.stop();

    const made = (await store.listPredictions({ limit: 10, offset: 0 })).items;
    const again = made.find((p) => p.timestamp === at(60_000));
    expect(made).toHaveLength(4);
    expect(ids(again)).toEqual((await predictor.predict(['T0846', 'T0855'], PREDICTION_K)).map((r) => r.id));
  });

  it('ignores alerts whose technique is not a live one or whose time is not a time', async () => {
    const unknown: Alert = makeAlert({ attack_type: 'T9999' });
    const badTime: Alert = { ...makeAlert({ attack_type: 'T0846' }), timestamp: 'yesterday' };

    expect(await service.onAlert(unknown)).toBeNull();
    expect(await service.onAlert(badTime)).toBeNull();
    expect((await store.listPredictions({ limit: 10, offset: 0 })).total).toBe(0);
  });
});
