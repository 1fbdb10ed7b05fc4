// `vigil-agent enroll --aggregator HOST:PORT --token T --data-dir DIR`: trades a one-time token for a client
// certificate bound to the token's facility (the key pair is made here and never leaves the machine).
import type { Command } from 'commander';
import { enroll } from '../link/identity.js';

export function registerEnroll(program: Command): void {
  program
    .command('enroll')
    .description('enroll this agent with an aggregator, using a token from `vigil enroll create`')
    .requiredOption('--aggregator <host:port>', "the aggregator's agent port (vigil serve --grpc-port)")
    .requiredOption('--token <token>', 'the one-time enrollment token')
    .requiredOption('--data-dir <dir>', 'where the agent keeps its identity, outbox and models')
    .action(async (o: { aggregator: string; token: string; dataDir: string }) => {
      const id = await enroll({ aggregator: o.aggregator, token: o.token, dataDir: o.dataDir });
      process.stdout.write(`enrolled agent ${id.agentId} for facility ${id.facilityId}\n`);
    });
}
