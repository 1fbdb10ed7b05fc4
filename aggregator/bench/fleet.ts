// Fleet API benchmark (npm run bench:fleet): wall time of a federated round with 3 agents on loopback, split into
// transport and training. An in-process LinkServer (real CA, mTLS) serves the Fleet API; 3 enrolled agents run the
// real SuperNode over gRPC, each training a ~100k-parameter MLP with DP-SGD on 200 local examples. One round =
// train on all 3 (in parallel, as the round engine does) then evaluate on all 3.
// The agents share this process's one JS thread, so their training runs one after another: transport = round wall
// time - the sum of the agents' training and evaluation time.
// Then the same agents in secure-aggregation rounds (SecureDpSgd, @vigil/proto/secagg): the key stage (a key pair per
// agent, relayed), the masked stage (one DP-SGD step with a noise share, fixed-point encoding and pairwise masks, on
// all 3) and the aggregator's unmasking of the sum; training there = the agents' DP-SGD step alone.
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { linkFleetRpc, LINK_CHUNK_SIZE } from '@vigil/agent/fl/connect';
import { SequentialDpTrainer, modelArrays, type LocalTrainer } from '@vigil/agent/fl/local-trainer';
import { SuperNode } from '@vigil/agent/fl/supernode';
import { enroll } from '@vigil/agent/link/identity';
import { Activation, Dense, Sequential, seededRng, softmaxCrossEntropy, type Example } from '@vigil/models';
import { NodeKey } from '@vigil/proto/flower/fleet-rpc';
import { bytesToWords, decodeFixedPoint, fixedPointFor, sumWords } from '@vigil/proto/secagg';
import { FleetServer } from '../src/fl/fleet-server.js';
import { SecureDpSgd } from '../src/fl/strategy.js';
import { CertificateAuthority } from '../src/link/ca.js';
import { LinkServer } from '../src/link/server.js';
import { issueToken } from '../src/link/testing/fixtures.js';
import { openStore } from '../src/store/open.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const AGENTS = 3;

function mlp(seed: number): Sequential {
  const rng = seededRng(seed);
  return new Sequential([
    new Dense({ inputSize: 64, outputSize: 384, rng }),
    new Activation('relu'),
    new Dense({ inputSize: 384, outputSize: 192, rng }),
    new Activation('relu'),
    new Dense({ inputSize: 192, outputSize: 2, rng }),
  ]);
}

function dataset(n: number, seed: number): Example[] {
  const rng = seededRng(seed);
  return Array.from({ length: n }, (_, i) => {
    const c = i % 2;
    const x = Float32Array.from(
      { length: 64 },
      (_, j) => (c ? 0.5 : -0.5) * (j % 3 === 0 ? 1 : 0) + rng.normal(),
    );
    return { x, y: Float32Array.from([1 - c, c]) };
  });
}

/** Adds the time spent in train/evaluate to `spent.ms`. */
function timed(t: LocalTrainer, spent: { ms: number }): LocalTrainer {
  const wrap = async <T>(f: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    try {
      return await f();
    } finally {
      spent.ms += performance.now() - t0;
    }
  };
  return {
    train: (a, c, s) => wrap(() => t.train(a, c, s)),
    evaluate: (a, c, s) => wrap(() => t.evaluate(a, c, s)),
    secureStep: (a, c, r, s) => wrap(() => t.secureStep!(a, c, r, s)),
  };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-bench-fleet-'));
  const store = await openStore(`sqlite:${join(dir, 'agg', 'vigil.db')}`);
  const ca = await CertificateAuthority.open(join(dir, 'agg'));
  const fleet = new FleetServer({ log: () => undefined });
  const server = new LinkServer({
    store,
    ca,
    host: '127.0.0.1',
    port: 0,
    log: () => undefined,
    services: [fleet],
  });
  await server.start();
  const stop = new AbortController();
  const spent = { ms: 0 };
  const running: Promise<void>[] = [];
  try {
    for (let i = 0; i < AGENTS; i++) {
      const facility = `plant-${i}`;
      const identity = await enroll({
        aggregator: `127.0.0.1:${server.port}`,
        token: await issueToken(store, ca, facility),
        dataDir: join(dir, facility),
      });
      const node = new SuperNode({
        rpc: linkFleetRpc({ address: `127.0.0.1:${server.port}`, identity }),
        publicKey: NodeKey.generate().publicKeyPem,
        selfRegister: false,
        pollMs: 20,
        heartbeatInterval: 10,
        chunkSize: LINK_CHUNK_SIZE,
        trainer: timed(
          new SequentialDpTrainer({
            model: mlp(i),
            loss: softmaxCrossEntropy,
            data: dataset(200, 10 + i),
            dp: { clipNorm: 1, noiseMultiplier: 1, sampleRate: 0.1 },
            rng: seededRng(20 + i),
          }),
          spent,
        ),
        log: () => undefined,
      });
      running.push(node.run(stop.signal));
    }
    while (fleet.nodes().filter((n) => n.online).length < AGENTS) await new Promise((r) => setTimeout(r, 20));
    let arrays = modelArrays(mlp(99));
    const params = [...arrays.values()].reduce((s, t) => s + t.data.length, 0);
    const rows: { wall: number; training: number }[] = [];
    for (let round = 1; round <= ROUNDS + 1; round++) {
      spent.ms = 0;
      const t0 = performance.now();
      const signal = AbortSignal.timeout(120_000);
      const fits = await Promise.all(
        fleet.nodes().map((n) => fleet.train(n.nodeId, { round, arrays, config: { lr: 0.05 } }, signal)),
      );
      arrays = fits[0]!.arrays;
      await Promise.all(
        fleet.nodes().map((n) => fleet.evaluate(n.nodeId, { round, arrays, config: {} }, signal)),
      );
      if (round > 1) rows.push({ wall: performance.now() - t0, training: spent.ms }); // round 1 warms up
    }
    const wall = median(rows.map((r) => r.wall));
    const training = median(rows.map((r) => r.training));
    const transport = median(rows.map((r) => r.wall - r.training));
    console.log(
      `Fleet round, ${AGENTS} agents, ${params} float32 parameters, ${ROUNDS} rounds after 1 warm-up`,
    );
    console.log(
      `machine: ${cpus().length} cores, load average ${loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')}`,
    );
    console.log('| round wall time (median) | training + evaluation (sum over agents) | transport |');
    console.log('|---|---|---|');
    console.log(`| ${wall.toFixed(0)} ms | ${training.toFixed(0)} ms | ${transport.toFixed(0)} ms |`);

    const secure = new SecureDpSgd({ noiseMultiplier: 1, sampleRate: 0.1, clipNorm: 1, learningRate: 0.1 });
    const srows: { keys: number; masked: number; unmask: number; training: number }[] = [];
    for (let round = 100; round <= 100 + ROUNDS; round++) {
      const signal = AbortSignal.timeout(120_000);
      const nodes = fleet.nodes();
      spent.ms = 0;
      const t0 = performance.now();
      const keys = await Promise.all(
        nodes.map((n) => fleet.secureKeys(n.nodeId, { round, config: {} }, signal)),
      );
      const t1 = performance.now();
      const participants = nodes.map((n, i) => ({ nodeId: n.nodeId, publicKey: keys[i]! }));
      const replies = await Promise.all(
        nodes.map((n) =>
          fleet.secureTrain(
            n.nodeId,
            { round, arrays, config: secure.configureFit(), participants, bound: secure.secure.bound },
            signal,
          ),
        ),
      );
      const t2 = performance.now();
      const fp = fixedPointFor(nodes.length, secure.secure.bound);
      decodeFixedPoint(sumWords(replies.map((r) => bytesToWords(r.masked))), fp);
      const t3 = performance.now();
      if (round > 100) srows.push({ keys: t1 - t0, masked: t2 - t1, unmask: t3 - t2, training: spent.ms });
    }
    console.log(
      `secure-aggregation rounds (key stage + masked stage + unmasking), ${ROUNDS} after 1 warm-up, load ${loadavg()[0]!.toFixed(1)}`,
    );
    console.log('| key stage | masked stage | of which DP-SGD step (sum over agents) | unmask sum | total |');
    console.log('|---|---|---|---|---|');
    const m = (f: (r: (typeof srows)[number]) => number) => median(srows.map(f)).toFixed(0);
    console.log(
      `| ${m((r) => r.keys)} ms | ${m((r) => r.masked)} ms | ${m((r) => r.training)} ms | ${m((r) => r.unmask)} ms | ${m((r) => r.keys + r.masked + r.unmask)} ms |`,
    );
  } finally {
    stop.abort();
    await Promise.all(running);
    await server.shutdown();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
