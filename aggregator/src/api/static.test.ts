// The dashboard's files served by the API server: content types, the API's precedence and auth untouched, nothing
// outside the dashboard's directories reachable.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningApi } from './server.js';
import { defaultDashboardDirs } from './static.js';
import { http, startTestApi } from './testing/client.js';
import { sqliteHarness } from './testing/stores.js';

describe('dashboard static files', () => {
  const stores = sqliteHarness();
  const dir = mkdtempSync(join(tmpdir(), 'vigil-static-'));
  const built = join(dir, 'built');
  const pub = join(dir, 'public');
  let api: RunningApi;

  beforeAll(async () => {
    mkdirSync(built);
    mkdirSync(pub);
    writeFileSync(join(pub, 'index.html'), '<!doctype html><title>dash</title>');
    writeFileSync(join(pub, 'app.css'), 'body{}');
    writeFileSync(join(built, 'main.js'), 'export {};');
    writeFileSync(join(built, 'main.d.ts'), 'export {};');
    writeFileSync(join(dir, 'secret.html'), 'outside');
    mkdirSync(join(pub, 'api'));
    writeFileSync(join(pub, 'api', 'alerts.js'), 'shadow');
    // Not anonymous: the API keeps asking for a token while the page itself loads without one.
    api = await startTestApi(await stores.open(), { dashboardDirs: [built, pub] });
  });

  afterAll(async () => {
    await api.close();
    await api.store.close();
    await stores.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves index.html at / and the built modules and stylesheet with their content types', async () => {
    const index = await http(api, 'GET', '/');
    const js = await http(api, 'GET', '/main.js');
    const css = await http(api, 'GET', '/app.css');

    expect(index.status).toBe(200);
    expect(index.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(index.text).toContain('<title>dash</title>');
    expect(index.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect(index.headers.get('x-content-type-options')).toBe('nosniff');
    expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(js.text).toBe('export {};');
    expect(css.headers.get('content-type')).toBe('text/css; charset=utf-8');
  });

  it('answers HEAD with the headers and no body', async () => {
    const res = await fetch(`${api.url}/main.js`, { method: 'HEAD' });

    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(await res.text()).toBe('');
  });

  it('keeps the API paths and their auth: no token still gets 401 from /api, and /health stays the API', async () => {
    const alerts = await http(api, 'GET', '/api/alerts');
    const health = await http(api, 'GET', '/health');
    const shadowed = await http(api, 'GET', '/api/alerts.js');

    expect(alerts.status).toBe(401);
    expect(health.headers.get('content-type')).toContain('application/json');
    expect(health.body).toHaveProperty('services');
    expect(shadowed.status).toBe(401);
    expect(shadowed.text).not.toContain('shadow');
  });

  it('serves nothing outside its directories, no unknown file types and no writes', async () => {
    const traversal = await http(api, 'GET', '/..%2Fsecret.html');
    const dotdot = await fetch(`${api.url}/%2e%2e/secret.html`);
    const declaration = await http(api, 'GET', '/main.d.ts');
    const post = await http(api, 'POST', '/index.html', { body: {} });
    const missing = await http(api, 'GET', '/nope.js');

    for (const res of [traversal, declaration, post, missing]) {
      expect(res.status).toBe(401);
      expect(res.text).not.toContain('outside');
    }
    expect(await dotdot.text()).not.toContain('outside');
  });

  it('finds the built page of this package by default', () => {
    const dirs = defaultDashboardDirs();

    expect(dirs.map((d) => d.split(/[/\\]/).slice(-3).join('/'))).toEqual([
      'aggregator/dist/web',
      'src/web/public',
    ]);
  });
});
