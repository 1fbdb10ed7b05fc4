// `vigil tokens create | list | revoke`: bearer tokens for the dashboard API. The secret is printed once, on
// stdout alone (so `TOKEN=$(vigil tokens create --role viewer)` works); the store keeps only its hash.
import { randomUUID } from 'node:crypto';
import { Option, type Command } from 'commander';
import { UsageError } from '@vigil/shared';
import { generateTokenSecret, hashTokenSecret } from '../store/token-secret.js';
import { ROLES, type Role } from '../store/types.js';
import { addStoreOptions, withStore, type StoreFlags } from './store-options.js';

interface CreateFlags extends StoreFlags {
  role: Role;
  name?: string;
}

interface ListFlags extends StoreFlags {
  json?: boolean;
}

export function registerTokens(program: Command): void {
  const tokens = program.command('tokens').description('manage API tokens (roles: viewer, operator, admin)');

  addStoreOptions(
    tokens
      .command('create')
      .description('create a token and print its secret once')
      .addOption(
        new Option(
          '--role <role>',
          'viewer: reads; operator: alert status, FL, demo; admin: facilities and tokens',
        )
          .choices(ROLES)
          .makeOptionMandatory(),
      )
      .option('--name <name>', 'what the token is for (default: the role)'),
  ).action(async (flags: CreateFlags) => {
    const name = flags.name?.trim() || flags.role;
    const secret = generateTokenSecret();
    const id = randomUUID();
    await withStore(flags, async (store) => {
      await store.createToken({ id, name, role: flags.role, hash: hashTokenSecret(secret) });
      await store.audit({
        at: new Date().toISOString(),
        actor: 'cli',
        action: 'token.create',
        target: id,
        details: { name, role: flags.role },
      });
    });
    process.stderr.write(`created ${flags.role} token ${id} (${name}); its secret is shown only now:\n`);
    process.stdout.write(`${secret}\n`);
  });

  addStoreOptions(
    tokens.command('list').description('list tokens (never their secrets)').option('--json', 'print JSON'),
  ).action(async (flags: ListFlags) => {
    await withStore(flags, async (store) => {
      const list = await store.listTokens();
      if (flags.json === true) {
        process.stdout.write(`${JSON.stringify(list, null, 2)}\n`);
        return;
      }
      if (list.length === 0) {
        process.stdout.write('no tokens yet (create one with: vigil tokens create --role admin)\n');
        return;
      }
      for (const t of list) {
        const state = t.revoked_at === null ? 'active' : `revoked ${t.revoked_at}`;
        const used = t.last_used_at === null ? 'never used' : `last used ${t.last_used_at}`;
        process.stdout.write(`${t.id}\t${t.role}\t${t.name}\tcreated ${t.created_at}\t${used}\t${state}\n`);
      }
    });
  });

  addStoreOptions(
    tokens
      .command('revoke')
      .description('revoke a token; requests with it are refused from now on')
      .argument('<id>'),
  ).action(async (id: string, flags: StoreFlags) => {
    await withStore(flags, async (store) => {
      if (!(await store.revokeToken(id))) {
        throw new UsageError(`no active token ${id}; see vigil tokens list`);
      }
      await store.audit({
        at: new Date().toISOString(),
        actor: 'cli',
        action: 'token.revoke',
        target: id,
        details: {},
      });
      process.stdout.write(`revoked token ${id}\n`);
    });
  });
}
