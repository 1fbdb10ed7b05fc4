// Offline replay of a capture through the whole detection pipeline on packet time, with the baseline learnt either
// from the capture's own first minutes or from another capture of the same network (its first N seconds).
import { createReadStream } from 'node:fs';
import { UsageError } from '@vigil/shared';
import { PacketClock } from '../capture/packet-clock.js';
import { replay, type ReplayStats } from '../capture/replay.js';
import type { CaptureError } from '../capture/types.js';
import { Baseline } from './baseline.js';
import type { AgentAlert, Suppression } from './correlate.js';
import { DetectionEngine } from './engine.js';
import { FrameFeeder } from './feeder.js';
import type { Detector } from './types.js';

export interface ReplayDetectOptions {
  file: string;
  facility: string;
  /** Learn from this capture first (instead of the replayed capture's first minutes). */
  baselineFile?: string | undefined;
  /** Only the baseline capture's first N seconds (default: all of it). */
  baselineSeconds?: number | undefined;
  /** Learning period at the start of `file` when no baseline capture is given. */
  learnMinutes: number;
  suppress?: readonly Suppression[] | undefined;
  onAlert: (a: AgentAlert) => void | Promise<void>;
  onError?: (e: CaptureError) => void;
  /** Model detectors (loadModelDetectors); the same instances learn from the baseline capture, then detect. */
  detectors?: readonly Detector[] | undefined;
}

export interface ReplayDetectResult {
  capture: ReplayStats;
  stats: Record<string, unknown>;
}

async function run(
  file: string,
  engine: DetectionEngine,
  clock: PacketClock,
  opts: ReplayDetectOptions,
  alerts: AgentAlert[],
): Promise<ReplayStats> {
  let capture: ReplayStats;
  // The reader's clock only orders and counts; the engine's clock moves as the feeder hands frames over.
  const feeder = new FrameFeeder(engine, clock);
  try {
    capture = await replay(createReadStream(file, { highWaterMark: 4 * 1024 * 1024 }), {
      file,
      clock: new PacketClock(),
      handle: (p) => feeder.push(p),
      afterChunk: async () => {
        await feeder.drain();
        for (const a of alerts.splice(0)) await opts.onAlert(a);
      },
      ...(opts.onError !== undefined ? { onError: opts.onError } : {}),
    });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UsageError(
      `cannot read ${file}: ${code ?? (e instanceof Error ? e.message : String(e))} (give a readable pcap or pcapng file)`,
    );
  }
  if (capture.format === 'unknown') {
    throw new UsageError(
      `${file} is not a pcap or pcapng capture (expected a file written by tcpdump, dumpcap or Wireshark)`,
    );
  }
  await engine.finish();
  for (const a of alerts.splice(0)) await opts.onAlert(a);
  return capture;
}

export async function replayDetect(opts: ReplayDetectOptions): Promise<ReplayDetectResult> {
  let baseline: Baseline | undefined;
  if (opts.baselineFile !== undefined) {
    baseline = new Baseline();
    const clock = new PacketClock();
    const learner = new DetectionEngine({
      facility: opts.facility,
      clock,
      baseline,
      learnMs: opts.baselineSeconds !== undefined ? opts.baselineSeconds * 1000 : Number.POSITIVE_INFINITY,
      detectors: opts.detectors,
      onAlert: () => undefined,
    });
    await run(opts.baselineFile, learner, clock, { ...opts, onAlert: () => undefined }, []);
    baseline.freeze();
  }
  const clock = new PacketClock();
  const alerts: AgentAlert[] = [];
  const engine = new DetectionEngine({
    facility: opts.facility,
    clock,
    baseline,
    learnMs: opts.learnMinutes * 60_000,
    suppress: opts.suppress,
    detectors: opts.detectors,
    onAlert: (a) => alerts.push(a),
  });
  const capture = await run(opts.file, engine, clock, opts, alerts);
  return { capture, stats: engine.stats() };
}
