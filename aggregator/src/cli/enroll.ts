// `vigil enroll create --facility plant-a [--expires 24h]`: prints a one-time agent enrollment token as its last line.
// Uses the same --db and --data-dir as `vigil serve` (the CA lives in the data directory; made here if new).
import type { Command } from 'commander';
import { resolveDataDir } from '../config.js';
import { CertificateAuthority } from '../link/ca.js';
import { createEnrollmentToken, parseLifetime } from '../link/enrollment.js';
import { addStoreOptions, withStore } from './store-options.js';

export function registerEnroll(program: Command): void {
  const enroll = program
    .command('enroll')
    .description('enroll agents: one-time tokens for `vigil-agent enroll`');
  addStoreOptions(
    enroll
      .command('create')
      .description(
        'create a one-time enrollment token for a facility (created if new); the token is the last line',
      )
      .requiredOption('--facility <id>', 'facility id, e.g. plant-a')
      .option('--expires <lifetime>', 'how long the token is valid: 30m, 24h, 7d (max 30d)', '24h'),
  ).action(async (o: { facility: string; expires: string; db?: string; dataDir?: string }) => {
    const lifetimeMs = parseLifetime(o.expires);
    const dataDir = resolveDataDir(o.dataDir);
    const ca = await CertificateAuthority.open(dataDir);
    await withStore(o, async (store) => {
      const r = await createEnrollmentToken(store, ca, {
        facilityId: o.facility,
        lifetimeMs,
        now: Date.now(),
      });
      if (r.facilityCreated) process.stdout.write(`added facility ${o.facility}\n`);
      process.stdout.write(
        `one-time token for ${o.facility}, valid until ${r.expiresAt}; on the plant run:\n` +
          `  vigil-agent enroll --aggregator HOST:PORT --token <token> --data-dir DIR\n`,
      );
      process.stdout.write(`${r.token}\n`);
    });
  });
}
