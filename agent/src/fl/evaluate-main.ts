// `npm run eval:fl`: federated vs centralized Layer 2 (fl/evaluate.ts); writes its section of models/EVAL.md.
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { writeSection } from '../detect/eval.js';
import { REPO_ROOT } from '../testing-paths.js';
import { FL_SECTION, evaluateFederatedVsCentral, flEvalSection } from './evaluate.js';

const out = join(REPO_ROOT, 'models', 'EVAL.md');
const started = new Date();
const loadAtStart = loadavg()[0]!.toFixed(1);
const result = await evaluateFederatedVsCentral(undefined, (line) =>
  process.stdout.write(`eval:fl: ${line}\n`),
);
const machine = `${cpus().length} cores, load average ${loadAtStart} at the start and ${loadavg()[0]!.toFixed(1)} at the end (seconds are wall time)`;
writeSection(out, flEvalSection(result, started, machine), FL_SECTION);
process.stdout.write(`federated evaluation written to ${out}\n`);
