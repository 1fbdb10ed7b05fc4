// The retention job: deletes alerts and per-second aggregates older than the configured ages, at start and then
// every interval (86,400 aggregate rows per facility per day add up). A failed run is reported and retried at the
// next interval; runs never overlap.
import type { Clock, Component } from '@vigil/shared';
import { systemClock } from '@vigil/shared';
import { iso } from './common.js';
import type { RetentionPolicy, Store } from './types.js';

export interface RetentionJobOptions {
  store: Store;
  policy: RetentionPolicy;
  /** Time between runs (default one hour). */
  intervalMs?: number;
  clock?: Clock;
  /** Told what each run deleted. */
  onPurged?: (deleted: { alerts: number; aggregates: number }) => void;
  /** Told when a run fails (default: one line on stderr). */
  onError?: (err: unknown) => void;
}

export const DEFAULT_RETENTION: RetentionPolicy = {
  alertsMaxAgeSeconds: 90 * 86_400,
  aggregatesMaxAgeSeconds: 7 * 86_400,
};

export class RetentionJob implements Component {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private state: 'new' | 'started' | 'stopped' = 'new';
  private readonly intervalMs: number;
  private readonly clock: Clock;

  constructor(private readonly options: RetentionJobOptions) {
    this.intervalMs = options.intervalMs ?? 3_600_000;
    if (!(this.intervalMs > 0))
      throw new RangeError(`retention interval must be > 0 ms, got ${this.intervalMs}`);
    this.clock = options.clock ?? systemClock;
  }

  /** Runs the first purge, then schedules the next ones. Does nothing once started or shut down. */
  async start(): Promise<void> {
    if (this.state !== 'new') return;
    this.state = 'started';
    await this.tick();
  }

  async shutdown(): Promise<void> {
    this.state = 'stopped';
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** One purge now, with the policy; resolves to what was deleted. Rejects if the store fails. */
  runOnce(): Promise<{ alerts: number; aggregates: number }> {
    return this.options.store.purge(this.options.policy, iso(this.clock.now()));
  }

  private async tick(): Promise<void> {
    this.running = this.runOnce().then(
      (deleted) => this.options.onPurged?.(deleted),
      (err: unknown) => {
        if (this.options.onError !== undefined) this.options.onError(err);
        else
          process.stderr.write(
            `retention: purge failed: ${err instanceof Error ? err.message : String(err)}\n`,
          );
      },
    );
    await this.running;
    this.running = undefined;
    if (this.state !== 'started') return;
    this.timer = setTimeout(() => void this.tick(), this.intervalMs);
    this.timer.unref();
  }
}
