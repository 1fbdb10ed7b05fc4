// `npm run eval:normal [-- HOURS [LEARN_MINUTES,...]]`: false alerts of the rules on hours of normal traffic (see
// eval-normal.ts); prints one line per run as it ends, then the Markdown table.
import { NORMAL_SEEDS, NORMAL_TOPOLOGIES, normalRun, normalTable, type NormalRun } from './eval-normal.js';

const hours = Number(process.argv[2] ?? 4);
const learns = (process.argv[3] ?? '10,60').split(',').map(Number);
const runs: NormalRun[] = [];
const t0 = performance.now();
for (const learnMinutes of learns) {
  for (const declared of [false, true]) {
    for (const topology of NORMAL_TOPOLOGIES) {
      for (const seed of NORMAL_SEEDS) {
        const r = await normalRun({ topology, seed, learnMinutes, hours, declared });
        runs.push(r);
        process.stdout.write(
          `${topology} ${seed} learn ${learnMinutes} min${declared ? ', workstation declared' : ''}: ${r.alerts} alert(s) ${JSON.stringify(r.byRule)} (${r.frames} frames, ${Math.round((performance.now() - t0) / 1000)} s)\n`,
        );
      }
    }
  }
}
process.stdout.write(
  `\n${hours} h of normal traffic after the learning period, rules only:\n\n${normalTable(runs)}\n`,
);
