// The privacy ledger with central-DP noise against Google's dp-accounting (PyPI, pinned in
// deploy/python-requirements.txt, installed into .venv by deploy/python-venv.sh): random facilities' round histories
// (local DP-SGD of each round, and in some rounds the central Gaussian noise of the released model) charged round by
// round with chargeRound, compared with the oracle's epsilon (privacy_oracle.py). Runtime: about 5 s once the venv
// exists.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { seededRng } from '@vigil/models';
import { oraclePython } from '@vigil/shared/testing';
import type { PrivacyAccount } from '../store/types.js';
import { chargeRound, type DpSpend } from './privacy.js';

const oracle = fileURLToPath(new URL('./privacy_oracle.py', import.meta.url));
const CASES = 16;

let python = '';

beforeAll(() => {
  python = oraclePython();
  if (python === '') return;
});

interface Round {
  local: DpSpend[];
  central: number | null;
}

describe('privacy ledger with central DP against dp-accounting', () => {
  it(`charges ${CASES} random round histories as dp-accounting composes them (within 1e-3 relative)`, async (ctx) => {
    if (!python) ctx.skip();
    const rng = seededRng(2026);
    const logUniform = (lo: number, hi: number): number =>
      Math.exp(Math.log(lo) + rng.next() * (Math.log(hi) - Math.log(lo)));
    const cases = Array.from({ length: CASES }, () => ({
      delta: logUniform(1e-7, 1e-4),
      rounds: Array.from({ length: 1 + Math.floor(rng.next() * 4) }, (): Round => ({
        local: Array.from({ length: 1 + Math.floor(rng.next() * 2) }, () => ({
          sigma: 0.7 + rng.next() * 2.3,
          sampleRate: logUniform(1e-3, 0.05),
          steps: Math.round(logUniform(10, 500)),
        })),
        central: rng.next() < 0.7 ? logUniform(0.5, 30) : null,
      })),
    }));
    const run = promisify(execFile)(python, [oracle], { timeout: 120_000, maxBuffer: 1 << 20 });
    run.child.stdin?.end(JSON.stringify(cases));
    const want = JSON.parse((await run).stdout) as number[];

    expect(want).toHaveLength(CASES);
    let centralWon = 0;
    cases.forEach((c, i) => {
      let account: PrivacyAccount | null = null;
      let localOnly: PrivacyAccount | null = null;
      const policy = { delta: c.delta, epsilonBudget: 1e9 };
      for (const r of c.rounds) {
        const o = { facilityId: 'f', spends: r.local, examples: 1, at: '2026-11-22T12:00:00Z', policy };
        account = chargeRound(account, { ...o, central: r.central ?? undefined });
        localOnly = chargeRound(localOnly, o);
      }
      const ours = account!.epsilon;
      expect(
        Math.abs(ours - want[i]!) / want[i]!,
        `${JSON.stringify(c)}: ours ${ours}, theirs ${want[i]}`,
      ).toBeLessThan(1e-3);
      expect(ours).toBeLessThanOrEqual(localOnly!.epsilon * (1 + 1e-12));
      if (ours < 0.99 * localOnly!.epsilon) centralWon++;
    });
    // the cases exercise both sides: central noise that lowers epsilon, and central noise too weak to matter
    expect(centralWon).toBeGreaterThan(0);
    expect(centralWon).toBeLessThan(CASES);
  }, 180_000);
});
