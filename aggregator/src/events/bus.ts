// The in-process event bus: every write that the dashboard should see is published here, and the WebSocket hub
// (and the dashboard-update throttle) listen. A later issue can put Postgres LISTEN/NOTIFY under the same interface so
// several aggregator replicas share one stream of events: publishers and listeners do not change.

/** Canonical room names (the WebSocket hub also accepts spelling aliases, e.g. `fl-status`). */
export const ROOMS = ['dashboard', 'alerts', 'fl_status', 'predictions', 'attack-graph', 'system'] as const;
export type Room = (typeof ROOMS)[number];

export const EVENT_TYPES = [
  'alert_created',
  'alert_updated',
  'dashboard_update',
  'fl_round_started',
  'fl_progress',
  'fl_round_completed',
  'prediction_created',
  'prediction_validated',
  'attack_detected',
  'facility_status',
  'health',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** The rooms each event type goes to (spec: WebSocket section). */
export const ROOMS_OF_EVENT: Readonly<Record<EventType, readonly Room[]>> = {
  alert_created: ['alerts', 'dashboard'],
  alert_updated: ['alerts', 'dashboard'],
  dashboard_update: ['dashboard'],
  fl_round_started: ['fl_status', 'dashboard'],
  fl_progress: ['fl_status', 'dashboard'],
  fl_round_completed: ['fl_status', 'dashboard'],
  prediction_created: ['predictions'],
  prediction_validated: ['predictions'],
  attack_detected: ['attack-graph'],
  facility_status: ['system'],
  health: ['system'],
};

export interface BusEvent {
  type: EventType;
  /** JSON-serialisable payload; sent to clients as the message's `data`. */
  data: unknown;
  /**
   * Derived from state every replica computes for itself (dashboard_update, health, facility_status): a distributed
   * bus delivers it in this process only, so N replicas do not announce it N times to each client.
   */
  local?: boolean;
}

export type BusListener = (event: BusEvent) => void;

export interface EventBus {
  /** Delivers `event` to every listener (of every replica, for a distributed bus). Never throws on a bad listener. */
  publish(event: BusEvent): void;
  /** Returns the function that removes the listener. */
  subscribe(listener: BusListener): () => void;
  close(): Promise<void>;
}

/** Single-process bus: synchronous delivery in subscription order; a throwing listener does not stop the others. */
export class LocalEventBus implements EventBus {
  private readonly listeners = new Set<BusListener>();
  private closed = false;

  constructor(private readonly onListenerError: (err: unknown) => void = () => undefined) {}

  publish(event: BusEvent): void {
    if (this.closed) return;
    for (const l of [...this.listeners]) {
      try {
        l(event);
      } catch (err) {
        this.onListenerError(err);
      }
    }
  }

  subscribe(listener: BusListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  close(): Promise<void> {
    this.closed = true;
    this.listeners.clear();
    return Promise.resolve();
  }
}
