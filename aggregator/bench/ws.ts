// `npm run bench:ws`: the WebSocket fan-out alone (no seeded store needed), see ws-fanout.ts. Prints one line.
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '../src/store/open.js';
import { benchWebSocket, WS_CLIENTS } from './ws-fanout.js';

const dir = mkdtempSync(join(tmpdir(), 'vigil-bench-ws-'));
const store = await openStore(`sqlite:${join(dir, 'ws.db')}`);
try {
  const r = await benchWebSocket(store);
  const load = loadavg()
    .map((x) => x.toFixed(1))
    .join(' ');
  process.stdout.write(
    `${new Date().toISOString()} ${cpus().length} cores, load ${load}: ${WS_CLIENTS} clients, ${r.n} messages: ` +
      `until the last client has it p50 ${r.p50.toFixed(2)} ms, p90 ${r.p90.toFixed(2)} ms, max ${r.max.toFixed(2)} ms ` +
      `(message ${r.maxAt}); ` +
      `hub's synchronous send p50 ${r.sendP50.toFixed(2)} ms, min ${r.sendMin.toFixed(2)} ms\n`,
  );
} finally {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
}
