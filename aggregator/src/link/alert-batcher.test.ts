import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Store, StoredAlert } from '../store/types.js';
import { AlertBatcher } from './alert-batcher.js';
import { linkFixture, sampleAlert, type LinkFixture } from './testing/fixtures.js';

describe('AlertBatcher', () => {
  let fx: LinkFixture;
  beforeEach(async () => {
    fx = await linkFixture();
    await fx.store.addFacility({ id: 'plant-a', name: 'A' });
  });
  afterEach(() => fx.cleanup());

  const stored = (i: number): StoredAlert => ({
    ...sampleAlert(i),
    facility_id: 'plant-a',
    generated: false,
  });

  it('commits the alerts of one event-loop turn in one transaction and settles every caller after it', async () => {
    let transactions = 0;
    const counting: Store = Object.create(fx.store) as Store;
    counting.insertAlerts = (a) => {
      transactions++;
      return fx.store.insertAlerts(a);
    };
    const batcher = new AlertBatcher(counting);
    const first = [stored(1), stored(2)];

    await Promise.all([batcher.add(first), batcher.add([stored(3)]), batcher.add([first[0]!])]);

    expect(transactions).toBe(1);
    expect(batcher.newAlerts).toBe(3);
    expect((await fx.store.alertStats()).total).toBe(3);
  });

  it('splits at the batch bound and rejects the callers of a failed transaction', async () => {
    const batcher = new AlertBatcher(fx.store, 2);
    const bad = { ...stored(9), severity: 'extreme' } as unknown as StoredAlert; // the store's CHECK refuses it

    const ok = batcher.add([stored(1), stored(2)]);
    const failed = batcher.add([bad]);

    await expect(ok).resolves.toBeUndefined();
    await expect(failed).rejects.toThrow();
    expect((await fx.store.alertStats()).total).toBe(2);
  });
});
