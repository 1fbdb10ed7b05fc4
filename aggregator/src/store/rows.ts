// Row -> record mapping shared by both stores. SQLite hands back TEXT times, 0/1 flags and JSON text; pg hands back
// Date, boolean and parsed JSON. The mappers accept either so both stores return identical records.
import type {
  AlertSource,
  AlertStatus,
  ContextAnalysis,
  FLClient,
  FLClientStatus,
  FLPhase,
  FLRound,
  FLRoundStatus,
  PredictedTechnique,
  Prediction,
  ProtocolDistribution,
  Severity,
} from '@vigil/shared';
import { iso, isoOrNull, parseJson } from './common.js';
import type {
  AgentRecord,
  ApiToken,
  Asset,
  AuditEntry,
  Facility,
  FacilityAggregate,
  Role,
  StoredAlert,
} from './types.js';

type Time = string | Date;
type Flag = number | boolean;

export interface AlertRow {
  id: string;
  ts: Time;
  facility_id: string;
  severity: Severity;
  title: string;
  description: string;
  status: AlertStatus;
  correlation_confidence: number;
  correlation_summary: string;
  attack_type: string;
  attack_name: string;
  sources: unknown;
  context: unknown;
  generated: Flag;
}

export function alertFromRow(r: AlertRow): StoredAlert {
  return {
    id: r.id,
    timestamp: iso(r.ts),
    facility_id: r.facility_id,
    severity: r.severity,
    title: r.title,
    description: r.description,
    status: r.status,
    sources: parseJson<AlertSource[]>(r.sources),
    correlation_confidence: r.correlation_confidence,
    correlation_summary: r.correlation_summary,
    attack_type: r.attack_type,
    attack_name: r.attack_name,
    context_analysis: parseJson<ContextAnalysis>(r.context),
    generated: Boolean(r.generated),
  };
}

/**
 * The API's Alert JSON text of a row (publicAlert's fields in its order), with the stored JSON text of `sources` and
 * `context` spliced in as it is: both stores keep exactly what JSON.stringify wrote.
 */
export function alertJsonFromRow(r: AlertRow): string {
  return (
    `{"id":${JSON.stringify(r.id)},"timestamp":"${iso(r.ts)}","facility_id":${JSON.stringify(r.facility_id)},` +
    `"severity":${JSON.stringify(r.severity)},"title":${JSON.stringify(r.title)},` +
    `"description":${JSON.stringify(r.description)},"status":${JSON.stringify(r.status)},"sources":${jsonText(r.sources)},` +
    `"correlation_confidence":${JSON.stringify(r.correlation_confidence)},` +
    `"correlation_summary":${JSON.stringify(r.correlation_summary)},"attack_type":${JSON.stringify(r.attack_type)},` +
    `"attack_name":${JSON.stringify(r.attack_name)},"context_analysis":${jsonText(r.context)}}`
  );
}

/** Stored JSON as text: SQLite's TEXT as it is; a value a driver already parsed is serialised again. */
function jsonText(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

export interface FacilityRow {
  id: string;
  name: string;
  created_at: Time;
  revoked_at: Time | null;
}

export function facilityFromRow(r: FacilityRow): Facility {
  return { id: r.id, name: r.name, created_at: iso(r.created_at), revoked_at: isoOrNull(r.revoked_at) };
}

export interface AgentRow {
  id: string;
  facility_id: string;
  enrolled_at: Time;
  last_heartbeat: Time | null;
  health: unknown;
}

export function agentFromRow(r: AgentRow): AgentRecord {
  return {
    id: r.id,
    facility_id: r.facility_id,
    enrolled_at: iso(r.enrolled_at),
    last_heartbeat: isoOrNull(r.last_heartbeat),
    health: parseJson<Record<string, unknown>>(r.health),
  };
}

export interface AssetRow {
  facility_id: string;
  address: string;
  mac: string;
  protocols: unknown;
  role: string;
  first_seen: Time;
  last_seen: Time;
  removed_at: Time | null;
}

export function assetFromRow(r: AssetRow): Asset {
  return {
    facility_id: r.facility_id,
    address: r.address,
    mac: r.mac,
    protocols: parseJson<string[]>(r.protocols),
    role: r.role,
    first_seen: iso(r.first_seen),
    last_seen: iso(r.last_seen),
    removed_at: isoOrNull(r.removed_at),
  };
}

export interface AggregateRow {
  facility_id: string;
  time: Time;
  packets_per_sec: number;
  bytes_per_sec: number;
  unique_src_ips: number;
  unique_dest_ips: number;
  protocol_distribution: unknown;
  failed_connections: number;
  avg_packet_size: number;
  inter_arrival_time: number;
}

export function aggregateFromRow(r: AggregateRow): FacilityAggregate {
  return {
    facility_id: r.facility_id,
    time: iso(r.time),
    packets_per_sec: r.packets_per_sec,
    bytes_per_sec: r.bytes_per_sec,
    unique_src_ips: r.unique_src_ips,
    unique_dest_ips: r.unique_dest_ips,
    protocol_distribution: parseJson<ProtocolDistribution>(r.protocol_distribution),
    failed_connections: r.failed_connections,
    avg_packet_size: r.avg_packet_size,
    inter_arrival_time: r.inter_arrival_time,
  };
}

export interface RoundRow {
  id: number;
  round_number: number;
  status: FLRoundStatus;
  phase: FLPhase;
  start_time: Time;
  end_time: Time | null;
  progress: number;
  epsilon: number;
  model_accuracy: number | null;
  clients_active: number;
  total_clients: number;
  model: string | null;
}

export function roundFromRow(r: RoundRow, clients: FLClient[]): FLRound {
  return {
    id: r.id,
    round_number: r.round_number,
    status: r.status,
    phase: r.phase,
    start_time: iso(r.start_time),
    end_time: isoOrNull(r.end_time),
    progress: r.progress,
    epsilon: r.epsilon,
    model_accuracy: r.model_accuracy,
    clients_active: r.clients_active,
    total_clients: r.total_clients,
    clients,
    model: r.model,
  };
}

export interface RoundClientRow {
  round_id: number;
  id: string;
  facility_id: string;
  name: string;
  status: FLClientStatus;
  progress: number;
  current_epoch: number;
  total_epochs: number;
  loss: number | null;
  accuracy: number | null;
  last_update: Time;
}

export function roundClientFromRow(r: RoundClientRow): FLClient {
  return {
    id: r.id,
    facility_id: r.facility_id,
    name: r.name,
    status: r.status,
    progress: r.progress,
    current_epoch: r.current_epoch,
    total_epochs: r.total_epochs,
    loss: r.loss,
    accuracy: r.accuracy,
    last_update: iso(r.last_update),
  };
}

/** Groups client rows by round id, in the order given. */
export function clientsByRound(rows: readonly RoundClientRow[]): Map<number, FLClient[]> {
  const m = new Map<number, FLClient[]>();
  for (const r of rows) {
    const list = m.get(r.round_id);
    if (list === undefined) m.set(r.round_id, [roundClientFromRow(r)]);
    else list.push(roundClientFromRow(r));
  }
  return m;
}

export interface PredictionRow {
  id: string;
  ts: Time;
  current_technique: string;
  current_technique_name: string;
  alert_id: string | null;
  validated: Flag;
  validation_time: Time | null;
}

export interface PredictedTechniqueRow extends PredictedTechnique {
  prediction_id: string;
}

export function predictionFromRow(r: PredictionRow, techniques: PredictedTechnique[]): Prediction {
  return {
    id: r.id,
    timestamp: iso(r.ts),
    current_technique: r.current_technique,
    current_technique_name: r.current_technique_name,
    alert_id: r.alert_id,
    validated: Boolean(r.validated),
    validation_time: isoOrNull(r.validation_time),
    predicted_techniques: techniques,
  };
}

/** Groups predicted techniques by prediction id, in the order given (rank). */
export function techniquesByPrediction(
  rows: readonly PredictedTechniqueRow[],
): Map<string, PredictedTechnique[]> {
  const m = new Map<string, PredictedTechnique[]>();
  for (const { prediction_id, ...t } of rows) {
    const list = m.get(prediction_id);
    if (list === undefined) m.set(prediction_id, [t]);
    else list.push(t);
  }
  return m;
}

export interface TokenRow {
  id: string;
  name: string;
  role: Role;
  created_at: Time;
  revoked_at: Time | null;
  last_used_at: Time | null;
}

export function tokenFromRow(r: TokenRow): ApiToken {
  return {
    id: r.id,
    name: r.name,
    role: r.role,
    created_at: iso(r.created_at),
    revoked_at: isoOrNull(r.revoked_at),
    last_used_at: isoOrNull(r.last_used_at),
  };
}

export interface AuditRow {
  id: number | string;
  at: Time;
  actor: string;
  action: string;
  target: string;
  details: unknown;
}

export function auditFromRow(r: AuditRow): AuditEntry {
  return {
    id: Number(r.id),
    at: iso(r.at),
    actor: r.actor,
    action: r.action,
    target: r.target,
    details: parseJson<Record<string, unknown>>(r.details),
  };
}
