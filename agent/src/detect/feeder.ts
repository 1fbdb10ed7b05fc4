// Feeds frames to a DetectionEngine in packet-time order while model detectors answer asynchronously (ONNX Runtime
// runs off the JS thread): once a detector has been asked and has not answered, later frames wait in a queue (as
// copies: the reader reuses its buffers) and drain() hands them over after the answer, stopping again at the next
// question. So a model's detection lands in the correlator at the packet time it was asked, as it would live, not a
// whole read chunk later. The engine's clock is moved here, per frame, when the frame is handled.
import type { PacketClock } from '../capture/packet-clock.js';
import type { RawPacket } from '../capture/types.js';
import type { DetectionEngine } from './engine.js';

export class FrameFeeder {
  private readonly queue: RawPacket[] = [];
  private head = 0;

  /** `handle` takes each frame once the clock is at its time (default: the engine; the daemon's feed wraps it). */
  constructor(
    private readonly engine: DetectionEngine,
    private readonly clock: PacketClock,
    private readonly handle: (raw: RawPacket) => void = (raw) => engine.handle(raw),
  ) {}

  /** Frames waiting for a detector's answer. */
  get queued(): number {
    return this.queue.length - this.head;
  }

  push(raw: RawPacket): void {
    if (this.queued > 0 || this.engine.busy) {
      this.queue.push({ ...raw, buf: Buffer.from(raw.buf.subarray(raw.off, raw.off + raw.capLen)), off: 0 });
      return;
    }
    this.clock.observe(raw.tsSec, raw.tsNsec);
    this.handle(raw);
  }

  /** Hands every queued frame over, waiting for the detectors whenever they were asked. */
  async drain(): Promise<void> {
    await this.engine.settle();
    while (this.head < this.queue.length) {
      const raw = this.queue[this.head++]!;
      this.clock.observe(raw.tsSec, raw.tsNsec);
      this.handle(raw);
      if (this.engine.busy) await this.engine.settle();
    }
    this.queue.length = 0;
    this.head = 0;
  }
}
