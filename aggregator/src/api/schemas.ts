// The zod schemas of the dashboard API: request validation and the OpenAPI 3.1 document come from these alone.
import { z } from '@hono/zod-openapi';
import {
  ALERT_STATUSES,
  FACILITY_STATUSES,
  FL_CLIENT_STATUSES,
  FL_PHASES,
  FL_ROUND_STATUSES,
  SEVERITIES,
  TIMELINE_STATUSES,
} from '@vigil/shared';

// ---- identifiers --------------------------------------------------------------------------------------------------

const UUID_RE = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[1-8][0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}$/;
const FACILITY_RE = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const MAX_INT4 = 2_147_483_647;

export const Uuid = z
  .string()
  .regex(UUID_RE, 'must be a UUID')
  .openapi({ example: '0b6f4f7e-3c1d-4a8e-9f00-1c2d3e4f5a6b' });
export const FacilityId = z
  .string()
  .regex(FACILITY_RE, 'must be a facility slug: lowercase letters, digits and -, 1 to 63 characters')
  .openapi({ example: 'plant-a' });
export const TechniqueId = z
  .string()
  .regex(/^T0\d{3}$/, 'must be an ATT&CK for ICS technique id such as T0846');

/** Free text without NUL (which no database accepts in text) and of bounded length. */
const Text = (max: number) =>
  z
    .string()
    .max(max)
    .refine((s) => !s.includes('\u0000'), 'must not contain NUL characters');

// ---- shared shapes -----------------------------------------------------------------------------------------------

export const ErrorSchema = z
  .object({
    error: z.object({
      code: z.string().openapi({ example: 'validation_failed' }),
      message: z.string(),
      details: z.record(z.string(), z.unknown()),
    }),
  })
  .openapi('Error');

const ProtocolDistribution = z.record(z.string(), z.number()).openapi('ProtocolDistribution');

export const TimelinePointSchema = z
  .object({
    time: z.string(),
    packets_per_sec: z.number(),
    unique_dest_ips: z.number(),
    protocol_distribution: ProtocolDistribution,
    status: z.enum(TIMELINE_STATUSES),
  })
  .openapi('TimelinePoint');

export const AlertSourceSchema = z
  .object({
    layer: z.union([z.literal(1), z.literal(2), z.literal(3)]),
    model_name: z.string(),
    confidence: z.number(),
    detection_time: z.string(),
    evidence: z.string(),
    context_evidence: z.string(),
  })
  .openapi('AlertSource');

export const ContextAnalysisSchema = z
  .object({
    duration: z.string(),
    pattern: z.string(),
    behavior: z.string(),
    timeline: z.array(TimelinePointSchema),
    evidence: z.record(z.string(), z.string()),
  })
  .openapi('ContextAnalysis');

export const AlertSchema = z
  .object({
    id: Uuid,
    timestamp: z.string(),
    facility_id: z.string(),
    severity: z.enum(SEVERITIES),
    title: z.string(),
    description: z.string(),
    status: z.enum(ALERT_STATUSES),
    sources: z.array(AlertSourceSchema),
    correlation_confidence: z.number(),
    correlation_summary: z.string(),
    attack_type: z.string(),
    attack_name: z.string(),
    context_analysis: ContextAnalysisSchema,
  })
  .openapi('Alert');

export const AlertPageSchema = z
  .object({
    alerts: z.array(AlertSchema),
    total: z.number().int(),
    page: z.number().int(),
    pages: z.number().int(),
    limit: z.number().int(),
  })
  .openapi('AlertPage');

export const AlertStatsSchema = z
  .object({
    total: z.number().int(),
    critical: z.number().int(),
    unresolved: z.number().int(),
    false_positives: z.number().int(),
  })
  .openapi('AlertStats');

export const HealthSchema = z
  .object({
    status: z.enum(['healthy', 'degraded', 'unhealthy']),
    services: z.record(z.string(), z.enum(['connected', 'down', 'embedded'])),
    /** Why each service that is down is down (beside the spec's fields; absent when all are up). */
    details: z.record(z.string(), z.string()).optional(),
  })
  .openapi('Health');

export const SystemStatusSchema = z
  .object({
    active_alerts: z.number().int(),
    fl_progress: z.number(),
    prediction_accuracy: z.number(),
    facilities: z.array(z.object({ id: z.string(), name: z.string(), status: z.enum(FACILITY_STATUSES) })),
  })
  .openapi('SystemStatus');

const MetricsSchema = z
  .object({
    packets_per_sec: z.number(),
    bytes_per_sec: z.number(),
    unique_src_ips: z.number(),
    unique_dest_ips: z.number(),
    protocol_distribution: ProtocolDistribution,
    failed_connections: z.number(),
    avg_packet_size: z.number(),
    inter_arrival_time: z.number(),
  })
  .openapi('WindowMetrics');

export const ContextCurrentSchema = z
  .object({
    facility_id: z.string(),
    window_duration: z.literal('60 seconds'),
    features: z
      .object({
        window_start: z.string(),
        window_end: z.string(),
        seconds_with_data: z.number().int(),
        series: z.array(MetricsSchema.extend({ time: z.string() })),
      })
      .openapi({ description: 'The stored per-second aggregates of the window, oldest first.' }),
    metrics: MetricsSchema.openapi({
      description:
        'Means over the seconds of the window that have data (0 when none); protocol shares summed.',
    }),
  })
  .openapi('ContextCurrent');

export const ContextEvidenceSchema = z
  .object({
    alert_id: Uuid,
    timeline: z.array(TimelinePointSchema),
    evidence: z.object({
      packets_per_sec: z.number(),
      unique_dest_ips: z.number(),
      protocol_distribution: ProtocolDistribution,
      failed_connections: z.number().nullable(),
    }),
    pattern_analysis: z.object({ pattern_type: z.string(), confidence: z.number(), description: z.string() }),
  })
  .openapi('ContextEvidence');

export const ContextTimelineSchema = z
  .object({ timeline: z.array(TimelinePointSchema) })
  .openapi('ContextTimeline');

export const FLClientSchema = z
  .object({
    id: z.string(),
    facility_id: z.string(),
    name: z.string(),
    status: z.enum(FL_CLIENT_STATUSES),
    progress: z.number(),
    current_epoch: z.number().int(),
    total_epochs: z.number().int(),
    loss: z.number().nullable(),
    accuracy: z.number().nullable(),
    last_update: z.string(),
  })
  .openapi('FLClient');

export const FLRoundSchema = z
  .object({
    id: z.number().int(),
    round_number: z.number().int(),
    status: z.enum(FL_ROUND_STATUSES),
    phase: z.enum(FL_PHASES),
    start_time: z.string(),
    end_time: z.string().nullable(),
    progress: z.number(),
    epsilon: z.number(),
    model_accuracy: z.number().nullable(),
    clients_active: z.number().int(),
    total_clients: z.number().int(),
    clients: z.array(FLClientSchema),
    model: z.string().nullable().openapi({
      description:
        'An addition to the spec: the registry name of the model the round trained ("fl-global" = the Layer 2 classifier, "fl-global-l1b" = the Layer 1b autoencoder); null for a round stored before rounds recorded it',
    }),
  })
  .openapi('FLRound');

export const FLRoundListSchema = z
  .object({ rounds: z.array(FLRoundSchema), total: z.number().int() })
  .openapi('FLRoundList');

export const PrivacyMetricsSchema = z
  .object({
    epsilon: z.number(),
    delta: z.number(),
    data_size: z.number().int(),
    encryption: z.string(),
    privacy_budget_remaining: z.number(),
    facilities: z
      .array(
        z
          .object({
            facility_id: z.string(),
            epsilon: z.number(),
            privacy_budget_remaining: z.number(),
            data_size: z.number().int(),
            rounds: z.number().int(),
            exhausted_at: z.string().nullable(),
          })
          .openapi('FacilityPrivacy'),
      )
      .optional(),
  })
  .openapi('PrivacyMetrics');

/** Body of POST /api/fl/rounds/trigger: every field optional (defaults: at least 2 clients, a round within 2 min). */
export const RoundTriggerBody = z
  .object({
    min_clients: z.number().int().min(1).max(10_000).optional(),
    fraction_fit: z.number().gt(0).lte(1).optional(),
    timeout_seconds: z.number().gt(0).max(3600).optional(),
    local_epochs: z.number().int().min(1).max(1000).optional(),
  })
  .strict()
  .openapi('RoundTrigger');

export const PredictionSchema = z
  .object({
    id: Uuid,
    timestamp: z.string(),
    current_technique: z.string(),
    current_technique_name: z.string(),
    alert_id: z.string().nullable(),
    validated: z.boolean(),
    validation_time: z.string().nullable(),
    predicted_techniques: z.array(
      z.object({
        technique_id: z.string(),
        technique_name: z.string(),
        probability: z.number(),
        rank: z.number().int(),
        timeframe: z.string(),
        timeframe_seconds: z.number(),
      }),
    ),
  })
  .openapi('Prediction');

export const PredictionListSchema = z
  .object({ predictions: z.array(PredictionSchema), total: z.number().int() })
  .openapi('PredictionList');

export const GraphSchema = z
  .object({
    nodes: z.array(
      z.object({
        id: z.string(),
        name: z.string(),
        type: z.enum(['current', 'predicted']),
        probability: z.number(),
      }),
    ),
    links: z.array(z.object({ source: z.string(), target: z.string(), probability: z.number() })),
  })
  .openapi('AttackGraph');

export const TechniqueDetailsSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    description: z.string(),
    tactics: z.array(z.string()),
    detection: z.string(),
    mitigation: z.string(),
    platforms: z.array(z.string()),
    affected_assets: z.array(z.string()),
  })
  .openapi('TechniqueDetails');

const ScenarioSchema = z
  .object({
    scenario_id: z.string(),
    type: z.string(),
    started_at: z.string(),
    facility_id: z.string(),
    /** running until the alerts the scenario should cause arrived (detected), or it timed out or was reset. */
    outcome: z.enum(['running', 'detected', 'timed_out', 'reset']),
    /** The alerts that showed the scenario's techniques, in arrival order. */
    alert_ids: z.array(z.string()),
  })
  .openapi('Scenario');

export const DemoStatusSchema = z
  .object({
    active_scenarios: z.array(ScenarioSchema),
    last_scenario: ScenarioSchema.nullable(),
  })
  .openapi('DemoStatus');

// ---- requests ----------------------------------------------------------------------------------------------------

/** `time_range` values: the short forms and the dashboard's labels. */
export const TIME_RANGES: Readonly<Record<string, number | null>> = {
  '1h': 3_600_000,
  '24h': 86_400_000,
  '7d': 7 * 86_400_000,
  '30d': 30 * 86_400_000,
  all: null,
  'Last hour': 3_600_000,
  'Last 24 hours': 86_400_000,
  'Last 7 days': 7 * 86_400_000,
  'Last 30 days': 30 * 86_400_000,
  'All time': null,
};
const TIME_RANGE_VALUES = Object.keys(TIME_RANGES) as [string, ...string[]];

const Limit = (dflt: number) =>
  z.coerce
    .number()
    .int()
    .min(1)
    .max(500)
    .default(dflt)
    .openapi({ type: 'integer', minimum: 1, maximum: 500 });
const Offset = z.coerce
  .number()
  .int()
  .min(0)
  .max(MAX_INT4)
  .default(0)
  .openapi({ type: 'integer', minimum: 0 });

export const AlertsQuerySchema = z.object({
  severity: z.enum([...SEVERITIES, 'all', '']).optional(),
  facility: z.union([FacilityId, z.enum(['all', ''])]).optional(),
  status: z.enum([...ALERT_STATUSES, 'all', '']).optional(),
  status_filter: z
    .enum([...ALERT_STATUSES, 'all', ''])
    .optional()
    .openapi({ description: 'Synonym of status.' }),
  search: Text(200).optional(),
  time_range: z.enum(TIME_RANGE_VALUES).optional(),
  from: z.iso.datetime({ offset: true }).optional(),
  to: z.iso.datetime({ offset: true }).optional(),
  page: z.coerce.number().int().min(1).max(1_000_000).default(1).openapi({ type: 'integer', minimum: 1 }),
  limit: Limit(50),
});

export const AlertIdParams = z.object({
  alert_id: Uuid.openapi({ param: { name: 'alert_id', in: 'path' } }),
});

export const AlertStatusBody = z
  .object({ status: z.enum(['acknowledged', 'resolved', 'false-positive']) })
  .openapi('AlertStatusChange');

export const FacilityParams = z.object({
  facility_id: FacilityId.openapi({ param: { name: 'facility_id', in: 'path' } }),
});

export const PageQuery = z.object({ limit: Limit(20), offset: Offset });

export const RoundIdParams = z.object({
  round_id: z.coerce
    .number()
    .int()
    .min(1)
    .max(MAX_INT4)
    .openapi({ type: 'integer', param: { name: 'round_id', in: 'path' } }),
});

export const ClientIdParams = z.object({
  client_id: Uuid.openapi({ param: { name: 'client_id', in: 'path' } }),
});

export const PredictionsQuery = z.object({
  limit: Limit(20),
  offset: Offset,
  validated: z.enum(['true', 'false']).optional(),
});

export const PredictionIdParams = z.object({
  prediction_id: Uuid.openapi({ param: { name: 'prediction_id', in: 'path' } }),
});

export const PredictBody = z
  .object({ current_technique: TechniqueId, alert_id: Uuid.nullable().optional() })
  .openapi('PredictRequest');

export const TechniqueParams = z.object({
  technique_id: TechniqueId.openapi({ param: { name: 'technique_id', in: 'path' } }),
});

export const ScenarioBody = z.object({ facility_id: FacilityId }).openapi('ScenarioRequest');
