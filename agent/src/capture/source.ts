// Capture sources: a file or any byte stream (stdin, a capture tool's pipe) through the streaming parser.
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { CaptureParser, type CaptureParserOptions, type CaptureStats } from './pcap.js';

/** Chunk size for file reads: large enough that the per-chunk cost vanishes, small enough to stay cache-friendly. */
const FILE_CHUNK = 4 * 1024 * 1024;

/** Reads a whole stream through the parser. Resolves with the stats; rejects only if the stream itself fails. */
export async function readCaptureStream(stream: Readable, opts: CaptureParserOptions): Promise<CaptureStats> {
  const parser = new CaptureParser(opts);
  for await (const chunk of stream) {
    parser.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array));
  }
  return parser.end();
}

/**
 * Reads a capture file. A file that cannot be opened rejects (the caller reports it); anything wrong inside the
 * file is counted in the stats and never throws.
 */
export async function readCaptureFile(
  path: string,
  opts: Omit<CaptureParserOptions, 'file'> & { file?: string },
): Promise<CaptureStats> {
  return readCaptureStream(createReadStream(path, { highWaterMark: FILE_CHUNK }), {
    ...opts,
    file: opts.file ?? path,
  });
}
