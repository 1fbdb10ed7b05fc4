// `vigil-agent models train --pcap FILE --data-dir DIR [--facility ID] [--seconds N] [--target-far X]
// [--epochs N]`: learns the plant's own Layer 1 baseline (Isolation Forest, window scaler, Layer 1b fine-tuned and
// calibrated) from a capture of its normal traffic into DIR/models/, where `vigil-agent run` and `replay --data-dir`
// find it. Progress with an ETA on stderr; one summary line on stdout.
import type { Command } from 'commander';
import { z } from 'zod';
import { UsageError } from '@vigil/shared';
import { DEFAULT_TARGET_FAR } from '../detect/ml/detector.js';
import { trainLocalBaseline, type LocalTrainResult } from '../detect/ml/local.js';
import { Progress } from '../detect/ml/train.js';

const trainSchema = z.object({
  pcap: z.string().min(1),
  dataDir: z.string().min(1),
  facility: z.string().min(1).default('facility-1'),
  seconds: z.coerce.number().positive().optional(),
  targetFar: z.coerce.number().gt(0).lt(0.5).default(DEFAULT_TARGET_FAR),
  epochs: z.coerce.number().int().min(0).max(100).default(2),
  artifacts: z.string().min(1).optional(),
});

export async function runModelsTrain(
  raw: unknown,
  out: NodeJS.WritableStream,
  err: NodeJS.WriteStream | undefined,
): Promise<LocalTrainResult> {
  const parsed = trainSchema.safeParse(raw);
  if (!parsed.success) {
    const i = parsed.error.issues[0];
    throw new UsageError(
      `models train: --${(i?.path.join('.') ?? '').replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())}: ${i?.message ?? 'bad option'}`,
    );
  }
  const o = parsed.data;
  const r = await trainLocalBaseline({
    pcap: o.pcap,
    dataDir: o.dataDir,
    facility: o.facility,
    seconds: o.seconds,
    far: o.targetFar,
    epochs: o.epochs,
    artifactsDir: o.artifacts,
    progress: new Progress(2 + o.epochs, err),
  });
  out.write(
    JSON.stringify({
      dir: r.dir,
      flow_seconds: r.flowSeconds,
      windows: r.windows,
      l1a_threshold: r.meta.l1aThreshold,
      l1b_threshold: r.meta.l1bThreshold,
      l1b_fine_tuned: r.l1bTuned,
      target_false_alarm_rate: r.meta.targetFalseAlarmRate,
    }) + '\n',
  );
  return r;
}

export function registerModels(program: Command): void {
  const models = program.command('models').description("the detection models: a plant's own baseline");
  models
    .command('train')
    .description(
      "learn the plant's Layer 1 baseline (L1a forest, L1b threshold and fine-tuning) from a capture of normal traffic",
    )
    .requiredOption('--pcap <file>', "capture of the plant's normal traffic (pcap or pcapng)")
    .requiredOption('--data-dir <dir>', "the agent's data directory (the baseline goes to DIR/models/)")
    .option('--facility <id>', 'facility id recorded with the baseline', 'facility-1')
    .option('--seconds <n>', "learn only from the capture's first N seconds")
    .option(
      '--target-far <rate>',
      'target false-alarm rate per flow-second and per window-second',
      String(DEFAULT_TARGET_FAR),
    )
    .option('--epochs <n>', 'Layer 1b fine-tuning epochs (0: shared weights, own threshold)', '2')
    .option('--artifacts <dir>', 'where the shared models are (default: models/artifacts of this install)')
    .action(async (raw: unknown) => {
      await runModelsTrain(raw, process.stdout, process.stderr);
    });
}
