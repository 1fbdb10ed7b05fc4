import { describe, expect, it } from 'vitest';
import { shippedCatalog } from './bundle.js';

describe('the shipped ATT&CK for ICS catalog', () => {
  const catalog = shippedCatalog();

  it('holds the 83 live techniques of v18.1 and the 12 tactics in matrix order', () => {
    expect(catalog.version).toBe('18.1');
    expect(catalog.techniques).toHaveLength(83);
    expect(catalog.tactics.map((t) => t.id)).toEqual([
      'TA0108',
      'TA0104',
      'TA0110',
      'TA0111',
      'TA0103',
      'TA0102',
      'TA0109',
      'TA0100',
      'TA0101',
      'TA0107',
      'TA0106',
      'TA0105',
    ]);
  });

  it('leaves out deprecated techniques and revoked groups', () => {
    // T0858 (Change Operating Mode) is live; T0834 (Native API) was deprecated in ICS v17+.
    expect(catalog.technique('T0858')?.name).toBe('Change Operating Mode');
    expect(catalog.techniques.every((t) => /^T0\d{3}$/.test(t.id))).toBe(true);
  });

  it('derives detection, platforms, mitigation and assets of a technique from related objects', () => {
    const d = catalog.techniqueDetails('T0846');
    expect(d?.name).toBe('Remote System Discovery');
    expect(d?.tactics).toEqual(['Discovery']);
    expect(d?.detection.length).toBeGreaterThan(20);
    expect(d?.platforms.length).toBeGreaterThan(0);
    expect(d?.mitigation).toMatch(/\(M0\d{3}\)/);
    expect(d?.affected_assets.length).toBeGreaterThan(0);
  });

  it('answers undefined for an unknown technique', () => {
    expect(catalog.techniqueDetails('T9999')).toBeUndefined();
  });
});
