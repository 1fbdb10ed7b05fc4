// The benchmarks' seeded alerts: the same generated alerts for a given count and time, written through the store's bulk
// path (Store.seedAlerts, as `vigil seed` does), oldest first as ingest writes them. Used by bench/api.ts in its own
// thread for SQLite and in seed-worker.ts for Postgres, so the two stores are seeded at the same time.
import { shippedCatalog } from '@vigil/shared';
import { AlertSeeder } from '../src/seed/generate.js';
import type { Store } from '../src/store/types.js';

export const BENCH_FACILITIES = ['plant-a', 'plant-b', 'plant-c'];
/** Alerts per Store.seedAlerts call. */
export const SEED_BATCH = 20_000;
export const SEED_SPAN_SECONDS = 30 * 86_400;
export const SEED = 42;

/** Seeds `count` alerts ending at `nowMs` into an empty store; returns the seconds it took. */
export async function seedBench(
  store: Store,
  count: number,
  nowMs: number,
  progress: (done: number) => void = () => undefined,
): Promise<number> {
  const started = performance.now();
  for (const id of BENCH_FACILITIES) await store.addFacility({ id, name: id });
  const seeder = new AlertSeeder({
    facilities: BENCH_FACILITIES,
    nowMs,
    spanSeconds: SEED_SPAN_SECONDS,
    seed: SEED,
    catalog: shippedCatalog(),
    count,
  });
  for (let done = 0; done < count;) {
    const n = Math.min(SEED_BATCH, count - done);
    await store.seedAlerts(seeder.batch(n));
    done += n;
    progress(done);
    // SQLite's seedAlerts never yields to the event loop: let a worker's progress messages through between batches.
    await new Promise((resolve) => setImmediate(resolve));
  }
  return (performance.now() - started) / 1000;
}
