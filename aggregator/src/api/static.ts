// The dashboard's static files, served by the API server at `/`. Only GET/HEAD of paths outside the API's own are
// looked up; only files under the dashboard's directories with a known extension are served, so the API's paths keep
// precedence and nothing else on disk is reachable.
import { readFile } from 'node:fs/promises';
import { extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};

/** The page may only load what this server serves, and talk to this server (REST and /ws). */
const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy':
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-cache',
};

/** Paths that belong to the API (or its WebSocket); the dashboard never answers them. */
export function isApiPath(path: string): boolean {
  return (
    path === '/api' ||
    path.startsWith('/api/') ||
    path === '/ws' ||
    path === '/health' ||
    path === '/metrics' ||
    path === '/openapi.json'
  );
}

/**
 * The built page (compiled modules in dist/web) and its hand-written files (src/web/public), both found relative to
 * the aggregator package, whether this module runs compiled (dist/api) or from source (src/api).
 */
export function defaultDashboardDirs(): string[] {
  const packageRoot = fileURLToPath(new URL('../../', import.meta.url));
  return [join(packageRoot, 'dist', 'web'), join(packageRoot, 'src', 'web', 'public')];
}

export interface StaticFile {
  body: Buffer;
  headers: Record<string, string>;
}

export class DashboardFiles {
  private readonly roots: string[];

  constructor(roots: readonly string[]) {
    this.roots = roots.map((r) => resolve(r));
  }

  /** The file for a GET/HEAD of `path`, or null when the path is the API's, unknown, or not a servable file. */
  async lookup(method: string, path: string): Promise<StaticFile | null> {
    if (method !== 'GET' && method !== 'HEAD') return null;
    if (isApiPath(path)) return null;
    let rel: string;
    try {
      rel = decodeURIComponent(path === '/' ? '/index.html' : path);
    } catch {
      return null;
    }
    const type = CONTENT_TYPES[extname(rel).toLowerCase()];
    if (type === undefined || rel.includes('\0')) return null;
    const segments = rel.split(/[/\\]/).filter((s) => s !== '');
    if (segments.some((s) => s === '..' || s.startsWith('.'))) return null;
    for (const root of this.roots) {
      const file = resolve(root, ...segments);
      if (!file.startsWith(root + sep)) continue;
      try {
        const body = await readFile(file);
        return { body, headers: { 'Content-Type': type, ...SECURITY_HEADERS } };
      } catch {
        // Not in this root (or not a file): try the next one.
      }
    }
    return null;
  }
}
