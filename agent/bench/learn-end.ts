// The end of a full learning period on the models' side: memory, time and main-thread blocking of what the model
// detector does when the baseline freezes after a day of a simulated plant (fit the facility's forest, fit the scaler,
// recalibrate the Layer 1b threshold on every window of the period, calibrate Layer 2's floors, export the forest).
//
// `--make` simulates `--seconds` (86,400: the default learning period) of the `--topology` plant (water-b, seed 1)
// through the whole detection pipeline at full speed, with the model detector learning, and writes its learning
// checkpoint (what the agent writes every 5 minutes; window steps, reservoirs, learnt sets) just before the period
// ends; it logs the process memory and the detector's learnt state every simulated 4 hours. Without `--make` (a
// fresh process, so the figures are the end of learning's own): the checkpoint is resumed by a new model detector
// and the simulation goes on from where it stopped through a new engine whose learning ends after 5 s of packet
// time; the frames wait while the models prepare (as the FrameFeeder makes them), so the CPU measured is the end of
// learning's. Prints one JSON line: the thresholds' bits (the same checkpoint gives the same bits on every build that
// learns the same way), a digest of the learnt baseline, the L1b threshold a swap of the same Layer 1b recalibrates
// on the kept windows, the wall and CPU time of the end of learning, the longest main-thread block in it (event-loop
// delay), RSS, V8 heap and array buffers before it, at their sampled peak in it (every 5 ms the loop is free) and
// after it (after a GC, and again 2 s later), and the process's maxRSS before and at the end of it.
//
// Without a checkpoint in `--dir`, one is made first (in a child process). About 90 s of wall time for a day of
// water-b (2.2M frames) on an idle machine, 15 s of CPU.
//
// `--soak N` (no checkpoint): the learning period and then N seconds of detection in one process, the same way;
// one JSON line of process memory (RSS, V8 heap, external, array buffers) and CPU every `--every` simulated seconds
// (3,600), and a V8 heap snapshot into `--dir` at each simulated hour in `--snapshots` (writing one leaves the
// process about 220 MB larger in RSS for good: not for the runs whose RSS is the figure). A day plus two of water-b:
// about 6.7M frames, 150 s of CPU, most of it the models' detection.
//
// Usage: npm run bench:learn-end -- [--make] [--seconds N] [--topology T] [--seed N]
//        [--dir DIR (.cache/bench/learn-end-T-seed-seconds)] [--label L]
//        [--soak N [--every S] [--snapshots H,H]]
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { writeHeapSnapshot } from 'node:v8';
import { parseArgs } from 'node:util';
import { PacketClock } from '../src/capture/packet-clock.js';
import { LinkType, type RawPacket } from '../src/capture/types.js';
import { DetectionEngine } from '../src/detect/engine.js';
import { FrameFeeder } from '../src/detect/feeder.js';
import { ARTIFACTS_DIR, readL1b } from '../src/detect/ml/artifacts.js';
import { loadModelDetectors, type ModelDetector } from '../src/detect/ml/detector.js';
import { NW } from '../src/detect/ml/features.js';
import {
  loadModelsCheckpoint,
  modelsCheckpointRefSchema,
  saveModelsCheckpoint,
} from '../src/detect/models-checkpoint.js';
import type { Detection, WindowView } from '../src/detect/types.js';
import { Simulator } from '../src/sim/simulator.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..', '..');
const { values: args } = parseArgs({
  options: {
    make: { type: 'boolean', default: false },
    seconds: { type: 'string', default: '86400' },
    topology: { type: 'string', default: 'water-b' },
    seed: { type: 'string', default: '1' },
    dir: { type: 'string' },
    label: { type: 'string', default: '' },
    soak: { type: 'string', default: '0' },
    every: { type: 'string', default: '3600' },
    snapshots: { type: 'string', default: '' },
  },
});
const seconds = Number(args.seconds);
const soakSeconds = Number(args.soak);
const seed = Number(args.seed);
const topology = args.topology;
const dir = args.dir ?? join(ROOT, '.cache', 'bench', `learn-end-${topology}-${seed}-${seconds}`);
const START_MS = Date.UTC(2026, 0, 12);
const FACILITY = 'learn-end';
const MB = (b: number): number => Math.round(b / 1e5) / 10;
const cpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
const gc = (): void => (globalThis as { gc?: () => void }).gc?.();
const mem = (): { rss: number; heap: number; buffers: number } => {
  const m = process.memoryUsage();
  return { rss: MB(m.rss), heap: MB(m.heapUsed), buffers: MB(m.arrayBuffers) };
};

/** Runs `sim` through `engine` as the replay path does (FrameFeeder), calling `each` per frame. */
async function feed(
  sim: Simulator,
  engine: DetectionEngine,
  clock: PacketClock,
  each: (tUs: number) => Promise<void> | void,
): Promise<number> {
  const feeder = new FrameFeeder(engine, clock);
  let n = 0;
  for (const f of sim) {
    const raw: RawPacket = {
      frame: ++n,
      tsSec: Math.floor(f.tUs / 1e6),
      tsNsec: (f.tUs % 1e6) * 1000,
      linkType: LinkType.ETHERNET,
      buf: f.data,
      off: 0,
      capLen: f.data.length,
      origLen: f.data.length,
    };
    feeder.push(raw);
    await each(f.tUs);
    if (n % 4096 === 0) await feeder.drain();
  }
  await feeder.drain();
  await engine.finish();
  return n;
}

async function make(): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const detector = loadModelDetectors({ facility: FACILITY })[0]!;
  const clock = new PacketClock();
  // the engine would end the period at `seconds`: the simulation stops 2 s before, still learning
  const engine = new DetectionEngine({
    facility: FACILITY,
    clock,
    learnMs: seconds * 1000,
    detectors: [detector],
    onAlert: () => undefined,
  });
  const sim = new Simulator({ topology, seed, startMs: START_MS, durationS: seconds - 2 });
  const c0 = cpuMs();
  const t0 = performance.now();
  let nextLog = START_MS * 1000;
  const frames = await feed(sim, engine, clock, (tUs) => {
    if (tUs < nextLog) return;
    nextLog += 4 * 3600e6;
    gc();
    const s = detector.learningState()!;
    console.log(
      JSON.stringify({
        simHours: Math.round((tUs / 1e6 - START_MS / 1000) / 360) / 10,
        ...mem(),
        steps: s.steps.length / NW,
        stepsMB: MB(s.steps.byteLength),
        fitRows: s.fit.sec.length,
        heldRows: s.held.sec.length,
        sets: Object.fromEntries(Object.entries(s.sets).map(([k, v]) => [k, v.length])),
      }),
    );
  });
  const state = detector.learningState();
  if (state === undefined) throw new Error('the detector is not learning any more');
  const ref = saveModelsCheckpoint(dir, FACILITY, [state]);
  writeFileSync(join(dir, 'ref.json'), JSON.stringify({ ...ref, endMs: START_MS + (seconds - 2) * 1000 }));
  gc();
  console.log(
    JSON.stringify({
      made: dir,
      frames,
      steps: state.steps.length / NW,
      checkpointMB: MB(ref.bytes),
      wallS: Math.round(performance.now() - t0) / 1000,
      cpuS: Math.round(cpuMs() - c0) / 1000,
      ...mem(),
      maxRssMB: MB(process.resourceUsage().maxRSS * 1024),
    }),
  );
  await detector.close();
}

const bits = (x: number): string => Buffer.from(new Float64Array([x]).buffer).toString('hex');

async function measure(): Promise<void> {
  const refPath = join(dir, 'ref.json');
  if (!existsSync(refPath)) {
    // made in a child process: this one's memory is the end of learning's alone
    const made = spawnSync(
      process.execPath,
      [...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2), '--make'],
      { stdio: 'inherit' },
    );
    if (made.status !== 0) throw new Error(`making the checkpoint failed (${made.status ?? made.signal})`);
  }
  const { endMs, ...saved } = JSON.parse(readFileSync(refPath, 'utf8')) as { endMs: number };
  const ref = modelsCheckpointRefSchema.parse(saved);
  const loaded = loadModelsCheckpoint(dir, ref, FACILITY);
  if (!loaded.ok) throw new Error(loaded.reason);
  const detector: ModelDetector = loadModelDetectors({ facility: FACILITY })[0]!;
  detector.resumeLearning(loaded.states[0]!);
  const steps = loaded.states[0]!.steps.length / NW;
  loaded.states.length = 0;

  // the first answer that is a promise is the end of learning (the models prepare, then score)
  let ending: Promise<Detection[]> | undefined;
  let done: Promise<void> | undefined;
  const delay = monitorEventLoopDelay({ resolution: 5 });
  const peak = { rss: 0, heap: 0, buffers: 0 };
  let sampler: NodeJS.Timeout | undefined;
  const sample = (): void => {
    const m = mem();
    peak.rss = Math.max(peak.rss, m.rss);
    peak.heap = Math.max(peak.heap, m.heap);
    peak.buffers = Math.max(peak.buffers, m.buffers);
  };
  let before = mem();
  let maxRssBefore = 0;
  let maxRssEnd = 0;
  let c0 = 0;
  let t0 = 0;
  let wallMs = 0;
  let cpu = 0;
  const detect = detector.detect.bind(detector);
  detector.detect = (w: WindowView): Detection[] | Promise<Detection[]> => {
    if (ending !== undefined) return detect(w);
    if (!w.baseline.learning) {
      gc();
      before = mem();
      maxRssBefore = MB(process.resourceUsage().maxRSS * 1024);
      Object.assign(peak, before);
      sampler = setInterval(sample, 5);
      delay.enable();
      c0 = cpuMs();
      t0 = performance.now();
    }
    const r = detect(w);
    if (r instanceof Promise) {
      ending = r;
      done = r.then(() => {
        wallMs = performance.now() - t0;
        cpu = cpuMs() - c0;
        sample();
        maxRssEnd = MB(process.resourceUsage().maxRSS * 1024);
        delay.disable();
        clearInterval(sampler);
      });
    }
    return r;
  };
  const clock = new PacketClock();
  const engine = new DetectionEngine({
    facility: FACILITY,
    clock,
    learnMs: 5000,
    detectors: [detector],
    onAlert: () => undefined,
  });
  const sim = new Simulator({ topology, seed: seed + 1, startMs: endMs, durationS: 30 });
  await feed(sim, engine, clock, async () => {
    if (done !== undefined) await done;
  });
  if (!detector.stats.ready) throw new Error(`models not ready: ${detector.stats.reason}`);
  gc();
  const after = mem();
  // what V8 frees in the background after a GC (array buffers), 2 s later
  await new Promise((r) => setTimeout(r, 2000));
  gc();
  const settled = mem();
  const learnt = detector.learnt!;
  const { trainedAt: _, ...meta } = learnt.meta;
  const digest = createHash('sha256').update(JSON.stringify(meta)).update(learnt.onnx).digest('hex');
  const l1bThreshold = detector.stats.l1bThreshold;
  // the same shared Layer 1b swapped in: recalibrated on the windows the end of learning kept
  await detector.swapModel('l1b', readL1b(ARTIFACTS_DIR).onnx);
  console.log(
    JSON.stringify({
      label: args.label,
      steps,
      windows: meta.windows,
      l1bThreshold,
      l1bBits: bits(l1bThreshold),
      l1aBits: bits(meta.l1aThreshold),
      baselineDigest: digest.slice(0, 16),
      swapNote: detector.swapNote,
      swapBits: bits(detector.stats.l1bThreshold),
      endWallMs: Math.round(wallMs),
      endCpuMs: Math.round(cpu),
      maxBlockMs: Math.round(delay.max / 1e6),
      before,
      peak,
      after,
      settled,
      maxRssBeforeMB: maxRssBefore,
      maxRssEndMB: maxRssEnd,
      load: (await import('node:os'))
        .loadavg()
        .map((x) => x.toFixed(1))
        .join(' '),
    }),
  );
  await detector.close();
}

/**
 * `--soak N`: the learning period (`--seconds`) and then N seconds of detection, in one process, through the same
 * pipeline; logs the process memory and the pipeline's bounded structures every `--every` simulated seconds, and
 * writes a V8 heap snapshot at each simulated hour listed in `--snapshots` (into `--dir`).
 */
async function soak(): Promise<void> {
  const detector = loadModelDetectors({ facility: FACILITY })[0]!;
  const clock = new PacketClock();
  let alerts = 0;
  const engine = new DetectionEngine({
    facility: FACILITY,
    clock,
    learnMs: seconds * 1000,
    detectors: [detector],
    onAlert: () => void alerts++,
  });
  const snapshots = new Set(
    args.snapshots
      .split(',')
      .filter((x) => x !== '')
      .map(Number),
  );
  if (snapshots.size > 0) mkdirSync(dir, { recursive: true });
  const every = Number(args.every) * 1e6;
  const sim = new Simulator({ topology, seed, startMs: START_MS, durationS: seconds + soakSeconds });
  const c0 = cpuMs();
  let nextLog = START_MS * 1000;
  let frames = 0;
  const log = (tUs: number): void => {
    gc();
    const m = process.memoryUsage();
    const hours = Math.round((tUs / 1e6 - START_MS / 1000) / 360) / 10;
    const st = engine.stats();
    console.log(
      JSON.stringify({
        simHours: hours,
        rss: MB(m.rss),
        heap: MB(m.heapUsed),
        heapTotal: MB(m.heapTotal),
        external: MB(m.external),
        buffers: MB(m.arrayBuffers),
        cpuS: Math.round(cpuMs() - c0) / 1000,
        frames,
        alerts,
        learning: engine.baseline.learning,
        ready: detector.stats.ready,
        remembered: st.remembered,
        scanTracked: st.scan_tracked,
        window: engine.analyzer.window.rows().length,
      }),
    );
    if (snapshots.has(hours)) writeHeapSnapshot(join(dir, `soak-${hours}h.heapsnapshot`));
  };
  await feed(sim, engine, clock, (tUs) => {
    frames++;
    if (tUs < nextLog) return;
    nextLog += every;
    log(tUs);
  });
  log(clock.now() * 1000);
  await detector.close();
}

if (soakSeconds > 0) await soak();
else if (args.make) await make();
else await measure();
