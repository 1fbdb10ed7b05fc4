// After alert changes, the dashboard room gets one `dashboard_update` with fresh alert stats and system figures, at
// most once a second however many alerts arrive.
import type { Clock } from '@vigil/shared';
import type { Store } from '../store/types.js';
import { systemStatus, type LivenessThresholds, DEFAULT_LIVENESS } from '../api/status.js';
import type { EventBus } from './bus.js';

export interface DashboardUpdaterOptions {
  store: Store;
  bus: EventBus;
  clock: Clock;
  /** Minimum spacing of two updates, ms (spec: at most once a second). */
  intervalMs?: number;
  liveness?: LivenessThresholds;
  onError?: (err: unknown) => void;
}

export class DashboardUpdater {
  private timer: NodeJS.Timeout | null = null;
  private lastSentMs = Number.NEGATIVE_INFINITY;
  private readonly unsubscribe: () => void;
  private readonly intervalMs: number;
  private stopped = false;
  private inFlight: Promise<void> = Promise.resolve();

  constructor(private readonly o: DashboardUpdaterOptions) {
    this.intervalMs = o.intervalMs ?? 1000;
    this.unsubscribe = o.bus.subscribe((e) => {
      if (e.type === 'alert_created' || e.type === 'alert_updated') this.schedule();
    });
  }

  private schedule(): void {
    if (this.timer !== null || this.stopped) return;
    const wait = Math.max(0, this.lastSentMs + this.intervalMs - this.o.clock.now());
    this.timer = setTimeout(() => {
      this.timer = null;
      this.lastSentMs = this.o.clock.now();
      this.inFlight = this.send().catch((err: unknown) => (this.o.onError ?? (() => undefined))(err));
    }, wait);
  }

  private async send(): Promise<void> {
    const [alertStats, system] = await Promise.all([
      this.o.store.alertStats(),
      systemStatus(this.o.store, this.o.clock.now(), this.o.liveness ?? DEFAULT_LIVENESS),
    ]);
    if (this.stopped) return;
    this.o.bus.publish({
      type: 'dashboard_update',
      data: { alertStats, stats: alertStats, ...system },
      local: true,
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe();
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    await this.inFlight;
  }
}
