// Alert text is built from packet fields an attacker controls (an MQTT client id, an HTTP header, a DNS name, a
// Modbus device id string...). Before it leaves the detector it is made safe to send and store: control characters
// are written as escapes ("\x00", so a NUL, which Postgres cannot store, never reaches the link) and a field longer
// than the link allows is cut with a marker, so a real detection is still delivered, not refused by the aggregator.
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

/** The alert with every text field made safe (see the header); numbers, times and ids are left as they are. */
export function safeAlert<A extends Alert>(a: A): A {
  const ctx = a.context_analysis;
  const evidence: Record<string, string> = {};
  for (const [k, v] of Object.entries(ctx.evidence)) evidence[safeText(k, MAX_KEY)] = safeText(v, MAX_TEXT);
  return {
    ...a,
    title: safeText(a.title, MAX_SHORT),
    description: safeText(a.description, MAX_TEXT),
    sources: a.sources.map((s) => ({
      ...s,
      model_name: safeText(s.model_name, MAX_SHORT),
      evidence: safeText(s.evidence, MAX_TEXT),
      context_evidence: safeText(s.context_evidence, MAX_TEXT),
    })),
    correlation_summary: safeText(a.correlation_summary, MAX_TEXT),
    attack_name: safeText(a.attack_name, MAX_SHORT),
    context_analysis: {
      ...ctx,
      duration: safeText(ctx.duration, MAX_SHORT),
      pattern: safeText(ctx.pattern, MAX_SHORT),
      behavior: safeText(ctx.behavior, MAX_TEXT),
      evidence,
    },
  };
}
