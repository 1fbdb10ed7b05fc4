// `vigil-agent baseline show|reset`: what the agent learnt of the plant (the baseline kept in its data dir), for the
// plant's security engineer, and how to make it learn again.
import type { Command } from 'commander';
import { UsageError } from '@vigil/shared';
import type { BaselineData } from '../detect/baseline.js';
import { loadBaseline, resetBaseline, type StoredBaseline } from '../detect/baseline-file.js';
import { tryReadLocal } from '../detect/ml/artifacts.js';
import { NW } from '../detect/ml/features.js';
import { loadModelsCheckpoint } from '../detect/models-checkpoint.js';
import { readConfigFile } from '../config.js';

interface DirFlags {
  dataDir?: string;
  config?: string;
}

function dataDirOf(f: DirFlags): string {
  if (f.dataDir !== undefined) return f.dataDir;
  if (f.config !== undefined) {
    const dir = readConfigFile(f.config).data_dir;
    if (typeof dir === 'string' && dir !== '') return dir;
    throw new UsageError(`config file ${f.config} has no "data_dir"`);
  }
  throw new UsageError('give the agent data dir: --data-dir DIR or --config FILE');
}

const iso = (ms: number): string => (ms < 0 ? '-' : new Date(ms).toISOString());

/** The stored baseline as text lines for a person. */
export function describeBaseline(s: StoredBaseline): string[] {
  const d: BaselineData = s.baseline.checkpoint();
  const minutes = (ms: number): string => (Math.round(ms / 6_000) / 10).toFixed(1);
  const lines = [
    `baseline ${s.path}`,
    s.learning === undefined
      ? `  facility ${s.facility}; learnt from ${s.source}; stored ${s.savedAt}`
      : `  facility ${s.facility}; STILL LEARNING (a checkpoint): ${minutes(s.learning.learntMs)} of ${minutes(s.learning.periodMs)} min of the learning period learnt from ${s.source}, stored ${s.savedAt}; the next start resumes the period with the ${minutes(Math.max(0, s.learning.periodMs - s.learning.learntMs))} min left`,
    `  packets ${d.packets}, packet time ${iso(d.first_ms)} .. ${iso(d.last_ms)}`,
    `  models: ${s.models.state}${s.models.note !== '' ? ` (${s.models.note})` : ''}`,
    `  hosts (${d.hosts.length}): ${[...d.hosts].sort().join(', ')}`,
    `  Modbus masters (${d.masters.length}): ${[...d.masters].sort().join(', ')}`,
    `  Modbus pairs (${d.modbus.length}):`,
  ];
  for (const p of [...d.modbus].sort((a, b) => a.pair.localeCompare(b.pair))) {
    const reads = [...p.read_range]
      .sort((a, b) => a[0] - b[0])
      .map(([fc, lo, hi]) => `fc ${fc} ${lo}..${hi}`)
      .join(', ');
    lines.push(
      `    ${p.pair.replace('>', ' -> ')}: functions ${[...p.functions].sort((a, b) => a - b).join(',')}; ` +
        `${p.writes.length} write address(es)${p.writes.length > 0 ? ` (${[...p.writes].sort().join(' ')})` : ''}; ` +
        `reads ${reads === '' ? 'none' : reads}; busiest second ${p.peak_per_second} request(s), ` +
        `most writes in 30 s ${p.peak_writes}`,
    );
  }
  lines.push(`  services per host pair (${d.services.length}):`);
  for (const svc of [...d.services].sort()) lines.push(`    ${svc}`);
  const registers = d.registers.reduce((n, r) => n + r.ranges.length / 3, 0);
  lines.push(
    `  holding-register value ranges: ${registers} register(s) on ${d.registers.length} slave(s)`,
    `  MQTT publisher/topic pairs: ${d.mqtt_publishes.length}; DNS clients: ${d.dns_longest_name.length}`,
    '  declared facts (known_masters, known_modbus) come from the config at every start and are not stored here',
  );
  return lines;
}

/**
 * What the models learnt, as lines: a checkpoint's models' half (how many learning flow-seconds and window steps
 * are kept so far), or the local baseline stored in DIR/models (how many of each it was learnt from).
 */
function describeModelsOf(dir: string, s: StoredBaseline): string[] {
  if (s.learning !== undefined) {
    if (s.modelsLearning === undefined) return [];
    const m = loadModelsCheckpoint(dir, s.modelsLearning, s.facility);
    if (!m.ok) return [`  models' learning so far: refused (${m.reason}); the next start learns both again`];
    let rows = 0;
    let steps = 0;
    for (const x of m.states) {
      rows += x.fit.sec.length + x.held.sec.length;
      steps += x.steps.length / NW;
    }
    return [
      `  models' learning so far: ${rows} kept flow-second(s), ${steps} window step(s) (${s.modelsLearning.file})`,
    ];
  }
  const local = tryReadLocal(dir);
  if (!local.ok) return local.absent ? [] : [`  models' local baseline: refused (${local.reason})`];
  const m = local.local.meta;
  return [
    `  models' local baseline: learnt from ${m.source} at ${m.trainedAt}: ${m.flowRows} flow-second(s), ${m.windows} window(s)`,
  ];
}

export function registerBaseline(program: Command): void {
  const cmd = program
    .command('baseline')
    .description('the baseline the agent learnt (kept in its data dir: a restart does not learn again)');
  cmd
    .command('show')
    .description(
      'print what was learnt: hosts, Modbus masters and pairs with their functions, services, rates',
    )
    .option('--data-dir <dir>', "the agent's data dir")
    .option('--config <file>', "the agent's config file (its data_dir)")
    .option('--json', 'the learnt content as JSON')
    .action((f: DirFlags & { json?: boolean }) => {
      const dir = dataDirOf(f);
      const loaded = loadBaseline(dir);
      if (!loaded.ok && loaded.absent) {
        process.stdout.write(`no baseline stored in ${dir}: the agent learns one at its next start\n`);
        return;
      }
      if (!loaded.ok) {
        throw new UsageError(
          `${loaded.path} refused: ${loaded.reason} (the agent will learn again at its next start)`,
        );
      }
      const s = loaded.stored;
      process.stdout.write(
        f.json === true
          ? JSON.stringify(
              {
                facility: s.facility,
                saved_at: s.savedAt,
                source: s.source,
                models: s.models,
                learning:
                  s.learning === undefined
                    ? null
                    : { learnt_ms: s.learning.learntMs, period_ms: s.learning.periodMs },
                baseline: s.baseline.checkpoint(),
              },
              null,
              2,
            ) + '\n'
          : [...describeBaseline(s), ...describeModelsOf(dir, s)].join('\n') + '\n',
      );
    });
  cmd
    .command('reset')
    .description(
      "forget the learnt baseline (and the models' local one learnt with it): the next start learns again",
    )
    .option('--data-dir <dir>', "the agent's data dir")
    .option('--config <file>', "the agent's config file (its data_dir)")
    .action((f: DirFlags) => {
      const dir = dataDirOf(f);
      const { removed, kept } = resetBaseline(dir);
      const lines =
        removed.length === 0
          ? [`no learnt baseline in ${dir}: nothing to reset`]
          : [
              ...removed.map((r) => `removed ${r}`),
              'a running agent keeps detecting with the baseline it holds; restart it to learn again',
            ];
      if (kept.length > 0) lines.push(`kept ${kept.join(', ')} (trained with vigil-agent models train)`);
      process.stdout.write(lines.join('\n') + '\n');
    });
}
