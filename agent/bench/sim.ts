// Simulator generation speed: frames per second of wall time, and simulated seconds per wall second, for each
// topology (normal traffic only, and with the modbus-flood attack that adds ~100 req/s), generating only and
// generating plus writing the pcap and labels (into a discarding stream, so disk speed does not count).
// Each figure is the median of 3 runs. Run: npm run bench:sim. Options: --minutes N (default 10).
import { Writable } from 'node:stream';
import { writeSimulation } from '../src/sim/output.js';
import { Simulator, type SimulatorOptions } from '../src/sim/simulator.js';
import { TOPOLOGY_NAMES } from '../src/sim/topology.js';

const minutesArg = process.argv.indexOf('--minutes');
const minutes = minutesArg > 0 ? Number(process.argv[minutesArg + 1]) : 10;

function discard(): Writable {
  return new Writable({
    write(_chunk, _enc, cb) {
      cb();
    },
  });
}

interface Row {
  case: string;
  mode: string;
  frames: number;
  seconds: number;
}

const rows: Row[] = [];

const REPEATS = 3;

function median(xs: number[]): number {
  return [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)] ?? NaN;
}

/** Median wall time of REPEATS runs of each mode (after the JIT warm-up below). */
async function measure(name: string, opts: SimulatorOptions): Promise<void> {
  const gen: number[] = [];
  const write: number[] = [];
  let frames = 0;
  for (let r = 0; r < REPEATS; r++) {
    let t0 = performance.now();
    frames = 0;
    for (const _f of new Simulator(opts)) frames++;
    gen.push((performance.now() - t0) / 1000);
    t0 = performance.now();
    await writeSimulation(new Simulator(opts), { pcap: discard(), labels: discard() });
    write.push((performance.now() - t0) / 1000);
  }
  rows.push({ case: name, mode: 'generate', frames, seconds: median(gen) });
  rows.push({ case: name, mode: 'generate + pcap + labels', frames, seconds: median(write) });
}

// Warm-up: let the JIT compile the generator before anything is timed.
for (const _f of new Simulator({ topology: 'factory-c', seed: 99, startMs: 0, durationS: 60 }));

const startMs = Date.UTC(2026, 0, 5, 14);
for (const topology of TOPOLOGY_NAMES) {
  await measure(topology, { topology, seed: 1, startMs, durationS: minutes * 60 });
}
await measure('factory-c + modbus-flood (rate 1) all along', {
  topology: 'factory-c',
  seed: 1,
  startMs,
  durationS: minutes * 60,
  attacks: [{ attack: 'modbus-flood', atS: 0, durationS: minutes * 60 }],
});

console.log(`simulated minutes per case: ${minutes}`);
console.log('| case | mode | frames | wall s | frames/s | simulated s per wall s |');
console.log('|---|---|---:|---:|---:|---:|');
for (const r of rows) {
  console.log(
    `| ${r.case} | ${r.mode} | ${r.frames} | ${r.seconds.toFixed(2)} | ${Math.round(r.frames / r.seconds)} | ${Math.round((minutes * 60) / r.seconds)} |`,
  );
}
