// Live capture: a capture tool (dumpcap or tcpdump, Debian packages) runs as the privileged child and writes pcap or
// pcapng to a pipe; the agent only reads the pipe and needs no root. Give the tool the capture capabilities once
// (`setcap cap_net_raw,cap_net_admin+eip /usr/bin/dumpcap`, or the wireshark group) or run it through sudo.
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
  }

  /** Stops the tool and reads what it flushed. Safe to call twice, or before start(). */
  async shutdown(): Promise<void> {
    const child = this.child;
    if (child === undefined || this.stopping) {
      await this.exited;
      return;
    }
    this.stopping = true;
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    await this.exited;
    clearTimeout(timer);
    this.parser.end();
  }

  stats(): LiveCaptureStats {
    return { ...this.parser.stats, exitCode: this.exitCode, toolMessages: this.stderr.trim() };
  }
}
