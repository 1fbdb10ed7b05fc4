import { describe, expect, it } from 'vitest';
import {
  FEATURE_COUNT,
  FEATURE_FIELDS,
  FEATURE_INDEX,
  FEATURE_SCHEMA_VERSION,
  schemaHash,
} from './schema.js';

describe('feature schema', () => {
  it('has unique names and an index that matches the order', () => {
    expect(new Set(FEATURE_FIELDS.map((f) => f.name)).size).toBe(FEATURE_COUNT);
    FEATURE_FIELDS.forEach((f, i) => expect(FEATURE_INDEX[f.name]).toBe(i));
  });

  it('versions the schema by a hash that changes with any rename, reorder or change of meaning', () => {
    expect(FEATURE_SCHEMA_VERSION).toMatch(/^[0-9a-f]{16}$/);
    expect(schemaHash([...FEATURE_FIELDS])).toBe(FEATURE_SCHEMA_VERSION);
    const renamed = FEATURE_FIELDS.map((f, i) => (i === 3 ? { ...f, name: 'dport' } : f));
    const reordered = [FEATURE_FIELDS[1], FEATURE_FIELDS[0], ...FEATURE_FIELDS.slice(2)].filter(
      (f) => f !== undefined,
    );
    const redefined = FEATURE_FIELDS.map((f, i) => (i === 4 ? { ...f, description: 'IP total length' } : f));
    for (const other of [renamed, reordered, redefined])
      expect(schemaHash(other)).not.toBe(FEATURE_SCHEMA_VERSION);
  });
});
