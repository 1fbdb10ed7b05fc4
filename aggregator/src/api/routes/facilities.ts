// GET /api/facilities/{facility_id}/agents: a facility's liveness and, per agent, its enrollment, last heartbeat and
// the health it last reported (capture drops, malformed counts, outbox depth, refusals, model versions) - the agent
// link's view of a plant (link issue). GET /api/facilities/{facility_id}/assets: the asset inventory its agent reports.
import { createRoute, z } from '@hono/zod-openapi';
import { FACILITY_STATUSES } from '@vigil/shared';
import type { ApiApp, ApiDeps } from '../app.js';
import { ApiError } from '../errors.js';
import { FacilityParams } from '../schemas.js';
import { facilityStatus } from '../status.js';
import { errors, json } from './common.js';

export const FacilityAgentsSchema = z
  .object({
    facility_id: z.string(),
    name: z.string(),
    status: z.enum(FACILITY_STATUSES),
    revoked_at: z.string().nullable(),
    agents: z.array(
      z.object({
        id: z.string(),
        enrolled_at: z.string(),
        last_heartbeat: z.string().nullable(),
        health: z.record(z.string(), z.unknown()),
      }),
    ),
  })
  .openapi('FacilityAgents');

export const FacilityAssetsSchema = z
  .object({
    facility_id: z.string(),
    assets: z.array(
      z.object({
        address: z.string(),
        mac: z.string(),
        protocols: z.array(z.string()),
        role: z.string(),
        first_seen: z.string(),
        last_seen: z.string(),
        removed_at: z.string().nullable(),
      }),
    ),
  })
  .openapi('FacilityAssets');

export function registerFacilityRoutes(app: ApiApp, deps: ApiDeps): void {
  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/facilities/{facility_id}/assets',
      tags: ['system'],
      request: { params: FacilityParams },
      responses: {
        200: json(FacilityAssetsSchema, "The hosts the facility's agent reported, by address"),
        ...errors(404, 503),
      },
    }),
    async (c) => {
      const { facility_id } = c.req.valid('param');
      if ((await deps.store.getFacility(facility_id)) === null) {
        throw new ApiError('not_found', `no facility ${facility_id}`, { facility_id });
      }
      const assets = await deps.store.listAssets(facility_id);
      return c.json({ facility_id, assets: assets.map(({ facility_id: _f, ...a }) => a) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/facilities/{facility_id}/agents',
      tags: ['system'],
      request: { params: FacilityParams },
      responses: {
        200: json(FacilityAgentsSchema, "The facility's agents with their last heartbeat and health"),
        ...errors(404, 503),
      },
    }),
    async (c) => {
      const { facility_id } = c.req.valid('param');
      const facility = await deps.store.getFacility(facility_id);
      if (facility === null) throw new ApiError('not_found', `no facility ${facility_id}`, { facility_id });
      const agents = await deps.store.listAgents(facility_id);
      return c.json(
        {
          facility_id,
          name: facility.name,
          status: facilityStatus(agents, deps.clock.now(), deps.liveness),
          revoked_at: facility.revoked_at,
          agents: agents.map((a) => ({
            id: a.id,
            enrolled_at: a.enrolled_at,
            last_heartbeat: a.last_heartbeat,
            health: a.health,
          })),
        },
        200,
      );
    },
  );
}
