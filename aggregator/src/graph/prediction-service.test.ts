import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { shippedCatalog } from '@vigil/shared';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeAlert } from '../api/testing/fixtures.js';
import { LocalEventBus } from '../events/bus.js';
import { openStore } from '../store/open.js';
import type { Store } from '../store/types.js';
import { EmbeddedAttackGraph } from './embedded.js';
import { PredictionService } from './prediction-service.js';
import { RankerPredictor } from './predictor.js';

describe('the prediction service', () => {
  let dir: string;
  let store: Store;
  let service: PredictionService;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-predict-'));
    store = await openStore(`sqlite:${join(dir, 'p.db')}`);
    await store.addFacility({ id: 'plant-a', name: 'Plant A' });
    await store.addFacility({ id: 'plant-b', name: 'Plant B' });
    const graph = EmbeddedAttackGraph.fromCatalog(shippedCatalog());
    service = new PredictionService({
      store,
      bus: new LocalEventBus(),
      graph,
      predictor: new RankerPredictor(graph),
    });
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('makes one prediction for a burst of alerts of one technique at one facility while it stays open', async () => {
    const t0 = Date.parse('2026-11-22T10:00:00Z');
    const burst = Array.from({ length: 50 }, (_, i) =>
      makeAlert({ attack_type: 'T0846', timestamp: new Date(t0 + i * 1000).toISOString() }),
    );

    const made = [];
    for (const a of burst) made.push(await service.onAlert(a));
    const elsewhere = await service.onAlert(
      makeAlert({ facility_id: 'plant-b', attack_type: 'T0846', timestamp: new Date(t0).toISOString() }),
    );
    const first = made[0];
    const widest = Math.max(...(first?.predicted_techniques.map((t) => t.timeframe_seconds) ?? [0]));
    const afterWindow = await service.onAlert(
      makeAlert({ attack_type: 'T0846', timestamp: new Date(t0 + widest * 1000 + 1000).toISOString() }),
    );

    expect(first?.current_technique).toBe('T0846');
    expect(made.slice(1).every((p) => p === null)).toBe(true);
    expect(elsewhere?.current_technique).toBe('T0846');
    expect(afterWindow?.current_technique).toBe('T0846');
    expect((await store.listPredictions({ limit: 100, offset: 0 })).total).toBe(3);
  });
});
