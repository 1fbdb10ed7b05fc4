import { describe, expect, it } from 'vitest';
import { canonicalTimeMs, isCanonicalTime } from './time.js';

const pad = (n: number, w: number): string => String(n).padStart(w, '0');

describe('isCanonicalTime and canonicalTimeMs', () => {
  it('hold for whatever toISOString prints in years 0-9999, giving its time', () => {
    // every day of a leap year, a common year, a century year that is not leap and one that is, and years 0 and 9999
    for (const year of [0, 1900, 2000, 2024, 2025, 9999]) {
      const jan1 = new Date(0);
      jan1.setUTCFullYear(year, 0, 1); // Date.UTC would read years 0-99 as 1900-1999
      for (let day = 0; day < 365; day++) {
        // a different time of day each day, milliseconds included
        const ms = jan1.getTime() + day * 86_400_000 + day * 236_807;
        const s = new Date(ms).toISOString();
        expect(isCanonicalTime(s), s).toBe(true);
        expect(canonicalTimeMs(s), s).toBe(ms);
      }
    }
  });

  it('give the time of the days around every leap day and year end in years 0-9999', () => {
    const day = new Date(0);
    for (let year = 0; year <= 9999; year++) {
      // Feb 28, Mar 1 (Feb 29 where the year has one, which setUTCFullYear rolls into Mar 1 where it does not), Dec 31
      for (const [month, date] of [
        [1, 28],
        [1, 29],
        [2, 1],
        [11, 31],
      ] as const) {
        day.setUTCFullYear(year, month, date);
        day.setUTCHours(23, 59, 59, (year * 7) % 1000);
        const s = day.toISOString();
        expect(canonicalTimeMs(s), s).toBe(day.getTime());
      }
    }
  });

  it('hold only where parsing and printing again gives the same text, giving what Date.parse does', () => {
    const times: string[] = [];
    // every day number 0-32 of every month 0-13 of a leap, a common and a non-leap century year: impossible dates too
    for (const year of [2024, 2025, 1900]) {
      for (let month = 0; month <= 13; month++) {
        for (let day = 0; day <= 32; day++) {
          times.push(
            `${year}-${pad(month, 2)}-${pad(day, 2)}T${pad(day % 25, 2)}:${pad(month * 5, 2)}:59.${pad(day * 31, 3)}Z`,
          );
        }
      }
    }
    times.push(
      '2026-03-01T10:00:00Z', // no milliseconds
      '2026-03-01T10:00:00.000+01:00', // an offset
      '2026-03-01T10:00:00.000z', // a lower-case z
      '2026-03-01T24:00:00.000Z', // end of day, which Date.parse accepts as the next midnight
      '2026-03-01T10:00:60.000Z', // a leap second
      '2026-03-01 10:00:00.000Z', // a space, not T
      '+002026-03-01T10:00:00.000Z', // an extended year
      '2026-03-01T10:00:00.0000Z', // a digit too many
      '2026-0a-01T00:00:00.000Z',
      '2026-03-01T10:00:00.00aZ',
      '',
    );
    let canonical = 0;
    for (const s of times) {
      const ms = Date.parse(s);
      const same = Number.isFinite(ms) && new Date(ms).toISOString() === s;
      expect(isCanonicalTime(s), s).toBe(same);
      expect(canonicalTimeMs(s), s).toBe(same ? ms : NaN);
      if (same) canonical++;
    }
    expect(canonical).toBeGreaterThan(900);
  });
});
