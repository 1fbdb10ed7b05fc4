// The API server: REST (Hono) and /ws on one port, over TLS when it listens off loopback. Owns the event bus wiring,
// the health monitor and the dashboard-update throttle; close() shuts all of it down in order.
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { getRequestListener } from '@hono/node-server';
import { shippedCatalog, systemClock, UsageError, type AttackCatalog, type Clock } from '@vigil/shared';
import type { Store } from '../store/types.js';
import { LocalEventBus, type EventBus } from '../events/bus.js';
import type { DemoControl } from '../demo/scenarios.js';
import { EmbeddedAttackGraph } from '../graph/embedded.js';
import { PredictionService } from '../graph/prediction-service.js';
import { openPredictor, SERVED_PREDICTOR, type NextTechniquePredictor } from '../graph/predictor.js';
import type { AttackGraph } from '../graph/types.js';
import { PublishingStore } from '../events/publishing-store.js';
import { DashboardUpdater } from '../events/dashboard-updates.js';
import { createApi, type ApiApp, type PrivacySettings, type RoundStarter } from './app.js';
import { Authenticator } from './auth.js';
import { HealthMonitor, databaseCheck, graphCheck, reportedCheck, type ServiceState } from './health.js';
import { ApiMetrics } from './metrics.js';
import { DEFAULT_RATE_LIMIT, type RateLimitOptions } from './rate-limit.js';
import { DEFAULT_LIVENESS, type LivenessThresholds } from './status.js';
import { WsHub } from './ws-hub.js';
import { DashboardFiles, defaultDashboardDirs } from './static.js';

export const DEFAULT_CORS_ORIGINS = ['http://localhost:3000'];

export interface ApiServerOptions {
  /** The store as opened (not yet wrapped); the server wraps it so that writes publish to the bus. */
  store: Store;
  host: string;
  port: number;
  /** PEM certificate and key; required off loopback unless `insecure` is set. */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /** Serve plain HTTP off loopback (the operator turned TLS off explicitly). */
  insecure?: boolean;
  /** Anonymous callers get the operator role; refused unless the server listens on loopback only. */
  anonymous?: boolean;
  corsOrigins?: readonly string[];
  rateLimit?: RateLimitOptions;
  wsRateLimit?: RateLimitOptions;
  bus?: EventBus;
  clock?: Clock;
  catalog?: AttackCatalog;
  liveness?: LivenessThresholds;
  privacy?: PrivacySettings;
  healthIntervalMs?: number;
  wsPingIntervalMs?: number;
  wsMaxBufferedBytes?: number;
  /** The attack graph predictions rank over; the embedded graph of `catalog` when absent (closed with the server). */
  graph?: AttackGraph;
  /** The next-technique predictor; the served one (SERVED_PREDICTOR) over `graph` when absent. */
  predictor?: NextTechniquePredictor;
  /** State of the agent link's gRPC listener; reported as `down` until a component attaches it. */
  grpcState?: () => ServiceState;
  /** Builds the demo scenario runner once the publishing store and bus exist; the demo routes answer 503 without. */
  demo?: (deps: {
    store: Store;
    bus: EventBus;
    now: () => number;
    log: (line: string) => void;
  }) => DemoControl;
  /** Directories of the dashboard's static files (default: the built page of this package); [] serves none. */
  dashboardDirs?: readonly string[];
  log?: (line: string) => void;
}

export interface RunningApi {
  readonly url: string;
  readonly wsUrl: string;
  readonly port: number;
  /** The publishing store: writes through it reach the WebSocket rooms. */
  readonly store: Store;
  readonly bus: EventBus;
  readonly app: ApiApp;
  readonly hub: WsHub;
  readonly health: HealthMonitor;
  /** Attaches the FL engine (built over `store`, so its rounds reach the WebSocket rooms): the trigger then starts rounds. */
  attachFl(engine: RoundStarter): void;
  close(): Promise<void>;
}

/** True for addresses that only this machine can reach. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127(?:\.\d{1,3}){3}$/.test(h) || h === '::ffff:127.0.0.1';
}

/** Refuses settings the spec forbids: anonymous off loopback, plain HTTP off loopback unless explicitly allowed. */
export function checkExposure(o: Pick<ApiServerOptions, 'host' | 'tls' | 'insecure' | 'anonymous'>): void {
  if (isLoopback(o.host)) return;
  if (o.anonymous === true) {
    throw new UsageError(
      `anonymous access is only allowed on loopback, not on ${o.host}; drop --anonymous and issue tokens (vigil tokens create), or listen on 127.0.0.1`,
    );
  }
  if (o.tls === undefined && o.insecure !== true) {
    throw new UsageError(
      `listening on ${o.host} needs TLS: pass --tls-cert FILE --tls-key FILE (or --insecure-no-tls to serve plain HTTP knowingly)`,
    );
  }
}

export async function startApiServer(o: ApiServerOptions): Promise<RunningApi> {
  checkExposure(o);
  const log = o.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const clock = o.clock ?? systemClock;
  const bus = o.bus ?? new LocalEventBus((err) => log(`event listener failed: ${String(err)}`));
  const store = new PublishingStore(o.store, bus);
  const metrics = new ApiMetrics(store, { processMetrics: true });
  const auth = new Authenticator({ store, anonymous: o.anonymous ?? false, now: () => clock.now() });
  const liveness = o.liveness ?? DEFAULT_LIVENESS;
  const catalog = o.catalog ?? shippedCatalog();
  const graph = o.graph ?? EmbeddedAttackGraph.fromCatalog(catalog);
  const health = new HealthMonitor({
    store,
    bus,
    clock,
    liveness,
    checks: [databaseCheck(store), graphCheck(graph), reportedCheck('grpc', o.grpcState ?? (() => 'down'))],
    intervalMs: o.healthIntervalMs ?? 2000,
    onError: (err) => log(`health monitor: ${String(err)}`),
  });
  const dashboard = new DashboardUpdater({
    store,
    bus,
    clock,
    liveness,
    onError: (err) => log(`dashboard update failed: ${String(err)}`),
  });
  const predictor =
    o.predictor ??
    (await openPredictor(graph, SERVED_PREDICTOR, { onFallback: (why) => log(`predictor: ${why}`) }));
  const predictions = new PredictionService({
    store,
    bus,
    graph,
    predictor,
    now: () => new Date(clock.now()),
    onError: (err) => log(`prediction failed: ${String(err)}`),
  });
  predictions.start();
  const rateLimit = o.rateLimit ?? DEFAULT_RATE_LIMIT;
  const demo = o.demo?.({ store, bus, now: () => clock.now(), log });
  const fl: { engine: RoundStarter | null } = { engine: null };
  const app = createApi({
    demo,
    fl,
    predictions,
    store,
    bus,
    clock,
    health,
    metrics,
    auth,
    catalog,
    rateLimit,
    corsOrigins: o.corsOrigins ?? DEFAULT_CORS_ORIGINS,
    liveness,
    privacy: o.privacy ?? { delta: 1e-5, epsilonBudget: 10, encryption: 'none' },
    log,
    dashboard: new DashboardFiles(o.dashboardDirs ?? defaultDashboardDirs()),
  });
  const hub = new WsHub({
    bus,
    auth,
    metrics,
    rateLimit: o.wsRateLimit ?? rateLimit,
    pingIntervalMs: o.wsPingIntervalMs,
    maxBufferedBytes: o.wsMaxBufferedBytes,
    now: () => clock.now(),
  });

  const handle = getRequestListener(app.fetch);
  const listener = (req: IncomingMessage, res: ServerResponse): void => {
    handle(req, res).catch((err: unknown) => log(`request failed: ${String(err)}`));
  };
  const server: Server =
    o.tls === undefined
      ? createHttpServer(listener)
      : createHttpsServer({ cert: o.tls.cert, key: o.tls.key }, listener);
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/ws') {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    hub.handleUpgrade(req, socket, head, req.socket.remoteAddress ?? 'unknown');
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => {
      server.off('error', reject);
      resolve();
    });
  }).catch(async (err: unknown) => {
    await Promise.all([hub.close(), dashboard.stop(), predictions.stop()]);
    const code = (err as { code?: string }).code;
    if (code === 'EADDRINUSE')
      throw new UsageError(`port ${o.port} on ${o.host} is in use; pick another with --port`);
    if (code === 'EADDRNOTAVAIL')
      throw new UsageError(`${o.host} is not an address of this machine; check --host`);
    throw err;
  });
  health.start();

  const port = (server.address() as AddressInfo).port;
  const hostInUrl = o.host.includes(':') ? `[${o.host}]` : o.host;
  const scheme = o.tls === undefined ? 'http' : 'https';
  let closing: Promise<void> | null = null;
  return {
    url: `${scheme}://${hostInUrl}:${port}`,
    wsUrl: `${scheme === 'https' ? 'wss' : 'ws'}://${hostInUrl}:${port}/ws`,
    port,
    store,
    bus,
    app,
    hub,
    health,
    attachFl(engine) {
      fl.engine = engine;
    },
    close() {
      closing ??= (async () => {
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        await hub.close();
        server.closeIdleConnections();
        const forced = setTimeout(() => server.closeAllConnections(), 5000);
        await stopped;
        clearTimeout(forced);
        await Promise.all([health.stop(), dashboard.stop(), predictions.stop()]);
        demo?.close();
        if (o.predictor === undefined) await predictor.close();
        if (o.graph === undefined) await graph.close();
        if (o.bus === undefined) await bus.close();
      })();
      return closing;
    },
  };
}
