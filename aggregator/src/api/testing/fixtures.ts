// Records for API tests: alerts, rounds and predictions shaped as the detectors and engines will write them.
import { randomUUID } from 'node:crypto';
import type { FLClient, Prediction } from '@vigil/shared';
import type { Role, Store, StoredAlert } from '../../store/types.js';
import { generateTokenSecret, hashTokenSecret } from '../../store/token-secret.js';

export function makeAlert(over: Partial<StoredAlert> = {}): StoredAlert {
  const timestamp = over.timestamp ?? new Date().toISOString();
  const t0 = Date.parse(timestamp);
  return {
    id: randomUUID(),
    timestamp,
    facility_id: 'plant-a',
    severity: 'high',
    title: 'Modbus write burst to PLC-3',
    description: 'Unusual function-code 16 writes to holding registers',
    status: 'new',
    sources: [
      {
        layer: 1,
        model_name: 'isolation-forest',
        confidence: 0.91,
        detection_time: timestamp,
        evidence: 'write rate 40x baseline',
        context_evidence: 'preceded by a scan of 24 hosts',
      },
    ],
    correlation_confidence: 0.87,
    correlation_summary: 'L1 anomaly confirmed by L2 classifier',
    attack_type: 'T0836',
    attack_name: 'Modify Parameter',
    context_analysis: {
      duration: '42 seconds',
      pattern: 'burst',
      behavior: 'repeated register writes after a discovery sweep',
      timeline: [0, 1, 2].map((i) => ({
        time: new Date(t0 - (2 - i) * 1000).toISOString(),
        packets_per_sec: 100 + i * 50,
        unique_dest_ips: 3 + i,
        protocol_distribution: { modbus: 0.8, tcp: 0.2 },
        status: i === 2 ? ('attack' as const) : ('normal' as const),
      })),
      evidence: { writes: '212 writes in 5 s' },
    },
    generated: false,
    ...over,
  };
}

export function makeClient(over: Partial<FLClient> = {}): FLClient {
  return {
    id: randomUUID(),
    facility_id: 'plant-a',
    name: 'plant-a agent',
    status: 'active',
    progress: 50,
    current_epoch: 2,
    total_epochs: 5,
    loss: 0.31,
    accuracy: 0.9,
    last_update: new Date().toISOString(),
    ...over,
  };
}

export function makePrediction(over: Partial<Prediction> = {}): Prediction {
  return {
    id: randomUUID(),
    timestamp: new Date().toISOString(),
    current_technique: 'T0846',
    current_technique_name: 'Remote System Discovery',
    alert_id: null,
    validated: false,
    validation_time: null,
    predicted_techniques: [
      {
        technique_id: 'T0886',
        technique_name: 'Remote Services',
        probability: 0.6,
        rank: 1,
        timeframe: '15-60 minutes',
        timeframe_seconds: 3600,
      },
      {
        technique_id: 'T0836',
        technique_name: 'Modify Parameter',
        probability: 0.3,
        rank: 2,
        timeframe: '1-4 hours',
        timeframe_seconds: 14400,
      },
    ],
    ...over,
  };
}

/** Issues a token of `role` and returns its secret (the store keeps only the hash). */
export async function issueToken(store: Store, role: Role, name = `${role}-test`): Promise<string> {
  const secret = generateTokenSecret();
  await store.createToken({ id: randomUUID(), name, role, hash: hashTokenSecret(secret) });
  return secret;
}
