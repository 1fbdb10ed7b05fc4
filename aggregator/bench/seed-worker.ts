// Worker thread of bench/api.ts: seeds one store (by URL) with the benchmark's alerts while the main thread seeds the
// other, so the two run on both cores. Posts { progress } now and then and { seconds } at the end.
import { parentPort, workerData } from 'node:worker_threads';
import { openStore } from '../src/store/open.js';
import { seedBench } from './seed-data.js';

interface Job {
  url: string;
  count: number;
  nowMs: number;
}

const port = parentPort;
if (port === null) throw new Error('seed-worker.ts runs as a worker thread');
const job = workerData as Job;
const store = await openStore(job.url);
try {
  const seconds = await seedBench(store, job.count, job.nowMs, (done) =>
    port.postMessage({ progress: done }),
  );
  port.postMessage({ seconds });
} finally {
  await store.close();
}
