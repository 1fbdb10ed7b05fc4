// Offline replay of a capture through the whole detection pipeline on packet time, with the baseline learnt either
// from the capture's own first minutes or from another capture of the same network (its first N seconds).
import { createReadStream } from 'node:fs';
import { UsageError } from '@vigil/shared';
import { PacketClock } from '../capture/packet-clock.js';
import { replay, type ReplayStats } from '../capture/replay.js';
import type { CaptureError, RawPacket } from '../capture/types.js';
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

export interface ReplayCaptureOptions {
  /** After each chunk of frames (flush output; the engine's asynchronous detectors have settled). */
  afterChunk: () => Promise<void> | void;
  onError?: ((e: CaptureError) => void) | undefined;
  /** Takes each frame instead of the engine, on its packet time (a consumer that wraps the engine: the daemon's feed). */
  handle?: ((p: RawPacket) => void) | undefined;
  /** 1 paces the frames on their recorded timing; absent: as fast as they can be read. */
  speed?: number | undefined;
  /** Stops the replay at the next frame: replayCapture then rejects with the signal's reason. */
  signal?: AbortSignal | undefined;
}

/**
 * Runs a capture file through an engine on packet time and decides every open incident at its end. An unreadable
 * file or one that is no capture is a UsageError.
 */
export async function replayCapture(
  file: string,
  engine: DetectionEngine,
  clock: PacketClock,
  o: ReplayCaptureOptions,
): Promise<ReplayStats> {
  let capture: ReplayStats;
  // The reader's clock only orders (and paces at 1x); the engine's clock moves as the feeder hands frames over.
  const feeder = new FrameFeeder(engine, clock, o.handle);
  const handle = (p: RawPacket): void => feeder.push(p);
  const signal = o.signal;
  try {
    capture = await replay(createReadStream(file, { highWaterMark: 4 * 1024 * 1024 }), {
      file,
      clock: new PacketClock(),
      handle:
        signal === undefined
          ? handle
          : (p) => {
              signal.throwIfAborted();
              handle(p);
            },
      afterChunk: async () => {
        await feeder.drain();
        await o.afterChunk();
      },
      ...(o.onError !== undefined ? { onError: o.onError } : {}),
      ...(o.speed !== undefined ? { speed: o.speed } : {}),
      signal,
    });
  } catch (e) {
    if (signal?.aborted) throw e;
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
  await o.afterChunk();
  return capture;
}

/**
 * Learns a facility's baseline from a capture of its network (all of it, or its first `seconds`) and freezes it.
 * Shared by `replay --baseline` and `run --baseline`.
 */
export async function learnBaseline(o: {
  file: string;
  seconds?: number | undefined;
  facility: string;
  onError?: ((e: CaptureError) => void) | undefined;
  /** Model detectors learn from the same capture (they are then used to detect). */
  detectors?: readonly Detector[] | undefined;
}): Promise<Baseline> {
  const baseline = new Baseline();
  const clock = new PacketClock();
  const learner = new DetectionEngine({
    facility: o.facility,
    clock,
    baseline,
    learnMs: o.seconds !== undefined ? o.seconds * 1000 : Number.POSITIVE_INFINITY,
    detectors: o.detectors,
    onAlert: () => undefined,
  });
  await replayCapture(o.file, learner, clock, { afterChunk: () => undefined, onError: o.onError });
  baseline.freeze();
  return baseline;
}

export async function replayDetect(opts: ReplayDetectOptions): Promise<ReplayDetectResult> {
  const baseline =
    opts.baselineFile !== undefined
      ? await learnBaseline({
          file: opts.baselineFile,
          seconds: opts.baselineSeconds,
          facility: opts.facility,
          onError: opts.onError,
          detectors: opts.detectors,
        })
      : undefined;
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
  const capture = await replayCapture(opts.file, engine, clock, {
    afterChunk: async () => {
      for (const a of alerts.splice(0)) await opts.onAlert(a);
    },
    onError: opts.onError,
  });
  return { capture, stats: engine.stats() };
}
