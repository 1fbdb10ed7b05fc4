// Replay: a capture (file or stream) through the decode pipeline as fast as it can be read, on packet time.
import { once } from 'node:events';
import type { Readable } from 'node:stream';
import type { PacketClock } from './packet-clock.js';
import { CaptureParser, type CaptureStats } from './pcap.js';
import type { CaptureError, RawPacket } from './types.js';

export interface ReplayOptions {
  /** Name used in errors. */
  file: string;
  /** The clock the pipeline was built with; replay moves it to each frame's time before the frame is handled. */
  clock: PacketClock;
  handle: (p: RawPacket) => void;
  /** Runs after each chunk's frames were handled (e.g. to flush output with backpressure). */
  afterChunk?: () => Promise<void> | void;
  onError?: (e: CaptureError) => void;
}

export interface ReplayStats extends CaptureStats {
  timeBackwards: number;
  timeJumps: number;
  largestJumpSeconds: number;
}

export async function replay(stream: Readable, opts: ReplayOptions): Promise<ReplayStats> {
  const { clock, handle } = opts;
  const parser = new CaptureParser({
    file: opts.file,
    onPacket: (p) => {
      clock.observe(p.tsSec, p.tsNsec);
      handle(p);
    },
    ...(opts.onError ? { onError: opts.onError } : {}),
  });
  // A failing stream (unreadable file, broken pipe) rejects here; bad bytes inside it never do.
  for await (const chunk of stream) {
    parser.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array));
    await opts.afterChunk?.();
    if (parser.stats.stopped) break;
  }
  const stats = parser.end();
  return {
    ...stats,
    timeBackwards: clock.backwards,
    timeJumps: clock.jumps,
    largestJumpSeconds: clock.largestJumpMs / 1000,
  };
}

/** Resolves when the writable can take more (backpressure for output). */
export async function drained(w: NodeJS.WritableStream & { writableNeedDrain?: boolean }): Promise<void> {
  if (w.writableNeedDrain === true) await once(w, 'drain');
}
