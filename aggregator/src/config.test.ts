import { describe, expect, it } from 'vitest';
import { UsageError } from '@vigil/shared';
import { defaultDbUrl, parseAge, parseDbUrl, redactDbUrl, resolveDataDir } from './config.js';

describe('resolveDataDir', () => {
  it('prefers the flag, then VIGIL_DATA_DIR, then ./.vigil, resolved against the working directory', () => {
    expect(resolveDataDir('data', { VIGIL_DATA_DIR: '/env' }, '/work')).toBe('/work/data');
    expect(resolveDataDir(undefined, { VIGIL_DATA_DIR: '/env' }, '/work')).toBe('/env');
    expect(resolveDataDir(undefined, { VIGIL_DATA_DIR: '' }, '/work')).toBe('/work/.vigil');
    expect(resolveDataDir(undefined, {}, '/work')).toBe('/work/.vigil');
  });

  it('names vigil.db in the data directory as the default database', () => {
    expect(defaultDbUrl('/var/lib/vigil')).toBe('sqlite:/var/lib/vigil/vigil.db');
  });
});

describe('parseDbUrl', () => {
  it.each([
    ['sqlite:/var/lib/vigil/v.db', { kind: 'sqlite', path: '/var/lib/vigil/v.db' }],
    ['sqlite:rel/v.db', { kind: 'sqlite', path: '/work/rel/v.db' }],
    ['sqlite:///abs/v.db', { kind: 'sqlite', path: '/abs/v.db' }],
    ['sqlite::memory:', { kind: 'sqlite', path: ':memory:' }],
    ['postgres://u:p@db:5432/vigil', { kind: 'postgres', url: 'postgres://u:p@db:5432/vigil' }],
    ['postgresql://db/vigil', { kind: 'postgres', url: 'postgresql://db/vigil' }],
  ])('reads %s', (raw, expected) => {
    expect(parseDbUrl(raw, '/work')).toEqual(expected);
  });

  it.each(['mysql://db/x', 'sqlite:', '/just/a/path.db', 'postgres://', ''])(
    'refuses %j with a UsageError that says what to pass',
    (raw) => {
      expect(() => parseDbUrl(raw, '/work')).toThrow(UsageError);
      expect(() => parseDbUrl(raw, '/work')).toThrow(/--db sqlite:PATH/);
    },
  );
});

describe('redactDbUrl', () => {
  it('hides the password and keeps the rest', () => {
    expect(redactDbUrl('postgres://vigil:s3cr%40t@db:5432/vigil')).toBe('postgres://vigil:***@db:5432/vigil');
    expect(redactDbUrl('postgres://vigil@db/vigil')).toBe('postgres://vigil@db/vigil');
    expect(redactDbUrl('sqlite:/a/b.db')).toBe('sqlite:/a/b.db');
  });
});

describe('parseAge', () => {
  it.each([
    ['90d', 90 * 86_400],
    ['36h', 36 * 3600],
    ['30m', 1800],
    ['3600s', 3600],
    [' 7D ', 7 * 86_400],
    ['forever', null],
  ])('reads %j', (raw, seconds) => {
    expect(parseAge(raw, '--keep-alerts')).toBe(seconds);
  });

  it.each(['', '0d', '-1d', '1.5h', '10', '1w', 'never'])('refuses %j, naming the flag', (raw) => {
    expect(() => parseAge(raw, '--keep-alerts')).toThrow(UsageError);
    expect(() => parseAge(raw, '--keep-alerts')).toThrow(/--keep-alerts/);
  });
});
