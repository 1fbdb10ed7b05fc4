// `vigil-agent replay FILE --offline --alerts-out OUT.jsonl [--baseline CAPTURE [--baseline-seconds N]]
// [--learn-minutes N] [--facility ID] [--suppress KEY=VALUE,...]`: the whole detection pipeline on packet time, one
// alert (spec Alert plus first_seen/last_seen) per JSON line. In --offline mode stderr carries only warnings and
// errors; otherwise a one-line summary follows the run.
import { createWriteStream } from 'node:fs';
import type { Command } from 'commander';
import { z } from 'zod';
import { UsageError } from '@vigil/shared';
import { drained } from '../capture/replay.js';
import { parseSuppression } from '../config.js';
import { loadModelDetectors, type ModelDetector } from '../detect/ml/detector.js';
import { replayDetect, type ReplayDetectResult } from '../detect/replay.js';

const optionsSchema = z.object({
  offline: z.boolean(),
  alertsOut: z.string().min(1),
  baseline: z.string().min(1).optional(),
  baselineSeconds: z.coerce.number().positive().optional(),
  learnMinutes: z.coerce.number().min(0).default(5),
  facility: z.string().min(1).default('facility-1'),
  suppress: z.array(z.string()).default([]),
  models: z.boolean().default(true),
  dataDir: z.string().min(1).optional(),
  artifacts: z.string().min(1).optional(),
});

export async function runReplay(
  file: string,
  raw: unknown,
  out: NodeJS.WritableStream,
  err: NodeJS.WritableStream,
): Promise<ReplayDetectResult> {
  const parsed = optionsSchema.safeParse(raw);
  if (!parsed.success) {
    const i = parsed.error.issues[0];
    throw new UsageError(`replay: --${i?.path.join('.') ?? ''}: ${i?.message ?? 'bad option'}`);
  }
  const o = parsed.data;
  if (o.baselineSeconds !== undefined && o.baseline === undefined) {
    throw new UsageError('replay: --baseline-seconds needs --baseline CAPTURE');
  }
  const file$ = o.alertsOut === '-' ? undefined : createWriteStream(o.alertsOut);
  const sink: NodeJS.WritableStream = file$ ?? out;
  let alerts = 0;
  const detectors: ModelDetector[] = o.models
    ? loadModelDetectors({ facility: o.facility, dataDir: o.dataDir, artifactsDir: o.artifacts })
    : [];
  const result = await replayDetect({
    detectors,
    file,
    facility: o.facility,
    baselineFile: o.baseline,
    baselineSeconds: o.baselineSeconds,
    learnMinutes: o.baseline !== undefined ? 0 : o.learnMinutes,
    suppress: o.suppress.map(parseSuppression),
    onAlert: async (a) => {
      alerts++;
      sink.write(JSON.stringify(a) + '\n');
      await drained(sink);
    },
    onError: (e) => err.write(`vigil-agent: warning: ${e.file}: ${e.message}\n`),
  }).finally(() => Promise.all(detectors.map((d) => d.close())));
  for (const d of detectors) {
    if (!d.stats.ready) err.write(`vigil-agent: warning: ${d.stats.reason}\n`);
  }
  if (file$ !== undefined) {
    await new Promise<void>((resolve, reject) => {
      file$.on('error', reject);
      file$.end(resolve);
    });
  }
  if (!o.offline) err.write(JSON.stringify({ alerts, ...result.stats }) + '\n');
  return result;
}

export function registerReplay(program: Command): void {
  program
    .command('replay')
    .description(
      'run the detection pipeline over a capture on packet time and write the alerts as JSON lines',
    )
    .argument('<file>', 'capture file (pcap or pcapng)')
    .option(
      '--offline',
      'no aggregator: write alerts to --alerts-out only; stderr carries only warnings and errors',
      false,
    )
    .option(
      '--alerts-out <file>',
      'where the alerts go, one JSON object per line (- for standard output)',
      '-',
    )
    .option('--baseline <capture>', 'learn the facility from this capture of the same network first')
    .option('--baseline-seconds <n>', "learn only from the baseline capture's first N seconds")
    .option('--learn-minutes <n>', "without --baseline: learn from the capture's first N minutes", '5')
    .option('--facility <id>', 'facility id written in the alerts', 'facility-1')
    .option('--no-models', 'rules only: without the Layer 1/2 models')
    .option('--data-dir <dir>', "the agent's data dir: use its own baseline (vigil-agent models train)")
    .option('--artifacts <dir>', 'where the shared models are (default: models/artifacts of this install)')
    .option(
      '--suppress <rule>',
      'drop (and count) detections matching KEY=VALUE[,KEY=VALUE] with keys facility, host, pair, rule, technique; repeatable',
      (v: string, prev: string[]) => [...prev, v],
      [] as string[],
    )
    .action(async (file: string, raw: unknown) => {
      await runReplay(file, raw, process.stdout, process.stderr);
    });
}
