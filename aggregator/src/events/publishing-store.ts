// A Store decorator that publishes each write to the event bus, so whatever writes through it (API, ingest, FL
// rounds, predictions) reaches the dashboard's rooms without each writer knowing about WebSockets.
import type { AlertStatus, FLClient, FLRound, Prediction } from '@vigil/shared';
import type {
  AlertQuery,
  ApiToken,
  Asset,
  AssetChange,
  AuditEntry,
  Facility,
  FacilityAggregate,
  ModelVersion,
  NewModelVersion,
  NewRound,
  Page,
  PrivacyAccount,
  QueuedVerdict,
  PredictionQuery,
  RetentionPolicy,
  Role,
  RoundPatch,
  Store,
  StoredAlert,
  AgentRecord,
  EnrollmentRefusal,
} from '../store/types.js';
import type { EventBus } from './bus.js';

/** The alert as clients see it (the API's Alert: the store's `generated` flag stays inside). */
export function publicAlert(a: StoredAlert): Omit<StoredAlert, 'generated'> {
  const { generated: _generated, ...rest } = a;
  return rest;
}

function roundProgress(r: FLRound): Record<string, unknown> {
  return {
    round_id: r.id,
    round_number: r.round_number,
    model: r.model,
    phase: r.phase,
    progress: r.progress,
    epsilon: r.epsilon,
    model_accuracy: r.model_accuracy,
    clients: r.clients,
  };
}

export class PublishingStore implements Store {
  constructor(
    private readonly inner: Store,
    private readonly bus: EventBus,
  ) {}

  get kind(): Store['kind'] {
    return this.inner.kind;
  }
  migrate(): Promise<number[]> {
    return this.inner.migrate();
  }
  ping(): Promise<void> {
    return this.inner.ping();
  }
  close(): Promise<void> {
    return this.inner.close();
  }

  addFacility(f: { id: string; name: string }): Promise<Facility> {
    return this.inner.addFacility(f);
  }
  getFacility(id: string): Promise<Facility | null> {
    return this.inner.getFacility(id);
  }
  listFacilities(): Promise<Facility[]> {
    return this.inner.listFacilities();
  }
  removeFacility(id: string): Promise<boolean> {
    return this.inner.removeFacility(id);
  }
  upsertAgent(a: { id: string; facility_id: string; enrolled_at: string }): Promise<void> {
    return this.inner.upsertAgent(a);
  }
  recordHeartbeat(agentId: string, at: string, health: Record<string, unknown>): Promise<void> {
    // facility_status is published by the FacilityWatcher, which sees both heartbeats and their absence.
    return this.inner.recordHeartbeat(agentId, at, health);
  }
  listAgents(facilityId?: string): Promise<AgentRecord[]> {
    return this.inner.listAgents(facilityId);
  }
  revokeFacility(id: string, at: string): Promise<boolean> {
    return this.inner.revokeFacility(id, at);
  }
  createEnrollmentToken(t: {
    hash: string;
    facility_id: string;
    created_at: string;
    expires_at: string;
  }): Promise<void> {
    return this.inner.createEnrollmentToken(t);
  }
  consumeEnrollmentToken(
    hash: string,
    now: string,
  ): Promise<{ facility_id: string } | { refused: EnrollmentRefusal }> {
    return this.inner.consumeEnrollmentToken(hash, now);
  }

  async insertAlerts(alerts: readonly StoredAlert[]): Promise<number> {
    return (await this.insertNewAlerts(alerts)).length;
  }
  async insertNewAlerts(alerts: readonly StoredAlert[]): Promise<string[]> {
    // Inserts are idempotent by id: only alerts that were not stored before are announced. The store says which
    // (one look-up per alert cost a query each, a round trip each on Postgres).
    const fresh = await this.inner.insertNewAlerts(alerts);
    if (fresh.length === 0) return fresh;
    const isNew = new Set(fresh);
    for (const a of alerts) {
      if (!isNew.delete(a.id)) continue;
      this.bus.publish({ type: 'alert_created', data: publicAlert(a) });
    }
    return fresh;
  }
  /** Bulk seeding announces nothing: tens of thousands of generated alerts are not news for the dashboard. */
  seedAlerts(alerts: readonly StoredAlert[]): Promise<number> {
    return this.inner.seedAlerts(alerts);
  }
  getAlert(id: string): Promise<StoredAlert | null> {
    return this.inner.getAlert(id);
  }
  queryAlerts(q: AlertQuery): Promise<Page<StoredAlert>> {
    return this.inner.queryAlerts(q);
  }
  queryAlertsJson(q: AlertQuery): Promise<Page<Buffer>> {
    return this.inner.queryAlertsJson(q);
  }
  async setAlertStatus(id: string, status: AlertStatus): Promise<StoredAlert | null> {
    const updated = await this.inner.setAlertStatus(id, status);
    if (updated !== null) this.bus.publish({ type: 'alert_updated', data: publicAlert(updated) });
    return updated;
  }
  alertTechniques(facilityId: string, from: string, to: string): ReturnType<Store['alertTechniques']> {
    return this.inner.alertTechniques(facilityId, from, to);
  }
  alertStats(): ReturnType<Store['alertStats']> {
    return this.inner.alertStats();
  }

  insertAggregates(rows: readonly FacilityAggregate[]): Promise<void> {
    return this.inner.insertAggregates(rows);
  }
  aggregates(facilityId: string, from: string, to: string): Promise<FacilityAggregate[]> {
    return this.inner.aggregates(facilityId, from, to);
  }
  applyAssetChanges(facilityId: string, changes: readonly AssetChange[]): Promise<void> {
    return this.inner.applyAssetChanges(facilityId, changes);
  }
  listAssets(facilityId: string): Promise<Asset[]> {
    return this.inner.listAssets(facilityId);
  }

  async createRound(r: NewRound): Promise<FLRound> {
    const round = await this.inner.createRound(r);
    this.bus.publish({ type: 'fl_round_started', data: round });
    return round;
  }
  async updateRound(id: number, patch: RoundPatch): Promise<FLRound | null> {
    const round = await this.inner.updateRound(id, patch);
    if (round === null) return null;
    const finished = patch.status === 'completed' || patch.status === 'failed';
    this.bus.publish(
      finished
        ? { type: 'fl_round_completed', data: round }
        : { type: 'fl_progress', data: roundProgress(round) },
    );
    return round;
  }
  async upsertRoundClient(roundId: number, c: FLClient): Promise<void> {
    await this.inner.upsertRoundClient(roundId, c);
    const round = await this.inner.getRound(roundId);
    if (round !== null) this.bus.publish({ type: 'fl_progress', data: roundProgress(round) });
  }
  getRound(id: number): Promise<FLRound | null> {
    return this.inner.getRound(id);
  }
  currentRound(): Promise<FLRound | null> {
    return this.inner.currentRound();
  }
  listRounds(limit: number, offset: number): Promise<Page<FLRound>> {
    return this.inner.listRounds(limit, offset);
  }
  putPrivacyAccount(a: PrivacyAccount): Promise<void> {
    return this.inner.putPrivacyAccount(a);
  }
  listPrivacyAccounts(): Promise<PrivacyAccount[]> {
    return this.inner.listPrivacyAccounts();
  }
  queueVerdict(v: QueuedVerdict): Promise<void> {
    return this.inner.queueVerdict(v);
  }
  queuedVerdicts(): Promise<QueuedVerdict[]> {
    return this.inner.queuedVerdicts();
  }
  dropVerdicts(
    facilityId: string,
    done: readonly Pick<QueuedVerdict, 'alert_id' | 'verdict'>[],
  ): Promise<void> {
    return this.inner.dropVerdicts(facilityId, done);
  }
  addModelVersion(m: NewModelVersion): Promise<ModelVersion> {
    return this.inner.addModelVersion(m);
  }
  getModelVersion(version: number): Promise<ModelVersion | null> {
    return this.inner.getModelVersion(version);
  }
  listModelVersions(limit: number, offset: number): Promise<Page<ModelVersion>> {
    return this.inner.listModelVersions(limit, offset);
  }
  activeModelVersion(name: string): Promise<ModelVersion | null> {
    return this.inner.activeModelVersion(name);
  }
  activateModelVersion(version: number, at: string): Promise<ModelVersion | null> {
    return this.inner.activateModelVersion(version, at);
  }
  modelPayload(version: number): Promise<Uint8Array | null> {
    return this.inner.modelPayload(version);
  }

  async insertPrediction(p: Prediction & { facility_id: string | null }): Promise<void> {
    await this.inner.insertPrediction(p);
    const { facility_id: _facility, ...prediction } = p;
    this.bus.publish({ type: 'prediction_created', data: prediction });
  }
  getPrediction(id: string): Promise<Prediction | null> {
    return this.inner.getPrediction(id);
  }
  latestPrediction(): Promise<Prediction | null> {
    return this.inner.latestPrediction();
  }
  listPredictions(q: PredictionQuery): Promise<Page<Prediction>> {
    return this.inner.listPredictions(q);
  }
  openPredictions(facilityId: string, since: string): Promise<Prediction[]> {
    return this.inner.openPredictions(facilityId, since);
  }
  async markPredictionValidated(id: string, at: string): Promise<Prediction | null> {
    const p = await this.inner.markPredictionValidated(id, at);
    if (p !== null) this.bus.publish({ type: 'prediction_validated', data: p });
    return p;
  }

  createToken(t: { id: string; name: string; role: Role; hash: string }): Promise<ApiToken> {
    return this.inner.createToken(t);
  }
  findTokenByHash(hash: string): Promise<ApiToken | null> {
    return this.inner.findTokenByHash(hash);
  }
  touchToken(id: string, at: string): Promise<void> {
    return this.inner.touchToken(id, at);
  }
  listTokens(): Promise<ApiToken[]> {
    return this.inner.listTokens();
  }
  revokeToken(id: string): Promise<boolean> {
    return this.inner.revokeToken(id);
  }

  audit(e: Omit<AuditEntry, 'id'>): Promise<void> {
    return this.inner.audit(e);
  }
  listAudit(limit: number, offset: number): Promise<Page<AuditEntry>> {
    return this.inner.listAudit(limit, offset);
  }

  purge(policy: RetentionPolicy, now: string): Promise<{ alerts: number; aggregates: number }> {
    return this.inner.purge(policy, now);
  }
}
