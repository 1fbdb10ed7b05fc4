// Shapes of the dashboard API contract (../shared/spec/api.md). JSON field names are snake_case as the spec says.
// Times are ISO-8601 UTC strings; alert, prediction and FL client ids are UUIDs; FL round ids are integers.

export const SEVERITIES = ['critical', 'high', 'medium', 'low'] as const;
export type Severity = (typeof SEVERITIES)[number];

export const ALERT_STATUSES = ['new', 'acknowledged', 'resolved', 'false-positive'] as const;
export type AlertStatus = (typeof ALERT_STATUSES)[number];

export const TIMELINE_STATUSES = ['normal', 'suspicious', 'attack'] as const;
export type TimelineStatus = (typeof TIMELINE_STATUSES)[number];

/** Protocol name → share of packets (0..1) or packet count, as the producer documents. */
export type ProtocolDistribution = Record<string, number>;

export interface TimelinePoint {
  time: string;
  packets_per_sec: number;
  unique_dest_ips: number;
  protocol_distribution: ProtocolDistribution;
  status: TimelineStatus;
}

export interface AlertSource {
  layer: 1 | 2 | 3;
  model_name: string;
  confidence: number;
  detection_time: string;
  evidence: string;
  context_evidence: string;
}

export interface ContextAnalysis {
  duration: string;
  pattern: string;
  behavior: string;
  timeline: TimelinePoint[];
  evidence: Record<string, string>;
}

export interface Alert {
  id: string;
  timestamp: string;
  facility_id: string;
  severity: Severity;
  title: string;
  description: string;
  status: AlertStatus;
  sources: AlertSource[];
  correlation_confidence: number;
  correlation_summary: string;
  attack_type: string;
  attack_name: string;
  context_analysis: ContextAnalysis;
}

export interface AlertStats {
  total: number;
  critical: number;
  unresolved: number;
  false_positives: number;
}

export interface AlertPage {
  alerts: Alert[];
  total: number;
  page: number;
  pages: number;
  limit: number;
}

export const FACILITY_STATUSES = ['online', 'delayed', 'offline'] as const;
export type FacilityStatus = (typeof FACILITY_STATUSES)[number];

export interface FacilitySummary {
  id: string;
  name: string;
  status: FacilityStatus;
}

export interface SystemStatus {
  active_alerts: number;
  fl_progress: number;
  prediction_accuracy: number;
  facilities: FacilitySummary[];
}

/** Per-second aggregates of a facility's traffic, as the context window produces them. */
export interface NetworkMetrics {
  time: string;
  packets_per_sec: number;
  bytes_per_sec: number;
  unique_src_ips: number;
  unique_dest_ips: number;
  protocol_distribution: ProtocolDistribution;
  failed_connections: number;
  avg_packet_size: number;
  inter_arrival_time: number;
}

export const FL_ROUND_STATUSES = ['in-progress', 'completed', 'failed'] as const;
export type FLRoundStatus = (typeof FL_ROUND_STATUSES)[number];
export const FL_PHASES = ['distributing', 'training', 'aggregating', 'complete'] as const;
export type FLPhase = (typeof FL_PHASES)[number];
export const FL_CLIENT_STATUSES = ['active', 'delayed', 'offline'] as const;
export type FLClientStatus = (typeof FL_CLIENT_STATUSES)[number];

export interface FLClient {
  id: string;
  facility_id: string;
  name: string;
  status: FLClientStatus;
  progress: number;
  current_epoch: number;
  total_epochs: number;
  loss: number | null;
  accuracy: number | null;
  last_update: string;
}

export interface FLRound {
  id: number;
  round_number: number;
  status: FLRoundStatus;
  phase: FLPhase;
  start_time: string;
  end_time: string | null;
  progress: number;
  epsilon: number;
  model_accuracy: number | null;
  clients_active: number;
  total_clients: number;
  clients: FLClient[];
  /**
   * An addition to the spec's fields: the registry name of the model the round trained ("fl-global" is the Layer 2
   * classifier, "fl-global-l1b" the Layer 1b autoencoder); null for a round stored before rounds recorded it.
   */
  model: string | null;
}

/** One facility's privacy spend across FL rounds (an addition to the spec's privacy metrics). */
export interface FacilityPrivacy {
  facility_id: string;
  epsilon: number;
  privacy_budget_remaining: number;
  /** Examples it trained on in its latest round. */
  data_size: number;
  rounds: number;
  /** When its budget was found spent; it is no longer selected for rounds. Null while budget is left. */
  exhausted_at: string | null;
}

export interface PrivacyMetrics {
  epsilon: number;
  delta: number;
  data_size: number;
  encryption: string;
  privacy_budget_remaining: number;
  /** Per facility, highest epsilon first. */
  facilities?: FacilityPrivacy[];
}

export interface PredictedTechnique {
  technique_id: string;
  technique_name: string;
  probability: number;
  rank: number;
  timeframe: string;
  timeframe_seconds: number;
}

export interface Prediction {
  id: string;
  timestamp: string;
  current_technique: string;
  current_technique_name: string;
  alert_id: string | null;
  validated: boolean;
  validation_time: string | null;
  predicted_techniques: PredictedTechnique[];
}

export interface TechniqueDetails {
  id: string;
  name: string;
  description: string;
  tactics: string[];
  detection: string;
  mitigation: string;
  platforms: string[];
  affected_assets: string[];
}

export interface ApiErrorBody {
  error: { code: string; message: string; details: Record<string, unknown> };
}
