// False alerts on long normal traffic (`npm run eval:normal`): the training topologies with their validation seeds,
// hours of normal traffic after a learning period, rules only (the models learn nothing from these runs that the
// held-out eval uses). Every alert is false: there is no attack. Run with several learning periods, and with the
// engineering workstation declared as a known master (the config's known_masters), to see what each buys; printed
// as a Markdown table for models/EVAL.md (recorded there by hand with the command and the load).
import { Baseline } from './baseline.js';
import { runScenario } from './scenario.js';
import { topologySpec } from '../sim/topology.js';

export const NORMAL_TOPOLOGIES = ['water-a', 'substation-b', 'factory-c'] as const;
export const NORMAL_SEEDS = [21, 22, 23, 24] as const;

export interface NormalRun {
  topology: string;
  seed: number;
  learnMinutes: number;
  declared: boolean;
  alerts: number;
  /** Alerts by the rule of their strongest source (highest confidence), e.g. {"new-master-write": 3}. */
  byRule: Record<string, number>;
  frames: number;
}

/** One run: `learnMinutes` of learning, then `hours` of normal traffic; the alerts raised are all false. */
export async function normalRun(o: {
  topology: string;
  seed: number;
  learnMinutes: number;
  hours: number;
  /** Declare the topology's engineering workstation as a known master. */
  declared: boolean;
}): Promise<NormalRun> {
  const baseline = new Baseline();
  if (o.declared) baseline.declare({ masters: [topologySpec(o.topology).engineering], pairs: [] });
  const r = await runScenario({
    topology: o.topology,
    seed: o.seed,
    durationS: o.learnMinutes * 60 + o.hours * 3600,
    learnS: o.learnMinutes * 60,
    attacks: [],
    baseline,
  });
  const byRule: Record<string, number> = {};
  for (const a of r.alerts) {
    const top = a.sources.reduce((b, x) => (x.confidence > b.confidence ? x : b), a.sources[0]!);
    const rule = top.model_name.split('/')[1] ?? '?';
    byRule[rule] = (byRule[rule] ?? 0) + 1;
  }
  return { ...o, alerts: r.alerts.length, byRule, frames: r.frames };
}

/** The runs as a Markdown table, one row per setting, one column per topology and seed. */
export function normalTable(runs: readonly NormalRun[]): string {
  const settings = [...new Set(runs.map((r) => `${r.learnMinutes}|${r.declared}`))];
  const cols = [...new Set(runs.map((r) => `${r.topology} ${r.seed}`))];
  const lines = [
    `| learning, declared master | ${cols.join(' | ')} | total | by rule |`,
    `|${['', ...cols, '', ''].map(() => '---').join('|')}|`,
  ];
  for (const s of settings) {
    const [learn, declared] = s.split('|');
    const rs = runs.filter((r) => `${r.learnMinutes}|${r.declared}` === s);
    const byRule: Record<string, number> = {};
    for (const r of rs) for (const [k, n] of Object.entries(r.byRule)) byRule[k] = (byRule[k] ?? 0) + n;
    const cells = cols.map((c) => String(rs.find((r) => `${r.topology} ${r.seed}` === c)?.alerts ?? '-'));
    const total = rs.reduce((n, r) => n + r.alerts, 0);
    const rules = Object.entries(byRule)
      .sort((a, b) => b[1] - a[1])
      .map(([k, n]) => `${k} ${n}`)
      .join(', ');
    lines.push(
      `| ${learn} min, ${declared === 'true' ? 'workstation declared' : 'none'} | ${cells.join(' | ')} | ${total} | ${rules} |`,
    );
  }
  return lines.join('\n');
}
