// Link benchmarks (npm run bench:link).
// A. Alerts/s from one agent into the aggregator, SQLite and Postgres: the agent (its own process, `vigil-agent run`)
//    drains an outbox pre-filled with BENCH_ALERTS alerts into an in-process LinkServer; measured from the first
//    alert stored to the last.
// B. BENCH_AGENTS simulated agents (200) connected at once to `vigil serve` (its own process, SQLite), each sending a
//    heartbeat every 5 s and 5 alerts/s for BENCH_SECONDS (60): ack latency percentiles, aggregator CPU and RSS.
import { randomUUID, webcrypto } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as x509 from '@peculiar/x509';
import { Outbox } from '@vigil/agent/outbox/outbox';
import { enroll } from '@vigil/agent/link/identity';
import { alertToPb } from '@vigil/proto/codec';
import {
  CLIENT_OPTIONS,
  loadLink,
  type AgentMessage,
  type AgentMessageBody,
  type AggregatorMessage,
} from '@vigil/proto/link';
import { CertificateAuthority } from '../src/link/ca.js';
import { LinkServer } from '../src/link/server.js';
import { issueToken, sampleAlert } from '../src/link/testing/fixtures.js';
import { VIGIL, VIGIL_AGENT, freePort, start } from '../src/link/testing/processes.js';
import { openStore } from '../src/store/open.js';
import { startTestPostgres } from '../src/store/testing/postgres.js';

const ALERTS = Number(process.env.BENCH_ALERTS ?? 100_000);
const AGENTS = Number(process.env.BENCH_AGENTS ?? 200);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 60);
const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function oneAgentThroughput(kind: 'sqlite' | 'postgres'): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-bench-link-'));
  const pgServer = kind === 'postgres' ? await startTestPostgres({ durable: true }) : null;
  const url = pgServer ? await pgServer.createDatabase() : `sqlite:${join(dir, 'agg', 'vigil.db')}`;
  const store = await openStore(url);
  const ca = await CertificateAuthority.open(join(dir, 'agg'));
  const server = new LinkServer({ store, ca, host: '127.0.0.1', port: 0, log: () => undefined });
  await server.start();
  try {
    const agentDir = join(dir, 'agent');
    await enroll({
      aggregator: `127.0.0.1:${server.port}`,
      token: await issueToken(store, ca, 'plant-a'),
      dataDir: agentDir,
    });
    const outbox = new Outbox({ path: join(agentDir, 'outbox.db'), maxBytes: 2 ** 31 });
    for (let i = 0; i < ALERTS; i += 5000) {
      outbox.enqueue(Array.from({ length: Math.min(5000, ALERTS - i) }, (_, j) => sampleAlert(i + j)));
    }
    outbox.close();
    const empty = join(dir, 'none.jsonl');
    writeFileSync(empty, '');
    const agent = start(VIGIL_AGENT, [
      'run',
      '--data-dir',
      agentDir,
      '--alerts-in',
      empty,
      '--exit-when-delivered',
    ]);
    let first = 0;
    while (server.stats.alerts_stored < ALERTS) {
      if (first === 0 && server.stats.alerts_stored > 0) first = performance.now();
      if (agent.child.exitCode !== null) throw new Error(`agent exited early:\n${agent.lines.join('\n')}`);
      await sleep(5);
    }
    const seconds = (performance.now() - first) / 1000;
    await agent.exited;
    const total = (await store.alertStats()).total;
    return `| ${kind} | ${ALERTS} | ${total} | ${seconds.toFixed(2)} | ${Math.round(ALERTS / seconds)} |`;
  } finally {
    await server.shutdown();
    await store.close();
    await pgServer?.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

function procStat(pid: number): { cpuTicks: number; rssKb: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const cpuTicks = Number(fields[11]) + Number(fields[12]); // utime + stime
  const rss = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return { cpuTicks, rssKb: Number(rss?.[1] ?? 0) };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

async function manyAgents(): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-bench-agents-'));
  const grpcPort = await freePort();
  const serve = start(VIGIL, ['serve', '--data-dir', dir, '--port', '0', '--grpc-port', String(grpcPort)]);
  const calls: grpc.ClientDuplexStream<AgentMessage, AggregatorMessage>[] = [];
  const clients: grpc.Client[] = [];
  const timers: NodeJS.Timeout[] = [];
  try {
    await serve.waitFor(/agents on/, 30_000);
    const pid = serve.child.pid ?? 0;
    const ca = await CertificateAuthority.open(dir);
    const store = await openStore(`sqlite:${join(dir, 'vigil.db')}`);
    const creds: grpc.ChannelCredentials[] = [];
    for (let i = 0; i < AGENTS; i++) {
      const facility = `plant-${String(i).padStart(3, '0')}`;
      await store.addFacility({ id: facility, name: facility });
      const agentId = randomUUID();
      await store.upsertAgent({ id: agentId, facility_id: facility, enrolled_at: new Date().toISOString() });
      const keys = await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']);
      const csr = await x509.Pkcs10CertificateRequestGenerator.create({
        name: 'CN=bench',
        keys,
        signingAlgorithm: ALG,
      });
      const cert = await ca.signAgent(Buffer.from(csr.rawData), facility, agentId);
      const key = x509.PemConverter.encode(
        await webcrypto.subtle.exportKey('pkcs8', keys.privateKey),
        'PRIVATE KEY',
      );
      creds.push(grpc.credentials.createSsl(Buffer.from(ca.certPem), Buffer.from(key), Buffer.from(cert)));
    }
    await store.close();

    const { LinkClient } = loadLink();
    const latencies: number[] = [];
    let measuring = false;
    let errors = 0;
    let ready = 0;
    let pendingMeasured = 0;
    for (const c of creds) {
      const client = new LinkClient(`127.0.0.1:${grpcPort}`, c, {
        ...CLIENT_OPTIONS,
        'grpc.use_local_subchannel_pool': 1,
      });
      clients.push(client);
      const call = (
        client as unknown as { Connect(): grpc.ClientDuplexStream<AgentMessage, AggregatorMessage> }
      ).Connect();
      calls.push(call);
      // Send time of each unacknowledged message; NaN for those sent outside the measured window.
      const sent = new Map<number, number>();
      let seq = 0;
      let acked = false;
      let startLoad = (): void => undefined;
      call.on('data', (m: AggregatorMessage) => {
        if (m.body !== 'ack' || !('ack' in m)) return;
        if (!acked) {
          ready++;
          startLoad();
        }
        acked = true;
        const t = sent.get(m.ack.seq);
        sent.delete(m.ack.seq);
        if (t !== undefined && !Number.isNaN(t)) {
          latencies.push(performance.now() - t);
          pendingMeasured--;
        }
      });
      call.on('error', (e: grpc.ServiceError) => {
        if (e.code !== grpc.status.CANCELLED) errors++;
        if (errors === 1) console.error('first stream error:', e.code, e.details);
      });
      const send = (m: AgentMessageBody): void => {
        seq++;
        sent.set(seq, measuring ? performance.now() : NaN);
        if (measuring) pendingMeasured++;
        call.write({ ...m, seq });
      };
      const heartbeat = (): void =>
        send({
          heartbeat: {
            sent_at: new Date().toISOString(),
            health: {
              agent_version: 'bench',
              uptime_seconds: 1,
              capture_drops: 0,
              malformed_packets: 0,
              outbox_depth: 0,
              outbox_bytes: 0,
              outbox_capacity_bytes: 1,
              alerts_refused_outbox_full: 0,
              aggregates_dropped: 0,
              inventory_dropped: 0,
              model_versions: {},
              models_serving: {},
              model_error: '',
              fl_status: '',
            },
          },
        });
      let n = 0;
      // Heartbeat first; the steady load (5 alerts/s, a heartbeat every 5 s) starts once the stream is acknowledged,
      // at a random phase, so a slow connect does not turn into a backlog burst.
      startLoad = (): void => {
        timers.push(
          setTimeout(() => {
            timers.push(setInterval(heartbeat, 5000));
            timers.push(setInterval(() => send({ alerts: { alerts: [alertToPb(sampleAlert(n++))] } }), 200));
          }, Math.random() * 200),
        );
      };
      heartbeat();
    }
    const setupStart = performance.now();
    while (ready < AGENTS && performance.now() - setupStart < 180_000) await sleep(100);
    const connectSeconds = (performance.now() - setupStart) / 1000;
    await sleep(2000); // settle
    const before = procStat(pid);
    const t0 = performance.now();
    measuring = true;
    let maxRss = before.rssKb;
    for (let s = 0; s < SECONDS; s++) {
      await sleep(1000);
      maxRss = Math.max(maxRss, procStat(pid).rssKb);
    }
    measuring = false;
    if (process.env.BENCH_DEBUG) {
      const st = await openStore(`sqlite:${join(dir, 'vigil.db')}`);
      console.error(
        'stored so far',
        (await st.alertStats()).total,
        'pending',
        pendingMeasured,
        'latencies',
        latencies.length,
      );
      await st.close();
    }
    const after = procStat(pid);
    const wall = (performance.now() - t0) / 1000;
    // Messages sent in the window and still unacknowledged: wait for them (their latency counts), up to 60 s.
    const drainStart = performance.now();
    while (pendingMeasured > 0 && performance.now() - drainStart < 60_000) await sleep(50);
    const cpu = (after.cpuTicks - before.cpuTicks) / 100 / wall;
    latencies.sort((a, b) => a - b);
    return [
      `| agents | all connected after s | seconds | acks measured | unacked after 60 s | p50 ms | p99 ms | max ms | aggregator CPU (cores) | RSS end / max MiB | stream errors |`,
      `| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |`,
      `| ${ready}/${AGENTS} | ${connectSeconds.toFixed(1)} | ${SECONDS} | ${latencies.length} | ${pendingMeasured} | ${percentile(latencies, 50).toFixed(1)} | ${percentile(latencies, 99).toFixed(1)} | ${(latencies.at(-1) ?? NaN).toFixed(1)} | ${cpu.toFixed(2)} | ${(after.rssKb / 1024).toFixed(0)} / ${(maxRss / 1024).toFixed(0)} | ${errors} |`,
    ];
  } finally {
    for (const t of timers) clearInterval(t);
    for (const c of calls) c.cancel();
    for (const c of clients) c.close();
    await serve.stop();
    if (process.env.BENCH_DEBUG) console.error(serve.lines.slice(-20).join('\n'));
    rmSync(dir, { recursive: true, force: true });
  }
}

const only = process.argv[2];
console.log(`# link bench ${new Date().toISOString()} (${cpus().length} cores, ${cpus()[0]?.model ?? '?'})`);
if (only === undefined || only === 'throughput') {
  console.log('| store | alerts | stored | seconds | alerts/s |');
  console.log('| --- | --- | --- | --- | --- |');
  for (const kind of ['sqlite', 'postgres'] as const) console.log(await oneAgentThroughput(kind));
}
if (only === undefined || only === 'agents') {
  for (const line of await manyAgents()) console.log(line);
}
