// Merges the alerts of all agent streams that arrive within one event-loop turn into one store transaction: with
// hundreds of agents each sending small batches, one insert per message would spend the aggregator on transaction
// overhead. Each caller's promise settles when the transaction holding its alerts has committed (or failed), so a
// stream acknowledges only persisted alerts, in its own order.
import type { Store, StoredAlert } from '../store/types.js';

interface Waiter {
  alerts: StoredAlert[];
  resolve: () => void;
  reject: (err: unknown) => void;
}

export class AlertBatcher {
  private pending: Waiter[] = [];
  private pendingCount = 0;
  private scheduled = false;
  /** Alerts the store reported as new (not resends). */
  newAlerts = 0;
  /** Store transactions made (each holding the alerts of every waiting caller). */
  transactions = 0;

  constructor(
    private readonly store: Store,
    private readonly maxBatch = 4096,
  ) {}

  /** Resolves once the alerts are committed. */
  add(alerts: StoredAlert[]): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ alerts, resolve, reject });
      this.pendingCount += alerts.length;
      if (this.pendingCount >= this.maxBatch) this.flush();
      else if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    const batch = this.pending;
    if (batch.length === 0) return;
    this.pending = [];
    this.pendingCount = 0;
    this.transactions++;
    this.store.insertAlerts(batch.flatMap((w) => w.alerts)).then(
      (n) => {
        this.newAlerts += n;
        for (const w of batch) w.resolve();
      },
      (err: unknown) => {
        for (const w of batch) w.reject(err);
      },
    );
  }
}
