// Interop with the real framework: a real `flower-superlink --insecure` (flwr 1.42, venv of deploy/python-venv.sh)
// on a loopback port; flwr's own FedAvg ServerApp (testing/fedavg-app, submitted with `flwr run`) for 3 rounds; two
// Vigil agents as its SuperNodes (SuperNode + HttpFleetRpc with Flower's node auth), each training a small MLP with
// DP-SGD on its own seeded synthetic data. Passes when the run completes, both agents' training loss falls, and
// the ServerApp's final arrays equal the num-examples-weighted average of the agents' last replies, computed here.
// Runtime: about 30 s on 2 cores (plus venv creation on the first run).
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Activation, Dense, Sequential, seededRng, softmaxCrossEntropy, type Example } from '@vigil/models';
import { HttpFleetRpc, NodeKey } from '@vigil/proto/flower/fleet-rpc';
import { tensorsOf } from '@vigil/proto/flower/records';
import { oraclePython } from '@vigil/shared/testing';
import { SequentialDpTrainer, modelArrays } from './local-trainer.js';
import { SuperNode, type ReplyEvent } from './supernode.js';

const appSource = fileURLToPath(new URL('./testing/fedavg-app', import.meta.url));
const ROUNDS = 3;

let python = '';
let work = '';
const children: ChildProcess[] = [];

beforeAll(() => {
  python = oraclePython();
  if (python === '') return;
  work = mkdtempSync(path.join(tmpdir(), 'vigil-flower-'));
}, 600_000);

afterAll(async () => {
  // Each child leads its own process group: TERM the group, KILL it if it has not exited within 10 s. flower-superlink
  // starts flower-superexec and flwr-serverapp in sessions of their own; they exit when their parent does.
  await Promise.all(
    children.map(async (c) => {
      if (c.pid === undefined || c.exitCode !== null || c.signalCode !== null) return;
      const exited = new Promise<boolean>((resolve) => {
        const t = setTimeout(() => resolve(false), 10_000);
        c.once('exit', () => {
          clearTimeout(t);
          resolve(true);
        });
      });
      signalGroup(c.pid, 'SIGTERM');
      if (!(await exited)) signalGroup(c.pid, 'SIGKILL');
    }),
  );
  if (work) rmSync(work, { recursive: true, force: true });
});

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    /* already gone */
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      s.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

function start(cmd: string, args: string[], env: NodeJS.ProcessEnv, log: string[]): ChildProcess {
  const c = spawn(cmd, args, { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const keep = (b: Buffer) => {
    log.push(b.toString());
    if (log.length > 400) log.splice(0, log.length - 400);
  };
  c.stdout?.on('data', keep);
  c.stderr?.on('data', keep);
  children.push(c);
  return c;
}

async function waitFor(
  what: string,
  ok: () => boolean | Promise<boolean>,
  timeoutMs: number,
  log: string[],
): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await ok()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}; last output:\n${log.join('').slice(-4000)}`);
}

/** Two well-separated classes in 4 features, from our seeded generator; labels one-hot. */
function dataset(n: number, seed: number): Example[] {
  const rng = seededRng(seed);
  return Array.from({ length: n }, (_, i) => {
    const cls = i % 2;
    const x = Float32Array.from(
      { length: 4 },
      (_, j) => (cls === 1 ? 0.9 : -0.9) * (j % 2 === 0 ? 1 : -1) + 0.8 * rng.normal(),
    );
    return { x, y: Float32Array.from([cls === 0 ? 1 : 0, cls]) };
  });
}

function mlp(seed: number): Sequential {
  const rng = seededRng(seed);
  return new Sequential([
    new Dense({ inputSize: 4, outputSize: 8, rng }),
    new Activation('relu'),
    new Dense({ inputSize: 8, outputSize: 2, rng }),
  ]);
}

describe('our agents as SuperNodes of a real flower-superlink', () => {
  it(`complete ${ROUNDS} FedAvg rounds of flwr's own ServerApp, and FedAvg averages exactly their replies`, async (ctx) => {
    if (!python) ctx.skip();
    const bin = path.dirname(python);
    const port = await freePort();
    const home = path.join(work, 'flwr-home');
    const app = path.join(work, 'app');
    cpSync(appSource, app, { recursive: true });
    mkdirSync(home, { recursive: true });
    writeFileSync(
      path.join(home, 'config.toml'),
      `[superlink]\ndefault = "test"\n\n[superlink.test]\naddress = "127.0.0.1:${port}"\ninsecure = true\n`,
    );
    // Telemetry off: the test talks to loopback only.
    const env = {
      ...process.env,
      PATH: `${bin}:${process.env.PATH ?? ''}`,
      FLWR_HOME: home,
      FLWR_TELEMETRY_ENABLED: '0',
    };
    const linkLog: string[] = [];
    start(
      path.join(bin, 'flower-superlink'),
      [
        '--insecure',
        '--host',
        '127.0.0.1',
        '--port',
        String(port),
        '--disable-runtime-dependency-installation',
      ],
      env,
      linkLog,
    );
    await waitFor(
      'flower-superlink to listen',
      () => linkLog.join('').includes('Uvicorn running on'),
      60_000,
      linkLog,
    );

    // Two agents with different amounts of local data; the global model's initial arrays come from our own init.
    const init = modelArrays(mlp(7));
    const initFile = path.join(work, 'init.json');
    const outFile = path.join(work, 'out.json');
    writeFileSync(
      initFile,
      JSON.stringify([...init].map(([name, t]) => ({ name, shape: t.shape, values: [...t.data] }))),
    );
    const stop = new AbortController();
    const replies: ReplyEvent[][] = [[], []];
    const sizes = [96, 160];
    const nodes = sizes.map((n, i) => {
      const key = NodeKey.generate();
      return new SuperNode({
        rpc: new HttpFleetRpc({ baseUrl: `http://127.0.0.1:${port}`, key }),
        publicKey: key.publicKeyPem,
        selfRegister: true,
        pollMs: 200,
        heartbeatInterval: 10,
        trainer: new SequentialDpTrainer({
          model: mlp(100 + i),
          loss: softmaxCrossEntropy,
          data: dataset(n, 1000 + i),
          validation: dataset(40, 2000 + i),
          dp: { clipNorm: 1, noiseMultiplier: 0.3, sampleRate: 0.25 },
          rng: seededRng(3000 + i),
        }),
        onReply: (e) => replies[i]!.push(e),
        log: (line) => linkLog.push(`agent ${i}: ${line}\n`),
      });
    });
    const running = nodes.map((n) => n.run(stop.signal));

    const runLog: string[] = [];
    start(
      path.join(bin, 'flwr'),
      [
        'run',
        app,
        'test',
        '--stream',
        '--run-config',
        `init-file="${initFile}" out-file="${outFile}" num-server-rounds=${ROUNDS}`,
      ],
      env,
      runLog,
    );
    await waitFor(
      'the FedAvg run to write its result',
      () => existsSync(outFile),
      180_000,
      runLog.concat(linkLog),
    );
    stop.abort();
    await Promise.all(running);

    const out = JSON.parse(readFileSync(outFile, 'utf8')) as {
      arrays: { name: string; shape: number[]; values: number[] }[];
      train_metrics: Record<string, Record<string, number>>;
    };
    expect(Object.keys(out.train_metrics)).toHaveLength(ROUNDS);

    // Every agent trained in every round and answered every evaluation, without errors; its loss fell.
    const trains = replies.map((r) => r.filter((e) => e.messageType === 'train'));
    for (const [i, r] of replies.entries()) {
      expect(
        r.every((e) => e.error === null),
        `agent ${i} errors`,
      ).toBe(true);
      expect(trains[i]).toHaveLength(ROUNDS);
      expect(r.filter((e) => e.messageType === 'evaluate')).toHaveLength(ROUNDS);
      const losses = trains[i]!.map((e) => {
        const m = e.content?.get('metrics');
        if (m?.kind !== 'metric') throw new Error('metrics missing');
        expect(m.items.get('num-examples')).toBe(BigInt(sizes[i]!));
        return m.items.get('loss') as number;
      });
      expect(losses[ROUNDS - 1]!, `agent ${i} losses ${losses.join(', ')}`).toBeLessThan(losses[0]!);
    }

    // FedAvg's final arrays = the num-examples-weighted mean of the agents' round-3 arrays, computed here.
    const last = trains.map((t) => tensorsOf(t[ROUNDS - 1]!.content!.get('arrays')!));
    const total = sizes[0]! + sizes[1]!;
    expect(out.arrays.map((a) => a.name)).toEqual([...init.keys()]);
    for (const a of out.arrays) {
      const mine = last.map((l) => l.get(a.name)!);
      expect(a.shape).toEqual(mine[0]!.shape);
      a.values.forEach((v, k) => {
        const want = (sizes[0]! * mine[0]!.data[k]! + sizes[1]! * mine[1]!.data[k]!) / total;
        expect(Math.abs(v - want), `${a.name}[${k}]`).toBeLessThanOrEqual(1e-6 + 1e-5 * Math.abs(want));
      });
    }
  }, 300_000);
});
