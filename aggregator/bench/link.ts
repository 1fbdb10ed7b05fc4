// Link benchmarks (npm run bench:link).
// A. Alerts/s from one agent into the aggregator, SQLite and Postgres: the agent (its own process, `vigil-agent run`)
//    drains an outbox pre-filled with BENCH_ALERTS alerts (BENCH_TIMELINE points of timeline each: 1 = ~0.9 kB of
//    JSON, 60 = the size of the agent's real alerts) into an in-process LinkServer (via=link) and into a `vigil
//    serve` process (via=serve: the product's whole path); measured from the first alert stored to the last, with
//    the CPU each process spent per alert in that time, and the aggregator's main thread's and its busiest other
//    thread's (the SQLite store's writer thread) alone. BENCH_STORES, BENCH_VIA select rows; BENCH_CPU_PROF=DIR
//    writes V8 CPU profiles of the agent and `vigil serve` there. BENCH_IDS=random: random (version-4) alert ids,
//    as agents made them before session 9 (default: time-ordered, as they make them now). BENCH_TITLES=numbered:
//    titles `Modbus write burst <i>`, a search word of its own per alert, as before session 9 (default: the agent's
//    form, `... from <source address>`). BENCH_SQLITE_DB=FILE: the SQLite store is that file (e.g. a copy of
//    bench:api's 1M-alert store: it is written to, never deleted). BENCH_SCHED=1 (2: also every ~0.5 s): each
//    thread's share of the run on a CPU, waiting for one and off one (idle: the pipeline's gaps), to stderr.
// C. `bench/link.ts stages` (not in the default run): CPU per alert of each stage, in one process.
// B. BENCH_AGENTS simulated agents (200) connected at once to `vigil serve` (its own process, SQLite), each sending a
//    heartbeat every 5 s and 5 alerts/s for BENCH_SECONDS (60): ack latency percentiles, aggregator CPU and RSS.
import { randomUUID, webcrypto } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as x509 from '@peculiar/x509';
import { Outbox, type OutboxEntry } from '@vigil/agent/outbox/outbox';
import { enroll } from '@vigil/agent/link/identity';
import { alertMessageFromEncoded } from '@vigil/agent/link/wire';
import { alertToPb, alertsFromBatch } from '@vigil/proto/codec';
import {
  CLIENT_OPTIONS,
  agentMessageDeserializer,
  loadLink,
  type AgentMessage,
  type AgentMessageBody,
  type AggregatorMessage,
} from '@vigil/proto/link';
import { CertificateAuthority } from '../src/link/ca.js';
import { LinkServer } from '../src/link/server.js';
import { issueToken, sampleAlert, sampleAlertMs } from '../src/link/testing/fixtures.js';
import { VIGIL, VIGIL_AGENT, freePort, start } from '../src/link/testing/processes.js';
import { openStore } from '../src/store/open.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { startTestPostgres } from '../src/store/testing/postgres.js';
import type { StoredAlert } from '../src/store/types.js';
import { postgresCpu, postgresPids } from './postgres-cpu.js';

const ALERTS = Number(process.env.BENCH_ALERTS ?? 100_000);
const AGENTS = Number(process.env.BENCH_AGENTS ?? 200);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 60);
const STORES = (process.env.BENCH_STORES ?? 'sqlite,postgres').split(',');
const VIA = (process.env.BENCH_VIA ?? 'link,serve').split(',');
const TIMELINE = Number(process.env.BENCH_TIMELINE ?? 1);
const RANDOM_IDS = process.env.BENCH_IDS === 'random';
const NUMBERED_TITLES = process.env.BENCH_TITLES === 'numbered';
const SQLITE_DB = process.env.BENCH_SQLITE_DB;
const SCHED = process.env.BENCH_SCHED !== undefined;
const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** start(), with a V8 CPU profile written to BENCH_CPU_PROF (a directory) when it is set. */
function profiled(script: string, args: string[]): ReturnType<typeof start> {
  const dir = process.env.BENCH_CPU_PROF;
  return dir === undefined
    ? start(script, args)
    : start('--cpu-prof', [`--cpu-prof-dir=${dir}`, script, ...args]);
}

/** CPU seconds used so far by a process (utime + stime), or null once it has ended. */
function cpuSeconds(pid: number): number | null {
  try {
    return procStat(pid).cpuTicks / 100;
  } catch {
    return null;
  }
}

/**
 * One agent draining a pre-filled outbox. `via`: `link` = the LinkServer and the store in this process (the ingest
 * path alone); `serve` = a `vigil serve` process, so each alert also goes through what the product does with it
 * (the publishing store, the dashboard bus, the prediction service).
 */
async function oneAgentThroughput(kind: 'sqlite' | 'postgres', via: 'link' | 'serve'): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-bench-link-'));
  const aggDir = join(dir, 'agg');
  const pgServer = kind === 'postgres' ? await startTestPostgres({ durable: true }) : null;
  const url = pgServer ? await pgServer.createDatabase() : `sqlite:${SQLITE_DB ?? join(aggDir, 'vigil.db')}`;
  const store = await openStore(url);
  const ca = await CertificateAuthority.open(aggDir);
  const server =
    via === 'link' ? new LinkServer({ store, ca, host: '127.0.0.1', port: 0, log: () => undefined }) : null;
  let serve: ReturnType<typeof start> | null = null;
  try {
    let port: number;
    if (server) {
      await server.start();
      port = server.port;
    } else {
      port = await freePort();
      serve = profiled(VIGIL, [
        'serve',
        '--data-dir',
        aggDir,
        '--db',
        url,
        '--port',
        '0',
        '--grpc-port',
        String(port),
      ]);
      await serve.waitFor(/agents on/, 60_000);
    }
    const aggregatorCpu = serve
      ? (): number => cpuSeconds(serve?.child.pid ?? 0) ?? NaN
      : (): number => {
          const u = process.cpuUsage();
          return (u.user + u.system) / 1e6;
        };
    // The aggregator's main thread alone (the one that decodes, validates and acknowledges; a SQLite file store
    // writes alerts in a thread of its own): /proc's task entry whose id is the process id.
    const aggregatorPid = serve?.child.pid ?? process.pid;
    const mainThreadCpu = (): number => threadCpuSeconds(aggregatorPid) ?? NaN;
    let threads0 = new Map<string, number>();
    let sched0 = new Map<string, Sched>();
    const timeline: { t: number; n: number; s: Map<string, Sched> }[] = [];
    const pgCpu = pgServer ? await postgresCpu(url) : null;
    const pgPidsNow = pgServer && SCHED ? await postgresPids(url) : null;
    // the server's processes (backends, WAL writer...) as of the first alert stored: BENCH_SCHED's Postgres rows
    let pgPids: number[] = [];
    const schedPids = (): number[] => [agent.child.pid ?? 0, aggregatorPid, ...pgPids];
    const agentDir = join(dir, 'agent');
    await enroll({
      aggregator: `127.0.0.1:${port}`,
      token: await issueToken(store, ca, 'plant-a'),
      dataDir: agentDir,
    });
    const outbox = new Outbox({ path: join(agentDir, 'outbox.db'), maxBytes: 2 ** 31 });
    // a pre-filled store: the alerts come after its newest, as a plant's new alerts do (sampleAlert i is i s later)
    const newest = (await store.queryAlerts({ page: 1, limit: 1 })).items[0]?.timestamp;
    const from = newest === undefined ? 0 : Math.ceil((Date.parse(newest) - sampleAlertMs(0)) / 1000) + 1;
    let jsonBytes = 0;
    for (let i = 0; i < ALERTS; i += 5000) {
      const alerts = Array.from({ length: Math.min(5000, ALERTS - i) }, (_, j) =>
        sampleAlert(from + i + j, {
          timelinePoints: TIMELINE,
          randomIds: RANDOM_IDS,
          numberedTitles: NUMBERED_TITLES,
        }),
      );
      jsonBytes += alerts.reduce((n, a) => n + Buffer.byteLength(JSON.stringify(a)), 0);
      outbox.enqueue(alerts);
    }
    outbox.close();
    const empty = join(dir, 'none.jsonl');
    writeFileSync(empty, '');
    const agent = profiled(VIGIL_AGENT, [
      'run',
      '--data-dir',
      agentDir,
      '--alerts-in',
      empty,
      '--exit-when-delivered',
    ]);
    const held = server ? 0 : (await store.alertStats()).total; // a pre-filled store's alerts (BENCH_SQLITE_DB)
    const stored = async (): Promise<number> =>
      server ? server.stats.alerts_stored : (await store.alertStats()).total - held;
    // CPU of each process from the first alert stored to the last; the agent's is its last reading before it exits.
    let first = 0;
    let cpu0 = { agent: 0, aggregator: 0, main: 0, postgres: 0 };
    let agentCpu = 0;
    while ((await stored()) < ALERTS) {
      const agentNow = cpuSeconds(agent.child.pid ?? 0);
      if (agentNow !== null) agentCpu = agentNow;
      if (first === 0 && (await stored()) > 0) {
        first = performance.now();
        cpu0 = {
          agent: agentCpu,
          aggregator: aggregatorCpu(),
          main: mainThreadCpu(),
          postgres: pgCpu?.() ?? 0,
        };
        threads0 = threadsCpu(aggregatorPid);
        pgPids = pgPidsNow?.() ?? [];
        sched0 = schedSnapshot(schedPids());
      }
      if (SCHED && first !== 0)
        timeline.push({
          t: performance.now() - first,
          n: await stored(),
          s: schedSnapshot(schedPids()),
        });
      if (agent.child.exitCode !== null) throw new Error(`agent exited early:\n${agent.lines.join('\n')}`);
      await sleep(serve ? 20 : 5);
    }
    const seconds = (performance.now() - first) / 1000;
    if (SCHED)
      schedReport(
        seconds,
        sched0,
        schedSnapshot(schedPids()),
        timeline,
        aggregatorPid,
        agent.child.pid ?? 0,
        pgPids,
      );
    const perAlert = (s: number): string => ((s * 1e6) / ALERTS).toFixed(0);
    const aggUs = perAlert(aggregatorCpu() - cpu0.aggregator);
    const mainUs = perAlert(mainThreadCpu() - cpu0.main);
    // The busiest other thread: the SQLite store's writer thread where there is one (else a V8 helper thread).
    const busiest = Math.max(
      ...[...threadsCpu(aggregatorPid)]
        .filter(([tid]) => tid !== String(aggregatorPid))
        .map(([tid, s]) => s - (threads0.get(tid) ?? 0)),
    );
    const otherUs = perAlert(busiest);
    const pgUs = pgCpu ? perAlert(pgCpu() - cpu0.postgres) : '-';
    const agentUs = perAlert(agentCpu - cpu0.agent);
    await agent.exited;
    const total = (await store.alertStats()).total;
    const tx = server ? String(server.stats.alert_transactions) : '-';
    return `| ${kind} | ${via} | ${TIMELINE} | ${Math.round(jsonBytes / ALERTS)} | ${ALERTS} | ${total} | ${tx} | ${seconds.toFixed(2)} | ${Math.round(ALERTS / seconds)} | ${agentUs} | ${aggUs} | ${mainUs} | ${otherUs} | ${pgUs} |`;
  } finally {
    await server?.shutdown();
    await serve?.stop();
    await store.close();
    await pgServer?.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A thread's nanoseconds on a CPU and waiting for one (/proc/PID/task/TID/schedstat). */
interface Sched {
  run: number;
  wait: number;
}

/** schedstat of every thread of the processes, keyed `pid/tid`. */
function schedSnapshot(pids: readonly number[]): Map<string, Sched> {
  const all = new Map<string, Sched>();
  for (const pid of pids) {
    try {
      for (const tid of readdirSync(`/proc/${pid}/task`)) {
        try {
          const [run, wait] = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8')
            .split(' ')
            .map(Number);
          all.set(`${pid}/${tid}`, { run: run ?? 0, wait: wait ?? 0 });
        } catch {
          // the thread ended
        }
      }
    } catch {
      // the process ended
    }
  }
  return all;
}

/**
 * BENCH_SCHED=1: for the agent's main thread, the aggregator's main thread and its busiest other thread (and on
 * Postgres the server's busiest process, its backend), the share of the run's wall time each spent on a CPU, waiting
 * for one (runnable: the machine's load) and off one (idle or blocked: the pipeline's gaps), to stderr; with
 * BENCH_SCHED=2 also per interval of ~0.5 s.
 */
function schedReport(
  seconds: number,
  a: Map<string, Sched>,
  b: Map<string, Sched>,
  timeline: { t: number; n: number; s: Map<string, Sched> }[],
  aggregatorPid: number,
  agentPid: number,
  pgPids: readonly number[],
): void {
  const d = (k: string, x: Map<string, Sched>, y: Map<string, Sched>): Sched => ({
    run: (y.get(k)?.run ?? 0) - (x.get(k)?.run ?? 0),
    wait: (y.get(k)?.wait ?? 0) - (x.get(k)?.wait ?? 0),
  });
  const others = [...b.keys()].filter(
    (k) => k.startsWith(`${aggregatorPid}/`) && k !== `${aggregatorPid}/${aggregatorPid}`,
  );
  const busiest = (keys: string[]): string =>
    keys.sort((k1, k2) => d(k2, a, b).run - d(k1, a, b).run)[0] ?? '';
  const writer = busiest(others);
  const pgKeys = pgPids.map((pid) => `${pid}/${pid}`);
  const backend = busiest([...pgKeys]);
  const threads: [string, string][] = [
    ['agent main', `${agentPid}/${agentPid}`],
    ['aggregator main', `${aggregatorPid}/${aggregatorPid}`],
    ['aggregator writer', writer],
    ...(pgKeys.length > 0 ? ([['postgres backend', backend]] as [string, string][]) : []),
  ];
  const run = (keys: string[], x: Map<string, Sched>, y: Map<string, Sched>): number =>
    keys.reduce((n, k) => n + d(k, x, y).run, 0);
  const line = (wall: number, x: Map<string, Sched>, y: Map<string, Sched>): string => {
    const pc = (ns: number): string => ((100 * ns) / wall).toFixed(0).padStart(3);
    const rest = run(
      others.filter((k) => k !== writer),
      x,
      y,
    );
    const pgRest = run(
      pgKeys.filter((k) => k !== backend),
      x,
      y,
    );
    return (
      threads
        .map(([name, k]) => {
          const s = d(k, x, y);
          return `${name} run ${pc(s.run)}% wait ${pc(s.wait)}% off ${pc(wall - s.run - s.wait)}%`;
        })
        .join(' | ') +
      ` | other aggregator threads run ${pc(rest).trim()}%` +
      (pgKeys.length > 0 ? ` | other postgres processes run ${pc(pgRest).trim()}%` : '')
    );
  };
  console.error(`sched, whole run ${seconds.toFixed(2)} s: ${line(seconds * 1e9, a, b)}`);
  if (process.env.BENCH_SCHED !== '2') return;
  let prev = { t: 0, n: 0, s: a };
  for (const p of timeline) {
    if (p.t - prev.t < 500) continue;
    console.error(
      `${(p.t / 1000).toFixed(2).padStart(6)} s ${String(p.n).padStart(6)} stored (+${p.n - prev.n}): ${line((p.t - prev.t) * 1e6, prev.s, p.s)}`,
    );
    prev = p;
  }
}

/** CPU seconds used so far by each thread of a process, by task id. */
function threadsCpu(pid: number): Map<string, number> {
  const all = new Map<string, number>();
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) all.set(tid, threadCpuSeconds(pid, Number(tid)) ?? 0);
  } catch {
    // the process ended
  }
  return all;
}

/** CPU seconds used so far by one thread of a process (its task id), or null once it has ended. */
function threadCpuSeconds(pid: number, tid = pid): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return null;
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

/**
 * C. Where the CPU goes, stage by stage, in this process (no network): CPU microseconds per alert of each step an
 * alert takes from the agent's outbox to the aggregator's store, for BENCH_STAGE_ALERTS alerts of the bench's size.
 */
async function stages(n: number): Promise<string[]> {
  const batch = 2000;
  const dir = mkdtempSync(join(tmpdir(), 'vigil-bench-stages-'));
  const rows: string[] = [];
  let chars = 0;
  const measure = async (side: string, what: string, f: () => unknown): Promise<void> => {
    const c0 = process.cpuUsage();
    await f();
    const c = process.cpuUsage(c0);
    rows.push(`| ${side} | ${what} | ${((c.user + c.system) / n).toFixed(1)} |`);
  };
  const chunks = <T>(xs: readonly T[], size: number): T[][] =>
    Array.from({ length: Math.ceil(xs.length / size) }, (_, i) => xs.slice(i * size, (i + 1) * size));
  try {
    const alerts = Array.from({ length: n }, (_, i) => sampleAlert(i, { timelinePoints: TIMELINE }));
    const connect = loadLink().link.Connect as unknown as {
      requestSerialize(m: AgentMessage): Buffer;
      requestDeserialize(b: Buffer): AgentMessage;
    };
    const outbox = new Outbox({ path: join(dir, 'outbox.db'), maxBytes: 2 ** 31 });
    await measure('agent', 'outbox enqueue (alertToPb + encode + insert, 2000 a transaction)', () => {
      for (const c of chunks(alerts, batch)) outbox.enqueue(c);
    });
    let entries: OutboxEntry[] = [];
    await measure('agent', 'outbox peek (the stored wire bytes)', () => {
      for (let last = 0; ;) {
        const page = outbox.peek(last, batch);
        if (page.length === 0) break;
        last = page[page.length - 1]?.id ?? last;
        entries = entries.concat(page);
      }
    });
    await measure('agent', 'reference, not on the path: alertToPb + protobufjs encode', () => {
      for (const [i, c] of chunks(alerts, batch).entries()) {
        connect.requestSerialize({ seq: i + 1, alerts: { alerts: c.map(alertToPb) } });
      }
    });
    let wire: Buffer[] = [];
    await measure('agent', 'frame the stored bytes into batches (alertMessageFromEncoded)', () => {
      wire = chunks(entries, batch).map((c, i) =>
        alertMessageFromEncoded(
          i + 1,
          c.map((e) => e.pb),
        ),
      );
    });
    await measure('agent', 'outbox delete on ack (2000 a transaction)', () => {
      for (const c of chunks(entries, batch)) outbox.remove(c.map((e) => e.id));
    });
    outbox.close();
    await measure('aggregator', 'reference, not on the path: proto-loader decode (decode + toObject)', () => {
      for (const b of wire) connect.requestDeserialize(b);
    });
    const decode = agentMessageDeserializer();
    let stored: StoredAlert[] = [];
    await measure(
      'aggregator',
      'protobuf decode + validation (agentMessageDeserializer, alertsFromBatch)',
      () => {
        stored = wire.flatMap((b) => {
          const m = decode(b);
          if (m.body !== 'alert_batch') return [];
          return alertsFromBatch(m.alert_batch, 'plant-a', 'alerts', false);
        });
      },
    );
    await measure('aggregator', 'JSON.stringify of sources + context (inside the insert)', () => {
      for (const a of stored)
        chars += JSON.stringify(a.sources).length + JSON.stringify(a.context_analysis).length;
    });
    // thread: the store's default for a file (the writer thread; the process's CPU, both threads); inline: the
    // insert on the calling thread, as before session 7 and as `:memory:` does.
    for (const [tx, alertWriter] of [
      [500, 'thread'],
      [2000, 'thread'],
      [2000, 'inline'],
    ] as const) {
      const store = new SqliteStore({ path: join(dir, `agg-${tx}-${alertWriter}.db`), alertWriter });
      await store.migrate();
      // the thread is started (and its module loaded) by the first batch: not part of the cost per alert
      await store.insertAlerts(stored.slice(0, 1).map((a) => ({ ...a, id: randomUUID() })));
      const fresh = stored.map((a) => ({ ...a, id: randomUUID() }));
      await measure(
        'aggregator',
        `SQLite insertAlerts, ${tx} a transaction (synchronous=FULL), alert writer ${alertWriter}`,
        async () => {
          for (const c of chunks(fresh, tx)) await store.insertAlerts(c);
        },
      );
      await store.close();
    }
    if (STORES.includes('postgres')) {
      const pgServer = await startTestPostgres({ durable: true });
      try {
        const url = await pgServer.createDatabase();
        const store = await openStore(url);
        const serverCpu = await postgresCpu(url);
        const s0 = serverCpu?.() ?? NaN;
        await measure('aggregator', 'Postgres insertAlerts, 2000 a transaction: client side', async () => {
          for (const c of chunks(stored, batch)) await store.insertAlerts(c);
        });
        rows.push(
          `| Postgres server | the same inserts: server processes | ${serverCpu ? (((serverCpu() - s0) * 1e6) / n).toFixed(1) : '-'} |`,
        );
        await store.close();
      } finally {
        await pgServer.close();
      }
    }
    const json = alerts.reduce((sum, a) => sum + Buffer.byteLength(JSON.stringify(a)), 0) / n;
    const proto = wire.reduce((sum, b) => sum + b.length, 0) / n;
    return [
      `Alert: ${TIMELINE}-point timeline, ${json.toFixed(0)} B of JSON (sources + context ${(chars / n).toFixed(0)}), ${proto.toFixed(0)} B of protobuf; ${n} alerts, after a warm-up run of ${n / 10}.`,
      '',
      '| process | stage | CPU us/alert |',
      '| --- | --- | --- |',
      ...rows,
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const only = process.argv[2];
console.log(`# link bench ${new Date().toISOString()} (${cpus().length} cores, ${cpus()[0]?.model ?? '?'})`);
if (only === undefined || only === 'throughput') {
  console.log(
    '| store | via | timeline points | alert JSON bytes | alerts | stored | transactions | seconds | alerts/s | agent CPU us/alert | aggregator CPU us/alert | aggregator main thread us/alert | aggregator busiest other thread us/alert | Postgres CPU us/alert |',
  );
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const via of ['link', 'serve'] as const) {
    for (const kind of ['sqlite', 'postgres'] as const) {
      if (STORES.includes(kind) && VIA.includes(via)) console.log(await oneAgentThroughput(kind, via));
    }
  }
}
if (only === 'stages') {
  const n = Number(process.env.BENCH_STAGE_ALERTS ?? 20_000);
  await stages(n / 10); // warm-up: the JIT compiles each stage's code before it is timed
  for (const line of await stages(n)) console.log(line);
}
if (only === undefined || only === 'agents') {
  for (const line of await manyAgents()) console.log(line);
}
