import { describe, expect, it } from 'vitest';
import { iso } from './common.js';

describe('iso', () => {
  it('spells every time as toISOString does, whether or not it came in that spelling', () => {
    const ms = Date.UTC(2026, 1, 28, 23, 59, 59, 7);
    for (const t of [
      '2026-02-28T23:59:59.007Z',
      '2026-02-28T23:59:59Z',
      '2026-03-01T00:59:59.007+01:00',
      '2024-02-29T00:00:00.000Z',
      '2025-02-29T00:00:00.000Z', // no such day: Date reads it as 1 March
      '2026-03-01T24:00:00.000Z',
      '+002026-03-01T10:00:00.000Z',
      ms,
      new Date(ms),
    ]) {
      expect(iso(t), String(t)).toBe(new Date(t).toISOString());
    }
  });

  it('throws on a time that is not one', () => {
    for (const t of ['yesterday', '2026-13-01T00:00:00.000Z', '', Number.NaN]) {
      expect(() => iso(t), String(t)).toThrow(RangeError);
    }
  });
});
