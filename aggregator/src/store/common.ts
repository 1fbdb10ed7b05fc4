// Pieces both store implementations share: time normalisation, search terms, stats from the maintained counters.
import { isCanonicalTime, type AlertStats, type AlertStatus, type Severity } from '@vigil/shared';
import type { RetentionPolicy } from './types.js';

/**
 * ISO-8601 UTC with milliseconds, the one spelling of time the store writes and returns. Throws on an invalid time. A
 * string already in that spelling (every alert time the link stores: the decoder made it so) is returned as it is,
 * without parsing and printing it again.
 */
export function iso(t: string | Date | number): string {
  if (typeof t === 'string' && isCanonicalTime(t)) return t;
  const d = t instanceof Date ? t : new Date(t);
  if (Number.isNaN(d.getTime())) throw new RangeError(`invalid time: ${String(t)}`);
  return d.toISOString();
}

export function isoOrNull(t: string | Date | null | undefined): string | null {
  return t === null || t === undefined ? null : iso(t);
}

/**
 * The words of a free-text search: runs of letters and digits, lower-cased. Both stores match an alert when every
 * word is a prefix of a word in its title, description, attack id or attack name. An empty list means no filter.
 */
export function searchTerms(search: string | undefined): string[] {
  if (search === undefined) return [];
  return textWords(search).slice(0, 16);
}

/** The words of a text as search sees them: runs of letters and digits, lower-cased. */
export function textWords(text: string): string[] {
  return text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
}

/**
 * A time range split for the hourly counters (migration 9): the whole UTC hours inside it, [hoursFrom, hoursTo)
 * (either end open when the range is), counted from the counters, and the partial hours at its edges, counted from
 * the rows. Null when the range holds no whole hour: then its rows are counted.
 */
export interface HourSplit {
  hoursFrom: string | undefined;
  hoursTo: string | undefined;
  edges: { from: string; to: string }[];
}

const HOUR_MS = 3_600_000;

export function splitHours(from: string | undefined, to: string | undefined): HourSplit | null {
  const f = from === undefined ? undefined : Math.ceil(new Date(iso(from)).getTime() / HOUR_MS) * HOUR_MS;
  const t = to === undefined ? undefined : Math.floor(new Date(iso(to)).getTime() / HOUR_MS) * HOUR_MS;
  if (f !== undefined && t !== undefined && f >= t) return null;
  const edges: { from: string; to: string }[] = [];
  if (from !== undefined && f !== undefined && iso(f) !== iso(from))
    edges.push({ from: iso(from), to: iso(f) });
  if (to !== undefined && t !== undefined && iso(t) !== iso(to)) edges.push({ from: iso(t), to: iso(to) });
  return {
    hoursFrom: f === undefined ? undefined : iso(f),
    hoursTo: t === undefined ? undefined : iso(t),
    edges,
  };
}

export const UNRESOLVED_STATUSES: readonly AlertStatus[] = ['new', 'acknowledged'];

/** The API's alert stats from counter rows (one per facility, severity and status). */
export function statsFromCounts(
  rows: readonly { severity: Severity; status: AlertStatus; n: number }[],
): AlertStats {
  const stats: AlertStats = { total: 0, critical: 0, unresolved: 0, false_positives: 0 };
  for (const r of rows) {
    stats.total += r.n;
    if (r.severity === 'critical') stats.critical += r.n;
    if (UNRESOLVED_STATUSES.includes(r.status)) stats.unresolved += r.n;
    if (r.status === 'false-positive') stats.false_positives += r.n;
  }
  return stats;
}

/** The cut-off times of a retention policy at `now`: rows strictly older are deleted. */
export function retentionCutoffs(
  policy: RetentionPolicy,
  now: string,
): { alerts: string | null; aggregates: string | null } {
  const t = new Date(iso(now)).getTime();
  const at = (s: number | null): string | null => (s === null ? null : iso(t - s * 1000));
  return { alerts: at(policy.alertsMaxAgeSeconds), aggregates: at(policy.aggregatesMaxAgeSeconds) };
}

export function parseJson<T>(text: unknown): T {
  return (typeof text === 'string' ? JSON.parse(text) : text) as T;
}

/** Page numbers are 1-based; a limit is at least 1. Callers validate user input; this guards the store's own use. */
export function checkPaging(page: number, limit: number): void {
  if (!Number.isInteger(page) || page < 1) throw new RangeError(`page must be an integer >= 1, got ${page}`);
  if (!Number.isInteger(limit) || limit < 1)
    throw new RangeError(`limit must be an integer >= 1, got ${limit}`);
}

export function checkLimitOffset(limit: number, offset: number): void {
  if (!Number.isInteger(limit) || limit < 1)
    throw new RangeError(`limit must be an integer >= 1, got ${limit}`);
  if (!Number.isInteger(offset) || offset < 0)
    throw new RangeError(`offset must be an integer >= 0, got ${offset}`);
}
