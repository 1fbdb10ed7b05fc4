// Size and cost of a learning checkpoint's models' half at its bound (what the agent writes every 5 minutes of a
// learning period once a day's traffic is in it): a model detector holding full reservoirs (MAX_FIT_ROWS +
// MAX_HELD_ROWS = 30,000 learning flow-seconds of NF features) and a day of window steps (the history's 86,400 +
// 1,024 seconds of NW values), plus learnt sets of `--pairs` host pairs (and twice as many services). Times the
// keeper's side (learningState: the reservoirs laid end to end; saveModelsCheckpoint: encode, SHA-256, write, fsync,
// rename) and a start's (loadModelsCheckpoint: read, SHA-256, decode; resumeLearning). Values are random: the
// format is raw floats, its size does not depend on them.
//
// Usage: tsx bench/checkpoint.ts [--reps N (5)] [--pairs N (500)] [--dir DIR (a temporary dir)]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadModelDetectors, type ModelLearningState } from '../src/detect/ml/detector.js';
import { NF, NW } from '../src/detect/ml/features.js';
import { loadModelsCheckpoint, saveModelsCheckpoint } from '../src/detect/models-checkpoint.js';

const { values: args } = parseArgs({
  options: {
    reps: { type: 'string', default: '5' },
    pairs: { type: 'string', default: '500' },
    dir: { type: 'string' },
  },
});
const reps = Number(args.reps);
const pairs = Number(args.pairs);
const FIT = 20_000;
const HELD = 10_000;
const STEPS = 86_400 + 1_024;
const START = Math.floor(Date.UTC(2026, 0, 12) / 1000);

function rows(n: number): ModelLearningState['fit'] {
  const x = new Float32Array(n * NF).map(() => Math.random() * 4);
  const sec = new Float64Array(n).map((_, i) => START + Math.floor((i * STEPS) / n));
  return { x, sec, program: new Float64Array(n), seen: n * 29 };
}

const host = (i: number): string => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
const full: ModelLearningState = {
  fit: rows(FIT),
  held: rows(HELD),
  steps: new Float32Array(STEPS * NW).map(() => Math.random() * 6),
  stepsEndSec: START + STEPS,
  sets: {
    knownPairs: Array.from({ length: pairs }, (_, i) => `${host(i)}>${host(i + 70_000)}`),
    knownServices: Array.from(
      { length: 2 * pairs },
      (_, i) => `${host(i >> 1)}>${host((i >> 1) + 70_000)}:${502 + (i & 1)}/6`,
    ),
  },
};

const dir = args.dir ?? mkdtempSync(join(tmpdir(), 'vigil-bench-ckpt-'));
const ms = (t0: number): number => performance.now() - t0;
const cpuMs = (c0: NodeJS.CpuUsage): number => {
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1000;
};
const rowsOut: string[] = [];
try {
  for (let r = 0; r < reps; r++) {
    const holder = loadModelDetectors({ facility: 'bench' })[0]!;
    holder.resumeLearning(full);
    let c0 = process.cpuUsage();
    let t0 = performance.now();
    const state = holder.learningState()!;
    const stateMs = ms(t0);
    const stateCpu = cpuMs(c0);
    c0 = process.cpuUsage();
    t0 = performance.now();
    const ref = saveModelsCheckpoint(dir, 'bench', [state]);
    const saveMs = ms(t0);
    const saveCpu = cpuMs(c0);
    const fresh = loadModelDetectors({ facility: 'bench' })[0]!;
    c0 = process.cpuUsage();
    t0 = performance.now();
    const loaded = loadModelsCheckpoint(dir, ref, 'bench');
    if (!loaded.ok) throw new Error(loaded.reason);
    fresh.resumeLearning(loaded.states[0]!);
    const loadMs = ms(t0);
    const loadCpu = cpuMs(c0);
    rmSync(join(dir, ref.file));
    await Promise.all([holder.close(), fresh.close()]);
    rowsOut.push(
      `| ${r + 1} | ${(ref.bytes / 1e6).toFixed(2)} | ${stateMs.toFixed(0)} / ${stateCpu.toFixed(0)} | ${saveMs.toFixed(0)} / ${saveCpu.toFixed(0)} | ${loadMs.toFixed(0)} / ${loadCpu.toFixed(0)} |`,
    );
  }
} finally {
  if (args.dir === undefined) rmSync(dir, { recursive: true, force: true });
}
process.stdout.write(
  [
    `models' learning checkpoint at its bound: ${FIT + HELD} rows of ${NF} features, ${STEPS} steps of ${NW}, ${pairs} pairs and ${2 * pairs} services`,
    '| rep | file MB | learningState ms wall / CPU | save (encode, SHA-256, write, fsync, rename) ms wall / CPU | load + resume ms wall / CPU |',
    '|---:|---:|---:|---:|---:|',
    ...rowsOut,
    '',
  ].join('\n'),
);
