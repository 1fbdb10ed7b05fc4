// Runs frames through a real DecodePipeline on a packet clock, collecting events (for tests).
import { PacketClock } from '../capture/packet-clock.js';
import { LinkType, type RawPacket } from '../capture/types.js';
import { DecodePipeline, type PipelineOptions } from '../decode/pipeline.js';
import type { ModbusEvent } from '../decode/modbus.js';
import { copyEvent, type DecodedEvent } from '../decode/types.js';

export interface HarnessFrame {
  data: Buffer;
  /** Seconds since the epoch (default: frame number). */
  ts?: number;
  linkType?: number;
}

export function decodeFrames(
  frames: readonly (Buffer | HarnessFrame)[],
  opts: Partial<Omit<PipelineOptions, 'clock' | 'onEvent'>> = {},
): { events: DecodedEvent[]; pipeline: DecodePipeline } {
  const events: DecodedEvent[] = [];
  const clock = new PacketClock();
  // Events are valid only during onEvent: each is copied to be kept.
  const pipeline = new DecodePipeline({ ...opts, clock, onEvent: (e) => events.push(copyEvent(e)) });
  frames.forEach((f, i) => {
    const spec = Buffer.isBuffer(f) ? { data: f } : f;
    const ts = spec.ts ?? i + 1;
    const raw: RawPacket = {
      frame: i + 1,
      tsSec: Math.floor(ts),
      tsNsec: Math.round((ts - Math.floor(ts)) * 1e9),
      linkType: spec.linkType ?? LinkType.ETHERNET,
      buf: spec.data,
      off: 0,
      capLen: spec.data.length,
      origLen: spec.data.length,
    };
    clock.observe(raw.tsSec, raw.tsNsec);
    pipeline.handle(raw);
  });
  return { events, pipeline };
}

/** decodeFrames, keeping only the Modbus events (for tests written when Modbus was the only protocol). */
export function decodeModbusFrames(
  frames: readonly (Buffer | HarnessFrame)[],
  opts: Partial<Omit<PipelineOptions, 'clock' | 'onEvent'>> = {},
): { events: ModbusEvent[]; pipeline: DecodePipeline } {
  const { events, pipeline } = decodeFrames(frames, opts);
  return { events: events.filter((e): e is ModbusEvent => e.protocol === 'modbus'), pipeline };
}
