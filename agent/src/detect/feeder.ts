// Feeds frames to a DetectionEngine in packet-time order while model detectors answer asynchronously (ONNX Runtime
// runs off the JS thread): once a detector has been asked and has not answered, later frames wait in a queue (as
// copies: the reader reuses its buffers) and drain() hands them over after the answer, stopping again at the next
// question. So a model's detection lands in the correlator at the packet time it was asked, as it would live, not a
// whole read chunk later. The engine's clock is moved here, per frame, when the frame is handled.
import type { PacketClock } from '../capture/packet-clock.js';
import type { RawPacket } from '../capture/types.js';
import type { DetectionEngine } from './engine.js';

/** Words per queued frame in FrameFeeder's table: frame, tsSec, tsNsec, linkType, arena offset, capLen, origLen. */
const Q = 7;
const ARENA_BYTES = 1 << 20;
/** Frames up to this many bytes are queued by a plain loop (see enqueue). */
const SMALL_FRAME = 256;
/** An arena grown past this by a long wait is given back after the queue drained. */
const ARENA_KEEP_BYTES = 16 << 20;

export class FrameFeeder {
  // Queued frames: their bytes copied one after another into one arena, their fields in a table (no object or
  // Buffer per frame: while a model is asked, a whole read chunk of frames can wait here).
  private meta = new Float64Array(Q * 4096);
  private arena = Buffer.allocUnsafe(ARENA_BYTES);
  private used = 0;
  private count = 0;
  private head = 0;
  /** The frame handed over from the queue (reused, as the capture reader reuses its own). */
  private readonly out: RawPacket = {
    frame: 0,
    tsSec: 0,
    tsNsec: 0,
    linkType: 0,
    buf: this.arena,
    off: 0,
    capLen: 0,
    origLen: 0,
  };

  /** `handle` takes each frame once the clock is at its time (default: the engine; the daemon's feed wraps it). */
  constructor(
    private readonly engine: DetectionEngine,
    private readonly clock: PacketClock,
    private readonly handle: (raw: RawPacket) => void = (raw) => engine.handle(raw),
  ) {}

  /** Frames waiting for a detector's answer. */
  get queued(): number {
    return this.count - this.head;
  }

  push(raw: RawPacket): void {
    if (this.queued > 0 || this.engine.busy) {
      this.enqueue(raw);
      return;
    }
    this.clock.observe(raw.tsSec, raw.tsNsec);
    this.handle(raw);
  }

  /** Copies a frame into the queue (the reader reuses its buffers). */
  private enqueue(raw: RawPacket): void {
    const cap = raw.capLen;
    if (this.used + cap > this.arena.length) {
      const bigger = Buffer.allocUnsafe(Math.max(this.arena.length * 2, this.used + cap));
      this.arena.copy(bigger, 0, 0, this.used);
      this.arena = bigger;
    }
    if (cap <= SMALL_FRAME) {
      // Buffer.copy makes a typed-array view per call (a third of the garbage of a run with the models); a short
      // frame is copied byte by byte instead.
      const src = raw.buf;
      const dst = this.arena;
      for (let i = 0, s = raw.off, d = this.used; i < cap; i++) dst[d + i] = src[s + i]!;
    } else raw.buf.copy(this.arena, this.used, raw.off, raw.off + cap);
    if ((this.count + 1) * Q > this.meta.length) {
      const bigger = new Float64Array(this.meta.length * 2);
      bigger.set(this.meta);
      this.meta = bigger;
    }
    const m = this.meta;
    const o = this.count * Q;
    m[o] = raw.frame;
    m[o + 1] = raw.tsSec;
    m[o + 2] = raw.tsNsec;
    m[o + 3] = raw.linkType;
    m[o + 4] = this.used;
    m[o + 5] = cap;
    m[o + 6] = raw.origLen;
    this.used += cap;
    this.count++;
  }

  /** Hands every queued frame over, waiting for the detectors whenever they were asked. */
  async drain(): Promise<void> {
    await this.engine.settle();
    const out = this.out;
    while (this.head < this.count) {
      // Read the table and arena afresh each time: frames queued while waiting may have grown them.
      const m = this.meta;
      const o = this.head++ * Q;
      out.frame = m[o] ?? 0;
      out.tsSec = m[o + 1] ?? 0;
      out.tsNsec = m[o + 2] ?? 0;
      out.linkType = m[o + 3] ?? 0;
      out.buf = this.arena;
      out.off = m[o + 4] ?? 0;
      out.capLen = m[o + 5] ?? 0;
      out.origLen = m[o + 6] ?? 0;
      this.clock.observe(out.tsSec, out.tsNsec);
      this.handle(out);
      if (this.engine.busy) await this.engine.settle();
    }
    this.count = 0;
    this.head = 0;
    this.used = 0;
    if (this.arena.length > ARENA_KEEP_BYTES) this.arena = Buffer.allocUnsafe(ARENA_BYTES);
  }
}
