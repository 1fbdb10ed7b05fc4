// Replay: a capture (file or stream) through the decode pipeline as fast as it can be read, on packet time.
import { once } from 'node:events';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
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
  /**
   * Pace the replay on the capture's own timing: 1 = recorded speed, 2 = twice as fast. Absent or 0: as fast as
   * the frames can be read. A pause longer than maxPauseMs (a clock jump, an idle night) is shortened to it.
   */
  speed?: number;
  maxPauseMs?: number;
  /** Ends a paced replay's wait at once: replay() then rejects with the signal's reason. */
  signal?: AbortSignal | undefined;
}

const DEFAULT_MAX_PAUSE_MS = 10_000;

export interface ReplayStats extends CaptureStats {
  timeBackwards: number;
  timeJumps: number;
  largestJumpSeconds: number;
}

export async function replay(stream: Readable, opts: ReplayOptions): Promise<ReplayStats> {
  const { clock, handle } = opts;
  const paced = opts.speed !== undefined && opts.speed > 0;
  // Paced replay keeps copies of a chunk's frames and hands them over on time; unpaced replay hands the parser's
  // frames over directly.
  const queue: RawPacket[] = [];
  const parser = new CaptureParser({
    file: opts.file,
    onPacket: paced
      ? (p) => queue.push({ ...p, buf: Buffer.from(p.buf.subarray(p.off, p.off + p.capLen)), off: 0 })
      : (p) => {
          clock.observe(p.tsSec, p.tsNsec);
          handle(p);
        },
    ...(opts.onError ? { onError: opts.onError } : {}),
  });
  const pacer = paced
    ? new Pacer(opts.speed ?? 1, opts.maxPauseMs ?? DEFAULT_MAX_PAUSE_MS, opts.signal)
    : undefined;
  // A failing stream (unreadable file, broken pipe) rejects here; bad bytes inside it never do.
  for await (const chunk of stream) {
    parser.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array));
    if (pacer !== undefined) {
      for (const p of queue) {
        await pacer.wait(p.tsSec * 1000 + p.tsNsec / 1e6);
        clock.observe(p.tsSec, p.tsNsec);
        handle(p);
      }
      queue.length = 0;
    }
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

/** Waits so that frames are handed over with their recorded spacing (divided by the speed). */
class Pacer {
  private lastPacketMs: number | undefined;
  /** Wall time (performance.now) at which the last frame was due. */
  private due = 0;

  constructor(
    private readonly speed: number,
    private readonly maxPauseMs: number,
    private readonly signal: AbortSignal | undefined,
  ) {}

  async wait(packetMs: number): Promise<void> {
    if (this.lastPacketMs === undefined) {
      this.lastPacketMs = packetMs;
      this.due = performance.now();
      return;
    }
    const gap = Math.min(Math.max(0, (packetMs - this.lastPacketMs) / this.speed), this.maxPauseMs);
    this.lastPacketMs = Math.max(this.lastPacketMs, packetMs);
    this.due += gap;
    const ahead = this.due - performance.now();
    if (ahead >= 1) await sleep(ahead, undefined, { signal: this.signal });
  }
}

/** Resolves when the writable can take more (backpressure for output). */
export async function drained(w: NodeJS.WritableStream & { writableNeedDrain?: boolean }): Promise<void> {
  if (w.writableNeedDrain === true) await once(w, 'drain');
}
