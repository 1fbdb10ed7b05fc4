// `vigil demo`: the whole system on one machine. An aggregator on embedded defaults (SQLite in the demo's data dir,
// the embedded attack graph, anonymous on loopback) and one agent process per simulated facility, each enrolled through
// the real enrollment flow (one-time token, CSR, client certificate) and fed live by the plant simulator through the
// real pipeline. Agents learn their facility's baseline from a warm-up of simulated normal traffic first, so detection
// is live as soon as the facility shows online. Stop with stop(): agents get SIGTERM, then the aggregator closes.
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError } from '@vigil/shared';
import { FedAvg } from '../fl/strategy.js';
import { createEnrollmentToken } from '../link/enrollment.js';
import { spawnNode, type NodeProcess } from '../node-process.js';
import { startAggregator, type RunningAggregator } from '../runtime.js';
import { DEFAULT_RETENTION } from '../store/retention.js';

export interface DemoFacility {
  id: string;
  name: string;
  /** Simulator topology (agent/src/sim/topology.ts). */
  topology: string;
  seed: number;
}

/** Three plants with different topologies: water treatment, an electrical substation, a factory. */
export const DEMO_FACILITIES: readonly DemoFacility[] = [
  { id: 'water-a', name: 'Water treatment plant A', topology: 'water-a', seed: 1101 },
  { id: 'substation-b', name: 'Electrical substation B', topology: 'substation-b', seed: 2202 },
  { id: 'factory-c', name: 'Assembly factory C', topology: 'factory-c', seed: 3303 },
];

export interface DemoOptions {
  dataDir: string;
  host: string;
  port: number;
  grpcPort: number;
  facilities: readonly DemoFacility[];
  /** Minutes of simulated normal traffic each agent learns its baseline from before it goes live. */
  warmupMinutes: number;
  /** How long to wait for every facility to show online. */
  readyTimeoutMs: number;
  /** Progress lines (the CLI prints them). */
  say: (line: string) => void;
}

export interface RunningDemo {
  readonly aggregator: RunningAggregator;
  readonly url: string;
  stop(): Promise<void>;
}

/** The agent's CLI script, resolved through the workspace like any installed package (its main is dist/index.js). */
export function agentScript(): string {
  const main = fileURLToPath(import.meta.resolve('@vigil/agent'));
  return join(dirname(dirname(main)), 'bin', 'vigil-agent.js');
}

interface AgentProcess extends NodeProcess {
  facility: DemoFacility;
}

function spawnAgent(
  script: string,
  facility: DemoFacility,
  args: string[],
  say: (line: string) => void,
): AgentProcess {
  const p = spawnNode(script, args, (line) => {
    if (line.trim() !== '') say(`  [${facility.id}] ${line}`);
  });
  return { ...p, facility };
}

/** Enrolls the facility's agent unless its data dir already holds an identity from an earlier demo run. */
async function enroll(
  agg: RunningAggregator,
  script: string,
  f: DemoFacility,
  agentDir: string,
  say: (line: string) => void,
): Promise<void> {
  if (existsSync(join(agentDir, 'identity', 'identity.json'))) {
    say(`  ${f.id}: enrolled in an earlier run (${agentDir})`);
    return;
  }
  if ((await agg.store.getFacility(f.id)) === null) await agg.store.addFacility({ id: f.id, name: f.name });
  const t = await createEnrollmentToken(agg.store, agg.ca, {
    facilityId: f.id,
    lifetimeMs: 10 * 60_000,
    now: Date.now(),
  });
  const p = spawnAgent(
    script,
    f,
    ['enroll', '--aggregator', `127.0.0.1:${agg.link.port}`, '--token', t.token, '--data-dir', agentDir],
    say,
  );
  const code = await p.exited;
  if (code !== 0) throw new Error(`enrolling the agent of ${f.id} failed (exit ${String(code)})`);
}

async function waitOnline(
  url: string,
  ids: readonly string[],
  timeoutMs: number,
  say: (line: string) => void,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  const seen = new Set<string>();
  while (Date.now() < deadline) {
    const res = await fetch(`${url}/api/system/status`).catch(() => null);
    if (res?.ok === true) {
      const body = (await res.json()) as { facilities: { id: string; status: string }[] };
      for (const f of body.facilities) {
        if (ids.includes(f.id) && f.status === 'online' && !seen.has(f.id)) {
          seen.add(f.id);
          say(`  ${f.id}: online, detection live`);
        }
      }
      if (seen.size === ids.length) return true;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  return false;
}

export async function runDemo(o: DemoOptions): Promise<RunningDemo> {
  const script = agentScript();
  if (!existsSync(script)) {
    throw new UsageError(`the agent is not built (${script} is missing); run npm run build first`);
  }
  mkdirSync(o.dataDir, { recursive: true });
  o.say(
    `[1/4] starting the aggregator (SQLite in ${o.dataDir}, embedded attack graph, anonymous on loopback)`,
  );
  const agg = await startAggregator({
    dataDir: o.dataDir,
    dbUrl: `sqlite:${join(o.dataDir, 'vigil.db')}`,
    host: o.host,
    port: o.port,
    anonymous: true,
    grpcHost: '127.0.0.1',
    grpcPort: o.grpcPort,
    retention: DEFAULT_RETENTION,
    // Federated rounds on demand (the fl-round scenario, the dashboard): FedAvg over the agents' SuperNodes.
    fl: {
      strategy: new FedAvg(),
      privacy: { delta: 1e-5, epsilonBudget: 10, encryption: 'TLS with client certificates (mTLS)' },
      minClients: 2,
      scheduleMs: null,
    },
    log: (line) => o.say(`  aggregator: ${line}`),
  });
  const agents: AgentProcess[] = [];
  let stopping: Promise<void> | null = null;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      await Promise.all(agents.map((a) => a.stop(10_000)));
      await agg.close();
    })());
  try {
    o.say(`  dashboard API on ${agg.api.url}, agent port 127.0.0.1:${agg.link.port}`);
    o.say(`[2/4] enrolling ${o.facilities.length} agents (one-time token, CSR, client certificate)`);
    for (const f of o.facilities) await enroll(agg, script, f, join(o.dataDir, 'agents', f.id), o.say);
    o.say(
      `[3/4] starting the agents; each learns its plant's baseline from ${o.warmupMinutes} min of simulated normal traffic`,
    );
    for (const f of o.facilities) {
      const a = spawnAgent(
        script,
        f,
        [
          'run',
          '--data-dir',
          join(o.dataDir, 'agents', f.id),
          '--aggregator',
          `127.0.0.1:${agg.link.port}`,
          '--sim',
          f.topology,
          '--seed',
          String(f.seed),
          '--warmup-minutes',
          String(o.warmupMinutes),
        ],
        o.say,
      );
      agents.push(a);
      void a.exited.then((code) => {
        if (stopping === null)
          o.say(`  [${f.id}] agent exited (code ${String(code)}); its facility goes offline`);
      });
    }
    o.say('[4/4] waiting for the facilities to come online');
    const ok = await waitOnline(
      agg.api.url,
      o.facilities.map((f) => f.id),
      o.readyTimeoutMs,
      o.say,
    );
    if (!ok) o.say('  not every facility came online in time; the demo goes on with those that did');
  } catch (err) {
    await stop();
    throw err;
  }
  return { aggregator: agg, url: agg.api.url, stop };
}
