// Compares our accountants with Google's dp-accounting (PyPI, pinned in deploy/python-requirements.txt, installed
// into .venv by deploy/python-venv.sh) on 20 random queries per run. Runtime: about 30 s on 2 cores (the first run
// also creates the venv, about 45 s).
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { oraclePython } from '@vigil/shared/testing';
import { prvEpsilon } from './prv.js';
import { rdpEpsilon, type AccountingQuery } from './rdp.js';

const oracle = fileURLToPath(new URL('./dp_accounting_oracle.py', import.meta.url));
const CASES = 20;

let python = '';

beforeAll(() => {
  python = oraclePython();
  if (python === '') return;
});

function logUniform(lo: number, hi: number): number {
  return Math.exp(Math.log(lo) + Math.random() * (Math.log(hi) - Math.log(lo)));
}

describe('accountants against dp-accounting', () => {
  it(`agree on ${CASES} random queries (RDP within 1e-3 relative, PRV within 2% of PLD)`, async (ctx) => {
    if (!python) ctx.skip();
    const queries: AccountingQuery[] = Array.from({ length: CASES }, () => ({
      sigma: 0.7 + Math.random() * 2.3,
      sampleRate: logUniform(1e-3, 0.05),
      steps: Math.round(logUniform(100, 10_000)),
      delta: logUniform(1e-7, 1e-4),
    }));
    const run = promisify(execFile)(python, [oracle], { timeout: 240_000, maxBuffer: 1 << 20 });
    run.child.stdin?.end(JSON.stringify(queries));
    const { stdout } = await run;
    const want = JSON.parse(stdout) as { rdp: number; pld: number }[];
    expect(want).toHaveLength(CASES);
    queries.forEach((q, i) => {
      const label = JSON.stringify(q);
      // dp-accounting sums the fractional-order series in absolute value (see FractionalSeries): compare that
      // variant within 1e-3, and check the Opacus (signed) default is never looser than it.
      const rdp = rdpEpsilon(q, { series: 'absolute' }).epsilon;
      expect(rdpEpsilon(q).epsilon).toBeLessThanOrEqual(rdp * (1 + 1e-9));
      expect(
        Math.abs(rdp - want[i]!.rdp) / want[i]!.rdp,
        `rdp ${label}: ours ${rdp}, theirs ${want[i]!.rdp}`,
      ).toBeLessThan(1e-3);
      const prv = prvEpsilon(q).epsilon;
      expect(
        Math.abs(prv - want[i]!.pld) / want[i]!.pld,
        `prv ${label}: ours ${prv}, theirs ${want[i]!.pld}`,
      ).toBeLessThan(0.02);
    });
  }, 300_000);
});
