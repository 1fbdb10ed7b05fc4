// `npm run eval:fl:sweep`: chooses the hyperparameters of each setting of the federated evaluation (fl/evaluate.ts)
// on validation plants (the same topologies simulated with seeds of their own), never on the held-out rows. Prints
// every candidate's validation macro-F1 and, per setting, the best one (FL_EVAL_CONFIG.per takes it). Arguments, when
// given, restrict the sweep to the settings whose names contain one of them (e.g. `-- "secure aggregation"`).
import { loadavg } from 'node:os';
import {
  FL_EVAL_CONFIG,
  FL_SETTINGS,
  prepareFlData,
  runFlSettings,
  type FlHyper,
  type FlSetting,
} from './evaluate.js';

const NO_DP: Partial<FlHyper>[] = [
  { learningRate: 0.2, rounds: 20 },
  { learningRate: 0.2, rounds: 40 },
  { learningRate: 0.5, rounds: 20 },
  { learningRate: 0.5, rounds: 40 },
];
// DP-SGD: batch size with the learning rate scaled with it (less noise per example at a higher noise multiplier), the
// plants' data being larger since each injects every attack PLANT_ATTACK_REPEATS times (batch 512 added for that)
const DP: Partial<FlHyper>[] = [
  { batchSize: 64, learningRate: 0.2, rounds: 40, clipNorm: 1 },
  { batchSize: 128, learningRate: 0.4, rounds: 40, clipNorm: 1 },
  { batchSize: 256, learningRate: 0.8, rounds: 40, clipNorm: 1 },
  { batchSize: 512, learningRate: 1.6, rounds: 40, clipNorm: 1 },
];

const base = { ...FL_EVAL_CONFIG, per: {} };
const data = prepareFlData(base, (l) => process.stdout.write(`eval:fl:sweep: ${l}\n`));
const rows: string[] = [];
const best: Partial<Record<FlSetting, { hyper: Partial<FlHyper>; f1: number }>> = {};
const only = process.argv.slice(2);
const swept = FL_SETTINGS.filter((s) => only.length === 0 || only.some((o) => s.includes(o)));
const isDp = (s: FlSetting): boolean => s.endsWith('DP-SGD') || s.endsWith('distributed DP');
for (const setting of swept) {
  for (const cand of isDp(setting) ? DP : NO_DP) {
    const [run] = await runFlSettings(
      data,
      { ...base, per: { [setting]: cand } },
      {
        on: 'validation',
        settings: [setting],
        log: (l) => process.stdout.write(`eval:fl:sweep: ${l}\n`),
      },
    );
    const h = run!.hyper;
    rows.push(
      `| ${setting} | ${h.learningRate} | ${h.rounds} x ${h.localEpochs} | ${h.batchSize} | ${isDp(setting) ? h.clipNorm : '-'} | ${run!.sigma?.toFixed(2) ?? '-'} | ${run!.macroF1.toFixed(3)} |`,
    );
    if ((best[setting]?.f1 ?? -1) < run!.macroF1) best[setting] = { hyper: cand, f1: run!.macroF1 };
  }
}
process.stdout.write(
  [
    '',
    `Validation sweep (${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, load average ${loadavg()[0]!.toFixed(1)} at the end):`,
    '',
    '| setting | lr | rounds x epochs | batch | clip | sigma | validation macro-F1 |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...rows,
    '',
    `per: ${JSON.stringify(Object.fromEntries(Object.entries(best).map(([k, v]) => [k, v.hyper])))}`,
    '',
  ].join('\n'),
);
