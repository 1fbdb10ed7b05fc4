import { describe, expect, it } from 'vitest';
import { alertFromPb, alertToPb, MAX_SHORT, MAX_TEXT } from '@vigil/proto/codec';
import type { Alert } from '@vigil/shared';
import { ALERT_BYTES, safeAlert, safeText } from './safe-text.js';

describe('safe alert text', () => {
  it('escapes control characters of packet fields and keeps tab, newline and other text', () => {
    expect(safeText('mqtt client "a\u0000b\u001b[31m\u007f\u0085" é 中\t\n', MAX_TEXT)).toBe(
      'mqtt client "a\\x00b\\x1b[31m\\x7f\\x85" é 中\t\n',
    );
  });

  it('cuts an over-long field to the limit with a marker saying how long it was', () => {
    const cut = safeText('h'.repeat(MAX_SHORT + 100), MAX_SHORT);
    expect(cut).toHaveLength(MAX_SHORT);
    expect(cut.endsWith(` [cut ${MAX_SHORT + 100} chars]`)).toBe(true);
    // a surrogate pair at the cut is not split
    const emoji = safeText('🙂'.repeat(400), MAX_SHORT);
    expect(emoji.length).toBeLessThanOrEqual(MAX_SHORT);
    expect(emoji).not.toMatch(/[\ud800-\udbff](?![\udc00-\udfff])/);
  });

  it('makes an alert built from hostile packet fields one the aggregator accepts', () => {
    const alert = hostileAlert(1);
    expect(() => alertFromPb(alertToPb(alert), 'plant-a')).toThrow();

    const safe = alertFromPb(alertToPb(safeAlert(alert)), 'plant-a');

    expect(safe.sources[0]?.evidence.startsWith('id\\x00xxx')).toBe(true);
    expect(safe.title.startsWith('MQTT connect from id\\x00')).toBe(true);
    expect(safe.attack_type).toBe('T0846');
  });

  it('cuts the long texts of an alert with many large sources until it fits the link', () => {
    const alert = hostileAlert(64);
    expect(Buffer.byteLength(JSON.stringify(alert))).toBeGreaterThan(2 * 1024 * 1024);

    const safe = safeAlert(alert);

    expect(Buffer.byteLength(JSON.stringify(safe))).toBeLessThanOrEqual(ALERT_BYTES);
    expect(safe.sources).toHaveLength(64);
    expect(safe.sources[63]?.evidence).toHaveLength(1024);
    expect(safe.sources[63]?.evidence).toMatch(/^id\\x00x+ \[cut 16390 chars\]$/);
    expect(() => alertFromPb(alertToPb(safe), 'plant-a')).not.toThrow();
    // an alert that fits keeps its texts to the field limits
    expect(safeAlert(hostileAlert(1)).sources[0]?.evidence).toHaveLength(MAX_TEXT);
  });
});

/** An alert whose texts are a NUL and more than MAX_TEXT characters from packets, with `sources` sources. */
function hostileAlert(sources: number): Alert {
  const hostile = `id\u0000${'x'.repeat(MAX_TEXT)}`;
  return {
    id: '0b6f6a8e-3c1e-4d3b-9a57-1d2f3e4a5b6c',
    timestamp: '2026-03-01T10:00:00.000Z',
    facility_id: 'plant-a',
    severity: 'high',
    title: `MQTT connect from ${hostile}`,
    description: hostile,
    status: 'new',
    sources: Array.from({ length: sources }, () => ({
      layer: 1,
      model_name: 'rules/mqtt',
      confidence: 0.9,
      detection_time: '2026-03-01T10:00:00.000Z',
      evidence: hostile,
      context_evidence: hostile,
    })),
    correlation_confidence: 0.9,
    correlation_summary: hostile,
    attack_type: 'T0846',
    attack_name: 'Remote System Discovery',
    context_analysis: {
      duration: '1.0 s',
      pattern: hostile,
      behavior: hostile,
      timeline: [],
      evidence: { [`1. rules/${hostile}`]: hostile },
    },
  };
}
