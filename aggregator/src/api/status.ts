// Figures the dashboard shows that are computed from the store: facility liveness from agent heartbeats, FL
// progress from the current round, prediction accuracy from validated predictions.
import type { FacilityStatus, FacilitySummary, SystemStatus } from '@vigil/shared';
import type { AgentRecord, Store } from '../store/types.js';

export interface LivenessThresholds {
  /** A facility whose newest heartbeat is at most this old is online. */
  onlineWithinMs: number;
  /** Older than online but at most this old: delayed. Older (or never): offline. */
  delayedWithinMs: number;
}

export const DEFAULT_LIVENESS: LivenessThresholds = { onlineWithinMs: 30_000, delayedWithinMs: 120_000 };

export function facilityStatus(
  agents: readonly AgentRecord[],
  nowMs: number,
  t: LivenessThresholds = DEFAULT_LIVENESS,
): FacilityStatus {
  let newest = Number.NEGATIVE_INFINITY;
  for (const a of agents) {
    if (a.last_heartbeat === null) continue;
    const ms = Date.parse(a.last_heartbeat);
    if (Number.isFinite(ms) && ms > newest) newest = ms;
  }
  const age = nowMs - newest;
  if (age <= t.onlineWithinMs) return 'online';
  if (age <= t.delayedWithinMs) return 'delayed';
  return 'offline';
}

export async function facilitySummaries(
  store: Store,
  nowMs: number,
  t: LivenessThresholds = DEFAULT_LIVENESS,
): Promise<FacilitySummary[]> {
  const [facilities, agents] = await Promise.all([store.listFacilities(), store.listAgents()]);
  const byFacility = new Map<string, AgentRecord[]>();
  for (const a of agents) {
    const list = byFacility.get(a.facility_id);
    if (list === undefined) byFacility.set(a.facility_id, [a]);
    else list.push(a);
  }
  return facilities
    .filter((f) => f.revoked_at === null)
    .map((f) => ({ id: f.id, name: f.name, status: facilityStatus(byFacility.get(f.id) ?? [], nowMs, t) }));
}

export async function systemStatus(
  store: Store,
  nowMs: number,
  t: LivenessThresholds = DEFAULT_LIVENESS,
): Promise<SystemStatus> {
  const [stats, round, all, validated, facilities] = await Promise.all([
    store.alertStats(),
    store.currentRound(),
    store.listPredictions({ limit: 1, offset: 0 }),
    store.listPredictions({ validated: true, limit: 1, offset: 0 }),
    facilitySummaries(store, nowMs, t),
  ]);
  return {
    active_alerts: stats.unresolved,
    fl_progress: round?.progress ?? 0,
    prediction_accuracy: all.total === 0 ? 0 : validated.total / all.total,
    facilities,
  };
}
