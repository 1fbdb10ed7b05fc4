import { describe, expect, it } from 'vitest';
import { UsageError } from '@vigil/shared';
import { checkExposure, isLoopback } from './server.js';

describe('exposure rules', () => {
  it('knows loopback addresses', () => {
    expect(['127.0.0.1', '::1', 'localhost', '127.1.2.3', '[::1]'].every(isLoopback)).toBe(true);
    expect(['0.0.0.0', '::', '192.168.1.4', 'example.com'].some(isLoopback)).toBe(false);
  });

  it('refuses anonymous access off loopback', () => {
    expect(() => checkExposure({ host: '0.0.0.0', anonymous: true, insecure: true })).toThrow(UsageError);
  });

  it('refuses plain HTTP off loopback unless TLS is explicitly turned off', () => {
    expect(() => checkExposure({ host: '0.0.0.0' })).toThrow(/TLS/);
    expect(() => checkExposure({ host: '0.0.0.0', insecure: true })).not.toThrow();
    expect(() => checkExposure({ host: '0.0.0.0', tls: { cert: 'c', key: 'k' } })).not.toThrow();
    expect(() => checkExposure({ host: '127.0.0.1', anonymous: true })).not.toThrow();
  });
});
