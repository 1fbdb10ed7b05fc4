// Entry point of `vigil-agent`. The only place that decides the process exit code.
import { CommanderError } from 'commander';
import { UsageError } from '@vigil/shared';
import { tuneJit } from '../jit.js';
import { buildProgram } from './program.js';

tuneJit();
const program = buildProgram().exitOverride();
try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // commander already printed its message (or the help text).
    process.exitCode = err.exitCode === 0 ? 0 : 2;
  } else if (err instanceof UsageError) {
    process.stderr.write(`vigil-agent: ${err.message}\n`);
    process.exitCode = 2;
  } else {
    process.stderr.write(`vigil-agent: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  }
}
