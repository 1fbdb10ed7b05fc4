// Federated learning: rounds and clients as the store holds them, privacy spend per facility, and the round trigger.
// Triggering needs the FL engine with a transport to the agents (RunningApi.attachFl); without one the trigger answers
// 503 not_available.
import { setTimeout as sleep } from 'node:timers/promises';
import { createRoute, z } from '@hono/zod-openapi';
import type { FLClient, FLRound } from '@vigil/shared';
import { audit, requireRole, type ApiApp, type ApiDeps } from '../app.js';
import type { Caller } from '../auth.js';
import { ApiError } from '../errors.js';
import {
  ClientIdParams,
  FLClientSchema,
  FLRoundListSchema,
  FLRoundSchema,
  PageQuery,
  PrivacyMetricsSchema,
  RoundIdParams,
  RoundTriggerBody,
} from '../schemas.js';
import { errors, json } from './common.js';
import { NotEnoughClientsError, RoundInProgressError, type RoundSettings } from '../../fl/engine.js';
import { privacySummary } from '../../fl/privacy.js';

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
      // The body is optional and read in the handler: a declared body would make an empty JSON request a 400.
      description:
        'Starts a federated round. Optional JSON body: {min_clients, fraction_fit, timeout_seconds, local_epochs}.',
      responses: {
        200: json(
          FLRoundSchema.extend({ round_id: z.number().int(), status: z.literal('started') }).openapi(
            'RoundStarted',
          ),
          'The started round ({round_id, status: "started"} plus its FLRound fields)',
        ),
        ...errors(400, 403, 409, 503),
      },
    }),
    async (c) => {
      const caller = requireRole(c, 'operator');
      const text = await c.req.text();
      let raw: unknown = {};
      if (text.trim() !== '') {
        try {
          raw = JSON.parse(text);
        } catch {
          throw new ApiError('invalid_json', 'the request body is not valid JSON');
        }
      }
      const parsed = RoundTriggerBody.safeParse(raw);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        throw new ApiError(
          'validation_failed',
          `${issue?.path.join('.') || 'body'}: ${issue?.message ?? 'invalid'}`,
        );
      }
      const b = parsed.data;
      const round = await triggerRound(deps, caller, {
        ...(b.min_clients === undefined ? {} : { minClients: b.min_clients }),
        ...(b.fraction_fit === undefined ? {} : { fractionFit: b.fraction_fit }),
        ...(b.timeout_seconds === undefined ? {} : { timeoutMs: b.timeout_seconds * 1000 }),
        ...(b.local_epochs === undefined ? {} : { localEpochs: b.local_epochs }),
      });
      return c.json({ ...round, round_id: round.id, status: 'started' as const }, 200);
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
      const accounts = await deps.store.listPrivacyAccounts();
      const policy = { delta: deps.privacy.delta, epsilonBudget: deps.privacy.epsilonBudget };
      const facilities = accounts
        .map((a) => ({
          facility_id: a.facility_id,
          epsilon: a.epsilon,
          privacy_budget_remaining: Math.max(0, 1 - a.epsilon / policy.epsilonBudget),
          data_size: a.examples,
          rounds: a.rounds,
          exhausted_at: a.exhausted_at,
        }))
        .sort((x, y) => y.epsilon - x.epsilon || x.facility_id.localeCompare(y.facility_id));
      return c.json(
        { ...privacySummary(accounts, policy), encryption: deps.privacy.encryption, facilities },
        200,
      );
    },
  );
}

/** How often a trigger that waits for the round in progress asks the engine again. */
const ROUND_POLL_MS = 250;

/**
 * The 409 for a trigger that met a running round: it names that round (id, number, model, phase), so that the caller
 * can follow it instead of guessing which round holds the engine. Between a series' two rounds no round is stored as
 * in progress, and the answer names none.
 */
async function roundInProgress(deps: ApiDeps, message: string, waitedMs: number): Promise<ApiError> {
  const current = await deps.store.currentRound().catch(() => null);
  const running = current?.status === 'in-progress' ? current : null;
  const waited = waitedMs > 0 ? ` after waiting ${Math.round(waitedMs / 1000)} s` : '';
  if (running === null) return new ApiError('conflict', `${message}${waited}`, { reason: 'in_progress' });
  return new ApiError(
    'conflict',
    `${message}${waited}: round ${running.round_number} (${running.model ?? 'model'}, ${running.phase}) since ${running.start_time}`,
    {
      reason: 'in_progress',
      round_id: running.id,
      round_number: running.round_number,
      model: running.model,
      phase: running.phase,
    },
  );
}

/**
 * Starts a federated round with the attached engine (the trigger route and the demo's fl-round scenario): 503 without
 * an engine, 409 when too few clients can take part, and 409 naming the round in progress while one runs. With
 * `waitMs` a round in progress (a scheduled one, another trigger's, or the Layer 1b round that follows every Layer 2
 * round of a series) is waited for, up to that long, and the new round starts once it has ended; the 409 comes only
 * if it still runs then. The action goes to the audit log.
 */
export async function triggerRound(
  deps: ApiDeps,
  caller: Caller,
  settings: Partial<RoundSettings>,
  waitMs = 0,
): Promise<FLRound> {
  const engine = deps.fl.engine;
  if (engine === null)
    throw new ApiError(
      'not_available',
      'federated learning rounds cannot be triggered: no FL engine with a transport to the agents is attached',
      { engine: 'fl' },
    );
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      const { round } = await engine.start(settings);
      await audit(deps, caller, 'fl.round.trigger', String(round.id), { ...settings });
      return round;
    } catch (err) {
      if (err instanceof RoundInProgressError) {
        // (the engine refuses before it does anything, so asking again is harmless)
        if (Date.now() < deadline) {
          await sleep(ROUND_POLL_MS);
          continue;
        }
        throw await roundInProgress(deps, err.message, waitMs);
      }
      if (err instanceof NotEnoughClientsError)
        throw new ApiError('conflict', err.message, {
          reason: 'not_enough_clients',
          eligible: err.eligible,
          required: err.required,
        });
      throw err;
    }
  }
}
