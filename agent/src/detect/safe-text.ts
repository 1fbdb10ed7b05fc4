// Alert text is built from packet fields an attacker controls (an MQTT client id, an HTTP header, a DNS name, a
// Modbus device id string...). Before it leaves the detector it is made safe to send and store: control characters
// are written as escapes ("\x00", so a NUL, which Postgres cannot store, never reaches the link) and a field longer
// than the link allows is cut with a marker, so a real detection is still delivered, not refused by the aggregator.
// The whole alert is kept under ALERT_BYTES as well: each field within its limit, 64 sources of 16k characters would
// still make a message larger than the aggregator takes, so when an alert is too large its long texts are cut shorter.
import { MAX_SHORT, MAX_TEXT } from '@vigil/proto/codec';
import type { Alert } from '@vigil/shared';

// C0 controls except tab and newline, DEL, and the C1 controls.
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;

const escape = (c: string): string => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`;

/** `s` with control characters escaped and cut to at most `max` characters (a marker says how many were cut). */
export function safeText(s: string, max: number): string {
  const escaped = s.replace(CONTROL, escape);
  if (escaped.length <= max) return escaped;
  const marker = ` [cut ${escaped.length} chars]`;
  let end = Math.max(0, max - marker.length);
  // do not split a surrogate pair
  const last = escaped.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--;
  return escaped.slice(0, end) + marker;
}

/** Map keys of the alert's evidence (the codec's limit). */
const MAX_KEY = 128;

/**
 * Largest alert, as JSON bytes, the agent means to send: half the link's AGENT_BATCH_BYTES (1 MiB), far below what the
 * aggregator receives (4 MiB). With the shortest cut below, an alert of the correlator's shape (at most 64 sources, 21
 * evidence entries, a 60-point timeline) is under 250 kB whatever its text.
 */
export const ALERT_BYTES = 512 * 1024;
/** Limits of the long texts, tried in turn until the alert fits ALERT_BYTES. */
const LONG_TEXT_LIMITS = [MAX_TEXT, 4096, 1024, 256];

/**
 * The alert with every text field made safe (see the header) and within ALERT_BYTES; numbers, times and ids are
 * left as they are.
 */
export function safeAlert<A extends Alert>(a: A): A {
  let safe = safeWithin(a, MAX_TEXT);
  for (const long of LONG_TEXT_LIMITS.slice(1)) {
    if (Buffer.byteLength(JSON.stringify(safe)) <= ALERT_BYTES) break;
    safe = safeWithin(a, long);
  }
  return safe;
}

/** `a` with its control characters escaped, short texts cut to MAX_SHORT and long ones to `long`. */
function safeWithin<A extends Alert>(a: A, long: number): A {
  const ctx = a.context_analysis;
  const evidence: Record<string, string> = {};
  for (const [k, v] of Object.entries(ctx.evidence)) evidence[safeText(k, MAX_KEY)] = safeText(v, long);
  return {
    ...a,
    title: safeText(a.title, MAX_SHORT),
    description: safeText(a.description, long),
    sources: a.sources.map((s) => ({
      ...s,
      model_name: safeText(s.model_name, MAX_SHORT),
      evidence: safeText(s.evidence, long),
      context_evidence: safeText(s.context_evidence, long),
    })),
    correlation_summary: safeText(a.correlation_summary, long),
    attack_name: safeText(a.attack_name, MAX_SHORT),
    context_analysis: {
      ...ctx,
      duration: safeText(ctx.duration, MAX_SHORT),
      pattern: safeText(ctx.pattern, MAX_SHORT),
      behavior: safeText(ctx.behavior, long),
      evidence,
    },
  };
}
