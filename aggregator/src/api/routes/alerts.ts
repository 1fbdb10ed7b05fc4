// GET /api/alerts, GET /api/alerts/stats, GET /api/alerts/{alert_id}, PUT /api/alerts/{alert_id}/status.
import { createRoute, type z } from '@hono/zod-openapi';
import type { TypedResponse } from 'hono';
import type { AlertStatus } from '@vigil/shared';
import type { AlertQuery } from '../../store/types.js';
import { publicAlert } from '../../events/publishing-store.js';
import { audit, requireRole, type ApiApp, type ApiDeps } from '../app.js';
import { ApiError } from '../errors.js';
import {
  AlertIdParams,
  AlertPageSchema,
  AlertSchema,
  AlertStatsSchema,
  AlertStatusBody,
  AlertsQuerySchema,
  TIME_RANGES,
} from '../schemas.js';
import { errors, json } from './common.js';

/** A closed alert (resolved or false positive) cannot go back to being worked on. */
function invalidTransition(from: AlertStatus, to: AlertStatus): boolean {
  return to === 'acknowledged' && (from === 'resolved' || from === 'false-positive');
}

function orUndefined<T extends string>(v: T | undefined): Exclude<T, 'all' | ''> | undefined {
  return v === undefined || v === 'all' || v === '' ? undefined : (v as Exclude<T, 'all' | ''>);
}

const OPEN_ALERTS = Buffer.from('{"alerts":[');
const COMMA = Buffer.from(',');

export function registerAlertRoutes(app: ApiApp, deps: ApiDeps): void {
  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/alerts',
      tags: ['alerts'],
      request: { query: AlertsQuerySchema },
      responses: { 200: json(AlertPageSchema, 'A page of alerts, newest first'), ...errors(503) },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const status = orUndefined(q.status) ?? orUndefined(q.status_filter);
      if (
        orUndefined(q.status) !== undefined &&
        orUndefined(q.status_filter) !== undefined &&
        q.status !== q.status_filter
      ) {
        throw new ApiError('validation_failed', 'status and status_filter disagree; send one of them', {
          status: q.status,
          status_filter: q.status_filter,
        });
      }
      let from = q.from === undefined ? undefined : new Date(q.from).getTime();
      const range = q.time_range === undefined ? null : (TIME_RANGES[q.time_range] ?? null);
      if (range !== null) from = Math.max(from ?? Number.NEGATIVE_INFINITY, deps.clock.now() - range);
      const query: AlertQuery = { page: q.page, limit: q.limit };
      const severity = orUndefined(q.severity);
      const facility = orUndefined(q.facility);
      if (severity !== undefined) query.severity = severity;
      if (facility !== undefined) query.facility = facility;
      if (status !== undefined) query.status = status;
      if (q.search !== undefined && q.search.trim() !== '') query.search = q.search.trim();
      if (from !== undefined) query.from = new Date(from).toISOString();
      if (q.to !== undefined) query.to = new Date(q.to).toISOString();
      const page = await deps.store.queryAlertsJson(query);
      // The body is spliced from each alert's JSON bytes (Store.queryAlertsJson): the same AlertPage document
      // c.json would write, without parsing and re-serialising about 0.5 MB of context timelines per page.
      const parts: Buffer[] = [OPEN_ALERTS];
      page.items.forEach((bytes, i) => {
        if (i > 0) parts.push(COMMA);
        parts.push(bytes);
      });
      parts.push(
        Buffer.from(
          `],"total":${page.total},"page":${q.page},"pages":${Math.ceil(page.total / q.limit)},"limit":${q.limit}}`,
        ),
      );
      const body = Buffer.concat(parts);
      return c.body(body, 200, { 'Content-Type': 'application/json' }) as unknown as TypedResponse<
        z.output<typeof AlertPageSchema>,
        200,
        'json'
      >;
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/alerts/stats',
      tags: ['alerts'],
      responses: { 200: json(AlertStatsSchema, 'Counts over every stored alert'), ...errors(503) },
    }),
    async (c) => c.json(await deps.store.alertStats(), 200),
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/alerts/{alert_id}',
      tags: ['alerts'],
      request: { params: AlertIdParams },
      responses: { 200: json(AlertSchema, 'The alert with its full context analysis'), ...errors(404, 503) },
    }),
    async (c) => {
      const { alert_id } = c.req.valid('param');
      const alert = await deps.store.getAlert(alert_id);
      if (alert === null) throw new ApiError('not_found', `no alert ${alert_id}`, { alert_id });
      return c.json(publicAlert(alert), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'put',
      path: '/api/alerts/{alert_id}/status',
      tags: ['alerts'],
      request: {
        params: AlertIdParams,
        body: { required: true, content: { 'application/json': { schema: AlertStatusBody } } },
      },
      responses: { 200: json(AlertSchema, 'The updated alert'), ...errors(403, 404, 422, 503) },
    }),
    async (c) => {
      const caller = requireRole(c, 'operator');
      const { alert_id } = c.req.valid('param');
      const { status } = c.req.valid('json');
      const before = await deps.store.getAlert(alert_id);
      if (before === null) throw new ApiError('not_found', `no alert ${alert_id}`, { alert_id });
      if (invalidTransition(before.status, status)) {
        throw new ApiError('invalid_state_change', `a ${before.status} alert cannot become ${status}`, {
          from: before.status,
          to: status,
        });
      }
      if (before.status === status) return c.json(publicAlert(before), 200);
      const after = await deps.store.setAlertStatus(alert_id, status);
      if (after === null) throw new ApiError('not_found', `no alert ${alert_id}`, { alert_id });
      await audit(deps, caller, 'alert.status', alert_id, { from: before.status, to: status });
      return c.json(publicAlert(after), 200);
    },
  );
}
