// The `vigil-agent` command tree. Each command lives in its own module and registers itself here.
import { Command } from 'commander';
import { registerEnroll } from './enroll.js';
import { registerRun } from './run.js';

export function buildProgram(): Command {
  const program = new Command('vigil-agent')
    .description('Vigil agent: captures and decodes plant traffic, detects attacks, learns locally')
    .showHelpAfterError('(run with --help for usage)');
  registerEnroll(program);
  registerRun(program);
  return program;
}
