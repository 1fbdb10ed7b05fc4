// The storage contract of the aggregator: everything the API serves goes through one Store.
// Two implementations (sqlite.ts, postgres.ts) pass one contract suite (store.case.test.ts).
import type {
  Alert,
  AlertStats,
  AlertStatus,
  FLClient,
  FLPhase,
  FLRound,
  FLRoundStatus,
  NetworkMetrics,
  Prediction,
  Severity,
} from '@vigil/shared';

/** Alert searches count matches up to this many (see Page.totalCapped). */
export const SEARCH_COUNT_CAP = 10_000;

export const ROLES = ['viewer', 'operator', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export interface Facility {
  id: string;
  name: string;
  created_at: string;
  /** Set when the facility's agents were revoked (link issue). */
  revoked_at: string | null;
}

export interface AgentRecord {
  id: string;
  facility_id: string;
  enrolled_at: string;
  last_heartbeat: string | null;
  /** The latest health report the agent sent (capture drops, malformed counts, outbox depth, model versions). */
  health: Record<string, unknown>;
}

/** An alert as stored: the API's Alert plus what the store knows of its origin. */
export interface StoredAlert extends Alert {
  /** True for alerts written by `vigil seed`, so nothing confuses them with detections. */
  generated: boolean;
}

export interface AlertQuery {
  severity?: Severity;
  facility?: string;
  status?: AlertStatus;
  /** Free text matched against title, description and attack name. */
  search?: string;
  /** Inclusive lower bound, ISO-8601. */
  from?: string;
  /** Exclusive upper bound, ISO-8601. */
  to?: string;
  /** 1-based. */
  page: number;
  limit: number;
}

export interface AlertTechnique {
  attack_type: string;
  /** Timestamp of the latest such alert in the range. */
  last_seen: string;
}

export interface Page<T> {
  items: T[];
  total: number;
  /**
   * Set on alert searches that match more than SEARCH_COUNT_CAP alerts: counting stopped there, so `total` is the
   * cap ("10,000 or more"). Counting every match of a common word among a million alerts would take seconds.
   */
  totalCapped?: true;
}

export interface FacilityAggregate extends NetworkMetrics {
  facility_id: string;
}

export interface NewRound {
  round_number: number;
  /** The registry name of the model the round trains (FLRound.model). */
  model: string;
  status: FLRoundStatus;
  phase: FLPhase;
  start_time: string;
  total_clients: number;
}

export type RoundPatch = Partial<
  Pick<
    FLRound,
    | 'status'
    | 'phase'
    | 'end_time'
    | 'progress'
    | 'epsilon'
    | 'model_accuracy'
    | 'clients_active'
    | 'total_clients'
  >
>;

/**
 * A facility's differential-privacy spend across FL rounds (FL issue): the Renyi-DP of all its DP-SGD training,
 * composed by adding per order, and the epsilon at delta that converts to.
 */
export interface PrivacyAccount {
  facility_id: string;
  /** Renyi orders alpha, and the accumulated RDP at each (same length). */
  orders: number[];
  rdp: number[];
  epsilon: number;
  delta: number;
  /** Examples the facility trained on in its latest round. */
  examples: number;
  /** Rounds the facility contributed to. */
  rounds: number;
  /** When its budget was found spent (it is no longer selected for rounds); null while budget is left. */
  exhausted_at: string | null;
  updated_at: string;
}

/** An operator's verdict on an alert waiting to be pushed to its facility's agent (fl/feedback.ts). */
export interface QueuedVerdict {
  facility_id: string;
  alert_id: string;
  /** The verdict as JSON, exactly as it is pushed. */
  verdict: string;
  queued_at: string;
}

/** A global model in the registry (FL issue); the payload is read separately (modelPayload). */
export interface ModelVersion {
  version: number;
  name: string;
  /** The round that produced it; null when loaded otherwise (e.g. an initial model). */
  round_id: number | null;
  created_at: string;
  sha256: string;
  format: string;
  size_bytes: number;
  parameters: number;
  model_accuracy: number | null;
  /** When it last became the active version of its name (stored, or chosen by a rollback). */
  activated_at: string;
  /** True for the active version of its name. */
  active: boolean;
}

export interface NewModelVersion {
  name: string;
  round_id: number | null;
  created_at: string;
  sha256: string;
  format: string;
  payload: Uint8Array;
  parameters: number;
  model_accuracy: number | null;
}

export interface PredictionQuery {
  validated?: boolean;
  limit: number;
  offset: number;
}

/** A host on a facility's network as its agent's asset inventory reports it. */
export interface Asset {
  facility_id: string;
  address: string;
  mac: string;
  protocols: string[];
  /** e.g. plc, hmi, engineering-workstation, unknown */
  role: string;
  first_seen: string;
  last_seen: string;
  /** Set when the agent reported the asset gone; it is listed until it comes back or retention removes it. */
  removed_at: string | null;
}

/** One inventory change from an agent (link.proto AssetChange). */
export interface AssetChange {
  change: 'added' | 'updated' | 'removed';
  address: string;
  mac: string;
  protocols: string[];
  role: string;
  first_seen: string;
  last_seen: string;
}

export interface ApiToken {
  id: string;
  name: string;
  role: Role;
  created_at: string;
  revoked_at: string | null;
  last_used_at: string | null;
}

export interface AuditEntry {
  id: number;
  at: string;
  actor: string;
  action: string;
  target: string;
  details: Record<string, unknown>;
}

export interface RetentionPolicy {
  /** Alerts with a timestamp older than this many seconds are deleted; null keeps them forever. */
  alertsMaxAgeSeconds: number | null;
  /** Per-second aggregates older than this many seconds are deleted; null keeps them forever. */
  aggregatesMaxAgeSeconds: number | null;
}

/** Why an enrollment token was not accepted. */
export type EnrollmentRefusal = 'unknown' | 'used' | 'expired';

/** Opening or migrating a store failed because the database cannot be reached or used (message says why). */
export class StoreUnavailableError extends Error {
  override readonly name = 'StoreUnavailableError';
}

/** A write collided with an existing record (duplicate facility id, token id or hash); the API answers 409. */
export class StoreConflictError extends Error {
  override readonly name = 'StoreConflictError';
}

export interface Store {
  readonly kind: 'sqlite' | 'postgres';
  /** Applies pending migrations; returns the versions applied. */
  migrate(): Promise<number[]>;
  /** Throws when the database cannot be reached (health checks). */
  ping(): Promise<void>;
  close(): Promise<void>;

  // Facilities and agents
  /** Throws StoreConflictError when the id is taken. */
  addFacility(f: { id: string; name: string }): Promise<Facility>;
  getFacility(id: string): Promise<Facility | null>;
  listFacilities(): Promise<Facility[]>;
  removeFacility(id: string): Promise<boolean>;
  upsertAgent(a: { id: string; facility_id: string; enrolled_at: string }): Promise<void>;
  recordHeartbeat(agentId: string, at: string, health: Record<string, unknown>): Promise<void>;
  listAgents(facilityId?: string): Promise<AgentRecord[]>;
  /**
   * Marks a facility revoked (sets revoked_at) so the link refuses its agents; false when unknown or already revoked.
   * (link issue)
   */
  revokeFacility(id: string, at: string): Promise<boolean>;

  // Agent enrollment tokens (link issue): one-time, expiring, only a hash of the secret is stored
  createEnrollmentToken(t: {
    hash: string;
    facility_id: string;
    created_at: string;
    expires_at: string;
  }): Promise<void>;
  /**
   * Spends a token: if it exists, is unused and expires after `now`, marks it used at `now` and returns its facility.
   * Atomic: of two racing calls with the same hash, one wins and the other gets `used`.
   */
  consumeEnrollmentToken(
    hash: string,
    now: string,
  ): Promise<{ facility_id: string } | { refused: EnrollmentRefusal }>;

  // Alerts (insert is idempotent by id: a resend never duplicates)
  /** Returns how many of the alerts were new (ids already stored are left as they are). */
  insertAlerts(alerts: readonly StoredAlert[]): Promise<number>;
  /**
   * insertAlerts, answering which alerts were new: their ids, in input order (an id twice in the batch counts once).
   * What the dashboard announces, known from the insert itself rather than from one look-up per alert.
   */
  insertNewAlerts(alerts: readonly StoredAlert[]): Promise<string[]>;
  /**
   * The bulk path of `vigil seed` and the benchmarks: the same stored result as insertAlerts (idempotent by id, search
   * index, counters), for large batches (tens of thousands) of generated alerts, written as one transaction with the
   * per-row work done once per batch where the store can (SQLite: the search index, term vocabulary and counters are
   * brought up to date by one statement each instead of per-row triggers). Returns how many were new.
   */
  seedAlerts(alerts: readonly StoredAlert[]): Promise<number>;
  getAlert(id: string): Promise<StoredAlert | null>;
  queryAlerts(q: AlertQuery): Promise<Page<StoredAlert>>;
  /**
   * The same page as queryAlerts, each alert as the UTF-8 bytes of the API's Alert JSON (no `generated` flag), built
   * from the stored JSON of its sources and context without parsing it: a page of 50 carries about 0.5 MB of context
   * timelines, which the list endpoint then sends without a parse and a re-serialisation (SQLite builds the bytes
   * itself, so they are not even decoded into strings).
   */
  queryAlertsJson(q: AlertQuery): Promise<Page<Buffer>>;
  setAlertStatus(id: string, status: AlertStatus): Promise<StoredAlert | null>;
  alertStats(): Promise<AlertStats>;
  /**
   * The distinct attack types (technique ids) of the facility's open alerts (not resolved, not false-positive) with
   * from <= timestamp < to, each with its latest timestamp, by attack type (the prediction service's recent
   * techniques of a facility: an operator who closes an incident takes its techniques out of the attack picture).
   */
  alertTechniques(facilityId: string, from: string, to: string): Promise<AlertTechnique[]>;

  // Per-second network aggregates
  insertAggregates(rows: readonly FacilityAggregate[]): Promise<void>;
  aggregates(facilityId: string, from: string, to: string): Promise<FacilityAggregate[]>;

  // Asset inventory (link issue): changes apply in order; an added or updated asset clears removed_at
  applyAssetChanges(facilityId: string, changes: readonly AssetChange[]): Promise<void>;
  listAssets(facilityId: string): Promise<Asset[]>;

  // Federated learning
  createRound(r: NewRound): Promise<FLRound>;
  updateRound(id: number, patch: RoundPatch): Promise<FLRound | null>;
  upsertRoundClient(roundId: number, c: FLClient): Promise<void>;
  getRound(id: number): Promise<FLRound | null>;
  currentRound(): Promise<FLRound | null>;
  listRounds(limit: number, offset: number): Promise<Page<FLRound>>;
  /** Creates or replaces the facility's privacy account. */
  putPrivacyAccount(a: PrivacyAccount): Promise<void>;
  listPrivacyAccounts(): Promise<PrivacyAccount[]>;

  /**
   * Queues an operator's verdict on an alert for its facility's agent (JSON, as pushed); it replaces the alert's
   * earlier queued verdict, if any.
   */
  queueVerdict(v: QueuedVerdict): Promise<void>;
  /** Every queued verdict, oldest first. */
  queuedVerdicts(): Promise<QueuedVerdict[]>;
  /**
   * Drops these verdicts of the facility (an agent answered their push); an alert whose queued verdict differs from
   * the one given (a newer verdict, queued meanwhile) keeps it.
   */
  dropVerdicts(
    facilityId: string,
    done: readonly Pick<QueuedVerdict, 'alert_id' | 'verdict'>[],
  ): Promise<void>;

  // Model registry (FL issue)
  /** Stores a new version (numbered by the store) and makes it the active version of its name. */
  addModelVersion(m: NewModelVersion): Promise<ModelVersion>;
  getModelVersion(version: number): Promise<ModelVersion | null>;
  /** Versions of every name, newest first. */
  listModelVersions(limit: number, offset: number): Promise<Page<ModelVersion>>;
  activeModelVersion(name: string): Promise<ModelVersion | null>;
  /** Makes `version` the active version of its name again (a rollback); null when there is no such version. */
  activateModelVersion(version: number, at: string): Promise<ModelVersion | null>;
  modelPayload(version: number): Promise<Uint8Array | null>;

  // Predictions
  insertPrediction(p: Prediction & { facility_id: string | null }): Promise<void>;
  getPrediction(id: string): Promise<Prediction | null>;
  latestPrediction(): Promise<Prediction | null>;
  listPredictions(q: PredictionQuery): Promise<Page<Prediction>>;
  markPredictionValidated(id: string, at: string): Promise<Prediction | null>;
  /** Predictions made for alerts at `facilityId` that are not validated yet and were made at or after `since`, oldest first. */
  openPredictions(facilityId: string, since: string): Promise<Prediction[]>;

  // API tokens (only a hash of the secret is stored)
  /** Throws StoreConflictError when the id or hash is taken. */
  createToken(t: { id: string; name: string; role: Role; hash: string }): Promise<ApiToken>;
  findTokenByHash(hash: string): Promise<ApiToken | null>;
  /** Records that the token was just used (sets last_used_at). */
  touchToken(id: string, at: string): Promise<void>;
  listTokens(): Promise<ApiToken[]>;
  /** True when an active token was revoked now; false when unknown or already revoked. */
  revokeToken(id: string): Promise<boolean>;

  // Audit log of operator and admin actions
  audit(e: Omit<AuditEntry, 'id'>): Promise<void>;
  listAudit(limit: number, offset: number): Promise<Page<AuditEntry>>;

  // Retention
  purge(policy: RetentionPolicy, now: string): Promise<{ alerts: number; aggregates: number }>;
}
