// The `vigil` command tree. Each command lives in its own module and registers itself here.
import { Command } from 'commander';
import { registerPrivacy } from './privacy.js';

export function buildProgram(): Command {
  const program = new Command('vigil')
    .description('Vigil aggregator: federated threat detection for industrial control systems')
    .showHelpAfterError('(run with --help for usage)');
  registerPrivacy(program);
  return program;
}
