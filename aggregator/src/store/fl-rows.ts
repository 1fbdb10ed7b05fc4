// Row -> record mapping of the FL issue's tables (fl_privacy, fl_models) for both stores. SQLite hands back TEXT times
// and JSON text; pg hands back Date, float8[] arrays and bigint as strings.
import { iso, isoOrNull, parseJson } from './common.js';
import type { ModelVersion, PrivacyAccount } from './types.js';

type Time = string | Date;

export const PRIVACY_COLUMNS =
  'facility_id, orders, rdp, epsilon, delta, examples, rounds, exhausted_at, updated_at';

export interface PrivacyRow {
  facility_id: string;
  orders: string | number[];
  rdp: string | number[];
  epsilon: number;
  delta: number;
  examples: number | string;
  rounds: number;
  exhausted_at: Time | null;
  updated_at: Time;
}

export function privacyFromRow(r: PrivacyRow): PrivacyAccount {
  return {
    facility_id: r.facility_id,
    orders: parseJson<number[]>(r.orders).map(Number),
    rdp: parseJson<number[]>(r.rdp).map(Number),
    epsilon: r.epsilon,
    delta: r.delta,
    examples: Number(r.examples),
    rounds: r.rounds,
    exhausted_at: isoOrNull(r.exhausted_at),
    updated_at: iso(r.updated_at),
  };
}

/** Every model column but the payload; `active` is computed by the query. */
export const MODEL_COLUMNS =
  'version, name, round_id, created_at, sha256, format, size_bytes, parameters, model_accuracy, activated_at';

/** SQL for "is this row (alias m) the active version of its name". */
export const MODEL_ACTIVE =
  '(m.activation = (SELECT max(a.activation) FROM fl_models a WHERE a.name = m.name))';

export interface ModelRow {
  version: number;
  name: string;
  round_id: number | null;
  created_at: Time;
  sha256: string;
  format: string;
  size_bytes: number;
  parameters: number | string;
  model_accuracy: number | null;
  activated_at: Time;
  active: number | boolean;
}

export function modelFromRow(r: ModelRow): ModelVersion {
  return {
    version: r.version,
    name: r.name,
    round_id: r.round_id,
    created_at: iso(r.created_at),
    sha256: r.sha256,
    format: r.format,
    size_bytes: r.size_bytes,
    parameters: Number(r.parameters),
    model_accuracy: r.model_accuracy,
    activated_at: iso(r.activated_at),
    active: r.active === true || r.active === 1,
  };
}
