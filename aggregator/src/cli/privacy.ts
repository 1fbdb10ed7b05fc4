// `vigil privacy epsilon`: the privacy spent by DP-SGD training, from the accountants in @vigil/models.
// Prints epsilon first (6 significant digits) on its own line, then the inputs and accountant details.
import type { Command } from 'commander';
import { z } from 'zod';
import { UsageError } from '@vigil/shared';
import { prvEpsilon, rdpEpsilon } from '@vigil/models';

export interface CliOutput {
  out(text: string): void;
}

const numeric = (name: string) =>
  z
    .string()
    .trim()
    .regex(/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i, `--${name} must be a number`)
    .transform(Number);

const EpsilonArgs = z.object({
  sigma: numeric('sigma').pipe(z.number().positive('--sigma must be > 0').finite()),
  sampleRate: numeric('sample-rate').pipe(
    z.number().gt(0, '--sample-rate must be in (0, 1]').lte(1, '--sample-rate must be in (0, 1]'),
  ),
  steps: numeric('steps').pipe(
    z
      .number()
      .int('--steps must be a whole number')
      .nonnegative('--steps must be >= 0')
      .lte(1e9, '--steps must be at most 1e9'),
  ),
  delta: numeric('delta').pipe(
    z.number().gt(0, '--delta must be in (0, 1)').lt(1, '--delta must be in (0, 1)'),
  ),
  accountant: z.enum(['rdp', 'prv'], { message: '--accountant must be rdp or prv' }),
});

export type EpsilonArgs = z.infer<typeof EpsilonArgs>;

export function parseEpsilonArgs(raw: Record<string, unknown>): EpsilonArgs {
  const r = EpsilonArgs.safeParse(raw);
  if (!r.success) {
    const first = r.error.issues[0];
    const msg = first?.message ?? 'invalid arguments';
    throw new UsageError(`privacy epsilon: ${msg} (see vigil privacy epsilon --help)`);
  }
  return r.data;
}

export function epsilonReport(args: EpsilonArgs): string {
  const query = { sigma: args.sigma, sampleRate: args.sampleRate, steps: args.steps, delta: args.delta };
  const lines: string[] = [];
  if (args.accountant === 'rdp') {
    const { epsilon, order } = rdpEpsilon(query);
    lines.push(epsilon.toPrecision(6), `accountant: rdp (Opacus orders, Balle et al. 2020 conversion)`);
    lines.push(`optimal order: ${order}`);
  } else {
    const { epsilon, mesh } = prvEpsilon(query);
    lines.push(
      epsilon.toPrecision(6),
      `accountant: prv (numerical composition, mesh ${mesh.toExponential(2)})`,
    );
  }
  lines.push(
    `sigma: ${args.sigma}`,
    `sample rate: ${args.sampleRate}`,
    `steps: ${args.steps}`,
    `delta: ${args.delta}`,
  );
  return lines.join('\n') + '\n';
}

export function registerPrivacy(
  program: Command,
  io: CliOutput = { out: (t) => void process.stdout.write(t) },
): void {
  const privacy = program
    .command('privacy')
    .description('differential-privacy accounting for DP-SGD training');
  privacy
    .command('epsilon')
    .description('epsilon spent by DP-SGD with Poisson sampling (prints epsilon first)')
    .requiredOption('--sigma <s>', 'noise multiplier (noise std / clipping norm)')
    .requiredOption('--sample-rate <q>', 'Poisson sampling rate per step, in (0, 1]')
    .requiredOption('--steps <n>', 'number of training steps')
    .requiredOption('--delta <d>', 'target delta, in (0, 1)')
    .option('--accountant <name>', 'rdp or prv', 'rdp')
    .action((opts: Record<string, unknown>) => {
      io.out(epsilonReport(parseEpsilonArgs(opts)));
    });
}
