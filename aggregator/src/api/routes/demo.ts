// Demo scenarios drive real traffic through the real agent pipeline: the scenario runner (demo/scenarios.ts) asks the
// facility's agent to inject the attack into its live simulated traffic. A server without a runner (no agents that
// can inject) answers 503 not_available, and its status honestly reports that nothing runs.
import { createRoute, z } from '@hono/zod-openapi';
import type { DemoControl, ScenarioType } from '../../demo/scenarios.js';
import { audit, requireRole, type ApiApp, type ApiDeps } from '../app.js';
import { ApiError } from '../errors.js';
import { DemoStatusSchema, ScenarioBody } from '../schemas.js';
import { errors, json } from './common.js';
import { triggerRound } from './fl.js';

const Started = z
  .object({ scenario_id: z.string(), status: z.literal('started') })
  .openapi('ScenarioStarted');
// Not 'RoundStarted': that name is the FL trigger's answer (fl.ts), which also carries the round's FLRound fields, and
// the OpenAPI document keeps one schema per name, so this route was documented with the other's shape.
const RoundStarted = z
  .object({ round_id: z.number().int(), status: z.literal('started') })
  .openapi('ScenarioRoundStarted');

/**
 * How long the fl-round scenario waits for a round in progress before it answers 409: a series' Layer 2 and Layer 1b
 * rounds, each ended by its deadline (90 s to train and 25 s to evaluate by default), and still under the 300 s an
 * HTTP client such as Node's fetch waits for an answer's headers.
 */
const DEMO_ROUND_WAIT_MS = 240_000;

function notAvailable(): never {
  throw new ApiError('not_available', 'demo scenarios cannot run: the scenario engine is not attached', {
    engine: 'demo',
  });
}

function control(deps: ApiDeps): DemoControl {
  return deps.demo ?? notAvailable();
}

export function registerDemoRoutes(app: ApiApp, deps: ApiDeps): void {
  for (const name of ['port-scan', 'multi-stage'] as const satisfies readonly ScenarioType[]) {
    app.openapi(
      createRoute({
        method: 'post',
        path: `/api/demo/scenarios/${name}`,
        tags: ['demo'],
        request: { body: { required: true, content: { 'application/json': { schema: ScenarioBody } } } },
        responses: { 200: json(Started, 'The scenario started'), ...errors(403, 404, 409, 503) },
      }),
      async (c) => {
        const caller = requireRole(c, 'operator');
        const { facility_id } = c.req.valid('json');
        const s = await control(deps).start(name, facility_id);
        await audit(deps, caller, 'demo.scenario', facility_id, { type: name, scenario_id: s.scenario_id });
        return c.json({ scenario_id: s.scenario_id, status: 'started' as const }, 200);
      },
    );
  }

  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/demo/scenarios/fl-round',
      tags: ['demo'],
      // An operator asking for the demo's round wants to watch one run from its start: a round already in progress
      // (the Layer 1b round that follows each Layer 2 round, one from the FL page) is waited for, then this one starts.
      description: `Starts a federated round once the round in progress, if any, has ended (409 if it still runs after ${DEMO_ROUND_WAIT_MS / 1000} s).`,
      responses: { 200: json(RoundStarted, 'The FL round started'), ...errors(403, 409, 503) },
    }),
    async (c) => {
      const caller = requireRole(c, 'operator');
      const round = await triggerRound(deps, caller, {}, DEMO_ROUND_WAIT_MS);
      return c.json({ round_id: round.id, status: 'started' as const }, 200);
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
    (c) => c.json(deps.demo?.status() ?? { active_scenarios: [], last_scenario: null }, 200),
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
    async (c) => {
      const caller = requireRole(c, 'operator');
      await control(deps).reset();
      await audit(deps, caller, 'demo.reset', '*');
      return c.json({ status: 'reset_complete' as const }, 200);
    },
  );
}
