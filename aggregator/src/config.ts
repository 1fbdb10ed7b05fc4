// Where the aggregator keeps its state and how a database is named on the command line. One module, so that every
// command (`migrate`, `tokens`, `facilities`, `seed`, `serve`, ...) reads `--db` and `--data-dir` the same way.
import { isAbsolute, join, resolve } from 'node:path';
import { UsageError } from '@vigil/shared';

export type DbTarget = { kind: 'sqlite'; path: string } | { kind: 'postgres'; url: string };

const DB_HINT = 'use --db sqlite:PATH or --db postgres://USER:PASSWORD@HOST:PORT/DATABASE';

/** The data directory: `--data-dir`, else `$VIGIL_DATA_DIR`, else `./.vigil`, resolved against `cwd`. */
export function resolveDataDir(
  flag: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
  cwd: string = process.cwd(),
): string {
  const chosen =
    flag ?? (env.VIGIL_DATA_DIR !== undefined && env.VIGIL_DATA_DIR !== '' ? env.VIGIL_DATA_DIR : '.vigil');
  return isAbsolute(chosen) ? chosen : resolve(cwd, chosen);
}

/** The default database: a SQLite file in the data directory. */
export function defaultDbUrl(dataDir: string): string {
  return `sqlite:${join(dataDir, 'vigil.db')}`;
}

/**
 * Parses `sqlite:PATH` (relative paths against `cwd`; `sqlite::memory:` is an in-memory database) or `postgres://...` / `postgresql://...`.
 * Throws UsageError (what is wrong and how to fix it) for anything else.
 */
export function parseDbUrl(raw: string, cwd: string = process.cwd()): DbTarget {
  const s = raw.trim();
  if (s.startsWith('sqlite:')) {
    const path = s.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
    if (path === '') throw new UsageError(`--db "${raw}" names no file; ${DB_HINT}`);
    // SQLite's name for a private in-memory database (gone when the store closes), not a file in the working directory.
    if (path === ':memory:') return { kind: 'sqlite', path };
    return { kind: 'sqlite', path: isAbsolute(path) ? path : resolve(cwd, path) };
  }
  if (s.startsWith('postgres://') || s.startsWith('postgresql://')) {
    let url: URL;
    try {
      url = new URL(s);
    } catch {
      throw new UsageError(`--db "${redactDbUrl(raw)}" is not a valid URL; ${DB_HINT}`);
    }
    if (url.hostname === '' && !url.searchParams.has('host')) {
      throw new UsageError(`--db "${redactDbUrl(raw)}" names no host; ${DB_HINT}`);
    }
    return { kind: 'postgres', url: s };
  }
  throw new UsageError(`--db "${redactDbUrl(raw)}" is neither sqlite: nor postgres://; ${DB_HINT}`);
}

/** The URL with any password replaced by `***`, for messages and logs. */
export function redactDbUrl(raw: string): string {
  return raw.replace(/^(postgres(?:ql)?:\/\/[^:/@]*:)[^@]*@/, '$1***@');
}

const AGE_UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

/**
 * A retention age as the command line spells it: `90d`, `36h`, `30m`, `3600s`, or `forever` (keep, null).
 * Returns seconds. Throws UsageError for anything else (`flag` names the option in the message).
 */
export function parseAge(raw: string, flag: string): number | null {
  const s = raw.trim().toLowerCase();
  if (s === 'forever') return null;
  const m = /^(\d+)([smhd])$/.exec(s);
  const n = m === null ? NaN : Number(m[1]) * (AGE_UNITS[m[2] ?? ''] ?? NaN);
  if (!Number.isSafeInteger(n) || n <= 0) {
    throw new UsageError(`${flag} "${raw}" is not an age; use e.g. 90d, 36h, 30m, 3600s, or forever`);
  }
  return n;
}
