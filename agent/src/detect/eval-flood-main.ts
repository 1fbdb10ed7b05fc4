// `npm run eval:flood [-- RATE...]`: how soon the low-rate spoofed SYN flood (the simulator's syn-flood, 12 SYNs a
// second times RATE, default 0.2 0.3 1) is alerted, rules only, on the held-out plants and one validation seed of each
// training topology (learning 10 min, flood at 12 min): seconds from its first SYN to the first T0814 alert, and
// the alerts before it (false). The eval (eval.ts) runs the flood at rate 1 only.
import { runScenario } from './scenario.js';

const rates = process.argv.length > 2 ? process.argv.slice(2).map(Number) : [0.2, 0.3, 1];
const PLANTS = [
  ['water-b', 303],
  ['water-b', 404],
  ['pipeline-d', 303],
  ['pipeline-d', 404],
  ['water-a', 21],
  ['substation-b', 22],
  ['factory-c', 23],
  ['water-a', 24],
] as const;
process.stdout.write(
  `| rate (SYNs/s) | ${PLANTS.map(([t, s]) => `${t} ${s}`).join(' | ')} | false before |\n`,
);
process.stdout.write(`|${['', ...PLANTS, ''].map(() => '---').join('|')}|\n`);
for (const rate of rates) {
  const cells: string[] = [];
  let before = 0;
  for (const [topology, seed] of PLANTS) {
    const r = await runScenario({
      topology,
      seed,
      durationS: 780,
      learnS: 600,
      attacks: [{ attack: 'syn-flood', atS: 720, rate }],
    });
    const first = r.firstFrameMs[0] ?? Number.NaN;
    const alert = r.alerts.find((a) => a.attack_type === 'T0814' && Date.parse(a.last_seen) >= first);
    before += r.alerts.filter((a) => Date.parse(a.last_seen) < first).length;
    cells.push(alert === undefined ? 'MISSED' : ((Date.parse(alert.timestamp) - first) / 1000).toFixed(2));
  }
  process.stdout.write(`| ${rate} (${(12 * rate).toFixed(1)}) | ${cells.join(' | ')} | ${before} |\n`);
}
