// Live capture: a capture tool (dumpcap or tcpdump, Debian packages) runs as the privileged child and writes pcap or
// pcapng to a pipe; the agent only reads the pipe and needs no root. Give the tool the capture capabilities once
// (`setcap cap_net_raw,cap_net_admin+eip /usr/bin/dumpcap`, or the wireshark group) or run it through sudo.
// What the kernel dropped (a full capture buffer) is read from the tool: tcpdump prints its counters when sent
// SIGUSR1, so they are asked for every statsIntervalMs while it runs; dumpcap writes them (pcapng interface
// statistics) only when it stops.
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable } from 'node:stream';
import { z } from 'zod';
import { CaptureParser, type CaptureStats } from './pcap.js';
import type { CaptureError, PacketHandler } from './types.js';

export const LiveCaptureConfig = z.object({
  /** Interface name (`eth0`, `lo`, `any`). */
  interface: z.string().min(1),
  /** BPF filter ('' for everything). */
  filter: z.string().default(''),
  snaplen: z.number().int().min(64).max(262_144).default(65_535),
  tool: z.enum(['dumpcap', 'tcpdump']).default('dumpcap'),
  /** Path of the tool when it is not on the PATH (or a wrapper such as a sudo script). */
  toolPath: z.string().min(1).optional(),
  /** tcpdump: how often to ask it for its kernel counters (0: only when it stops). */
  statsIntervalMs: z.number().int().min(0).default(10_000),
});
export type LiveCaptureConfig = z.input<typeof LiveCaptureConfig>;

export interface LiveCaptureHandlers {
  onPacket: PacketHandler;
  onError?: (e: CaptureError) => void;
}

export interface LiveCaptureStats extends CaptureStats {
  /** Exit code of the tool once it ended (null while running or when killed by a signal). */
  exitCode: number | null;
  /** The tool's last stderr lines (its own error messages, drop reports). */
  toolMessages: string;
  /**
   * Packets the kernel received for the capture (after the filter) and dropped (buffer full), as the tool last
   * reported them; undefined until it reports (dumpcap: when it stops).
   */
  kernel: { received: number; dropped: number } | undefined;
}

/** tcpdump's counters, one line on SIGUSR1 or several when it stops: "N packets received by filter", "... dropped by kernel". */
const RECEIVED = /(\d+) packets? received by filter/g;
const DROPPED = /(\d+) packets? dropped by (kernel|interface)/g;

/** The newest counters in tcpdump's messages (the last report), or undefined when it has printed none. */
export function tcpdumpCounters(messages: string): { received: number; dropped: number } | undefined {
  const received = [...messages.matchAll(RECEIVED)].at(-1);
  if (received === undefined) return undefined;
  // Drop counts that follow the last "received by filter" belong to the same report (kernel, and interface when the
  // driver counts them).
  let dropped = 0;
  for (const m of messages.slice(received.index).matchAll(DROPPED)) dropped += Number(m[1]);
  return { received: Number(received[1]), dropped };
}

/** How long the tool has to start writing its capture header before start() gives up. */
const START_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 5_000;

/** The command line for the configured tool: capture to stdout, packet-buffered, with filter and snaplen. */
export function captureCommand(c: z.output<typeof LiveCaptureConfig>): { cmd: string; args: string[] } {
  const snap = String(c.snaplen);
  if (c.tool === 'tcpdump') {
    const args = ['-i', c.interface, '-s', snap, '-U', '--immediate-mode', '-n', '-w', '-'];
    if (c.filter !== '') args.push(c.filter);
    return { cmd: c.toolPath ?? 'tcpdump', args };
  }
  const args = ['-i', c.interface, '-s', snap, '-q', '-w', '-'];
  if (c.filter !== '') args.push('-f', c.filter);
  return { cmd: c.toolPath ?? 'dumpcap', args };
}

export class LiveCapture {
  private readonly config: z.output<typeof LiveCaptureConfig>;
  private readonly parser: CaptureParser;
  private child: ChildProcessByStdio<null, Readable, Readable> | undefined;
  private exited: Promise<void> | undefined;
  private exitCode: number | null = null;
  private stderr = '';
  private stopping = false;
  private statsTimer: NodeJS.Timeout | undefined;
  private listening = false;

  /** Throws a ZodError when the configuration is invalid (validated once, here at the edge). */
  constructor(config: LiveCaptureConfig, handlers: LiveCaptureHandlers) {
    this.config = LiveCaptureConfig.parse(config);
    this.parser = new CaptureParser({
      file: `live:${this.config.interface}`,
      onPacket: handlers.onPacket,
      ...(handlers.onError ? { onError: handlers.onError } : {}),
    });
  }

  /** Starts the tool; resolves once it writes its capture header, rejects with its message if it fails first. */
  async start(): Promise<void> {
    if (this.child !== undefined) return;
    const { cmd, args } = captureCommand(this.config);
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (s: string) => {
      this.stderr = (this.stderr + s).slice(-4096);
      // tcpdump prints "listening on" after it has installed its SIGUSR1 handler (before that the signal kills it).
      if (!this.listening && this.stderr.includes('listening on')) this.listening = true;
    });
    let started = false;
    const ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${cmd} wrote nothing within ${START_TIMEOUT_MS} ms`)),
        START_TIMEOUT_MS,
      );
      child.stdout.on('data', (chunk: Buffer) => {
        this.parser.push(chunk);
        if (!started) {
          started = true;
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('error', (err) => {
        clearTimeout(timer);
        reject(
          new Error(`cannot run ${cmd}: ${err.message} (install it: apt-get install ${this.config.tool})`),
        );
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        if (!started)
          reject(new Error(`${cmd} ${args.join(' ')} exited with ${code}: ${this.stderr.trim()}`));
      });
    });
    this.exited = new Promise<void>((resolve) => {
      let pending = 2;
      const done = (): void => {
        if (--pending === 0) resolve();
      };
      child.stdout.once('end', done);
      child.once('close', (code) => {
        this.exitCode = code;
        done();
      });
    });
    try {
      await ready;
    } catch (err) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      throw err;
    }
    if (this.config.tool === 'tcpdump' && this.config.statsIntervalMs > 0) {
      this.statsTimer = setInterval(() => {
        if (this.listening && child.exitCode === null && child.signalCode === null) child.kill('SIGUSR1');
      }, this.config.statsIntervalMs);
      this.statsTimer.unref();
    }
  }

  /** Stops the tool and reads what it flushed. Safe to call twice, or before start(). */
  async shutdown(): Promise<void> {
    const child = this.child;
    if (child === undefined || this.stopping) {
      await this.exited;
      return;
    }
    this.stopping = true;
    clearInterval(this.statsTimer);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    await this.exited;
    clearTimeout(timer);
    this.parser.end();
  }

  stats(): LiveCaptureStats {
    const s = this.parser.stats;
    const kernel = this.config.tool === 'tcpdump' ? tcpdumpCounters(this.stderr) : s.reported;
    return { ...s, exitCode: this.exitCode, toolMessages: this.stderr.trim(), kernel };
  }
}
