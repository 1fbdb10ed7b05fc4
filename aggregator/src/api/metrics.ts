// Prometheus metrics of the API process. One registry per server instance (tests run several in one process).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Store } from '../store/types.js';

export class ApiMetrics {
  readonly registry = new Registry();
  readonly requestDuration: Histogram<'method' | 'route' | 'status'>;
  readonly wsConnections: Gauge;
  readonly wsDropped: Counter<'reason'>;
  readonly wsMessagesSent: Counter;
  readonly rateLimited: Counter<'scope'>;

  constructor(store: Store, o: { processMetrics?: boolean } = {}) {
    const registers = [this.registry];
    if (o.processMetrics ?? false) collectDefaultMetrics({ register: this.registry, prefix: 'vigil_' });
    this.requestDuration = new Histogram({
      name: 'vigil_http_request_duration_seconds',
      help: 'HTTP request latency by route pattern',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    this.wsConnections = new Gauge({
      name: 'vigil_ws_connections',
      help: 'Open WebSocket connections',
      registers,
    });
    this.wsDropped = new Counter({
      name: 'vigil_ws_dropped_total',
      help: 'WebSocket connections closed by the server (slow consumer, missed pongs)',
      labelNames: ['reason'],
      registers,
    });
    this.wsMessagesSent = new Counter({
      name: 'vigil_ws_messages_sent_total',
      help: 'Messages sent to WebSocket clients',
      registers,
    });
    this.rateLimited = new Counter({
      name: 'vigil_rate_limited_total',
      help: 'Requests refused with 429',
      labelNames: ['scope'],
      registers,
    });
    new Gauge({
      name: 'vigil_alerts_stored',
      help: 'Alerts held by the store',
      registers,
      async collect() {
        this.set((await store.alertStats()).total);
      },
    });
    new Gauge({
      name: 'vigil_fl_rounds',
      help: 'Federated learning rounds recorded by the store',
      registers,
      async collect() {
        this.set((await store.listRounds(1, 0)).total);
      },
    });
  }

  async text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
