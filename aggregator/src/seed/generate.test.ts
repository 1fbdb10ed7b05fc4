import { describe, expect, it } from 'vitest';
import { isUuid, SEVERITIES, shippedCatalog } from '@vigil/shared';
import { AlertSeeder, type SeedOptions } from './generate.js';

const NOW = Date.parse('2026-06-01T00:00:00.000Z');

function options(over: Partial<SeedOptions> = {}): SeedOptions {
  return {
    facilities: ['plant-a', 'plant-b'],
    nowMs: NOW,
    spanSeconds: 7 * 86_400,
    seed: 42,
    catalog: shippedCatalog(),
    ...over,
  };
}

describe('AlertSeeder', () => {
  it('gives the same alerts for the same seed and different ones for another', () => {
    const a = new AlertSeeder(options()).batch(20);
    const b = new AlertSeeder(options()).batch(20);
    const c = new AlertSeeder(options({ seed: 43 })).batch(20);

    expect(a).toEqual(b);
    expect(c.map((x) => x.id)).not.toEqual(a.map((x) => x.id));
  });

  it('writes valid, generated alerts inside the time span, over the given facilities', () => {
    const catalog = shippedCatalog();

    const alerts = new AlertSeeder(options()).batch(500);

    expect(new Set(alerts.map((x) => x.id)).size).toBe(500);
    for (const x of alerts) {
      expect(isUuid(x.id)).toBe(true);
      expect(x.generated).toBe(true);
      expect(['plant-a', 'plant-b']).toContain(x.facility_id);
      const t = Date.parse(x.timestamp);
      expect(t).toBeLessThanOrEqual(NOW);
      expect(t).toBeGreaterThanOrEqual(NOW - 7 * 86_400_000);
      expect(catalog.technique(x.attack_type)?.name).toBe(x.attack_name);
      expect(x.correlation_confidence).toBeGreaterThan(0);
      expect(x.correlation_confidence).toBeLessThanOrEqual(1);
      const timeline = x.context_analysis.timeline;
      expect(timeline).toHaveLength(60);
      expect(Date.parse(timeline[59]?.time ?? '') - Date.parse(timeline[0]?.time ?? '')).toBe(59_000);
      expect(timeline[0]?.status).toBe('normal');
      expect(timeline[59]?.status).not.toBe('normal');
      for (const p of timeline) {
        const share = Object.values(p.protocol_distribution).reduce((s, v) => s + v, 0);
        expect(share).toBeCloseTo(1, 1);
      }
    }
    const bySeverity = SEVERITIES.map((s) => alerts.filter((x) => x.severity === s).length / alerts.length);
    expect(bySeverity[0]).toBeGreaterThan(0.05);
    expect(bySeverity[0]).toBeLessThan(0.15);
    expect(new Set(alerts.map((x) => x.attack_type)).size).toBeGreaterThan(20);
  });

  it('writes alerts oldest first over the whole span when told how many will be asked for', () => {
    const alerts = new AlertSeeder(options({ count: 300 })).batch(300);

    const times = alerts.map((x) => Date.parse(x.timestamp));
    expect(times).toEqual([...times].sort((a, b) => a - b));
    expect(times[0]).toBeLessThan(NOW - 6.9 * 86_400_000);
    expect(times[299]).toBeGreaterThan(NOW - 0.1 * 86_400_000);
    expect(times[299]).toBeLessThanOrEqual(NOW);
  });

  it('writes one aggregate per second ending before now', () => {
    const rows = new AlertSeeder(options()).aggregates('plant-a', 30);

    expect(rows).toHaveLength(30);
    expect(rows[29]?.time).toBe(new Date(NOW - 1000).toISOString());
    expect(rows.every((r) => r.bytes_per_sec === r.packets_per_sec * r.avg_packet_size)).toBe(true);
  });

  it('refuses an empty facility list', () => {
    expect(() => new AlertSeeder(options({ facilities: [] }))).toThrow(RangeError);
  });
});
