// `npm run bench:decode`: decode throughput against tshark on a generated 2M-packet Modbus/TCP capture, and the
// memory of 100k concurrent flows. Prints a Markdown report (copied into bench/RESULTS.md with date and machine).
//
// Options: --packets N (2,000,000)  --flows N client connections in the capture (1,000)  --reps N (3)
//          --tshark-packets N (all)  --no-tshark  --no-cli  --rss-flows N (100,000)  --no-jit-tune
// The capture is written by our own generator to .cache/bench/ under the repository root (not committed).
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, statSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { PacketClock } from '../src/capture/packet-clock.js';
import { CaptureParser } from '../src/capture/pcap.js';
import { DecodePipeline } from '../src/decode/pipeline.js';
import { INLINE_BUDGET_BYTES, tuneJit } from '../src/jit.js';
import { bareWalk } from './bare-walk.js';
import { writeModbusCapture } from './modbus-capture.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..', '..');

const { values: args } = parseArgs({
  options: {
    packets: { type: 'string', default: '2000000' },
    flows: { type: 'string', default: '1000' },
    reps: { type: 'string', default: '3' },
    'tshark-packets': { type: 'string' },
    'no-tshark': { type: 'boolean', default: false },
    'no-cli': { type: 'boolean', default: false },
    'rss-flows': { type: 'string', default: '100000' },
    'no-jit-tune': { type: 'boolean', default: false },
  },
});

function num(name: string, v: string | undefined): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} must be a positive integer, got ${v}`);
  return n;
}

const fmt = (x: number): string => Math.round(x).toLocaleString('en-US');

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? (s[m] ?? 0) : ((s[m - 1] ?? 0) + (s[m] ?? 0)) / 2;
}

/** The capture + decode + reassembly path over a capture held in memory, in 4 MB chunks as a file read gives. */
function decodeOnce(data: Buffer): { packets: number; events: number; wallMs: number; cpuMs: number } {
  const clock = new PacketClock();
  let events = 0;
  const pipeline = new DecodePipeline({ clock, onEvent: () => events++ });
  let packets = 0;
  const parser = new CaptureParser({
    file: 'bench',
    onPacket: (p) => {
      packets++;
      clock.observe(p.tsSec, p.tsNsec);
      pipeline.handle(p);
    },
  });
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const CHUNK = 4 * 1024 * 1024;
  for (let o = 0; o < data.length; o += CHUNK) parser.push(data.subarray(o, o + CHUNK));
  parser.end();
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const s = pipeline.stats();
  if (s.counters.internal_error !== undefined)
    throw new Error(`internal error: ${JSON.stringify(s.internalError)}`);
  return { packets, events, wallMs, cpuMs: (cpu.user + cpu.system) / 1000 };
}

async function timeCommand(cmd: string, argv: string[]): Promise<number> {
  const t0 = performance.now();
  await new Promise<void>((res, rej) => {
    const child = spawn(cmd, argv, { stdio: ['ignore', openSync('/dev/null', 'w'), 'ignore'] });
    child.on('error', rej);
    child.on('exit', (code) => (code === 0 ? res() : rej(new Error(`${cmd} exited with ${code}`))));
  });
  return performance.now() - t0;
}

async function main(): Promise<void> {
  // As the vigil-agent process runs (src/cli/main.ts); --no-jit-tune keeps V8's default inlining budget.
  if (!args['no-jit-tune']) tuneJit();
  const jit = args['no-jit-tune']
    ? 'V8 default inlining budget (--no-jit-tune)'
    : `V8 inlining budget ${INLINE_BUDGET_BYTES} bytes (tuneJit, as vigil-agent)`;
  const packets = num('packets', args.packets);
  const flows = num('flows', args.flows);
  const reps = num('reps', args.reps);
  const dir = join(ROOT, '.cache', 'bench');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `modbus-${packets}-${flows}.pcap`);
  if (!existsSync(file)) {
    const t0 = performance.now();
    await writeModbusCapture({ path: file, packets, flows });
    process.stderr.write(`generated ${file} in ${fmt(performance.now() - t0)} ms\n`);
  }
  const size = statSync(file).size;
  const data = readFileSync(file);
  const lines: string[] = [];
  lines.push(
    `Capture: ${fmt(packets)} packets, ${flows} client connections, ${(size / 2 ** 20).toFixed(0)} MiB (bench/modbus-capture.ts)`,
  );
  lines.push(
    `Machine: ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), node ${process.version}; ${jit}`,
  );
  lines.push('');
  lines.push('| what | packets | wall ms | pkt/s (wall) | pkt/s per CPU-second |');
  lines.push('|---|---:|---:|---:|---:|');

  // Each rep walks the capture bare just before decoding it, so that every pipeline figure has a reference measured
  // in the same seconds: the machine's own speed swings (1.75x minute to minute here), the ratio much less.
  let best = { packets: 0, events: 0, wallMs: Infinity, cpuMs: Infinity };
  let walk = { packets: 0, wallMs: Infinity, cpuMs: Infinity };
  const ratios: number[] = [];
  const cpuRates: number[] = [];
  for (let r = 0; r < reps; r++) {
    const w = bareWalk(data);
    if (w.wallMs < walk.wallMs) walk = w;
    const res = decodeOnce(data);
    const rate = (res.packets / res.cpuMs) * 1000;
    const ratio = rate / ((w.packets / w.cpuMs) * 1000);
    cpuRates.push(rate);
    ratios.push(ratio);
    process.stderr.write(
      `decode rep ${r + 1}: ${fmt((res.packets / res.wallMs) * 1000)} pkt/s wall, ${fmt(rate)} per CPU-s, ${ratio.toFixed(3)} of the bare walk\n`,
    );
    if (res.wallMs < best.wallMs) best = res;
  }
  const oursRate = (best.packets / best.wallMs) * 1000;
  lines.push(
    `| pipeline: read + decode + reassembly + Modbus events (best of ${reps}) | ${fmt(best.packets)} | ${fmt(best.wallMs)} | ${fmt(oursRate)} | ${fmt((best.packets / best.cpuMs) * 1000)} |`,
  );
  lines.push(
    `| reference: bare walk over the same headers, no state (best of ${reps}) | ${fmt(walk.packets)} | ${fmt(walk.wallMs)} | ${fmt((walk.packets / walk.wallMs) * 1000)} | ${fmt((walk.packets / walk.cpuMs) * 1000)} |`,
  );
  const ratioLine = `Pipeline per CPU-second, median of ${reps} reps: ${fmt(median(cpuRates))} pkt/s; as a share of the bare walk run just before each rep: median ${median(ratios).toFixed(3)} (${Math.min(...ratios).toFixed(3)}-${Math.max(...ratios).toFixed(3)})`;
  if (!args['no-cli']) {
    const bin = join(ROOT, 'agent', 'bin', 'vigil-agent.js');
    const ms = await timeCommand(process.execPath, [bin, 'decode', file, '--format', 'jsonl']);
    lines.push(
      `| \`vigil-agent decode --format jsonl\` to /dev/null (JSON printing included) | ${fmt(packets)} | ${fmt(ms)} | ${fmt((packets / ms) * 1000)} | |`,
    );
  }

  if (!args['no-tshark']) {
    const limit =
      args['tshark-packets'] === undefined ? packets : num('tshark-packets', args['tshark-packets']);
    const fields = [
      '-T',
      'fields',
      '-e',
      'frame.number',
      '-e',
      'mbtcp.trans_id',
      '-e',
      'mbtcp.unit_id',
      '-e',
      'modbus.func_code',
      '-e',
      'modbus.exception_code',
    ];
    const argv = ['-r', file, ...(limit < packets ? ['-c', String(limit)] : []), ...fields];
    const version = execFileSync('tshark', ['--version']).toString().split('\n')[0] ?? 'tshark';
    const ms = await timeCommand('tshark', argv);
    const rate = (limit / ms) * 1000;
    lines.push(`| ${version} field extraction (same fields) | ${fmt(limit)} | ${fmt(ms)} | ${fmt(rate)} | |`);
    lines.push('');
    lines.push(`Ratio pipeline / tshark (wall): ${(oursRate / rate).toFixed(0)}x`);
  }

  lines.push('');
  lines.push(ratioLine);

  const rssFlows = num('rss-flows', args['rss-flows']);
  // A fresh plain `node` on the compiled code (npm run build first), as the agent runs in production.
  const loader = join(ROOT, 'agent', 'dist', 'testing', 'flow-load.js');
  const script = `import(${JSON.stringify(loader)}).then((m) => process.stdout.write(JSON.stringify(m.loadFlows(${rssFlows}))))`;
  const child = execFileSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script]);
  const rss = JSON.parse(child.toString()) as {
    flows: number;
    rssBeforeMb: number;
    rssMb: number;
    heapMb: number;
  };
  lines.push('');
  lines.push(
    `RSS with ${fmt(rss.flows)} concurrent flows (each with a partial PDU buffered): ${rss.rssMb.toFixed(0)} MB (process before the pipeline: ${rss.rssBeforeMb.toFixed(0)} MB; heap ${rss.heapMb.toFixed(0)} MB)`,
  );
  process.stdout.write(lines.join('\n') + '\n');
}

await main();
