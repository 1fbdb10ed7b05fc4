// `vigil-agent decode FILE --format jsonl`: decodes a capture and prints one JSON object per frame that completes at
// least one application PDU: {"frame", "ts", "src", "dst", "sport", "dport", "modbus": [...]} (keys absent when
// empty). A PDU completed by a later segment belongs to that later frame, as tshark shows it. Problems in the
// capture go to stderr with the file and frame; a file that is not a capture at all is a usage error.
import { createReadStream } from 'node:fs';
import type { Command } from 'commander';
import { Option } from 'commander';
import { UsageError } from '@vigil/shared';
import { PacketClock } from '../capture/packet-clock.js';
import { drained, replay, type ReplayStats } from '../capture/replay.js';
import { DecodePipeline, type PipelineStats } from '../decode/pipeline.js';
import type { DecodedEvent, PacketView } from '../decode/types.js';

export interface DecodeCommandOptions {
  format: 'jsonl';
  stats: boolean;
}

/** The JSON of one event inside its protocol's list: the frame-level fields are on the line, not repeated. */
export function eventJson(e: DecodedEvent): Record<string, unknown> {
  const { protocol: _p, frame: _f, ts: _t, flow: _fl, ...rest } = e;
  return rest;
}

/** Builds the JSONL line of one frame from its events. */
export function frameLine(pkt: PacketView, events: readonly DecodedEvent[]): string {
  const line: Record<string, unknown> = {
    frame: pkt.frame,
    ts: pkt.ts,
    src: pkt.srcAddr(),
    dst: pkt.dstAddr(),
    sport: pkt.sport,
    dport: pkt.dport,
  };
  for (const e of events) {
    const list = (line[e.protocol] ??= []) as unknown[];
    list.push(eventJson(e));
  }
  return JSON.stringify(line) + '\n';
}

export async function runDecode(
  file: string,
  opts: DecodeCommandOptions,
  out: NodeJS.WritableStream,
  err: NodeJS.WritableStream,
): Promise<{ capture: ReplayStats; pipeline: PipelineStats }> {
  const clock = new PacketClock();
  const frameEvents: DecodedEvent[] = [];
  let lines: string[] = [];
  const pipeline = new DecodePipeline({
    clock,
    onEvent: (e) => frameEvents.push(e),
  });
  const stream = file === '-' ? process.stdin : createReadStream(file, { highWaterMark: 4 * 1024 * 1024 });
  let capture: ReplayStats;
  try {
    capture = await replay(stream, {
      file,
      clock,
      handle: (p) => {
        pipeline.handle(p);
        if (frameEvents.length > 0) {
          // The pipeline's packet view still describes this frame: events are emitted while it is handled.
          lines.push(frameLine(pipeline.packet, frameEvents));
          frameEvents.length = 0;
        }
      },
      afterChunk: async () => {
        if (lines.length === 0) return;
        out.write(lines.join(''));
        lines = [];
        await drained(out);
      },
      onError: (e) => err.write(`vigil-agent: ${e.file}: ${e.message}\n`),
    });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UsageError(
      `cannot read ${file}: ${code ?? (e instanceof Error ? e.message : String(e))} (give a readable pcap or pcapng file, or - for stdin)`,
    );
  }
  if (lines.length > 0) out.write(lines.join(''));
  if (capture.format === 'unknown') {
    throw new UsageError(
      `${file} is not a pcap or pcapng capture (expected a capture file written by tcpdump, dumpcap or Wireshark)`,
    );
  }
  const stats = pipeline.stats();
  if (opts.stats) err.write(JSON.stringify({ capture, pipeline: stats }) + '\n');
  return { capture, pipeline: stats };
}

export function registerDecode(program: Command): void {
  program
    .command('decode')
    .description(
      'decode a pcap/pcapng capture and print the application PDUs it carries, one JSON line per frame',
    )
    .argument('<file>', 'capture file (pcap or pcapng), or - for standard input')
    .addOption(new Option('--format <format>', 'output format').choices(['jsonl']).default('jsonl'))
    .option('--stats', 'print capture and decoder counters (malformed input, drops) as JSON to stderr', false)
    .action(async (file: string, opts: DecodeCommandOptions) => {
      await runDecode(file, opts, process.stdout, process.stderr);
    });
}
