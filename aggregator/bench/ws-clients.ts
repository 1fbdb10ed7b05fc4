// Worker thread of the WebSocket fan-out benchmark (ws-fanout.ts): opens the clients, subscribes each to `alerts`,
// and for every published message reports when the last client received it (process.hrtime, which the main thread
// shares). The clients run here so that their receiving does not compete with the hub's event loop.
import { parentPort, workerData } from 'node:worker_threads';
import { WebSocket } from 'ws';

interface Setup {
  url: string;
  clients: number;
}

const port = parentPort;
if (port === null) throw new Error('ws-clients.ts runs as a worker thread');
const { url, clients } = workerData as Setup;

let received = 0;
const sockets: WebSocket[] = [];
for (let i = 0; i < clients; i++) {
  const ws = new WebSocket(url);
  await new Promise<void>((resolve, reject) => {
    ws.once('message', () => resolve());
    ws.once('open', () => ws.send(JSON.stringify({ action: 'subscribe', room: 'alerts' })));
    ws.once('error', reject);
  });
  ws.on('message', () => {
    if (++received < clients) return;
    received = 0;
    port.postMessage({ last: process.hrtime.bigint() });
  });
  sockets.push(ws);
}
port.on('message', (msg: string) => {
  if (msg !== 'close') return;
  for (const ws of sockets) ws.terminate();
  port.close();
});
port.postMessage({ ready: true });
