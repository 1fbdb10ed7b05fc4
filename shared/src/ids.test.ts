import { describe, expect, it } from 'vitest';
import { isFacilityId, isUuid, timeOrderedUuid } from './ids.js';

describe('facility ids', () => {
  it('accepts slugs of 1 to 63 lowercase letters, digits and dashes', () => {
    expect(isFacilityId('plant-a')).toBe(true);
    expect(isFacilityId('a')).toBe(true);
    expect(isFacilityId('x'.repeat(63))).toBe(true);
  });
  it('rejects uppercase, underscores, edge dashes, empty and over-long ids', () => {
    for (const bad of ['Plant-A', 'plant_a', '-plant', 'plant-', '', 'x'.repeat(64), 'plant a']) {
      expect(isFacilityId(bad)).toBe(false);
    }
  });
});

describe('uuids', () => {
  it('accepts a random uuid and rejects malformed ones', () => {
    expect(isUuid(crypto.randomUUID())).toBe(true);
    expect(isUuid('not-a-uuid')).toBe(false);
    expect(isUuid('00000000-0000-0000-0000-000000000000')).toBe(false);
  });
});

describe('time-ordered uuids', () => {
  it('are version-7 uuids carrying the millisecond they were made in', () => {
    const ms = Date.UTC(2026, 10, 23, 4, 0, 0, 123);

    const id = timeOrderedUuid(ms);

    expect(isUuid(id)).toBe(true);
    expect(id[14]).toBe('7');
    expect('89ab').toContain(id[19]);
    expect(parseInt(id.slice(0, 8) + id.slice(9, 13), 16)).toBe(ms);
  });

  it('sort in the order they were made, within one millisecond and when the clock goes back', () => {
    const ms = Date.UTC(2030, 0, 1);
    const times = [ms, ...new Array<number>(5000).fill(ms + 1), ms - 10_000, ms + 2];

    const ids = times.map((t) => timeOrderedUuid(t));

    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
  });
});
