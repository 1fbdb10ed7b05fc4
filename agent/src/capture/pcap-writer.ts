// Writes classic pcap: the file header and one record per frame. Used to save evidence, generate benchmark
// captures and build test inputs in every variant the reader accepts (byte order, µs or ns timestamps).
import { LinkType } from './types.js';

export interface PcapFormat {
  linkType?: number;
  nano?: boolean;
  bigEndian?: boolean;
  snapLen?: number;
}

export function pcapHeader(f: PcapFormat = {}): Buffer {
  const b = Buffer.alloc(24);
  const w32 = (v: number, o: number): number => (f.bigEndian ? b.writeUInt32BE(v, o) : b.writeUInt32LE(v, o));
  const w16 = (v: number, o: number): number => (f.bigEndian ? b.writeUInt16BE(v, o) : b.writeUInt16LE(v, o));
  w32(f.nano ? 0xa1b23c4d : 0xa1b2c3d4, 0);
  w16(2, 4);
  w16(4, 6);
  w32(f.snapLen ?? 262_144, 16);
  w32(f.linkType ?? LinkType.ETHERNET, 20);
  return b;
}

/** One record: timestamp (seconds + µs or ns as the format says), the frame, and its wire length. */
export function pcapRecord(
  tsSec: number,
  tsSub: number,
  frame: Buffer,
  f: PcapFormat = {},
  origLen?: number,
): Buffer {
  const b = Buffer.alloc(16 + frame.length);
  const w32 = (v: number, o: number): number => (f.bigEndian ? b.writeUInt32BE(v, o) : b.writeUInt32LE(v, o));
  w32(tsSec, 0);
  w32(tsSub, 4);
  w32(frame.length, 8);
  w32(origLen ?? frame.length, 12);
  frame.copy(b, 16);
  return b;
}
