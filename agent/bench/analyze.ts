// `npm run bench:decode` (second part): decode + per-packet features + the 60 s window + the asset inventory on
// the generated 2M-packet Modbus/TCP capture and on a generated mixed capture (Modbus, MQTT, DNS, HTTP), beside
// the decode pipeline alone and tshark extracting the oracle's fields from the same file, in the same run.
// Prints a Markdown report (copied into bench/RESULTS.md with date and machine).
//
// Options: --packets N (2,000,000 Modbus)  --mixed-packets N (2,000,000)  --reps N (5)  --cold-reps N (2)
//          --tshark-packets N (all)  --no-tshark  --no-jit-tune (V8 default inlining budget instead of vigil-agent's)
//
// Cold and warm reps: every rep builds a new pipeline/Analyzer on the same capture. The first rep runs while V8
// compiles the path (its optimizing compiler works on other threads of the process, and their CPU time counts in
// the per-CPU-second figures), and the second rep's new instances make V8 drop and recompile much of that code once
// more; a long-running agent pays this once at start. So besides the median of all reps the report gives the first
// --cold-reps reps and the median of the later (warm) reps apart, with the CPU time of the process's other threads
// (V8's compiler and GC helpers) per rep.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, statSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { FEATURE_SCHEMA_VERSION } from '@vigil/shared';
import { PacketClock } from '../src/capture/packet-clock.js';
import { CaptureParser } from '../src/capture/pcap.js';
import { DecodePipeline } from '../src/decode/pipeline.js';
import { Analyzer } from '../src/features/analyzer.js';
import { INLINE_BUDGET_BYTES, tuneJit } from '../src/jit.js';
import { bareWalk } from './bare-walk.js';
import { writeMixedCapture } from './mixed-capture.js';
import { writeModbusCapture } from './modbus-capture.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..', '..');

const { values: args } = parseArgs({
  options: {
    packets: { type: 'string', default: '2000000' },
    'mixed-packets': { type: 'string', default: '2000000' },
    reps: { type: 'string', default: '5' },
    'cold-reps': { type: 'string', default: '2' },
    'tshark-packets': { type: 'string' },
    'no-tshark': { type: 'boolean', default: false },
    'no-jit-tune': { type: 'boolean', default: false },
  },
});

function num(name: string, v: string | undefined): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} must be a positive integer, got ${v}`);
  return n;
}

const fmt = (x: number): string => Math.round(x).toLocaleString('en-US');

interface Run {
  packets: number;
  wallMs: number;
  cpuMs: number;
  /** CPU time of the process's other threads (V8's optimizing compiler, GC helpers); NaN where not readable. */
  otherCpuMs?: number;
}

/** CPU time of the main thread so far (ms, Linux /proc, 10 ms ticks), NaN where there is no /proc. */
function mainThreadCpuMs(): number {
  try {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) * 10;
  } catch {
    return NaN;
  }
}

/** Reads the in-memory capture in 4 MB chunks (as a file read gives) and hands every frame to `handle`. */
function runOnce(
  data: Buffer,
  make: (clock: PacketClock) => (p: Parameters<DecodePipeline['handle']>[0]) => void,
): Run {
  const clock = new PacketClock();
  const handle = make(clock);
  let packets = 0;
  const parser = new CaptureParser({
    file: 'bench',
    onPacket: (p) => {
      packets++;
      clock.observe(p.tsSec, p.tsNsec);
      handle(p);
    },
  });
  const cpu0 = process.cpuUsage();
  const main0 = mainThreadCpuMs();
  const t0 = performance.now();
  const CHUNK = 4 * 1024 * 1024;
  for (let o = 0; o < data.length; o += CHUNK) parser.push(data.subarray(o, o + CHUNK));
  parser.end();
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  return { packets, wallMs, cpuMs, otherCpuMs: Math.max(0, cpuMs - (mainThreadCpuMs() - main0)) };
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? (s[m] ?? 0) : ((s[m - 1] ?? 0) + (s[m] ?? 0)) / 2;
}

const perCpuSecond = (r: Run): number => (r.packets / r.cpuMs) * 1000;

/** The best (by wall time) of the runs, and every run's CPU-second rate as a share of the walk just before it. */
interface Series {
  best: Run;
  rates: number[];
  ratios: number[];
  others: number[];
}

function series(): Series {
  return {
    best: { packets: 0, wallMs: Infinity, cpuMs: Infinity, otherCpuMs: 0 },
    rates: [],
    ratios: [],
    others: [],
  };
}

function record(s: Series, r: Run, walk: Run): void {
  if (r.wallMs < s.best.wallMs) s.best = r;
  s.rates.push(perCpuSecond(r));
  s.ratios.push(perCpuSecond(r) / perCpuSecond(walk));
  s.others.push(r.otherCpuMs ?? NaN);
}

function decodeOnly(data: Buffer): Run {
  return runOnce(data, (clock) => {
    const pipeline = new DecodePipeline({ clock, onEvent: () => undefined });
    return (p) => pipeline.handle(p);
  });
}

let checksum = 0;
function analyze(data: Buffer): Run {
  let analyzer: Analyzer | undefined;
  const run = runOnce(data, (clock) => {
    const a = new Analyzer({ clock, onFeatures: (r) => (checksum += r[0] ?? 0) });
    analyzer = a;
    return (p) => a.handle(p);
  });
  const s = analyzer?.pipeline.stats();
  if (s?.counters.internal_error !== undefined)
    throw new Error(`internal error: ${JSON.stringify(s.internalError)}`);
  return run;
}

const TSHARK_FIELDS = [
  'frame.number',
  'mbtcp.trans_id',
  'mbtcp.unit_id',
  'modbus.func_code',
  'modbus.exception_code',
  'mqtt.msgtype',
  'mqtt.topic',
  'dns.qry.name',
  'dns.qry.type',
  'http.request.method',
  'http.request.uri',
  'http.response.code',
];

async function tsharkMs(file: string, limit: number | undefined): Promise<number> {
  const argv = ['-r', file, ...(limit !== undefined ? ['-c', String(limit)] : []), '-T', 'fields'];
  for (const f of TSHARK_FIELDS) argv.push('-e', f);
  const t0 = performance.now();
  await new Promise<void>((res, rej) => {
    const child = spawn('tshark', argv, { stdio: ['ignore', openSync('/dev/null', 'w'), 'ignore'] });
    child.on('error', rej);
    child.on('exit', (code) => (code === 0 ? res() : rej(new Error(`tshark exited with ${code}`))));
  });
  return performance.now() - t0;
}

async function main(): Promise<void> {
  // As the vigil-agent process runs (src/cli/main.ts); --no-jit-tune keeps V8's default inlining budget.
  if (!args['no-jit-tune']) tuneJit();
  const jit = args['no-jit-tune']
    ? 'V8 default inlining budget (--no-jit-tune)'
    : `V8 inlining budget ${INLINE_BUDGET_BYTES} bytes (tuneJit, as vigil-agent)`;
  const reps = num('reps', args.reps);
  const coldReps = Number(args['cold-reps']);
  if (!Number.isInteger(coldReps) || coldReps < 0 || coldReps >= reps)
    throw new Error(`--cold-reps must be an integer from 0 to reps - 1, got ${args['cold-reps']}`);
  const dir = join(ROOT, '.cache', 'bench');
  mkdirSync(dir, { recursive: true });
  const modbusPackets = num('packets', args.packets);
  const mixedPackets = num('mixed-packets', args['mixed-packets']);
  const modbusFile = join(dir, `modbus-${modbusPackets}-1000.pcap`);
  if (!existsSync(modbusFile))
    await writeModbusCapture({ path: modbusFile, packets: modbusPackets, flows: 1000 });
  const mixedFile = join(dir, `mixed-${mixedPackets}.pcap`);
  if (!existsSync(mixedFile)) {
    const t0 = performance.now();
    await writeMixedCapture({ path: mixedFile, packets: mixedPackets });
    process.stderr.write(`generated ${mixedFile} in ${fmt(performance.now() - t0)} ms\n`);
  }
  const lines: string[] = [];
  lines.push(
    `Machine: ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), node ${process.version}; ${jit}`,
  );
  lines.push(`Feature schema ${FEATURE_SCHEMA_VERSION}; window and inventory as in production (Analyzer).`);
  lines.push('');
  lines.push('| capture | what | packets | wall ms | pkt/s (wall) | pkt/s per CPU-second |');
  lines.push('|---|---|---:|---:|---:|---:|');
  const version = args['no-tshark']
    ? ''
    : (execFileSync('tshark', ['--version']).toString().split(' (')[0] ?? 'tshark');
  for (const [name, file, packets] of [
    ['Modbus/TCP (bench/modbus-capture.ts)', modbusFile, modbusPackets],
    ['mixed Modbus/MQTT/DNS/HTTP (bench/mixed-capture.ts)', mixedFile, mixedPackets],
  ] as const) {
    const data = readFileSync(file);
    const size = `${(statSync(file).size / 2 ** 20).toFixed(0)} MiB`;
    const row = (what: string, r: Run): string =>
      `| ${name}, ${size} | ${what} | ${fmt(r.packets)} | ${fmt(r.wallMs)} | ${fmt((r.packets / r.wallMs) * 1000)} | ${fmt((r.packets / r.cpuMs) * 1000)} |`;
    // Each rep walks the capture bare, then decodes, then analyses it: every figure has a reference measured in
    // the same seconds (the machine's own speed swings 1.75x minute to minute here, the ratio much less).
    const dec = series();
    const an = series();
    const walks = series();
    for (let r = 0; r < reps; r++) {
      const w = bareWalk(data);
      record(walks, w, w);
      const d = decodeOnly(data);
      record(dec, d, w);
      const a = analyze(data);
      record(an, a, w);
      process.stderr.write(
        `${name} rep ${r + 1}: decode ${fmt(perCpuSecond(d))}, analyze ${fmt(perCpuSecond(a))}, bare walk ${fmt(perCpuSecond(w))} pkt/s per CPU-s\n`,
      );
    }
    lines.push(row(`read + decode + reassembly (best of ${reps})`, dec.best));
    lines.push(row(`read + decode + features + window + inventory (best of ${reps})`, an.best));
    lines.push(row(`reference: bare walk over the same headers, no state (best of ${reps})`, walks.best));
    const share = (what: string, s: Series): string =>
      `| ${name}, ${size} | ${what}: median of ${reps} reps per CPU-second, and its share of the bare walk run just before (min-max) | | | | ${fmt(median(s.rates))} = ${median(s.ratios).toFixed(3)} (${Math.min(...s.ratios).toFixed(3)}-${Math.max(...s.ratios).toFixed(3)}) |`;
    lines.push(share('decode', dec));
    lines.push(share('decode + features + window + inventory', an));
    // The same reps split: the cold ones (V8 compiling the path) and the median of the warm ones.
    const split = (what: string, s: Series): string => {
      const cold = s.rates.slice(0, coldReps).map(fmt).join(' / ');
      const other = s.others.map((x) => (Number.isNaN(x) ? '?' : fmt(x))).join(' / ');
      return `| ${name}, ${size} | ${what}: cold ${coldReps === 1 ? 'rep 1' : `reps 1-${coldReps}`} per CPU-second ${cold}; warm reps ${coldReps + 1}-${reps}: median per CPU-second, share of the walk (CPU ms of V8's other threads, rep by rep: ${other}) | | | | ${fmt(median(s.rates.slice(coldReps)))} = ${median(s.ratios.slice(coldReps)).toFixed(3)} |`;
    };
    if (coldReps > 0) {
      lines.push(split('decode', dec));
      lines.push(split('decode + features + window + inventory', an));
    }
    if (!args['no-tshark']) {
      const limit =
        args['tshark-packets'] === undefined ? undefined : num('tshark-packets', args['tshark-packets']);
      const n = Math.min(limit ?? packets, packets);
      const ms = await tsharkMs(file, limit);
      lines.push(
        `| ${name}, ${size} | ${version}, oracle fields | ${fmt(n)} | ${fmt(ms)} | ${fmt((n / ms) * 1000)} | |`,
      );
      lines.push(
        `| ${name}, ${size} | ratio features pipeline / tshark (wall) | | | ${(an.best.packets / an.best.wallMs / (n / ms)).toFixed(0)}x | |`,
      );
    }
  }
  process.stderr.write(`(checksum ${checksum})\n`);
  process.stdout.write(lines.join('\n') + '\n');
}

await main();
