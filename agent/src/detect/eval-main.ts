// `npm run eval` (detection part): writes the Detection section of models/EVAL.md.
import { join } from 'node:path';
import { REPO_ROOT } from '../testing-paths.js';
import { evaluateDetection, writeSection } from './eval.js';

const out = join(REPO_ROOT, 'models', 'EVAL.md');
writeSection(out, await evaluateDetection(new Date()));
process.stdout.write(`detection evaluation written to ${out}\n`);
