import { LinkType, type RawPacket } from '../capture/types.js';
import type { SimFrame } from './simulator.js';

/** Simulated frames as the capture sources hand them over: one RawPacket, reused for each frame. */
export class RawFrames {
  private readonly raw: RawPacket = {
    frame: 0,
    tsSec: 0,
    tsNsec: 0,
    linkType: LinkType.ETHERNET,
    buf: Buffer.alloc(0),
    off: 0,
    capLen: 0,
    origLen: 0,
  };

  /** The frame as frame number `n` (valid until the next call). */
  of(f: SimFrame, n: number): RawPacket {
    const raw = this.raw;
    raw.frame = n;
    raw.tsSec = Math.floor(f.tUs / 1e6);
    raw.tsNsec = (f.tUs % 1e6) * 1000;
    raw.buf = f.data;
    raw.capLen = raw.origLen = f.data.length;
    return raw;
  }
}
