// `vigil migrate`: create the database when new and bring its schema up to date.
import type { Command } from 'commander';
import { redactDbUrl } from '../config.js';
import { MIGRATIONS } from '../store/migrations/index.js';
import { addStoreOptions, withStore, type StoreFlags } from './store-options.js';

export function registerMigrate(program: Command): void {
  addStoreOptions(
    program
      .command('migrate')
      .description('create the database if it is new and apply pending schema migrations (safe to repeat)'),
  ).action(async (flags: StoreFlags) => {
    let applied: number[] = [];
    await withStore(
      flags,
      (_store, url) => {
        const latest = MIGRATIONS[MIGRATIONS.length - 1]?.version ?? 0;
        process.stdout.write(
          applied.length > 0
            ? `applied migration${applied.length > 1 ? 's' : ''} ${applied.join(', ')} to ${redactDbUrl(url)}\n`
            : `${redactDbUrl(url)} is up to date (schema version ${latest})\n`,
        );
        return Promise.resolve();
      },
      { onMigrated: (versions) => (applied = versions) },
    );
  });
}
