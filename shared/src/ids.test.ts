import { describe, expect, it } from 'vitest';
import { isFacilityId, isUuid } from './ids.js';

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
