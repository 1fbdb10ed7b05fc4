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
 * A text field. NUL (U+0000) is refused in every one: Postgres cannot store it in text or json (SQLite can), so both
 * stores accept exactly the alerts this lets through.
 */
function text(v: unknown, field: string, max: number, allowEmpty = true): string {
  if (typeof v !== 'string') throw new InvalidMessageError(field, 'must be a string');
  if (!allowEmpty && v.length === 0) throw new InvalidMessageError(field, 'must not be empty');
  if (v.length > max) throw new InvalidMessageError(field, `longer than ${max} characters`);
  if (v.includes('\0')) throw new InvalidMessageError(field, 'contains NUL (U+0000)');
  return v;
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

function time(v: unknown, field: string): string {
  const s = text(v, field, 64, false);
  if (isCanonicalTime(s)) return s;
  const ms = Date.parse(s);
  if (!Number.isFinite(ms))
    throw new InvalidMessageError(field, `"${s.slice(0, 40)}" is not an ISO-8601 time`);
  return new Date(ms).toISOString();
}

function num(v: unknown, field: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) {
    throw new InvalidMessageError(field, `must be a number in [${min}, ${max}]`);
  }
  return v;
}

function numberMap(v: unknown, field: string): Record<string, number> {
  const out: Record<string, number> = {};
  if (v === null || v === undefined) return out;
  if (typeof v !== 'object') throw new InvalidMessageError(field, 'must be a map');
  const entries = Object.entries(v as Record<string, unknown>);
  if (entries.length > 256) throw new InvalidMessageError(field, 'more than 256 entries');
  for (const [k, x] of entries)
    out[text(k, `${field} key`, 64)] = num(x, `${field}[${k}]`, 0, Number.MAX_VALUE);
  return out;
}

function stringMap(v: unknown, field: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (v === null || v === undefined) return out;
  if (typeof v !== 'object') throw new InvalidMessageError(field, 'must be a map');
  const entries = Object.entries(v as Record<string, unknown>);
  if (entries.length > 256) throw new InvalidMessageError(field, 'more than 256 entries');
  for (const [k, x] of entries) out[text(k, `${field} key`, 128)] = text(x, `${field}[${k}]`, MAX_TEXT);
  return out;
}

function oneOf<T extends string>(v: unknown, allowed: readonly T[], field: string): T {
  if (typeof v === 'string' && (allowed as readonly string[]).includes(v)) return v as T;
  throw new InvalidMessageError(field, `must be one of ${allowed.join(', ')}`);
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
  const id = text(p.id, `${at}.id`, 64, false);
  if (!isUuid(id)) throw new InvalidMessageError(`${at}.id`, 'must be a UUID');
  const attackType = text(p.attack_type, `${at}.attack_type`, 16);
  if (attackType !== '' && !ICS_TECHNIQUE_PATTERN.test(attackType)) {
    throw new InvalidMessageError(`${at}.attack_type`, 'must be an ATT&CK for ICS id like T0846');
  }
  if (!Array.isArray(p.sources) || p.sources.length > MAX_SOURCES) {
    throw new InvalidMessageError(`${at}.sources`, `must be a list of at most ${MAX_SOURCES}`);
  }
  const ctx = p.context_analysis;
  if (ctx !== null && (!Array.isArray(ctx.timeline) || ctx.timeline.length > MAX_TIMELINE)) {
    throw new InvalidMessageError(
      `${at}.context_analysis.timeline`,
      `must be a list of at most ${MAX_TIMELINE}`,
    );
  }
  return {
    id: id.toLowerCase(),
    timestamp: time(p.timestamp, `${at}.timestamp`),
    facility_id: facilityId,
    severity: oneOf<Severity>(p.severity, SEVERITIES, `${at}.severity`),
    title: text(p.title, `${at}.title`, MAX_SHORT, false),
    description: text(p.description, `${at}.description`, MAX_TEXT),
    status: 'new',
    sources: p.sources.map((s, i) => {
      const f = `${at}.sources[${i}]`;
      const layer = num(s.layer, `${f}.layer`, 1, 3);
      if (layer !== 1 && layer !== 2 && layer !== 3)
        throw new InvalidMessageError(`${f}.layer`, 'must be 1, 2 or 3');
      return {
        layer,
        model_name: text(s.model_name, `${f}.model_name`, MAX_SHORT, false),
        confidence: num(s.confidence, `${f}.confidence`, 0, 1),
        detection_time: time(s.detection_time, `${f}.detection_time`),
        evidence: text(s.evidence, `${f}.evidence`, MAX_TEXT),
        context_evidence: text(s.context_evidence, `${f}.context_evidence`, MAX_TEXT),
      };
    }),
    correlation_confidence: num(p.correlation_confidence, `${at}.correlation_confidence`, 0, 1),
    correlation_summary: text(p.correlation_summary, `${at}.correlation_summary`, MAX_TEXT),
    attack_type: attackType,
    attack_name: text(p.attack_name, `${at}.attack_name`, MAX_SHORT),
    context_analysis: {
      duration: text(ctx?.duration ?? '', `${at}.context_analysis.duration`, MAX_SHORT),
      pattern: text(ctx?.pattern ?? '', `${at}.context_analysis.pattern`, MAX_SHORT),
      behavior: text(ctx?.behavior ?? '', `${at}.context_analysis.behavior`, MAX_TEXT),
      timeline: (ctx?.timeline ?? []).map((t, i) => {
        const f = `${at}.context_analysis.timeline[${i}]`;
        return {
          time: time(t.time, `${f}.time`),
          packets_per_sec: num(t.packets_per_sec, `${f}.packets_per_sec`, 0, Number.MAX_VALUE),
          unique_dest_ips: num(t.unique_dest_ips, `${f}.unique_dest_ips`, 0, Number.MAX_VALUE),
          protocol_distribution: numberMap(t.protocol_distribution, `${f}.protocol_distribution`),
          status: oneOf<TimelineStatus>(t.status, TIMELINE_STATUSES, `${f}.status`),
        };
      }),
      evidence: stringMap(ctx?.evidence, `${at}.context_analysis.evidence`),
    },
  };
}

export function aggregateToPb(m: NetworkMetrics): PbWindowAggregate {
  return { ...m, protocol_distribution: { ...m.protocol_distribution } };
}

/** Validates a received per-second aggregate. */
export function aggregateFromPb(p: PbWindowAggregate, at = 'aggregate'): NetworkMetrics {
  const n = (v: unknown, f: string): number => num(v, `${at}.${f}`, 0, Number.MAX_VALUE);
  return {
    time: time(p.time, `${at}.time`),
    packets_per_sec: n(p.packets_per_sec, 'packets_per_sec'),
    bytes_per_sec: n(p.bytes_per_sec, 'bytes_per_sec'),
    unique_src_ips: n(p.unique_src_ips, 'unique_src_ips'),
    unique_dest_ips: n(p.unique_dest_ips, 'unique_dest_ips'),
    protocol_distribution: numberMap(p.protocol_distribution, `${at}.protocol_distribution`),
    failed_connections: n(p.failed_connections, 'failed_connections'),
    avg_packet_size: n(p.avg_packet_size, 'avg_packet_size'),
    inter_arrival_time: n(p.inter_arrival_time, 'inter_arrival_time'),
  };
}

/** Validates a health report; the result is what the store keeps per agent (and the API shows). */
export function healthFromPb(p: PbAgentHealth | null): Record<string, unknown> {
  if (p === null) throw new InvalidMessageError('heartbeat.health', 'missing');
  const n = (v: unknown, f: string): number => num(v, `heartbeat.health.${f}`, 0, Number.MAX_SAFE_INTEGER);
  return {
    agent_version: text(p.agent_version, 'heartbeat.health.agent_version', 64),
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
    model_versions: stringMap(p.model_versions, 'heartbeat.health.model_versions'),
    models_serving: stringMap(p.models_serving, 'heartbeat.health.models_serving'),
    model_error: text(p.model_error ?? '', 'heartbeat.health.model_error', MAX_TEXT),
    fl_status: text(p.fl_status ?? '', 'heartbeat.health.fl_status', MAX_TEXT),
    baseline_status: text(p.baseline_status ?? '', 'heartbeat.health.baseline_status', MAX_TEXT),
  };
}
