// Big-endian reads without bounds exceptions: callers check lengths first; a read past the end yields 0, never throws.

export function u8(b: Buffer, o: number): number {
  return b[o] ?? 0;
}

export function u16(b: Buffer, o: number): number {
  return ((b[o] ?? 0) << 8) | (b[o + 1] ?? 0);
}

export function u32(b: Buffer, o: number): number {
  return (((b[o] ?? 0) << 24) | ((b[o + 1] ?? 0) << 16) | ((b[o + 2] ?? 0) << 8) | (b[o + 3] ?? 0)) >>> 0;
}
