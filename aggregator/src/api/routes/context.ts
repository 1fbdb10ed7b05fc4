// The 60-second context window: a facility's stored per-second aggregates, and an alert's own context.
import { createRoute } from '@hono/zod-openapi';
import type { ProtocolDistribution } from '@vigil/shared';
import type { FacilityAggregate } from '../../store/types.js';
import type { ApiApp, ApiDeps } from '../app.js';
import { ApiError } from '../errors.js';
import {
  AlertIdParams,
  ContextCurrentSchema,
  ContextEvidenceSchema,
  ContextTimelineSchema,
  FacilityParams,
} from '../schemas.js';
import { errors, json } from './common.js';

const WINDOW_MS = 60_000;

const NUMERIC = [
  'packets_per_sec',
  'bytes_per_sec',
  'unique_src_ips',
  'unique_dest_ips',
  'failed_connections',
  'avg_packet_size',
  'inter_arrival_time',
] as const;

type WindowMetrics = Omit<FacilityAggregate, 'facility_id' | 'time'>;

function addDistribution(into: ProtocolDistribution, d: ProtocolDistribution): void {
  for (const [k, v] of Object.entries(d)) into[k] = (into[k] ?? 0) + v;
}

/** Means over the seconds that have data; protocol distributions summed (then averaged like the rest). */
export function windowMeans(rows: readonly FacilityAggregate[]): WindowMetrics {
  const sums: Record<(typeof NUMERIC)[number], number> = {
    packets_per_sec: 0,
    bytes_per_sec: 0,
    unique_src_ips: 0,
    unique_dest_ips: 0,
    failed_connections: 0,
    avg_packet_size: 0,
    inter_arrival_time: 0,
  };
  const protocols: ProtocolDistribution = {};
  for (const r of rows) {
    for (const k of NUMERIC) sums[k] += r[k];
    addDistribution(protocols, r.protocol_distribution);
  }
  const n = Math.max(1, rows.length);
  for (const k of NUMERIC) sums[k] /= n;
  for (const k of Object.keys(protocols)) protocols[k] = (protocols[k] ?? 0) / n;
  return { ...sums, protocol_distribution: protocols };
}

export function registerContextRoutes(app: ApiApp, deps: ApiDeps): void {
  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/context/{facility_id}/current',
      tags: ['context'],
      request: { params: FacilityParams },
      responses: {
        200: json(ContextCurrentSchema, "The facility's last 60 seconds of per-second aggregates"),
        ...errors(404, 503),
      },
    }),
    async (c) => {
      const { facility_id } = c.req.valid('param');
      const facility = await deps.store.getFacility(facility_id);
      if (facility === null) throw new ApiError('not_found', `no facility ${facility_id}`, { facility_id });
      const end = deps.clock.now();
      const from = new Date(end - WINDOW_MS).toISOString();
      const to = new Date(end).toISOString();
      const rows = await deps.store.aggregates(facility_id, from, to);
      return c.json(
        {
          facility_id,
          window_duration: '60 seconds' as const,
          features: {
            window_start: from,
            window_end: to,
            seconds_with_data: rows.length,
            series: rows.map(({ facility_id: _f, ...row }) => row),
          },
          metrics: windowMeans(rows),
        },
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/context/{alert_id}/evidence',
      tags: ['context'],
      request: { params: AlertIdParams },
      responses: { 200: json(ContextEvidenceSchema, "The alert's window evidence"), ...errors(404, 503) },
    }),
    async (c) => {
      const { alert_id } = c.req.valid('param');
      const alert = await deps.store.getAlert(alert_id);
      if (alert === null) throw new ApiError('not_found', `no alert ${alert_id}`, { alert_id });
      const ctx = alert.context_analysis;
      const end = Date.parse(alert.timestamp);
      const rows = Number.isFinite(end)
        ? await deps.store.aggregates(
            alert.facility_id,
            new Date(end - WINDOW_MS).toISOString(),
            new Date(end + 1000).toISOString(),
          )
        : [];
      // Peak of the window: from the stored per-second aggregates when the agent sent them, else the alert's timeline.
      const peak = (xs: number[]): number => xs.reduce((m, x) => Math.max(m, x), 0);
      const protocols: ProtocolDistribution = {};
      for (const r of rows.length > 0 ? rows : ctx.timeline)
        addDistribution(protocols, r.protocol_distribution);
      const evidence = {
        packets_per_sec: peak((rows.length > 0 ? rows : ctx.timeline).map((r) => r.packets_per_sec)),
        unique_dest_ips: peak((rows.length > 0 ? rows : ctx.timeline).map((r) => r.unique_dest_ips)),
        protocol_distribution: protocols,
        failed_connections: rows.length > 0 ? rows.reduce((s, r) => s + r.failed_connections, 0) : null,
      };
      return c.json(
        {
          alert_id,
          timeline: ctx.timeline,
          evidence,
          pattern_analysis: {
            pattern_type: ctx.pattern,
            confidence: alert.correlation_confidence,
            description: ctx.behavior,
          },
        },
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/context/{alert_id}/timeline',
      tags: ['context'],
      request: { params: AlertIdParams },
      responses: { 200: json(ContextTimelineSchema, "The alert's window timeline"), ...errors(404, 503) },
    }),
    async (c) => {
      const { alert_id } = c.req.valid('param');
      const alert = await deps.store.getAlert(alert_id);
      if (alert === null) throw new ApiError('not_found', `no alert ${alert_id}`, { alert_id });
      return c.json({ timeline: alert.context_analysis.timeline }, 200);
    },
  );
}
