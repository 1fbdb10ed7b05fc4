// The dashboard API as one Hono application: middleware (metrics, CORS, rate limits, auth), the spec's paths, the
// single error shape, and the OpenAPI 3.1 document generated from the same zod schemas that validate requests.
import type { DemoControl } from '../demo/scenarios.js';
import type { PredictionService } from '../graph/prediction-service.js';
import { OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { cors } from 'hono/cors';
import { HTTPException } from 'hono/http-exception';
import { matchedRoutes } from 'hono/route';
import type { IncomingMessage } from 'node:http';
import type { AttackCatalog, Clock } from '@vigil/shared';
import { StoreConflictError, type Role, type Store } from '../store/types.js';
import type { EventBus } from '../events/bus.js';
import type { RoundEngine } from '../fl/engine.js';
import { ApiError, errorBody } from './errors.js';
import { bearerSecret, hasRole, type Authenticator, type Caller } from './auth.js';
import { RateLimiter, type RateLimitOptions } from './rate-limit.js';
import type { ApiMetrics } from './metrics.js';
import { databaseCheck, type HealthMonitor } from './health.js';
import type { LivenessThresholds } from './status.js';
import type { DashboardFiles } from './static.js';
import { registerSystemRoutes } from './routes/system.js';
import { registerAlertRoutes } from './routes/alerts.js';
import { registerContextRoutes } from './routes/context.js';
import { registerFlRoutes } from './routes/fl.js';
import { registerPredictionRoutes } from './routes/predictions.js';
import { registerMitreRoutes } from './routes/mitre.js';
import { registerDemoRoutes } from './routes/demo.js';
import { registerFacilityRoutes } from './routes/facilities.js';

export interface ApiEnv {
  Variables: { caller: Caller };
}

export type ApiApp = OpenAPIHono<ApiEnv>;

export interface PrivacySettings {
  /** The δ of the (ε, δ) guarantee the FL training targets. */
  delta: number;
  /** The ε budget; privacy_budget_remaining is the unspent share of it. */
  epsilonBudget: number;
  /** How model updates travel (reported as configured; the link issue owns it). */
  encryption: string;
}

/** What the round trigger needs of the FL engine (fl/engine.ts's RoundEngine). */
export type RoundStarter = Pick<RoundEngine, 'start'>;

export interface ApiDeps {
  /** The store, wrapped so that writes publish to the bus (PublishingStore). */
  store: Store;
  bus: EventBus;
  clock: Clock;
  health: HealthMonitor;
  metrics: ApiMetrics;
  auth: Authenticator;
  catalog: AttackCatalog;
  rateLimit: RateLimitOptions;
  corsOrigins: readonly string[];
  liveness: LivenessThresholds;
  privacy: PrivacySettings;
  /** The FL engine, once attached (RunningApi.attachFl); the round trigger answers 503 while it is null. */
  fl: { engine: RoundStarter | null };
  log: (line: string) => void;
  /** The dashboard's static files, served at `/` to anyone (the page itself asks for a token); none when absent. */
  dashboard?: DashboardFiles;
  /** Makes and validates next-technique predictions (graph/prediction-service.ts). */
  predictions: PredictionService;
  /** Runs demo scenarios through the agents; the demo routes answer 503 not_available without it. */
  demo?: DemoControl;
}

/** Paths anyone may read without a token (probes, scrapers, the API description). */
const PUBLIC_PATHS = new Set(['/health', '/metrics', '/openapi.json']);

/** The peer address of the request's connection (node-server passes the IncomingMessage as env.incoming). */
export function clientAddress(env: unknown): string {
  const incoming = (env as { incoming?: IncomingMessage } | undefined)?.incoming;
  return incoming?.socket.remoteAddress ?? 'unknown';
}

export function createApi(deps: ApiDeps): ApiApp {
  const limiter = new RateLimiter(deps.rateLimit, () => deps.clock.now());
  const app: ApiApp = new OpenAPIHono<ApiEnv>({
    defaultHook: (result, c) => {
      if (result.success) return;
      const issues = result.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
      const first = issues[0];
      const message =
        first === undefined ? 'invalid request' : `${first.path || result.target}: ${first.message}`;
      return c.json(errorBody('validation_failed', message, { target: result.target, issues }), 400);
    },
  });

  app.use('*', async (c, next) => {
    const started = performance.now();
    await next();
    const route =
      matchedRoutes(c as unknown as Context)
        .filter((r) => r.method !== 'ALL')
        .at(-1)?.path ?? 'unmatched';
    deps.metrics.requestDuration.observe(
      { method: c.req.method, route, status: String(c.res.status) },
      (performance.now() - started) / 1000,
    );
  });

  app.use(
    '*',
    cors({
      origin: (origin) =>
        deps.corsOrigins.includes('*') || deps.corsOrigins.includes(origin) ? origin : null,
      allowMethods: ['GET', 'POST', 'PUT', 'DELETE', 'OPTIONS'],
      allowHeaders: ['Content-Type', 'Authorization'],
      maxAge: 600,
    }),
  );

  app.use('*', async (c, next) => {
    const address = clientAddress(c.env);
    const wait = limiter.take(`addr:${address}`);
    if (wait > 0) {
      deps.metrics.rateLimited.inc({ scope: 'address' });
      c.header('Retry-After', String(wait));
      throw new ApiError('rate_limited', `too many requests from ${address}; retry in ${wait} s`, {
        retry_after_seconds: wait,
      });
    }
    if (PUBLIC_PATHS.has(c.req.path)) return next();
    const file = await deps.dashboard?.lookup(c.req.method, c.req.path);
    if (file !== undefined && file !== null) {
      if (c.req.method === 'HEAD') return c.body(null, 200, file.headers);
      return c.body(new Uint8Array(file.body), 200, file.headers);
    }
    const caller = await deps.auth.resolve(bearerSecret(c.req.header('authorization')));
    if (caller.tokenId !== null) {
      const tokenWait = limiter.take(`token:${caller.tokenId}`);
      if (tokenWait > 0) {
        deps.metrics.rateLimited.inc({ scope: 'token' });
        c.header('Retry-After', String(tokenWait));
        throw new ApiError('rate_limited', `too many requests for this token; retry in ${tokenWait} s`, {
          retry_after_seconds: tokenWait,
        });
      }
    }
    c.set('caller', caller);
    return next();
  });

  app.onError(async (err, c) => {
    if (err instanceof ApiError) return c.json(err.body(), err.status);
    if (err instanceof StoreConflictError) return c.json(errorBody('conflict', err.message), 409);
    if (err instanceof HTTPException) {
      if (err.status === 400)
        return c.json(errorBody('invalid_json', err.message || 'malformed request body'), 400);
      if (err.status === 413) return c.json(errorBody('payload_too_large', err.message), 413);
      return c.json(errorBody('bad_request', err.message), 400);
    }
    // A store call that failed because the database is unreachable is a dependency outage, not a bug.
    const db = await databaseCheck(deps.store, 1000).check();
    if (db.state === 'down') {
      return c.json(
        errorBody(
          'dependency_down',
          `the database cannot serve this now (${db.detail ?? 'down'}); retry shortly`,
          {
            service: 'database',
          },
        ),
        503,
      );
    }
    deps.log(
      `api: ${c.req.method} ${c.req.path} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
    );
    return c.json(errorBody('internal_error', 'internal error; the server log has the details'), 500);
  });

  app.notFound((c) => c.json(errorBody('not_found', `no such path: ${c.req.method} ${c.req.path}`), 404));

  registerSystemRoutes(app, deps);
  registerAlertRoutes(app, deps);
  registerContextRoutes(app, deps);
  registerFacilityRoutes(app, deps);
  registerFlRoutes(app, deps);
  registerPredictionRoutes(app, deps);
  registerMitreRoutes(app, deps);
  registerDemoRoutes(app, deps);

  app.doc31('/openapi.json', {
    openapi: '3.1.0',
    info: {
      title: 'Vigil dashboard API',
      version: '1.0.0',
      description:
        'Alerts, context windows, federated learning, attack predictions and demo scenarios of a Vigil aggregator. ' +
        'Errors are {"error": {"code", "message", "details"}}. WebSocket: /ws (see the project documentation).',
    },
    security: [{ bearer: [] }],
  });
  app.openAPIRegistry.registerComponent('securitySchemes', 'bearer', { type: 'http', scheme: 'bearer' });

  return app;
}

/** Throws 403 unless the request's caller has at least `role`. */
export function requireRole(c: Context<ApiEnv>, role: Role): Caller {
  const caller = c.get('caller');
  if (!hasRole(caller, role)) {
    throw new ApiError('forbidden', `this action needs the ${role} role; the caller has ${caller.role}`, {
      needed: role,
      role: caller.role,
    });
  }
  return caller;
}

/** Records an operator or admin action in the audit log. */
export async function audit(
  deps: ApiDeps,
  caller: Caller,
  action: string,
  target: string,
  details: Record<string, unknown> = {},
): Promise<void> {
  await deps.store.audit({
    at: new Date(deps.clock.now()).toISOString(),
    actor: caller.actor,
    action,
    target,
    details,
  });
}
