import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ManualClock } from '@vigil/shared';
import type { FacilityAggregate, Store } from './types.js';
import { openStore } from './open.js';
import { RetentionJob } from './retention.js';

const NOW = Date.parse('2026-05-01T00:00:00.000Z');
const HOUR = 3_600_000;

function aggregateAt(ms: number): FacilityAggregate {
  return {
    facility_id: 'plant-a',
    time: new Date(ms).toISOString(),
    packets_per_sec: 1,
    bytes_per_sec: 1,
    unique_src_ips: 1,
    unique_dest_ips: 1,
    protocol_distribution: {},
    failed_connections: 0,
    avg_packet_size: 1,
    inter_arrival_time: 1,
  };
}

describe('RetentionJob', () => {
  let dir: string;
  let store: Store;
  const clock = new ManualClock(NOW);

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-retention-'));
    store = await openStore(`sqlite:${join(dir, 'r.db')}`, { clock });
    await store.insertAggregates([
      aggregateAt(NOW - 3 * HOUR),
      aggregateAt(NOW - 2 * HOUR),
      aggregateAt(NOW - 1000),
    ]);
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('purges at start, then again each interval as time moves on', async () => {
    const purged: number[] = [];
    const job = new RetentionJob({
      store,
      clock,
      intervalMs: 10,
      policy: { alertsMaxAgeSeconds: null, aggregatesMaxAgeSeconds: 2.5 * 3600 },
      onPurged: (d) => purged.push(d.aggregates),
    });

    await job.start();
    expect(purged).toEqual([1]);
    clock.advance(HOUR);
    await vi.waitFor(() => expect(purged.reduce((a, b) => a + b, 0)).toBe(2));
    await job.shutdown();

    expect(
      await store.aggregates('plant-a', new Date(0).toISOString(), new Date(NOW).toISOString()),
    ).toHaveLength(1);
  });

  it('may be shut down before start and twice, and does not start after shutdown', async () => {
    const onPurged = vi.fn();
    const job = new RetentionJob({
      store,
      clock,
      intervalMs: 10,
      policy: { alertsMaxAgeSeconds: 60, aggregatesMaxAgeSeconds: 60 },
      onPurged,
    });

    await job.shutdown();
    await job.start();
    await job.shutdown();

    expect(onPurged).not.toHaveBeenCalled();
  });

  it('reports a failed run instead of throwing, and keeps its schedule', async () => {
    const errors: unknown[] = [];
    await store.close();
    const job = new RetentionJob({
      store,
      clock,
      intervalMs: 10,
      policy: { alertsMaxAgeSeconds: 60, aggregatesMaxAgeSeconds: 60 },
      onError: (e) => errors.push(e),
    });

    await job.start();
    await vi.waitFor(() => expect(errors.length).toBeGreaterThanOrEqual(2));
    await job.shutdown();
    await job.shutdown();

    expect(errors[0]).toBeInstanceOf(Error);
    store = await openStore(`sqlite:${join(dir, 'r.db')}`, { clock });
  });

  it('rejects an interval that is not positive', () => {
    expect(
      () =>
        new RetentionJob({
          store,
          intervalMs: 0,
          policy: { alertsMaxAgeSeconds: 1, aggregatesMaxAgeSeconds: 1 },
        }),
    ).toThrow(RangeError);
  });
});
