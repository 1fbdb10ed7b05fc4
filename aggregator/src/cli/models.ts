// `vigil models list | rollback --to VERSION`: the registry of federated global models. A rollback makes an older
// version the active one; the running `vigil serve` (its model publisher) then pushes it to the agents, and the next
// round starts from it.
import type { Command } from 'commander';
import { UsageError } from '@vigil/shared';
import {
  GLOBAL_MODEL,
  ModelRegistry,
  UndescribedModelError,
  UnknownModelVersionError,
} from '../fl/registry.js';
import { addStoreOptions, withStore, type StoreFlags } from './store-options.js';

interface ListFlags extends StoreFlags {
  json?: boolean;
  limit: string;
}

interface RollbackFlags extends StoreFlags {
  to?: string;
}

function parseCount(raw: string, flag: string): number {
  const n = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(n) || n < 1)
    throw new UsageError(`${flag} "${raw}" is not a whole number >= 1`);
  return n;
}

export function registerModels(program: Command): void {
  const models = program.command('models').description('versions of the federated global model');

  addStoreOptions(
    models
      .command('list')
      .description('list model versions, newest first (* marks the active one)')
      .option('--limit <n>', 'how many versions', '50')
      .option('--json', 'print JSON'),
  ).action(async (flags: ListFlags) => {
    const limit = parseCount(flags.limit, '--limit');
    await withStore(flags, async (store) => {
      const page = await store.listModelVersions(limit, 0);
      if (flags.json === true) {
        process.stdout.write(`${JSON.stringify(page.items, null, 2)}\n`);
        return;
      }
      if (page.items.length === 0) {
        process.stdout.write('no model versions yet (a completed federated round stores one)\n');
        return;
      }
      for (const m of page.items) {
        const acc = m.model_accuracy === null ? '-' : m.model_accuracy.toFixed(4);
        const round = m.round_id === null ? '-' : String(m.round_id);
        process.stdout.write(
          `${m.active ? '*' : ' '} v${m.version}  ${m.name}  round ${round}  accuracy ${acc}  ${m.parameters} parameters  created ${m.created_at}  sha256 ${m.sha256.slice(0, 12)}\n`,
        );
      }
    });
  });

  addStoreOptions(
    models
      .command('rollback')
      .description('make an earlier version active again; vigil serve pushes it to the agents')
      .option('--to <version>', 'the version to return to (see vigil models list)'),
  ).action(async (flags: RollbackFlags) => {
    if (flags.to === undefined)
      throw new UsageError('models rollback: --to VERSION is required (see vigil models list)');
    const version = parseCount(flags.to.replace(/^v/i, ''), '--to');
    await withStore(flags, async (store) => {
      let model;
      try {
        model = await new ModelRegistry(store).rollback(version);
      } catch (err) {
        if (err instanceof UnknownModelVersionError)
          throw new UsageError(
            `models rollback: there is no model version ${version} (see vigil models list)`,
          );
        if (err instanceof UndescribedModelError) throw new UsageError(`models rollback: ${err.message}`);
        throw err;
      }
      await store.audit({
        at: new Date().toISOString(),
        actor: 'cli',
        action: 'model.rollback',
        target: String(version),
        details: { name: model.name },
      });
      process.stdout.write(
        `${model.name} v${model.version} is active again; a running vigil serve pushes it to the agents${model.name === GLOBAL_MODEL ? ' and the next round starts from it' : ''}\n`,
      );
    });
  });
}
