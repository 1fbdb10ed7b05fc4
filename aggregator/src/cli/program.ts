// The `vigil` command tree. Each command lives in its own module and registers itself here.
import { Command } from 'commander';
import { registerGraph } from './graph.js';
import { registerPrivacy } from './privacy.js';

export function buildProgram(): Command {
  const program = new Command('vigil')
    .description('Vigil aggregator: federated threat detection for industrial control systems')
    .showHelpAfterError('(run with --help for usage)');
  registerGraph(program);
  registerPrivacy(program);
  return program;
}
