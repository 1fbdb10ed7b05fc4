// Types shared by every capture source (file, stream, live). A source hands each captured frame to a callback as a
// RawPacket that is REUSED for the next frame: a consumer that keeps data past the callback must copy it.

/** Link-layer header types (tcpdump.org LINKTYPE_* values) that the decoders understand. */
export const LinkType = {
  NULL: 0,
  ETHERNET: 1,
  RAW_OPENBSD: 12,
  RAW_BSD: 14,
  RAW: 101,
  LINUX_SLL: 113,
  IPV4: 228,
  IPV6: 229,
  LINUX_SLL2: 276,
} as const;

export interface RawPacket {
  /** 1-based frame number within the capture, as Wireshark counts it. */
  frame: number;
  /** Whole seconds since the Unix epoch. */
  tsSec: number;
  /** Nanoseconds within the second, 0..999,999,999. */
  tsNsec: number;
  /** LINKTYPE_* of the interface that captured the frame. */
  linkType: number;
  /** The frame's bytes are buf[off, off + capLen); buf is shared with other frames. */
  buf: Buffer;
  off: number;
  capLen: number;
  /** Length on the wire (may exceed capLen when the snaplen cut the frame). */
  origLen: number;
}

/** One problem in a capture: the reason is a stable name (counted), the message says what and where. */
export interface CaptureError {
  reason: string;
  file: string;
  /** Frame number the problem belongs to (the next frame's number when it is about framing of the file). */
  frame: number;
  message: string;
}

export type PacketHandler = (p: RawPacket) => void;
