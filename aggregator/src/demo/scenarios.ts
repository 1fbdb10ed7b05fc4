// Demo scenarios: an operator asks for an attack on one facility; the aggregator asks that facility's agent (over the
// link's push channel) to inject it into its live simulated traffic, and the scenario stays active until the alerts it
// should cause arrive from the agent's detectors, or until it times out. Nothing here makes an alert: the runner only
// watches the alerts the pipeline stores.
import { randomUUID } from 'node:crypto';
import type { Alert } from '@vigil/shared';
import { ApiError } from '../api/errors.js';
import type { EventBus } from '../events/bus.js';
import type { Store } from '../store/types.js';

export const SCENARIOS = {
  /** Network scan from a host of the plant (ATT&CK for ICS T0846 Remote System Discovery). */
  'port-scan': ['T0846'],
  /** Scan, then Modbus recon, then an unauthorized write: the chain ends in T0855 or T0836. Stages count in order. */
  'multi-stage': ['T0846', 'T0888', ['T0855', 'T0836']],
} as const satisfies Record<string, readonly (string | readonly string[])[]>;
export type ScenarioType = keyof typeof SCENARIOS;

/** What the agent answered to a push (link.proto PushAck). */
export interface InjectResult {
  accepted: boolean;
  error: string;
}
/** Asks the facility's connected agent to inject `name` (or `reset`) into its live traffic. */
export type ScenarioInjector = (facilityId: string, name: string) => Promise<InjectResult>;

export interface ScenarioRecord {
  scenario_id: string;
  type: string;
  started_at: string;
  facility_id: string;
  /**
   * Technique ids still awaited, in the order the attack's stages come; each entry may be satisfied by any of its
   * alternatives. Only the next stage's alert counts: an alert of a later stage's technique before it (the attacker
   * host's routine engineering write alerted during the scan) is not that stage.
   */
  awaiting: string[][];
  /** Alert ids the scenario's techniques were seen in, in arrival order. */
  alert_ids: string[];
  outcome: 'running' | 'detected' | 'timed_out' | 'reset';
}

/** A scenario as the API shows it (the spec's Scenario plus where it runs and how it ended). */
export type ScenarioView = Omit<ScenarioRecord, 'awaiting'>;

export interface DemoStatusView {
  active_scenarios: ScenarioView[];
  last_scenario: ScenarioView | null;
}

/** What the API's demo routes need; absent when the server runs without agents that can inject. */
export interface DemoControl {
  start(type: ScenarioType, facilityId: string): Promise<ScenarioRecord>;
  status(): DemoStatusView;
  /** Every scenario, newest first (for the CLI and tests). */
  history(): readonly ScenarioRecord[];
  reset(): Promise<void>;
  /** Stops watching alerts and clears the timers. */
  close(): void;
}

export interface ScenarioRunnerOptions {
  store: Store;
  bus: EventBus;
  inject: ScenarioInjector;
  now: () => number;
  /** A scenario whose alerts have not all arrived by then is marked timed out (default 3 min). */
  timeoutMs?: number;
  log?: (line: string) => void;
}

const HISTORY = 100;

export class ScenarioRunner implements DemoControl {
  private readonly scenarios: ScenarioRecord[] = [];
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly unsubscribe: () => void;

  constructor(private readonly o: ScenarioRunnerOptions) {
    this.unsubscribe = o.bus.subscribe((e) => {
      if (e.type === 'alert_created') this.onAlert(e.data as Alert);
    });
  }

  async start(type: ScenarioType, facilityId: string): Promise<ScenarioRecord> {
    if ((await this.o.store.getFacility(facilityId)) === null) {
      throw new ApiError('not_found', `no facility ${facilityId}`, { facility_id: facilityId });
    }
    if (this.scenarios.some((s) => s.outcome === 'running' && s.facility_id === facilityId)) {
      throw new ApiError('conflict', `a scenario is already running on ${facilityId}; wait or reset`, {
        facility_id: facilityId,
      });
    }
    let ack: InjectResult;
    try {
      ack = await this.o.inject(facilityId, type);
    } catch (err) {
      throw new ApiError('conflict', `cannot reach the agent of ${facilityId}: ${(err as Error).message}`, {
        facility_id: facilityId,
      });
    }
    if (!ack.accepted) {
      throw new ApiError('conflict', `the agent of ${facilityId} refused the scenario: ${ack.error}`, {
        facility_id: facilityId,
      });
    }
    const s: ScenarioRecord = {
      scenario_id: randomUUID(),
      type,
      started_at: new Date(this.o.now()).toISOString(),
      facility_id: facilityId,
      awaiting: SCENARIOS[type].map((t) => (typeof t === 'string' ? [t] : [...t])),
      alert_ids: [],
      outcome: 'running',
    };
    this.scenarios.unshift(s);
    this.scenarios.length = Math.min(this.scenarios.length, HISTORY);
    const timer = setTimeout(() => this.finish(s, 'timed_out'), this.o.timeoutMs ?? 180_000);
    timer.unref();
    this.timers.set(s.scenario_id, timer);
    return s;
  }

  private onAlert(a: Alert): void {
    for (const s of this.scenarios) {
      if (s.outcome !== 'running' || s.facility_id !== a.facility_id) continue;
      if (Date.parse(a.timestamp) < Date.parse(s.started_at) - 1000) continue;
      if (s.awaiting[0]?.includes(a.attack_type) !== true) continue;
      s.awaiting.shift();
      s.alert_ids.push(a.id);
      if (s.awaiting.length === 0) this.finish(s, 'detected');
    }
  }

  private finish(s: ScenarioRecord, outcome: ScenarioRecord['outcome']): void {
    if (s.outcome !== 'running') return;
    s.outcome = outcome;
    clearTimeout(this.timers.get(s.scenario_id));
    this.timers.delete(s.scenario_id);
    if (outcome === 'timed_out') {
      this.o.log?.(
        `demo: scenario ${s.type} on ${s.facility_id} timed out still awaiting ${s.awaiting.map((a) => a.join('|')).join(', ')}`,
      );
    }
  }

  status(): DemoStatusView {
    const view = ({ awaiting: _awaiting, ...s }: ScenarioRecord): ScenarioView => ({
      ...s,
      alert_ids: [...s.alert_ids],
    });
    const last = this.scenarios[0];
    return {
      active_scenarios: this.scenarios.filter((s) => s.outcome === 'running').map(view),
      last_scenario: last === undefined ? null : view(last),
    };
  }

  history(): readonly ScenarioRecord[] {
    return this.scenarios;
  }

  /** Stops injected attacks on every facility that ran a scenario and ends the running ones. */
  async reset(): Promise<void> {
    const facilities = new Set(this.scenarios.map((s) => s.facility_id));
    for (const s of this.scenarios) this.finish(s, 'reset');
    const failures: string[] = [];
    await Promise.all(
      [...facilities].map(async (f) => {
        const ack = await this.o.inject(f, 'reset').catch((err: unknown) => ({
          accepted: false,
          error: (err as Error).message,
        }));
        if (!ack.accepted) failures.push(`${f}: ${ack.error}`);
      }),
    );
    if (failures.length > 0) this.o.log?.(`demo: reset not confirmed by ${failures.join('; ')}`);
  }

  close(): void {
    this.unsubscribe();
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }
}
