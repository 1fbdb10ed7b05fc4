// Federated learning: rounds and clients as the store holds them. Triggering a round needs the FL engine (a later
// issue): until it is attached the trigger answers 503 not_available.
import { createRoute } from '@hono/zod-openapi';
import type { FLClient } from '@vigil/shared';
import { requireRole, type ApiApp, type ApiDeps } from '../app.js';
import { ApiError } from '../errors.js';
import {
  ClientIdParams,
  FLClientSchema,
  FLRoundListSchema,
  FLRoundSchema,
  PageQuery,
  PrivacyMetricsSchema,
  RoundIdParams,
} from '../schemas.js';
import { errors, json } from './common.js';

/** How many recent rounds the client list is drawn from. */
const CLIENT_ROUNDS = 20;

async function recentClients(deps: ApiDeps): Promise<FLClient[]> {
  const { items } = await deps.store.listRounds(CLIENT_ROUNDS, 0);
  const newestFirst = [...items].sort((a, b) => b.id - a.id);
  const seen = new Map<string, FLClient>();
  for (const round of newestFirst) for (const cl of round.clients) if (!seen.has(cl.id)) seen.set(cl.id, cl);
  return [...seen.values()];
}

export function registerFlRoutes(app: ApiApp, deps: ApiDeps): void {
  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/fl/rounds/current',
      tags: ['fl'],
      responses: {
        200: json(FLRoundSchema.nullable(), 'The newest round, or null when no round has run yet'),
        ...errors(503),
      },
    }),
    async (c) => c.json(await deps.store.currentRound(), 200),
  );

  for (const path of ['/api/fl/rounds', '/api/fl/rounds/history']) {
    app.openapi(
      createRoute({
        method: 'get',
        path,
        tags: ['fl'],
        request: { query: PageQuery },
        responses: { 200: json(FLRoundListSchema, 'Rounds, newest first'), ...errors(503) },
      }),
      async (c) => {
        const { limit, offset } = c.req.valid('query');
        const page = await deps.store.listRounds(limit, offset);
        return c.json({ rounds: page.items, total: page.total }, 200);
      },
    );
  }

  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/fl/rounds/trigger',
      tags: ['fl'],
      responses: {
        200: json(FLRoundSchema, 'The started round ({round_id, status: "started"} plus its FLRound fields)'),
        ...errors(403, 409, 503),
      },
    }),
    (c) => {
      requireRole(c, 'operator');
      throw new ApiError(
        'not_available',
        'federated learning rounds cannot be triggered: the FL engine is not attached',
        {
          engine: 'fl',
        },
      );
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/fl/rounds/{round_id}',
      tags: ['fl'],
      request: { params: RoundIdParams },
      responses: { 200: json(FLRoundSchema, 'The round with per-client metrics'), ...errors(404, 503) },
    }),
    async (c) => {
      const { round_id } = c.req.valid('param');
      const round = await deps.store.getRound(round_id);
      if (round === null) throw new ApiError('not_found', `no round ${round_id}`, { round_id });
      return c.json(round, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/fl/clients',
      tags: ['fl'],
      responses: {
        200: json(FLClientSchema.array(), 'Clients of the recent rounds, latest state'),
        ...errors(503),
      },
    }),
    async (c) => c.json(await recentClients(deps), 200),
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/fl/clients/{client_id}',
      tags: ['fl'],
      request: { params: ClientIdParams },
      responses: { 200: json(FLClientSchema, 'The client'), ...errors(404, 503) },
    }),
    async (c) => {
      const { client_id } = c.req.valid('param');
      const client = (await recentClients(deps)).find((cl) => cl.id === client_id);
      if (client === undefined) throw new ApiError('not_found', `no FL client ${client_id}`, { client_id });
      return c.json(client, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/fl/privacy-metrics',
      tags: ['fl'],
      responses: {
        200: json(PrivacyMetricsSchema, 'Privacy accounting of the training so far'),
        ...errors(503),
      },
    }),
    async (c) => {
      const round = await deps.store.currentRound();
      const epsilon = round?.epsilon ?? 0;
      return c.json(
        {
          epsilon,
          delta: deps.privacy.delta,
          data_size: 0,
          encryption: deps.privacy.encryption,
          privacy_budget_remaining: Math.max(0, 1 - epsilon / deps.privacy.epsilonBudget),
        },
        200,
      );
    },
  );
}
