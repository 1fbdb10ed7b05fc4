// The `vigil-agent` command tree. Each command lives in its own module and registers itself here.
import { Command } from 'commander';
import { registerAssets } from './assets.js';
import { registerDecode } from './decode.js';
import { registerReplay } from './replay.js';
import { registerSim } from './sim.js';
import { registerEnroll } from './enroll.js';
import { registerRun } from './run.js';
import { registerModels } from './models.js';
import { registerBaseline } from './baseline.js';

export function buildProgram(): Command {
  const program = new Command('vigil-agent')
    .description('Vigil agent: captures and decodes plant traffic, detects attacks, learns locally')
    .showHelpAfterError('(run with --help for usage)');
  registerDecode(program);
  registerSim(program);
  registerAssets(program);
  registerEnroll(program);
  registerRun(program);
  registerReplay(program);
  registerModels(program);
  registerBaseline(program);
  return program;
}
