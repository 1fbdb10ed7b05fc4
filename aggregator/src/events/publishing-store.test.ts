import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sampleAlert } from '../link/testing/fixtures.js';
import { openStore } from '../store/open.js';
import type { Store, StoredAlert } from '../store/types.js';
import { LocalEventBus, type BusEvent } from './bus.js';
import { PublishingStore } from './publishing-store.js';

describe('PublishingStore alert inserts', () => {
  let dir: string;
  let raw: Store;
  let events: BusEvent[];
  let store: PublishingStore;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-publishing-'));
    raw = await openStore(`sqlite:${join(dir, 'vigil.db')}`);
    const bus = new LocalEventBus();
    events = [];
    bus.subscribe((e) => events.push(e));
    store = new PublishingStore(raw, bus);
  });

  afterEach(async () => {
    await raw.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const alert = (i: number): StoredAlert => ({
    ...sampleAlert(i),
    facility_id: 'plant-a',
    generated: i === 2,
  });

  it('announces each new alert once, in batch order, and no resend', async () => {
    const [a0, a1, a2, a3] = [0, 1, 2, 3].map(alert) as [StoredAlert, StoredAlert, StoredAlert, StoredAlert];
    await raw.insertAlerts([a1]);

    const added = await store.insertAlerts([a2, a1, a0, a2, a3]);

    expect(added).toBe(3);
    expect(events.map((e) => e.type)).toEqual(['alert_created', 'alert_created', 'alert_created']);
    expect(events.map((e) => (e.data as { id: string }).id)).toEqual([a2.id, a0.id, a3.id]);
    expect(events[0]?.data).not.toHaveProperty('generated');
    expect(await store.insertNewAlerts([a0, a1])).toEqual([]);
    expect(events).toHaveLength(3);
  });
});
