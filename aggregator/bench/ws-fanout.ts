// The WebSocket fan-out measurement shared by bench:ws and bench:api: one ~1.6 kB `alert_created` message published
// on the bus to WS_CLIENTS clients subscribed to `alerts`, the clients in a worker thread (ws-clients.ts) so that
// the hub's event loop has its thread to itself, as a server's would. Per message: wall time from publish() until
// the last client has it (process.hrtime in both threads), and how long the hub's synchronous send to every socket
// took (publish() returns when all are written). process.cpuUsage would count the clients' thread too, so the send is
// timed by the clock: its minimum over the messages is the cost with the least preemption on a loaded machine.
import { Worker } from 'node:worker_threads';
import type { Store } from '../src/store/types.js';
import { startApiServer } from '../src/api/server.js';

export const WS_CLIENTS = 1000;
const WS_MESSAGES = 60;

export interface FanoutResult {
  n: number;
  /** Publish until the last client has it, ms. */
  p50: number;
  max: number;
  p90: number;
  /** Which message (0 = the first after connecting) was the slowest: a first-message-only maximum is warm-up. */
  maxAt: number;
  /** Duration of the hub's synchronous send to every socket (publish()), ms. */
  sendP50: number;
  sendMin: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

export async function benchWebSocket(store: Store): Promise<FanoutResult> {
  const api = await startApiServer({
    store,
    host: '127.0.0.1',
    port: 0,
    anonymous: true,
    rateLimit: { perSecond: 1e9, burst: 1e9 },
    log: () => undefined,
  });
  // The worker runs TypeScript through tsx's loader, registered in the worker before its entry is imported.
  const entry = new URL('./ws-clients.ts', import.meta.url).href;
  const worker = new Worker(
    `import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(entry)}); })`,
    { eval: true, workerData: { url: api.wsUrl, clients: WS_CLIENTS } },
  );
  try {
    let waiting: ((last: bigint) => void) | null = null;
    const ready = new Promise<void>((resolve, reject) => {
      worker.once('error', reject);
      worker.on('message', (msg: { ready?: true; last?: bigint }) => {
        if (msg.ready === true) resolve();
        if (msg.last !== undefined) waiting?.(msg.last);
      });
    });
    await ready;
    const wall: number[] = [];
    const send: number[] = [];
    const data = { id: 'bench', title: 'one alert-sized message', padding: 'x'.repeat(1500) };
    for (let m = 0; m < WS_MESSAGES; m++) {
      const delivered = new Promise<bigint>((resolve) => (waiting = resolve));
      const t0 = process.hrtime.bigint();
      api.bus.publish({ type: 'alert_created', data });
      send.push(Number(process.hrtime.bigint() - t0) / 1e6);
      wall.push(Number((await delivered) - t0) / 1e6);
      await new Promise((r) => setTimeout(r, 50));
    }
    return {
      n: WS_MESSAGES,
      p50: median(wall),
      max: Math.max(...wall),
      p90: [...wall].sort((a, b) => a - b)[Math.ceil(0.9 * wall.length) - 1] ?? NaN,
      maxAt: wall.indexOf(Math.max(...wall)),
      sendP50: median(send),
      sendMin: Math.min(...send),
    };
  } finally {
    worker.postMessage('close');
    await worker.terminate();
    await api.close();
  }
}
