// Federated aggregation speed: FedAvg of N client updates of P float32 parameters (the goal: 1,000 x 100k in
// under 1 s), the robust trimmed mean at a smaller size for comparison, and one in-process round of the engine (three
// clients training the small test Sequential with DP-SGD, a SQLite store), split into the clients' training and
// evaluation (timed alone, without the engine) and the rest (selection, store writes, accounting, aggregation, registry).
// Secure aggregation: one plant's masking of `parameters` values (fixed-point encoding plus the pairwise masks of its
// 2 peers: X25519, HKDF, AES-256-CTR keystream) and the aggregator's unmasking of 3 masked vectors (modular sum and
// decoding), next to the key pair a plant makes per round.
// Run: npm run bench:fl  (or: npx tsx aggregator/bench/fl.ts [updates] [parameters] [repeats])
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadavg } from 'node:os';
import { seededRng } from '@vigil/models';
import {
  applyMasks,
  decodeFixedPoint,
  defaultBound,
  encodeFixedPoint,
  fixedPointFor,
  newRoundKeyPair,
  sumWords,
} from '@vigil/proto/secagg';
import { RoundEngine } from '../src/fl/engine.js';
import { FedAvg, fedAvg, trimmedMean } from '../src/fl/strategy.js';
import { LocalFleet, localModel, modelArrays } from '../src/fl/testing/local-fleet.js';
import { openStore } from '../src/store/open.js';

const updates = Number(process.argv[2] ?? 1000);
const parameters = Number(process.argv[3] ?? 100_000);
const repeats = Number(process.argv[4] ?? 5);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

function makeUpdates(n: number, p: number): { weights: Float32Array[]; numExamples: number }[] {
  const rng = seededRng(1);
  return Array.from({ length: n }, (_, i) => {
    const w = new Float32Array(p);
    for (let k = 0; k < p; k++) w[k] = rng.next() - 0.5;
    return { weights: [w], numExamples: 100 + (i % 900) };
  });
}

function timeIt(fn: () => void, times: number): number[] {
  const out: number[] = [];
  for (let r = 0; r < times; r++) {
    const t0 = performance.now();
    fn();
    out.push(performance.now() - t0);
  }
  return out;
}

const data = makeUpdates(updates, parameters);
fedAvg(data.slice(0, 10)); // warm-up
const avg = timeIt(() => fedAvg(data), repeats);
console.log(
  `fedAvg ${updates} updates x ${parameters} float32: median ${median(avg).toFixed(1)} ms, min ${Math.min(...avg).toFixed(1)} ms, max ${Math.max(...avg).toFixed(1)} ms (${repeats} runs)`,
);

const small = data.slice(0, 100).map((u) => ({ weights: [u.weights[0]!.subarray(0, 10_000)] }));
const trim = timeIt(() => trimmedMean(small, 10), 3);
console.log(
  `trimmedMean 100 updates x 10000 float32, trim 10: median ${median(trim).toFixed(1)} ms (3 runs)`,
);

// Secure aggregation at `parameters` values, 3 plants.
{
  const ids = ['2', '3', '4'];
  const fp = fixedPointFor(3, defaultBound(1));
  const values = data.slice(0, 3).map((u) => u.weights[0]!);
  const keygen = timeIt(() => newRoundKeyPair(), 50);
  const keys = ids.map(() => newRoundKeyPair());
  const participants = ids.map((nodeId, i) => ({ nodeId, publicKey: keys[i]!.publicKey }));
  let masked: Uint32Array[] = [];
  const mask1 = (i: number, round: number): Uint32Array =>
    applyMasks(
      encodeFixedPoint(values[i]!, fp),
      { nodeId: ids[i]!, privateKey: keys[i]!.privateKey },
      participants,
      {
        runId: 'bench',
        round,
      },
    );
  let round = 0;
  mask1(0, round++); // warm-up
  const masking = timeIt(() => void mask1(0, round++), repeats * 4);
  masked = ids.map((_, i) => mask1(i, round));
  const unmasking = timeIt(() => void decodeFixedPoint(sumWords(masked), fp), repeats * 4);
  console.log(
    `secure aggregation, ${parameters} values, 3 plants (load ${loadavg()[0]!.toFixed(1)}): key pair median ${median(keygen).toFixed(3)} ms; one plant's encode + 2 pairwise masks median ${median(masking).toFixed(1)} ms (min ${Math.min(...masking).toFixed(1)}); aggregator's sum + decode of 3 median ${median(unmasking).toFixed(1)} ms (min ${Math.min(...unmasking).toFixed(1)})`,
  );
}

// One engine round in process: time inside the clients vs. the rest.
const dir = mkdtempSync(join(tmpdir(), 'vigil-bench-fl-'));
try {
  const store = await openStore(`sqlite:${join(dir, 'bench.db')}`);
  for (let i = 0; i < 3; i++) await store.addFacility({ id: `plant-${i}`, name: `Plant ${i}` });
  const fleet = new LocalFleet(
    [0, 1, 2].map((i) => ({
      nodeId: String(100 + i),
      facilityId: `plant-${i}`,
      seed: 10 + i,
      trainExamples: 2000,
      validationExamples: 500,
      shift: 0.3 * i,
    })),
  );
  const engine = new RoundEngine({
    store,
    transport: fleet,
    strategy: new FedAvg(),
    privacy: { delta: 1e-5, epsilonBudget: 1000 },
    initialArrays: () => modelArrays(localModel(1)),
    log: () => undefined,
  });
  const config = { 'local-epochs': 2 };
  for (let r = 0; r < 3; r++) {
    const t0 = performance.now();
    const round = await (await engine.start({ minClients: 3, localEpochs: 2 })).done;
    const wall = performance.now() - t0;
    // The same local training and evaluation alone, the three clients one after another, without the engine.
    const arrays = modelArrays(localModel(1));
    const signal = new AbortController().signal;
    const t1 = performance.now();
    for (const n of fleet.nodes()) {
      await fleet.train(n.nodeId, { round: 100 + r, arrays, config }, signal);
      await fleet.evaluate(n.nodeId, { round: 100 + r, arrays, config }, signal);
    }
    const clients = performance.now() - t1;
    console.log(
      `round ${round.round_number} (${round.status}, 3 clients x 2000 examples x 2 epochs, in process): wall ${wall.toFixed(0)} ms; the same clients' training + evaluation run alone: ${clients.toFixed(0)} ms; accuracy ${round.model_accuracy?.toFixed(3) ?? '-'}`,
    );
  }
  await store.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
