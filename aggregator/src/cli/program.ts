// The `vigil` command tree. Each command lives in its own module and registers itself here.
import { Command } from 'commander';
import { registerDemo } from './demo.js';
import { registerEnroll } from './enroll.js';
import { registerFacilities } from './facilities.js';
import { registerFacilityRevoke } from './facilities-revoke.js';
import { registerGraph } from './graph.js';
import { registerMigrate } from './migrate.js';
import { registerModels } from './models.js';
import { registerPredict } from './predict.js';
import { registerPrivacy } from './privacy.js';
import { registerSeed } from './seed.js';
import { registerServe } from './serve.js';
import { registerTokens } from './tokens.js';

export function buildProgram(): Command {
  const program = new Command('vigil')
    .description('Vigil aggregator: federated threat detection for industrial control systems')
    .showHelpAfterError('(run with --help for usage)')
    // Set before the commands are added so they inherit it: a bad argument throws a CommanderError that main.ts
    // turns into exit code 2, instead of commander exiting with 1 from inside a subcommand.
    .exitOverride();
  registerServe(program);
  registerMigrate(program);
  registerTokens(program);
  registerFacilities(program);
  registerFacilityRevoke(program);
  registerEnroll(program);
  registerSeed(program);
  registerGraph(program);
  registerPredict(program);
  registerPrivacy(program);
  registerDemo(program);
  registerModels(program);
  return program;
}
