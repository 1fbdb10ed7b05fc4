// Converts between the API's shapes (@vigil/shared) and link.proto messages, and validates what arrives: the
// aggregator never trusts an agent's message, the agent checks an alert before it enters the outbox.
import {
  ICS_TECHNIQUE_PATTERN,
  SEVERITIES,
  TIMELINE_STATUSES,
  isUuid,
  type Alert,
  type NetworkMetrics,
  type Severity,
  type TimelineStatus,
} from '@vigil/shared';
import type { PbAgentHealth, PbAlert, PbWindowAggregate } from './link.js';

/** A message that decodes but breaks the protocol's rules; `field` names the offending field. */
export class InvalidMessageError extends Error {
  override readonly name = 'InvalidMessageError';
  constructor(
    readonly field: string,
    problem: string,
  ) {
    super(`${field}: ${problem}`);
  }
}

/** Length limits of an alert's text fields, in UTF-16 code units (JS string length); the agent cuts to them. */
export const MAX_SHORT = 512;
export const MAX_TEXT = 16 * 1024;
/** Sources one alert may list. */
export const MAX_SOURCES = 64;
const MAX_TIMELINE = 600;

/**
 * Where a value sits in a message, spelled out (`field(name)`) only when an error names it: an alert with a 60-point
 * timeline has some 400 fields, and building each one's label while it was valid cost about as much as checking it.
 * `list`/`index` name the list item being read (sources[2]), empty for the message's own fields.
 */
class Where {
  list = '';
  index = 0;
  constructor(readonly at: string) {}
  field(name: string): string {
    return this.list === '' ? `${this.at}.${name}` : `${this.at}.${this.list}[${this.index}].${name}`;
  }
}

/**
 * A text field. NUL (U+0000) is refused in every one: Postgres cannot store it in text or json (SQLite can), so both
 * stores accept exactly the alerts this lets through.
 */
function text(v: unknown, w: Where, name: string, max: number, allowEmpty = true): string {
  if (typeof v === 'string' && v.length <= max && (allowEmpty || v.length > 0) && !v.includes('\0')) return v;
  const field = w.field(name);
  if (typeof v !== 'string') throw new InvalidMessageError(field, 'must be a string');
  if (v.length === 0) throw new InvalidMessageError(field, 'must not be empty');
  if (v.length > max) throw new InvalidMessageError(field, `longer than ${max} characters`);
  throw new InvalidMessageError(field, 'contains NUL (U+0000)');
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** The digits at s[from, from + len) as a number, or -1 if one of them is not a digit. */
function digits(s: string, from: number, len: number): number {
  let n = 0;
  for (let i = from; i < from + len; i++) {
    const d = s.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

/**
 * Whether s is already what toISOString() would print for it (YYYY-MM-DDTHH:MM:SS.sssZ, a real calendar date).
 * Agents send times in that form; checking it costs a tenth of parsing and printing the date again, which was the
 * largest part of validating an alert with a 60-point timeline.
 */
function isCanonicalTime(s: string): boolean {
  if (s.length !== 24 || s[4] !== '-' || s[7] !== '-' || s[10] !== 'T' || s[13] !== ':' || s[16] !== ':') {
    return false;
  }
  if (s[19] !== '.' || s[23] !== 'Z' || digits(s, 20, 3) < 0) return false;
  const year = digits(s, 0, 4);
  const month = digits(s, 5, 2);
  const day = digits(s, 8, 2);
  if (year < 0 || month < 1 || month > 12 || day < 1) return false;
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  const monthDays = month === 2 && leap ? 29 : (DAYS_IN_MONTH[month - 1] ?? 0);
  if (day > monthDays) return false;
  const hour = digits(s, 11, 2);
  const minute = digits(s, 14, 2);
  const second = digits(s, 17, 2);
  return hour >= 0 && hour < 24 && minute >= 0 && minute < 60 && second >= 0 && second < 60;
}

function time(v: unknown, w: Where, name: string): string {
  const s = text(v, w, name, 64, false);
  if (isCanonicalTime(s)) return s;
  const ms = Date.parse(s);
  if (!Number.isFinite(ms))
    throw new InvalidMessageError(w.field(name), `"${s.slice(0, 40)}" is not an ISO-8601 time`);
  return new Date(ms).toISOString();
}

function isNum(v: unknown, min: number, max: number): v is number {
  return typeof v === 'number' && Number.isFinite(v) && v >= min && v <= max;
}

function num(v: unknown, w: Where, name: string, min: number, max: number): number {
  if (isNum(v, min, max)) return v;
  throw new InvalidMessageError(w.field(name), `must be a number in [${min}, ${max}]`);
}

/** The keys of a map field (a plain object), at most 256. */
function mapKeys(v: unknown, w: Where, name: string): string[] {
  if (v === null || v === undefined) return [];
  if (typeof v !== 'object') throw new InvalidMessageError(w.field(name), 'must be a map');
  const keys = Object.keys(v);
  if (keys.length > 256) throw new InvalidMessageError(w.field(name), 'more than 256 entries');
  return keys;
}

function numberMap(v: unknown, w: Where, name: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of mapKeys(v, w, name)) {
    const x = (v as Record<string, unknown>)[k];
    if (k.length > 64 || k.includes('\0')) text(k, w, `${name} key`, 64);
    if (!isNum(x, 0, Number.MAX_VALUE)) {
      throw new InvalidMessageError(`${w.field(name)}[${k}]`, `must be a number in [0, ${Number.MAX_VALUE}]`);
    }
    out[k] = x;
  }
  return out;
}

function stringMap(v: unknown, w: Where, name: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of mapKeys(v, w, name)) {
    const x = (v as Record<string, unknown>)[k];
    if (k.length > 128 || k.includes('\0')) text(k, w, `${name} key`, 128);
    if (typeof x !== 'string' || x.length > MAX_TEXT || x.includes('\0'))
      text(x, w, `${name}[${k}]`, MAX_TEXT);
    out[k] = x as string;
  }
  return out;
}

function oneOf<T extends string>(v: unknown, allowed: readonly T[], w: Where, name: string): T {
  if (typeof v === 'string' && (allowed as readonly string[]).includes(v)) return v as T;
  throw new InvalidMessageError(w.field(name), `must be one of ${allowed.join(', ')}`);
}

/** The wire form of an alert; facility_id and status are not sent (the aggregator sets them). */
export function alertToPb(a: Alert): PbAlert {
  return {
    id: a.id,
    timestamp: a.timestamp,
    severity: a.severity,
    title: a.title,
    description: a.description,
    sources: a.sources.map((s) => ({ ...s })),
    correlation_confidence: a.correlation_confidence,
    correlation_summary: a.correlation_summary,
    attack_type: a.attack_type,
    attack_name: a.attack_name,
    context_analysis: {
      duration: a.context_analysis.duration,
      pattern: a.context_analysis.pattern,
      behavior: a.context_analysis.behavior,
      timeline: a.context_analysis.timeline.map((t) => ({ ...t })),
      evidence: { ...a.context_analysis.evidence },
    },
  };
}

/**
 * Validates a received alert and gives it the facility the caller's certificate names (never one from the message).
 * Throws InvalidMessageError naming the first bad field.
 */
export function alertFromPb(p: PbAlert, facilityId: string, at = 'alert'): Alert {
  const w = new Where(at);
  const id = text(p.id, w, 'id', 64, false);
  if (!isUuid(id)) throw new InvalidMessageError(w.field('id'), 'must be a UUID');
  const attackType = text(p.attack_type, w, 'attack_type', 16);
  if (attackType !== '' && !ICS_TECHNIQUE_PATTERN.test(attackType)) {
    throw new InvalidMessageError(w.field('attack_type'), 'must be an ATT&CK for ICS id like T0846');
  }
  if (!Array.isArray(p.sources) || p.sources.length > MAX_SOURCES) {
    throw new InvalidMessageError(w.field('sources'), `must be a list of at most ${MAX_SOURCES}`);
  }
  const ctx = p.context_analysis;
  if (ctx !== null && (!Array.isArray(ctx.timeline) || ctx.timeline.length > MAX_TIMELINE)) {
    throw new InvalidMessageError(
      w.field('context_analysis.timeline'),
      `must be a list of at most ${MAX_TIMELINE}`,
    );
  }
  const timestamp = time(p.timestamp, w, 'timestamp');
  const severity = oneOf<Severity>(p.severity, SEVERITIES, w, 'severity');
  const title = text(p.title, w, 'title', MAX_SHORT, false);
  const description = text(p.description, w, 'description', MAX_TEXT);
  w.list = 'sources';
  const sources = p.sources.map((s, i): Alert['sources'][number] => {
    w.index = i;
    const layer = num(s.layer, w, 'layer', 1, 3);
    if (layer !== 1 && layer !== 2 && layer !== 3)
      throw new InvalidMessageError(w.field('layer'), 'must be 1, 2 or 3');
    return {
      layer,
      model_name: text(s.model_name, w, 'model_name', MAX_SHORT, false),
      confidence: num(s.confidence, w, 'confidence', 0, 1),
      detection_time: time(s.detection_time, w, 'detection_time'),
      evidence: text(s.evidence, w, 'evidence', MAX_TEXT),
      context_evidence: text(s.context_evidence, w, 'context_evidence', MAX_TEXT),
    };
  });
  w.list = '';
  const correlationConfidence = num(p.correlation_confidence, w, 'correlation_confidence', 0, 1);
  const correlationSummary = text(p.correlation_summary, w, 'correlation_summary', MAX_TEXT);
  const attackName = text(p.attack_name, w, 'attack_name', MAX_SHORT);
  const duration = text(ctx?.duration ?? '', w, 'context_analysis.duration', MAX_SHORT);
  const pattern = text(ctx?.pattern ?? '', w, 'context_analysis.pattern', MAX_SHORT);
  const behavior = text(ctx?.behavior ?? '', w, 'context_analysis.behavior', MAX_TEXT);
  w.list = 'context_analysis.timeline';
  const timeline = (ctx?.timeline ?? []).map((t, i) => {
    w.index = i;
    return {
      time: time(t.time, w, 'time'),
      packets_per_sec: num(t.packets_per_sec, w, 'packets_per_sec', 0, Number.MAX_VALUE),
      unique_dest_ips: num(t.unique_dest_ips, w, 'unique_dest_ips', 0, Number.MAX_VALUE),
      protocol_distribution: numberMap(t.protocol_distribution, w, 'protocol_distribution'),
      status: oneOf<TimelineStatus>(t.status, TIMELINE_STATUSES, w, 'status'),
    };
  });
  w.list = '';
  const evidence = stringMap(ctx?.evidence, w, 'context_analysis.evidence');
  return {
    id: id.toLowerCase(),
    timestamp,
    facility_id: facilityId,
    severity,
    title,
    description,
    status: 'new',
    sources,
    correlation_confidence: correlationConfidence,
    correlation_summary: correlationSummary,
    attack_type: attackType,
    attack_name: attackName,
    context_analysis: { duration, pattern, behavior, timeline, evidence },
  };
}

export function aggregateToPb(m: NetworkMetrics): PbWindowAggregate {
  return { ...m, protocol_distribution: { ...m.protocol_distribution } };
}

/** Validates a received per-second aggregate. */
export function aggregateFromPb(p: PbWindowAggregate, at = 'aggregate'): NetworkMetrics {
  const w = new Where(at);
  const n = (v: unknown, f: string): number => num(v, w, f, 0, Number.MAX_VALUE);
  return {
    time: time(p.time, w, 'time'),
    packets_per_sec: n(p.packets_per_sec, 'packets_per_sec'),
    bytes_per_sec: n(p.bytes_per_sec, 'bytes_per_sec'),
    unique_src_ips: n(p.unique_src_ips, 'unique_src_ips'),
    unique_dest_ips: n(p.unique_dest_ips, 'unique_dest_ips'),
    protocol_distribution: numberMap(p.protocol_distribution, w, 'protocol_distribution'),
    failed_connections: n(p.failed_connections, 'failed_connections'),
    avg_packet_size: n(p.avg_packet_size, 'avg_packet_size'),
    inter_arrival_time: n(p.inter_arrival_time, 'inter_arrival_time'),
  };
}

/** Validates a health report; the result is what the store keeps per agent (and the API shows). */
export function healthFromPb(p: PbAgentHealth | null): Record<string, unknown> {
  if (p === null) throw new InvalidMessageError('heartbeat.health', 'missing');
  const w = new Where('heartbeat.health');
  const n = (v: unknown, f: string): number => num(v, w, f, 0, Number.MAX_SAFE_INTEGER);
  return {
    agent_version: text(p.agent_version, w, 'agent_version', 64),
    uptime_seconds: n(p.uptime_seconds, 'uptime_seconds'),
    capture_drops: n(p.capture_drops, 'capture_drops'),
    malformed_packets: n(p.malformed_packets, 'malformed_packets'),
    outbox_depth: n(p.outbox_depth, 'outbox_depth'),
    outbox_bytes: n(p.outbox_bytes, 'outbox_bytes'),
    outbox_capacity_bytes: n(p.outbox_capacity_bytes, 'outbox_capacity_bytes'),
    alerts_refused_outbox_full: n(p.alerts_refused_outbox_full, 'alerts_refused_outbox_full'),
    // absent in the health of agents before session 6
    alerts_set_aside_invalid: n(p.alerts_set_aside_invalid ?? 0, 'alerts_set_aside_invalid'),
    aggregates_dropped: n(p.aggregates_dropped, 'aggregates_dropped'),
    inventory_dropped: n(p.inventory_dropped, 'inventory_dropped'),
    model_versions: stringMap(p.model_versions, w, 'model_versions'),
    models_serving: stringMap(p.models_serving, w, 'models_serving'),
    model_error: text(p.model_error ?? '', w, 'model_error', MAX_TEXT),
    fl_status: text(p.fl_status ?? '', w, 'fl_status', MAX_TEXT),
    baseline_status: text(p.baseline_status ?? '', w, 'baseline_status', MAX_TEXT),
    suppressed: numberMap(p.suppressed, w, 'suppressed'),
  };
}
