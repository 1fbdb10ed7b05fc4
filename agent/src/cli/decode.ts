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
  /** Replay at the recorded speed times this (absent: as fast as possible). */
  speed?: number | undefined;
}

/** Fields every event carries that the line states once for the frame. */
const FRAME_FIELDS = new Set(['protocol', 'frame', 'ts', 'flow']);

/** The JSON text of one event inside its protocol's list: its own fields, undefined ones left out. */
export function eventJson(e: DecodedEvent): string {
  let s = '';
  const rec = e as unknown as Record<string, unknown>;
  for (const k in rec) {
    const v = rec[k];
    if (v === undefined || FRAME_FIELDS.has(k)) continue;
    const text = typeof v === 'number' || typeof v === 'boolean' ? String(v) : JSON.stringify(v);
    s += `${s === '' ? '{' : ','}"${k}":${text}`;
  }
  return s === '' ? '{}' : s + '}';
}

/** One event of a frame as the line needs it: taken during onEvent (the event itself is valid only then). */
export interface FrameEvent {
  protocol: DecodedEvent['protocol'];
  json: string;
}

/** Builds the JSONL line of one frame from its events, grouped per protocol in order of appearance. */
export function frameLine(pkt: PacketView, events: readonly FrameEvent[]): string {
  let s = `{"frame":${pkt.frame},"ts":${pkt.ts},"src":${JSON.stringify(pkt.srcAddr())},"dst":${JSON.stringify(pkt.dstAddr())},"sport":${pkt.sport},"dport":${pkt.dport}`;
  const done = new Set<string>();
  for (const first of events) {
    if (done.has(first.protocol)) continue;
    done.add(first.protocol);
    s += `,"${first.protocol}":[`;
    let n = 0;
    for (const e of events) if (e.protocol === first.protocol) s += (n++ === 0 ? '' : ',') + e.json;
    s += ']';
  }
  return s + '}\n';
}

export async function runDecode(
  file: string,
  opts: DecodeCommandOptions,
  out: NodeJS.WritableStream,
  err: NodeJS.WritableStream,
): Promise<{ capture: ReplayStats; pipeline: PipelineStats }> {
  const clock = new PacketClock();
  const frameEvents: FrameEvent[] = [];
  let lines: string[] = [];
  const pipeline = new DecodePipeline({
    clock,
    onEvent: (e) => frameEvents.push({ protocol: e.protocol, json: eventJson(e) }),
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
      ...(opts.speed !== undefined ? { speed: opts.speed } : {}),
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
    .option(
      '--speed <multiplier>',
      'replay at the recorded speed (1) or a multiple of it (default: as fast as possible)',
    )
    .action(async (file: string, raw: { format: 'jsonl'; stats: boolean; speed?: string }) => {
      let speed: number | undefined;
      if (raw.speed !== undefined) {
        speed = Number(raw.speed);
        if (!Number.isFinite(speed) || speed <= 0) {
          throw new UsageError(`--speed must be a positive number (1 = recorded speed), got ${raw.speed}`);
        }
      }
      await runDecode(file, { format: raw.format, stats: raw.stats, speed }, process.stdout, process.stderr);
    });
}
