import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { UsageError } from '@vigil/shared';
import { registerPrivacy } from './privacy.js';

async function run(args: string[]): Promise<string> {
  let text = '';
  const program = new Command('vigil').exitOverride();
  registerPrivacy(program, { out: (t) => (text += t) });
  await program.parseAsync(['node', 'vigil', 'privacy', 'epsilon', ...args]);
  return text;
}

const REF = ['--sigma', '1.0', '--sample-rate', '0.01', '--steps', '1000', '--delta', '1e-5'];

describe('vigil privacy epsilon', () => {
  it('prints the RDP epsilon first with at least 4 significant digits', async () => {
    const out = await run(REF);
    const first = out.split('\n')[0]!;
    expect(first).toMatch(/^\d\.\d{3,}$/);
    expect(Number(first)).toBeCloseTo(2.101, 3);
    expect(out).toContain('accountant: rdp');
  });

  it('prints the PRV epsilon when asked', async () => {
    const out = await run([...REF, '--accountant', 'prv']);
    expect(Math.abs(Number(out.split('\n')[0]) - 1.83) / 1.83).toBeLessThan(0.01);
  });

  for (const [what, args, msg] of [
    ['a non-number sigma', ['--sigma', 'abc'], /--sigma must be a number/],
    ['a zero sample rate', ['--sample-rate', '0'], /--sample-rate must be in \(0, 1\]/],
    ['fractional steps', ['--steps', '2.5'], /--steps must be a whole number/],
    ['delta of 1', ['--delta', '1'], /--delta must be in \(0, 1\)/],
    ['an unknown accountant', ['--accountant', 'gdp'], /--accountant must be rdp or prv/],
  ] as const) {
    it(`rejects ${what} with a usage error`, async () => {
      // commander keeps the last value of a repeated option, so appending overrides the good one
      const err = await run([...REF, ...args]).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UsageError);
      expect((err as UsageError).message).toMatch(msg);
    });
  }

  it('exits with code 2 on bad input through the real binary', async (ctx) => {
    const bin = fileURLToPath(new URL('../../bin/vigil.js', import.meta.url));
    const built = fileURLToPath(new URL('../../dist/cli/privacy.js', import.meta.url));
    if (!existsSync(built)) ctx.skip(); // `npm test` builds first; a scoped run without a build has no binary
    const err = await promisify(execFile)('node', [bin, 'privacy', 'epsilon', ...REF, '--steps', '-3']).catch(
      (e: unknown) => e as { code: number; stderr: string },
    );
    expect(err).toMatchObject({ code: 2 });
    expect((err as { stderr: string }).stderr).toMatch(/--steps must be >= 0/);
  });
});
