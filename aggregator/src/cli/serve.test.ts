// `vigil serve` as a user runs it: the built CLI in a child process, real HTTP, graceful stop on SIGTERM; TLS with a
// self-signed certificate; refusal of unsafe exposure.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { get } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as x509 from '@peculiar/x509';
import { afterAll, describe, expect, it } from 'vitest';
import { openStore } from '../store/open.js';
import { startApiServer } from '../api/server.js';

const VIGIL = fileURLToPath(new URL('../../bin/vigil.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'vigil-serve-'));

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(args: string[]): {
  done: Promise<{ code: number | null; out: string; err: string }>;
  url: Promise<string>;
  kill: (s: NodeJS.Signals) => void;
} {
  const child = spawn(process.execPath, [VIGIL, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  let announce: (u: string) => void = () => undefined;
  const url = new Promise<string>((resolve) => (announce = resolve));
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    const m = /serving (\S+)/.exec(out);
    if (m?.[1] !== undefined) announce(m[1]);
  });
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const done = new Promise<{ code: number | null; out: string; err: string }>((resolve) =>
    child.on('exit', (code) => resolve({ code, out, err })),
  );
  return { done, url, kill: (s) => child.kill(s) };
}

async function selfSigned(): Promise<{ cert: string; key: string }> {
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = await crypto.subtle.generateKey(alg, true, ['sign', 'verify']);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: 'CN=127.0.0.1',
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 86_400_000),
    keys,
    signingAlgorithm: alg,
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'ip', value: '127.0.0.1' }])],
  });
  const pkcs8 = Buffer.from(await crypto.subtle.exportKey('pkcs8', keys.privateKey)).toString('base64');
  const key = `-----BEGIN PRIVATE KEY-----\n${pkcs8.match(/.{1,64}/g)?.join('\n') ?? ''}\n-----END PRIVATE KEY-----\n`;
  return { cert: cert.toString('pem'), key };
}

describe('vigil serve', () => {
  it('serves the API and the dashboard page on loopback and shuts down cleanly on SIGTERM', async () => {
    const p = run([
      'serve',
      '--port',
      '0',
      '--grpc-port',
      '0',
      '--db',
      `sqlite:${join(dir, 'serve.db')}`,
      '--anonymous',
    ]);
    const url = await p.url;

    const health = await fetch(`${url}/health`);
    const alerts = await fetch(`${url}/api/alerts`);
    const page = await fetch(`${url}/`);
    const pageText = await page.text();
    const script = await fetch(`${url}/main.js`);
    p.kill('SIGTERM');
    const result = await p.done;

    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(health.status).toBe(200);
    expect(alerts.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(pageText).toContain('<script type="module" src="/main.js">');
    expect(script.status).toBe(200);
    expect(script.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(result.code).toBe(0);
    expect(result.out).toContain('SIGTERM, shutting down');
    expect(result.out).toContain('federated rounds with fedavg');
  });

  it('purges alerts older than --retain-alerts when it starts', async () => {
    const db = `sqlite:${join(dir, 'retain.db')}`;
    const seeded = await run(['seed', '--alerts', '200', '--days', '7', '--seed', '3', '--db', db]).done;
    const p = run([
      'serve',
      '--port',
      '0',
      '--grpc-port',
      '0',
      '--db',
      db,
      '--anonymous',
      '--retain-alerts',
      '2d',
    ]);
    const url = await p.url;
    const stats = (await (await fetch(`${url}/api/alerts/stats`)).json()) as { total: number };
    const oldest = (await (await fetch(`${url}/api/alerts?limit=1&page=${stats.total}`)).json()) as {
      alerts: { timestamp: string }[];
    };
    p.kill('SIGTERM');
    const result = await p.done;

    expect(seeded.code).toBe(0);
    expect(result.out).toMatch(/retention deleted \d+ alerts/);
    expect(stats.total).toBeGreaterThan(0);
    expect(stats.total).toBeLessThan(200);
    expect(Date.parse(oldest.alerts[0]?.timestamp ?? '')).toBeGreaterThan(
      Date.now() - 2 * 86_400_000 - 60_000,
    );
  });

  it('refuses to listen off loopback without TLS, and anonymous access off loopback', async () => {
    const plain = await run(['serve', '--host', '0.0.0.0', '--db', `sqlite:${join(dir, 'x.db')}`]).done;
    const anon = await run(['serve', '--host', '0.0.0.0', '--insecure-no-tls', '--anonymous']).done;

    expect(plain.code).toBe(2);
    expect(plain.err).toMatch(/needs TLS: pass --tls-cert/);
    expect(anon.code).toBe(2);
    expect(anon.err).toMatch(/anonymous access is only allowed on loopback/);
  });

  it('refuses an --fl-schedule that is no interval, and a bad strategy, before starting anything', async () => {
    const db = `sqlite:${join(dir, 'fl.db')}`;
    const schedule = await run([
      'serve',
      '--port',
      '0',
      '--grpc-port',
      '0',
      '--fl-schedule',
      'forever',
      '--db',
      db,
    ]).done;
    const strategy = await run([
      'serve',
      '--port',
      '0',
      '--grpc-port',
      '0',
      '--fl-strategy',
      'fedsgd',
      '--db',
      db,
    ]).done;

    expect(schedule.code).toBe(2);
    expect(schedule.err).toMatch(/--fl-schedule needs an interval such as 30m or 6h/);
    expect(strategy.code).toBe(2);
    expect(strategy.err).toMatch(/--fl-strategy "fedsgd" is not fedavg/);
  });

  it('serves HTTPS with the given certificate and key', async () => {
    const { cert, key } = await selfSigned();
    writeFileSync(join(dir, 'cert.pem'), cert);
    const store = await openStore(`sqlite:${join(dir, 'tls.db')}`);
    const api = await startApiServer({
      store,
      host: '127.0.0.1',
      port: 0,
      tls: { cert, key },
      log: () => undefined,
    });
    try {
      const status = await new Promise<number>((resolve, reject) => {
        get(`${api.url}/health`, { ca: cert }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        }).on('error', reject);
      });

      expect(api.url).toMatch(/^https:/);
      expect(status).toBe(200);
    } finally {
      await api.close();
      await store.close();
    }
  });
});
