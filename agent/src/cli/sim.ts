// `vigil-agent sim`: writes a simulated plant's traffic as a pcap, with per-frame labels.
//   vigil-agent sim --topology water-a --seed 7 --minutes 10 [--attack port-scan@120s ...] --out F.pcap [--labels F.csv]
// With --speed 1 the capture is written live (e.g. `--out - | vigil-agent decode -`).
// `vigil-agent sim --list` prints the topologies and attacks. A summary (frames per technique) goes to stderr.
import { open } from 'node:fs/promises';
import { finished } from 'node:stream/promises';
import type { Command } from 'commander';
import { z } from 'zod';
import { UsageError } from '@vigil/shared';
import { ATTACK_NAMES, attackDef, type AttackSpec } from '../sim/attacks.js';
import { streamSimulation, writeSimulation, type SimulationSummary } from '../sim/output.js';
import { Simulator } from '../sim/simulator.js';
import { parseAttackSpec } from '../sim/spec.js';
import { TOPOLOGIES, TOPOLOGY_NAMES } from '../sim/topology.js';

/** Default simulated start: a Monday 08:00 UTC (time of day drives the daily variation). */
export const DEFAULT_START = '2026-01-05T08:00:00Z';

const optionsSchema = z.object({
  topology: z.enum(TOPOLOGY_NAMES as [string, ...string[]], {
    error: `--topology must be one of ${TOPOLOGY_NAMES.join(', ')}`,
  }),
  seed: z.coerce
    .number({ error: '--seed must be an integer' })
    .int('--seed must be an integer')
    .min(0, '--seed must be 0..4294967295')
    .max(0xffffffff, '--seed must be 0..4294967295'),
  minutes: z.coerce
    .number({ error: '--minutes must be a number' })
    .positive('--minutes must be positive')
    .max(7 * 24 * 60, '--minutes is at most a week'),
  start: z
    .string()
    .refine((s) => !Number.isNaN(Date.parse(s)), '--start must be an ISO date, e.g. 2026-01-05T08:00:00Z'),
  out: z.string({ error: '--out FILE.pcap is required (or - for standard output)' }).min(1),
  labels: z.string().min(1).optional(),
  background: z.boolean(),
  speed: z.coerce
    .number({ error: '--speed must be a number' })
    .positive('--speed must be positive (1 = real time)')
    .optional(),
});

export interface SimCommandOptions {
  topology?: string;
  seed?: string;
  minutes?: string;
  start?: string;
  attack?: string[];
  out?: string;
  labels?: string;
  background?: boolean;
  list?: boolean;
  speed?: string;
}

export function listing(): string {
  const lines = ['topologies:'];
  for (const t of Object.values(TOPOLOGIES)) lines.push(`  ${t.name.padEnd(22)} ${t.description}`);
  lines.push('attacks (NAME@TIME[:src=IP,target=IP,duration=60s,rate=1]):');
  for (const a of ATTACK_NAMES) {
    const d = attackDef(a);
    lines.push(
      `  ${a.padEnd(22)} ${d.techniques.join(',').padEnd(24)} ${d.description} (default ${d.defaultDurationS}s)`,
    );
  }
  return lines.join('\n') + '\n';
}

export async function runSim(
  opts: SimCommandOptions,
  stdout: NodeJS.WritableStream,
  stderr: NodeJS.WritableStream,
): Promise<SimulationSummary | undefined> {
  if (opts.list === true) {
    stdout.write(listing());
    return undefined;
  }
  const parsed = optionsSchema.safeParse({
    ...opts,
    start: opts.start ?? DEFAULT_START,
    background: opts.background ?? true,
  });
  if (!parsed.success) throw new UsageError(parsed.error.issues[0]?.message ?? 'bad options');
  const o = parsed.data;
  let attacks: AttackSpec[];
  try {
    attacks = (opts.attack ?? []).map(parseAttackSpec);
  } catch (e) {
    throw new UsageError(e instanceof Error ? e.message : String(e));
  }
  let sim: Simulator;
  try {
    sim = new Simulator({
      topology: o.topology,
      seed: o.seed,
      startMs: Date.parse(o.start),
      durationS: o.minutes * 60,
      attacks,
      background: o.background,
    });
  } catch (e) {
    throw new UsageError(`${e instanceof Error ? e.message : String(e)} (see vigil-agent sim --list)`);
  }
  const pcap = await openOutput(o.out, stdout);
  const labels = o.labels === undefined ? undefined : await openOutput(o.labels, stdout);
  const summary =
    o.speed === undefined
      ? await writeSimulation(sim, { pcap, labels })
      : await streamSimulation(sim, { pcap, labels }, { speed: o.speed });
  for (const [s, path] of [
    [pcap, o.out],
    [labels, o.labels],
  ] as const) {
    if (s === undefined || s === stdout) continue;
    s.end();
    try {
      await finished(s);
    } catch (e) {
      throw new UsageError(`cannot write ${path ?? ''}: ${errorCode(e)} (give a writable path)`);
    }
  }
  stderr.write(
    JSON.stringify({
      topology: o.topology,
      seed: o.seed,
      frames: summary.frames,
      attacks: sim.attacks.map((a) => ({ ...a.spec, source: a.source, startUs: a.startUs, endUs: a.endUs })),
      techniques: summary.techniques,
    }) + '\n',
  );
  return summary;
}

function errorCode(e: unknown): string {
  return (e as NodeJS.ErrnoException).code ?? (e instanceof Error ? e.message : String(e));
}

/** Opens an output file before the simulation starts, so a bad path is a usage error and nothing is generated. */
async function openOutput(path: string, stdout: NodeJS.WritableStream): Promise<NodeJS.WritableStream> {
  if (path === '-') return stdout;
  try {
    const fh = await open(path, 'w');
    return fh.createWriteStream();
  } catch (e) {
    throw new UsageError(`cannot write ${path}: ${errorCode(e)} (give a writable path)`);
  }
}

export function registerSim(program: Command): void {
  program
    .command('sim')
    .description(
      "simulate a plant's network traffic (Modbus, MQTT, DNS, HTTP) with labeled attacks and write it as pcap",
    )
    .option('--topology <name>', `facility topology: ${TOPOLOGY_NAMES.join(', ')}`)
    .option('--seed <n>', 'random seed: the same seed and topology give the same capture', '1')
    .option('--minutes <m>', 'simulated minutes', '10')
    .option('--start <iso>', 'simulated start time (time of day drives daily variation)', DEFAULT_START)
    .option(
      '--attack <spec>',
      'inject an attack, NAME@TIME[:src=IP,target=IP,duration=60s,rate=1] (repeatable)',
      (v: string, prev: string[] = []) => [...prev, v],
    )
    .option('--out <file>', 'pcap to write (- for standard output)')
    .option('--labels <file>', 'per-frame labels to write: frame;label;technique;attack')
    .option(
      '--speed <x>',
      'play the capture live at x times real time (1 = real time); default: as fast as possible',
    )
    .option('--no-background', "only the attacks, without the plant's normal traffic")
    .option('--list', 'list the topologies and attacks', false)
    .action(async (opts: SimCommandOptions) => {
      await runSim(opts, process.stdout, process.stderr);
    });
}
