// `vigil facilities add | list | remove`: the plants whose agents may report to this aggregator.
import type { Command } from 'commander';
import { isFacilityId, UsageError } from '@vigil/shared';
import { StoreConflictError } from '../store/types.js';
import { addStoreOptions, withStore, type StoreFlags } from './store-options.js';

interface AddFlags extends StoreFlags {
  name?: string;
}

interface ListFlags extends StoreFlags {
  json?: boolean;
}

export function registerFacilities(program: Command): void {
  const facilities = program
    .command('facilities')
    .description('manage the facilities (plants) that report alerts');

  addStoreOptions(
    facilities
      .command('add')
      .description('add a facility')
      .argument('<id>', 'facility id: lowercase letters, digits and -, 1 to 63 characters (e.g. plant-a)')
      .option('--name <name>', 'display name (default: the id)'),
  ).action(async (id: string, flags: AddFlags) => {
    if (!isFacilityId(id)) {
      throw new UsageError(
        `"${id}" is not a facility id; use lowercase letters, digits and -, 1 to 63 characters, e.g. plant-a`,
      );
    }
    const name = flags.name?.trim() || id;
    await withStore(flags, async (store) => {
      try {
        await store.addFacility({ id, name });
      } catch (err) {
        if (err instanceof StoreConflictError) {
          throw new UsageError(
            `facility ${id} already exists; choose another id (see vigil facilities list)`,
          );
        }
        throw err;
      }
      await store.audit({
        at: new Date().toISOString(),
        actor: 'cli',
        action: 'facility.add',
        target: id,
        details: { name },
      });
      process.stdout.write(`added facility ${id} (${name})\n`);
    });
  });

  addStoreOptions(
    facilities.command('list').description('list the facilities').option('--json', 'print JSON'),
  ).action(async (flags: ListFlags) => {
    await withStore(flags, async (store) => {
      const list = await store.listFacilities();
      if (flags.json === true) {
        process.stdout.write(`${JSON.stringify(list, null, 2)}\n`);
        return;
      }
      if (list.length === 0) {
        process.stdout.write('no facilities yet (add one with: vigil facilities add ID --name NAME)\n');
        return;
      }
      for (const f of list) {
        process.stdout.write(
          `${f.id}\t${f.name}\tadded ${f.created_at}${f.revoked_at ? `\trevoked ${f.revoked_at}` : ''}\n`,
        );
      }
    });
  });

  addStoreOptions(
    facilities
      .command('remove')
      .description('remove a facility and its agents (its alerts stay in the history)')
      .argument('<id>', 'facility id'),
  ).action(async (id: string, flags: StoreFlags) => {
    await withStore(flags, async (store) => {
      if (!(await store.removeFacility(id))) {
        throw new UsageError(`no facility ${id}; see vigil facilities list`);
      }
      await store.audit({
        at: new Date().toISOString(),
        actor: 'cli',
        action: 'facility.remove',
        target: id,
        details: {},
      });
      process.stdout.write(`removed facility ${id}\n`);
    });
  });
}
