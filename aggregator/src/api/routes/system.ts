// GET /health, GET /api/system/status, GET /metrics.
import { createRoute, z } from '@hono/zod-openapi';
import type { ApiApp, ApiDeps } from '../app.js';
import { ApiError } from '../errors.js';
import { HealthSchema, SystemStatusSchema } from '../schemas.js';
import { systemStatus } from '../status.js';
import { errors, json } from './common.js';

export function registerSystemRoutes(app: ApiApp, deps: ApiDeps): void {
  app.openapi(
    createRoute({
      method: 'get',
      path: '/health',
      tags: ['system'],
      security: [],
      responses: {
        200: json(HealthSchema, 'Healthy or degraded: the state of each dependency'),
        503: json(HealthSchema, 'Unhealthy: a critical dependency (the database) is down'),
        429: errors()[429]!,
      },
    }),
    async (c) => {
      const report = await deps.health.health();
      return report.status === 'unhealthy' ? c.json(report, 503) : c.json(report, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/system/status',
      tags: ['system'],
      responses: { 200: json(SystemStatusSchema, 'Computed system figures'), ...errors(503) },
    }),
    async (c) => c.json(await systemStatus(deps.store, deps.clock.now(), deps.liveness), 200),
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/metrics',
      tags: ['system'],
      security: [],
      responses: {
        200: { description: 'Prometheus text exposition', content: { 'text/plain': { schema: z.string() } } },
        ...errors(503),
      },
    }),
    async (c) => {
      let text: string;
      try {
        text = await deps.metrics.text();
      } catch (err) {
        throw new ApiError('dependency_down', `metrics need the database: ${String(err)}`);
      }
      return c.text(text, 200, { 'Content-Type': deps.metrics.contentType });
    },
  );
}
