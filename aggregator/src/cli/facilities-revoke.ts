// `vigil facilities revoke <id>`: cuts a facility's agents off. A running `vigil serve` notices within ~250 ms (it
// polls the store), closes their open streams and refuses their certificates from then on. Joins the `facilities`
// command when another module registered it, else creates it.
import type { Command } from 'commander';
import { UsageError } from '@vigil/shared';
import { addStoreOptions, withStore, type StoreFlags } from './store-options.js';

export function registerFacilityRevoke(program: Command): void {
  const facilities =
    program.commands.find((c) => c.name() === 'facilities') ??
    program.command('facilities').description('manage the facilities (plants) that report alerts');
  addStoreOptions(
    facilities
      .command('revoke')
      .description(
        "revoke a facility: its agents' certificates are refused and open streams closed within a second",
      )
      .argument('<id>', 'facility id'),
  ).action(async (id: string, o: StoreFlags) => {
    await withStore(o, async (store) => {
      const at = new Date().toISOString();
      if (!(await store.revokeFacility(id, at))) {
        const f = await store.getFacility(id);
        throw new UsageError(
          f
            ? `facility ${id} was already revoked at ${f.revoked_at}`
            : `no facility ${id}; see vigil facilities list`,
        );
      }
      await store.audit({ at, actor: 'cli', action: 'facility.revoke', target: id, details: {} });
      process.stdout.write(`revoked facility ${id}\n`);
    });
  });
}
