// The real state of each dependency, checked on demand and on a timer; a change is published to the `system` room as
// `health`, and facility liveness changes as `facility_status`.
import type { Clock } from '@vigil/shared';
import type { AttackGraph } from '../graph/types.js';
import type { Store } from '../store/types.js';
import type { EventBus } from '../events/bus.js';
import { facilitySummaries, type LivenessThresholds, DEFAULT_LIVENESS } from './status.js';

export type ServiceState = 'connected' | 'down' | 'embedded';
export type OverallHealth = 'healthy' | 'degraded' | 'unhealthy';

export interface HealthReport {
  status: OverallHealth;
  services: Record<string, ServiceState>;
  /** Why each service that is down is down (its error), for the operator; absent when all are up. */
  details?: Record<string, string>;
}

export interface CheckResult {
  state: ServiceState;
  /** Why it is down. */
  detail?: string;
}

export interface DependencyCheck {
  name: string;
  /** A critical dependency that is down makes the whole service unhealthy (503); others make it degraded. */
  critical: boolean;
  check(): Promise<CheckResult>;
}

export function databaseCheck(store: Store, timeoutMs = 2000): DependencyCheck {
  return {
    name: 'database',
    critical: true,
    check: () => reachable(() => store.ping(), timeoutMs),
  };
}

/** Races `p` against a timeout: 'connected' when it resolves in time, 'down' (with why) when it rejects or is late. */
async function reachable(p: () => Promise<unknown>, timeoutMs: number): Promise<CheckResult> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    await Promise.race([p(), timeout]);
    return { state: 'connected' };
  } catch (err) {
    return { state: 'down', detail: err instanceof Error ? err.message : String(err) };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The attack graph: 'embedded' in memory, else whether its server (Neo4j) answers. Not critical: without it only
 * predictions stop, alerts are still stored and served.
 */
export function graphCheck(graph: Pick<AttackGraph, 'embedded' | 'ping'>, timeoutMs = 2000): DependencyCheck {
  return {
    name: 'graph',
    critical: false,
    check: () =>
      graph.embedded ? Promise.resolve({ state: 'embedded' }) : reachable(() => graph.ping(), timeoutMs),
  };
}

/** A dependency whose state some component reports (e.g. the gRPC listener); 'down' until it says otherwise. */
export function reportedCheck(name: string, state: () => ServiceState): DependencyCheck {
  return { name, critical: false, check: () => Promise.resolve({ state: state() }) };
}

export async function checkHealth(checks: readonly DependencyCheck[]): Promise<HealthReport> {
  const results = await Promise.all(checks.map((c) => c.check()));
  const services: Record<string, ServiceState> = {};
  const details: Record<string, string> = {};
  let status: OverallHealth = 'healthy';
  checks.forEach((c, i) => {
    const r = results[i] ?? { state: 'down' };
    services[c.name] = r.state;
    if (r.detail !== undefined) details[c.name] = r.detail;
    if (r.state === 'down') status = c.critical ? 'unhealthy' : status === 'unhealthy' ? status : 'degraded';
  });
  return Object.keys(details).length > 0 ? { status, services, details } : { status, services };
}

export interface MonitorOptions {
  store: Store;
  bus: EventBus;
  clock: Clock;
  checks: readonly DependencyCheck[];
  intervalMs?: number;
  liveness?: LivenessThresholds;
  onError?: (err: unknown) => void;
}

/** Polls dependencies and facility liveness; publishes only changes. */
export class HealthMonitor {
  private timer: NodeJS.Timeout | null = null;
  private lastHealth = '';
  private readonly lastFacility = new Map<string, string>();
  private running: Promise<void> | null = null;

  constructor(private readonly o: MonitorOptions) {}

  start(): void {
    if (this.timer !== null) return;
    this.timer = setInterval(() => void this.tick(), this.o.intervalMs ?? 2000);
    this.timer.unref();
    void this.tick();
  }

  /** Current health; publishes `health` when it differs from the last published state. */
  async health(): Promise<HealthReport> {
    const report = await checkHealth(this.o.checks);
    const key = JSON.stringify(report);
    if (key !== this.lastHealth) {
      const first = this.lastHealth === '';
      this.lastHealth = key;
      if (!first) this.o.bus.publish({ type: 'health', data: report, local: true });
    }
    return report;
  }

  tick(): Promise<void> {
    this.running ??= this.poll()
      .catch((err: unknown) => (this.o.onError ?? (() => undefined))(err))
      .finally(() => {
        this.running = null;
      });
    return this.running;
  }

  private async poll(): Promise<void> {
    const report = await this.health();
    if (report.services.database === 'down') return;
    const facilities = await facilitySummaries(
      this.o.store,
      this.o.clock.now(),
      this.o.liveness ?? DEFAULT_LIVENESS,
    );
    for (const f of facilities) {
      if (this.lastFacility.get(f.id) === f.status) continue;
      this.lastFacility.set(f.id, f.status);
      this.o.bus.publish({
        type: 'facility_status',
        data: { facility_id: f.id, name: f.name, status: f.status },
        local: true,
      });
    }
  }

  async stop(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }
}
