import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { sampleAlert } from '../src/link/testing/fixtures.js';
import { openStore } from '../src/store/open.js';
import { startTestPostgres } from '../src/store/testing/postgres.js';
import type { StoredAlert } from '../src/store/types.js';
import { postgresCpu } from './postgres-cpu.js';
const N = 20000;
const chunks = <T,>(xs: T[], n: number): T[][] => Array.from({ length: Math.ceil(xs.length / n) }, (_, i) => xs.slice(i * n, (i + 1) * n));
const server = await startTestPostgres({ durable: true });
try {
  for (let round = 0; round < 2; round++) for (const variant of (process.env.V ?? 'all,noterm,nohour,none').split(',')) {
    const url = await server.createDatabase();
    const store = await openStore(url);
    const c = new pg.Client({ connectionString: url }); await c.connect();
    if (variant === 'noterm' || variant === 'none') await c.query('ALTER TABLE alerts DISABLE TRIGGER alert_term_counts_insert');
    if (variant === 'nohour' || variant === 'none') await c.query('ALTER TABLE alerts DISABLE TRIGGER alert_hour_counts_insert');
    if (variant === 'none') await c.query('ALTER TABLE alerts DISABLE TRIGGER alert_counts_insert');
    if (variant === 'fn') { const sql = process.env.FN ?? ''; await c.query(sql); }
    await c.end();
    const alerts: StoredAlert[] = Array.from({ length: N }, (_, i) => ({ ...sampleAlert(i), id: randomUUID(), facility_id: 'plant-a', generated: false }));
    const cpu = await postgresCpu(url);
    const s0 = cpu?.() ?? NaN; const c0 = process.cpuUsage();
    for (const b of chunks(alerts, 2000)) await store.insertAlerts(b);
    const cc = process.cpuUsage(c0);
    console.log(round, variant, 'server', (((cpu?.() ?? NaN) - s0) * 1e6 / N).toFixed(1), 'client', ((cc.user + cc.system) / N).toFixed(1));
    await store.close();
  }
} finally { await server.close(); }
