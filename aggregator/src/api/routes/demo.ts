// Demo scenarios drive real traffic through the real agent pipeline; that engine comes in a later issue. Until it is
// attached the actions answer 503 not_available and the status honestly reports that nothing runs.
import { createRoute, z } from '@hono/zod-openapi';
import { requireRole, type ApiApp, type ApiDeps } from '../app.js';
import { ApiError } from '../errors.js';
import { DemoStatusSchema, ScenarioBody } from '../schemas.js';
import { errors, json } from './common.js';

const Started = z
  .object({ scenario_id: z.string(), status: z.literal('started') })
  .openapi('ScenarioStarted');
const RoundStarted = z
  .object({ round_id: z.number().int(), status: z.literal('started') })
  .openapi('RoundStarted');

function notAvailable(): never {
  throw new ApiError('not_available', 'demo scenarios cannot run: the scenario engine is not attached', {
    engine: 'demo',
  });
}

export function registerDemoRoutes(app: ApiApp, _deps: ApiDeps): void {
  for (const name of ['port-scan', 'multi-stage']) {
    app.openapi(
      createRoute({
        method: 'post',
        path: `/api/demo/scenarios/${name}`,
        tags: ['demo'],
        request: { body: { required: true, content: { 'application/json': { schema: ScenarioBody } } } },
        responses: { 200: json(Started, 'The scenario started'), ...errors(403, 404, 409, 503) },
      }),
      (c) => {
        requireRole(c, 'operator');
        return notAvailable();
      },
    );
  }

  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/demo/scenarios/fl-round',
      tags: ['demo'],
      responses: { 200: json(RoundStarted, 'The FL round started'), ...errors(403, 409, 503) },
    }),
    (c) => {
      requireRole(c, 'operator');
      return notAvailable();
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/demo/status',
      tags: ['demo'],
      responses: {
        200: json(DemoStatusSchema, 'Running scenarios (none while no scenario engine is attached)'),
      },
    }),
    (c) => c.json({ active_scenarios: [], last_scenario: null }, 200),
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/demo/reset',
      tags: ['demo'],
      responses: {
        200: json(
          z.object({ status: z.literal('reset_complete') }).openapi('ResetComplete'),
          'Demo state reset',
        ),
        ...errors(403, 503),
      },
    }),
    (c) => {
      requireRole(c, 'operator');
      return notAvailable();
    },
  );
}
