// `vigil-agent assets FILE`: replays a capture through the decoders and prints the asset inventory as JSON: hosts
// (IP, MAC, first/last seen, counters) and the roles their traffic shows (Modbus client/server with unit ids, MQTT
// broker/client with client ids, DNS and HTTP servers and clients). `--window` adds the last 60 seconds of the
// facility's per-second metrics. Problems in the capture go to stderr with the file and frame.
import { createReadStream } from 'node:fs';
import type { Command } from 'commander';
import { UsageError, type FacilitySecond } from '@vigil/shared';
import type { HostJson } from '../assets/inventory.js';
import { PacketClock } from '../capture/packet-clock.js';
import { replay } from '../capture/replay.js';
import { Analyzer } from '../features/analyzer.js';

export interface AssetsCommandOptions {
  window: boolean;
}

export interface AssetsReport {
  file: string;
  hosts: HostJson[];
  dropped_hosts: number;
  window?: FacilitySecond[];
}

export async function runAssets(
  file: string,
  opts: AssetsCommandOptions,
  err: NodeJS.WritableStream,
): Promise<AssetsReport> {
  const clock = new PacketClock();
  const analyzer = new Analyzer({ clock });
  const stream = file === '-' ? process.stdin : createReadStream(file, { highWaterMark: 4 * 1024 * 1024 });
  let format: string;
  try {
    const stats = await replay(stream, {
      file,
      clock,
      handle: (p) => analyzer.handle(p),
      onError: (e) => err.write(`vigil-agent: ${e.file}: ${e.message}\n`),
    });
    format = stats.format;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UsageError(
      `cannot read ${file}: ${code ?? (e instanceof Error ? e.message : String(e))} (give a readable pcap or pcapng file, or - for stdin)`,
    );
  }
  if (format === 'unknown') {
    throw new UsageError(
      `${file} is not a pcap or pcapng capture (expected a capture file written by tcpdump, dumpcap or Wireshark)`,
    );
  }
  const report: AssetsReport = { file, ...analyzer.assets.toJson() };
  if (opts.window) report.window = analyzer.window.rows();
  return report;
}

export function registerAssets(program: Command): void {
  program
    .command('assets')
    .description(
      'print the asset inventory of a capture (hosts, MACs, first/last seen, roles, counters) as JSON',
    )
    .argument('<file>', 'capture file (pcap or pcapng), or - for standard input')
    .option('--window', 'add the last 60 seconds of per-second facility metrics', false)
    .action(async (file: string, opts: AssetsCommandOptions) => {
      const report = await runAssets(file, opts, process.stderr);
      process.stdout.write(JSON.stringify(report, null, 2) + '\n');
    });
}
