// Loads vigil/v1/link.proto and describes its messages as TypeScript types (field names as in the .proto).
// Both sides build their gRPC objects from `loadLink()`, so the channel options that matter live here, beside the
// protocol they tune.
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';
import { PROTO_ROOT } from './index.js';

/** Decoding options: plain numbers for uint64 (sequence numbers and counters stay far below 2^53). */
const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
  includeDirs: [PROTO_ROOT],
};

/**
 * Largest message the aggregator accepts from an agent. An alert batch is capped by the agent at 1 MiB
 * (AGENT_BATCH_BYTES); 4 MiB leaves room for one outsized alert with a long evidence timeline while a misbehaving or
 * hostile client cannot make the server buffer more (it gets RESOURCE_EXHAUSTED).
 */
export const SERVER_MAX_RECEIVE_BYTES = 4 * 1024 * 1024;
/** Largest message the aggregator sends: model pushes carry whole models (the FL issue's global weights). */
export const MAX_PUSH_BYTES = 64 * 1024 * 1024;
/** What the agent packs into one AlertBatch at most (well under SERVER_MAX_RECEIVE_BYTES). */
export const AGENT_BATCH_BYTES = 1024 * 1024;

/**
 * Server channel options.
 * - keepalive 30 s / 10 s: a plant link that died without a FIN (NAT timeout, cable pulled) is noticed within ~40 s,
 *   so the facility turns offline and the stream's resources are freed.
 * - permit_without_calls + min ping interval 10 s: agents ping every 20 s (below); the server must permit that or it
 *   answers with GOAWAY "too_many_pings" (its default minimum is 5 minutes).
 * - max connection idle: none; the Link stream is meant to live for days.
 */
export const SERVER_OPTIONS: grpc.ServerOptions = {
  'grpc.max_receive_message_length': SERVER_MAX_RECEIVE_BYTES,
  'grpc.max_send_message_length': MAX_PUSH_BYTES,
  'grpc.keepalive_time_ms': 30_000,
  'grpc.keepalive_timeout_ms': 10_000,
  'grpc.http2.min_ping_interval_without_data_ms': 10_000,
  'grpc.keepalive_permit_without_calls': 1,
};

/**
 * Agent channel options.
 * - keepalive 20 s / 10 s, also without calls: middleboxes between a plant and the aggregator drop idle flows after
 *   a few minutes; the ping keeps the stream's flow alive and detects a dead path within ~30 s.
 * - receive limit = MAX_PUSH_BYTES, for model pushes.
 * - reconnect backoff is done by the agent itself (with jitter), so the channel's own is kept short.
 * - the aggregator's certificate is issued for AGGREGATOR_TLS_NAME; the agent checks that name, whatever address it
 *   dials, and trusts only the CA it pinned at enrollment.
 */
export const AGGREGATOR_TLS_NAME = 'aggregator.vigil.internal';
export const CLIENT_OPTIONS: grpc.ChannelOptions = {
  'grpc.max_receive_message_length': MAX_PUSH_BYTES,
  'grpc.max_send_message_length': SERVER_MAX_RECEIVE_BYTES,
  'grpc.keepalive_time_ms': 20_000,
  'grpc.keepalive_timeout_ms': 10_000,
  'grpc.keepalive_permit_without_calls': 1,
  'grpc.ssl_target_name_override': AGGREGATOR_TLS_NAME,
  'grpc.default_authority': AGGREGATOR_TLS_NAME,
  'grpc.initial_reconnect_backoff_ms': 500,
  'grpc.max_reconnect_backoff_ms': 5_000,
};

/** Deadline of an Enroll call: one CSR signature and one store write; longer means the path is broken. */
export const ENROLL_DEADLINE_MS = 15_000;

export interface EnrollRequest {
  token: string;
  csr_der: Buffer;
  hostname: string;
}
export interface EnrollResponse {
  facility_id: string;
  agent_id: string;
  certificate_pem: string;
  ca_certificate_pem: string;
}

export interface PbAlertSource {
  layer: number;
  model_name: string;
  confidence: number;
  detection_time: string;
  evidence: string;
  context_evidence: string;
}
export interface PbTimelinePoint {
  time: string;
  packets_per_sec: number;
  unique_dest_ips: number;
  protocol_distribution: Record<string, number>;
  status: string;
}
export interface PbContextAnalysis {
  duration: string;
  pattern: string;
  behavior: string;
  timeline: PbTimelinePoint[];
  evidence: Record<string, string>;
}
export interface PbAlert {
  id: string;
  timestamp: string;
  severity: string;
  title: string;
  description: string;
  sources: PbAlertSource[];
  correlation_confidence: number;
  correlation_summary: string;
  attack_type: string;
  attack_name: string;
  context_analysis: PbContextAnalysis | null;
}
export interface PbWindowAggregate {
  time: string;
  packets_per_sec: number;
  bytes_per_sec: number;
  unique_src_ips: number;
  unique_dest_ips: number;
  protocol_distribution: Record<string, number>;
  failed_connections: number;
  avg_packet_size: number;
  inter_arrival_time: number;
}
export interface PbAssetChange {
  change: string;
  address: string;
  mac: string;
  protocols: string[];
  role: string;
  first_seen: string;
  last_seen: string;
}
export interface PbAgentHealth {
  agent_version: string;
  uptime_seconds: number;
  capture_drops: number;
  malformed_packets: number;
  outbox_depth: number;
  outbox_bytes: number;
  outbox_capacity_bytes: number;
  alerts_refused_outbox_full: number;
  aggregates_dropped: number;
  inventory_dropped: number;
  model_versions: Record<string, string>;
  models_serving: Record<string, string>;
  model_error: string;
  fl_status: string;
  /** Absent from agents before session 6. */
  alerts_set_aside_invalid?: number;
  /** Learning (until when) or learnt/loaded; absent from agents before session 7. */
  baseline_status?: string;
  /** Detections suppressed by the operator's rules, by "rule/technique"; absent from agents before session 9. */
  suppressed?: Record<string, number>;
}
export interface PbHeartbeat {
  sent_at: string;
  health: PbAgentHealth | null;
}
export interface PbPushAck {
  push_id: string;
  accepted: boolean;
  error: string;
}

/** What an agent sends. On the wire exactly one body field is set; decoded messages name it in `body`. */
export type AgentMessageBody =
  | { body?: 'alerts'; alerts: { alerts: PbAlert[] } }
  | { body?: 'aggregates'; aggregates: { rows: PbWindowAggregate[] } }
  | { body?: 'inventory'; inventory: { changes: PbAssetChange[] } }
  | { body?: 'heartbeat'; heartbeat: PbHeartbeat }
  | { body?: 'push_ack'; push_ack: PbPushAck };
export type AgentMessage = { seq: number } & AgentMessageBody;

export interface PbConfigPush {
  push_id: string;
  settings_json: string;
}
export interface PbModelPush {
  push_id: string;
  name: string;
  version: string;
  payload: Buffer;
  sha256: string;
  format: string;
}
export interface PbScenarioPush {
  push_id: string;
  name: string;
  params_json: string;
}
export type AggregatorMessage =
  | { body?: 'ack'; ack: { seq: number; stored: number } }
  | { body?: 'config'; config: PbConfigPush }
  | { body?: 'model'; model: PbModelPush }
  | { body?: 'scenario'; scenario: PbScenarioPush };

export interface LinkDefinitions {
  enrollment: grpc.ServiceDefinition;
  link: grpc.ServiceDefinition;
  EnrollmentClient: grpc.ServiceClientConstructor;
  LinkClient: grpc.ServiceClientConstructor;
}

let cached: LinkDefinitions | undefined;

/** The Enrollment and Link services (loaded once per process). */
export function loadLink(): LinkDefinitions {
  if (cached) return cached;
  const def = protoLoader.loadSync('vigil/v1/link.proto', LOADER_OPTIONS);
  const pkg = grpc.loadPackageDefinition(def);
  const v1 = (pkg.vigil as grpc.GrpcObject).v1 as grpc.GrpcObject;
  const EnrollmentClient = v1.Enrollment as grpc.ServiceClientConstructor;
  const LinkClient = v1.Link as grpc.ServiceClientConstructor;
  cached = { enrollment: EnrollmentClient.service, link: LinkClient.service, EnrollmentClient, LinkClient };
  return cached;
}

/**
 * An agent message as the aggregator's deserializer gives it: an alert batch as the bytes of its AlertBatch, which
 * codec.ts's alertsFromBatch decodes and validates in one pass; every other body as AgentMessage has it.
 */
export type ReceivedAgentMessage = { seq: number } & (
  { body: 'alert_batch'; alert_batch: Buffer } | Exclude<AgentMessageBody, { alerts: unknown }>
);

let agentMessageType: protobuf.Type | undefined;

/** AgentMessage's field numbers and wire types that the alert batch's envelope holds. */
const SEQ_FIELD = 1;
const ALERTS_FIELD = 2;

/**
 * A requestDeserialize for Link.Connect on the aggregator's side. An alert batch (the body that carries nearly all
 * the link's bytes) is handed on as its AlertBatch's bytes, read straight into validated alerts by alertsFromBatch:
 * protobufjs's decode made a message object of every alert, source and timeline point, which validation then copied
 * into the stored alert (decode and validation were ~17 us of the aggregator's ~27 us main-thread CPU per small
 * alert). Only the envelope is read here (seq, and where the batch's bytes are; protobufjs's Reader, as its decode
 * would read them: the last of a repeated field counts). Every other message is decoded by protobufjs and copied by
 * toObject with the loader's options, as before.
 */
export function agentMessageDeserializer(): (b: Buffer) => ReceivedAgentMessage {
  if (agentMessageType === undefined) {
    const root = new protobuf.Root();
    root.resolvePath = (_origin, target) => join(PROTO_ROOT, target);
    root.loadSync('vigil/v1/link.proto', { keepCase: true });
    agentMessageType = root.lookupType('vigil.v1.AgentMessage');
  }
  const type = agentMessageType;
  return (b) => {
    const r = protobuf.Reader.create(b);
    let seq = 0;
    let batch: Buffer | null = null;
    while (r.pos < r.len) {
      const tag = r.uint32();
      const field = tag >>> 3;
      if (field === SEQ_FIELD && (tag & 7) === 0) {
        const v = r.uint64();
        seq = typeof v === 'number' ? v : protobuf.util.LongBits.from(v).toNumber(true);
      } else if (field === ALERTS_FIELD) {
        if ((tag & 7) !== 2) throw new Error(`invalid wire type ${tag & 7} for AgentMessage.alerts`);
        const len = r.uint32();
        if (r.pos + len > r.len) throw new RangeError('index out of range');
        batch = b.subarray(r.pos, r.pos + len);
        r.pos += len;
      } else r.skipType(tag & 7);
    }
    if (batch !== null) return { seq, body: 'alert_batch', alert_batch: batch };
    return type.toObject(type.decode(b), LOADER_OPTIONS) as ReceivedAgentMessage;
  };
}
