// Follows the ring of capture files that the capture helper writes (`dumpcap -b filesize:K -b files:N -g -w
// DIR/NAME.EXT`, the systemd unit vigil-capture@IF): dumpcap names them NAME_00001_YYYYMMDDhhmmss.EXT, NAME_00002_...,
// closes one before it opens the next, and deletes the oldest beyond N. The agent reads the file being written as it
// grows and moves on when the next one appears, so it needs no capture rights itself. A file replaced before it could
// be read is counted (reason ring_file_missed) and named; a restarted helper (numbering from 1 again, later
// timestamp) is followed. Each file is its own capture (a new parser), so a file cut short by a killed helper cannot
// corrupt the next; frame numbers run on across files.
import { open, readdir, type FileHandle } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';
import { z } from 'zod';
import { CaptureParser, emptyCaptureStats, type CaptureStats } from './pcap.js';
import type { CaptureError, PacketHandler } from './types.js';

export const RingConfig = z.object({
  /** The path the helper writes to (its -w argument), e.g. /run/vigil-capture/eth1.pcapng. */
  path: z.string().min(1),
  /** How often to look for new bytes and new files. */
  pollMs: z.number().int().min(10).max(10_000).default(100),
  /** 'now': only what is written after the start (the newest file's existing bytes are skipped); 'start': all. */
  from: z.enum(['now', 'start']).default('now'),
});
export type RingConfig = z.input<typeof RingConfig>;

export interface RingHandlers {
  onPacket: PacketHandler;
  onError?: (e: CaptureError) => void;
}

export interface RingStats extends CaptureStats {
  /** Ring files opened. */
  files: number;
  /** Ring files replaced by the helper before they could be read. */
  missedFiles: number;
  /** The file being read, if any. */
  current: string | undefined;
}

interface RingFile {
  name: string;
  num: number;
  /** YYYYMMDDhhmmss, when the helper created the file. */
  stamp: string;
}

/** Bytes read from the current file per read call. */
const READ_BYTES = 1 << 20;

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Ring order: by creation stamp, then number (a restarted helper numbers from 1 again, with later stamps). */
function before(a: RingFile, b: RingFile): boolean {
  return a.stamp < b.stamp || (a.stamp === b.stamp && a.num < b.num);
}

function addStats(into: CaptureStats, s: CaptureStats): void {
  into.format = s.format;
  into.frames += s.frames;
  into.bytes += s.bytes;
  for (const [k, n] of Object.entries(s.errors)) into.errors[k] = (into.errors[k] ?? 0) + n;
  for (const e of s.firstErrors) if (into.firstErrors.length < 100) into.firstErrors.push(e);
  if (s.reported !== undefined) {
    const r = (into.reported ??= { received: 0, dropped: 0 });
    r.received += s.reported.received;
    r.dropped += s.reported.dropped;
  }
}

export class RingFollower {
  private readonly config: z.output<typeof RingConfig>;
  private readonly dir: string;
  private readonly pattern: RegExp;
  /** Totals of the files already finished. */
  private readonly done: CaptureStats = emptyCaptureStats();
  private files = 0;
  private missed = 0;
  private cur: { file: RingFile; fh: FileHandle; pos: number; parser: CaptureParser } | undefined;
  /** While false, frames are parsed (to keep the parser's place) but not handed on: the 'now' start. */
  private emitting: boolean;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();
  private stopped = false;

  /** Throws a ZodError when the configuration is invalid. */
  constructor(
    config: RingConfig,
    private readonly handlers: RingHandlers,
  ) {
    this.config = RingConfig.parse(config);
    this.dir = dirname(this.config.path);
    const ext = extname(this.config.path);
    const name = basename(this.config.path, ext);
    this.pattern = new RegExp(`^${escapeRegExp(name)}_(\\d{5,})_(\\d{14})${escapeRegExp(ext)}$`);
    this.emitting = this.config.from === 'start';
  }

  /** Checks that the ring's directory can be read and starts following; rejects with what is wrong. */
  async start(): Promise<void> {
    try {
      await readdir(this.dir);
    } catch (err) {
      throw new Error(
        `cannot read the capture ring directory ${this.dir}: ${(err as Error).message} ` +
          '(is the capture helper running, and is this user in its group?)',
      );
    }
    const first = this.step();
    this.running = first.catch(() => undefined);
    await first;
    this.schedule();
  }

  /** Stops following and finishes the current file's parser. Safe to call twice. */
  async shutdown(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
    await this.close();
  }

  stats(): RingStats {
    const s: RingStats = {
      ...this.done,
      errors: { ...this.done.errors },
      firstErrors: [...this.done.firstErrors],
      files: this.files,
      missedFiles: this.missed,
      current: this.cur === undefined ? undefined : join(this.dir, this.cur.file.name),
    };
    if (this.cur !== undefined) {
      addStats(s, this.cur.parser.stats);
      s.stopped = this.cur.parser.stats.stopped;
    }
    return s;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.step()
        .catch((err: unknown) => this.report('ring_read_error', this.config.path, (err as Error).message))
        .finally(() => this.schedule());
    }, this.config.pollMs);
  }

  private report(reason: string, file: string, message: string): void {
    this.handlers.onError?.({ reason, file, frame: this.stats().frames + 1, message });
  }

  private missedFiles(n: number, name: string, message: string): void {
    this.missed += n;
    this.report('ring_file_missed', join(this.dir, name), message);
  }

  private async list(): Promise<RingFile[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch {
      return []; // the directory went away (helper restarting): look again next time
    }
    const files: RingFile[] = [];
    for (const name of names) {
      const m = this.pattern.exec(name);
      if (m?.[1] !== undefined && m[2] !== undefined) files.push({ name, num: Number(m[1]), stamp: m[2] });
    }
    return files.sort((a, b) => (before(a, b) ? -1 : before(b, a) ? 1 : 0));
  }

  private async step(): Promise<void> {
    const files = await this.list();
    if (this.cur === undefined) {
      const first = this.config.from === 'now' ? files.at(-1) : files[0];
      if (first === undefined) {
        this.emitting = true; // nothing written yet, so nothing to skip
        return;
      }
      if (!(await this.openFile(first))) return;
    }
    // Reads to the end of the current file; when a later file exists the helper has closed this one, so after one
    // more read it is complete and the next is taken, as many times as files are waiting.
    for (;;) {
      const cur = this.cur;
      if (cur === undefined) return;
      await this.drain();
      const next = files.find((f) => before(cur.file, f));
      if (next === undefined) break;
      this.emitting = true; // the start's existing bytes are behind us
      await this.drain();
      if (next.stamp >= cur.file.stamp && next.num > cur.file.num + 1) {
        const n = next.num - cur.file.num - 1;
        this.missedFiles(
          n,
          next.name,
          `${n} ring file(s) before it were replaced by the capture helper unread`,
        );
      }
      await this.close();
      if (!(await this.openFile(next))) break;
    }
    this.emitting = true;
  }

  /** Opens a ring file; false when it vanished meanwhile (replaced: counted as missed, the next one is taken). */
  private async openFile(file: RingFile): Promise<boolean> {
    let fh: FileHandle;
    try {
      fh = await open(join(this.dir, file.name), 'r');
    } catch (err) {
      this.missedFiles(
        1,
        file.name,
        `replaced by the capture helper before it could be opened (${(err as Error).message})`,
      );
      return false;
    }
    const base = this.stats().frames;
    const emit = this.handlers.onPacket;
    const parser = new CaptureParser({
      file: join(this.dir, file.name),
      onPacket: (p) => {
        if (!this.emitting) return;
        p.frame += base;
        emit(p);
      },
      ...(this.handlers.onError !== undefined ? { onError: this.handlers.onError } : {}),
    });
    this.cur = { file, fh, pos: 0, parser };
    this.files++;
    return true;
  }

  private async drain(): Promise<void> {
    const cur = this.cur;
    if (cur === undefined) return;
    for (;;) {
      // A fresh buffer per read: the parser keeps an unfinished record's bytes by reference.
      const buf = Buffer.allocUnsafe(READ_BYTES);
      const { bytesRead } = await cur.fh.read(buf, 0, READ_BYTES, cur.pos);
      if (bytesRead === 0) return;
      cur.pos += bytesRead;
      cur.parser.push(buf.subarray(0, bytesRead));
    }
  }

  private async close(): Promise<void> {
    const cur = this.cur;
    if (cur === undefined) return;
    this.cur = undefined;
    addStats(this.done, cur.parser.end());
    await cur.fh.close();
  }
}
