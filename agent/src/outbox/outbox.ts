// The agent's outbox: every alert is written here (SQLite, WAL, fsync on commit) BEFORE it is sent, and deleted only
// when the aggregator acknowledges it. A crash, a kill -9 or a dead link loses nothing: the next connection resends
// whatever is still here, and the aggregator stores by alert id, so a resend never duplicates.
//
// Policy when full. The outbox is bounded in bytes (`maxBytes`, enforced by SQLite's max_page_count, so it is the
// size of the database file; a full disk has the same effect). When an alert does not fit:
//   - enqueue() throws OutboxFullError and writes nothing of the batch;
//   - the refusal is never silent: a log line per alert carrying the whole alert as JSON (so it can be recovered from
//     the journal), the `refused` counter, which the agent reports in every heartbeat (agent health:
//     alerts_refused_outbox_full), and the aggregator shows per facility;
//   - the caller decides whether to wait for room (a replayable source such as --alerts-in pauses and retries) or
//     to move on (a live detector cannot stop the capture).
// Window aggregates and inventory changes do not enter the outbox: they are kept in bounded memory queues and dropped
// (counted) under pressure.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { Alert } from '@vigil/shared';

export interface OutboxOptions {
  /** SQLite file. */
  path: string;
  /** Upper bound of the database file, bytes (at least 64 KiB). */
  maxBytes: number;
  /** Where refusals are reported (one line per refused alert). */
  log?: (line: string) => void;
}

export interface OutboxEntry {
  id: number;
  /** The alert as JSON (what was enqueued). */
  json: string;
}

export class OutboxFullError extends Error {
  override readonly name = 'OutboxFullError';
}

const PAGE_SIZE = 4096;
export const MIN_OUTBOX_BYTES = 64 * 1024;

function isFull(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return code === 'SQLITE_FULL' || code === 'ENOSPC' || code === 'SQLITE_IOERR_WRITE';
}

export class Outbox {
  private readonly db: Database.Database;
  private readonly insert: Database.Statement<[string, string, number]>;
  private readonly del: Database.Statement<[number], { bytes: number }>;
  private readonly page: Database.Statement<[number, number], { id: number; json: string }>;
  private readonly log: (line: string) => void;
  private countCache: number;
  private bytesCache: number;
  /** Alerts refused because the outbox was full, since this process started. */
  refused = 0;

  constructor(private readonly o: OutboxOptions) {
    if (!Number.isFinite(o.maxBytes) || o.maxBytes < MIN_OUTBOX_BYTES) {
      throw new RangeError(`outbox maxBytes must be at least ${MIN_OUTBOX_BYTES}`);
    }
    this.log = o.log ?? ((line) => process.stderr.write(`vigil-agent outbox: ${line}\n`));
    mkdirSync(dirname(o.path), { recursive: true });
    this.db = new Database(o.path);
    this.db.pragma(`page_size = ${PAGE_SIZE}`);
    this.db.pragma('journal_mode = WAL');
    // FULL: a committed alert survives power loss too, not only a process crash.
    this.db.pragma('synchronous = FULL');
    // Keep the WAL itself small; the bound below is on the main file.
    this.db.pragma('journal_size_limit = 1048576');
    this.db.exec(`CREATE TABLE IF NOT EXISTS outbox (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      alert_id TEXT NOT NULL,
      json TEXT NOT NULL,
      bytes INTEGER NOT NULL,
      enqueued_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
    )`);
    // How far a replayable source (e.g. --alerts-in FILE) has been read, committed with the alerts it produced.
    this.db.exec(
      'CREATE TABLE IF NOT EXISTS source_progress (source TEXT PRIMARY KEY, position INTEGER NOT NULL)',
    );
    this.db.pragma(`max_page_count = ${Math.floor(o.maxBytes / PAGE_SIZE)}`);
    this.insert = this.db.prepare('INSERT INTO outbox (alert_id, json, bytes) VALUES (?, ?, ?)');
    this.del = this.db.prepare('DELETE FROM outbox WHERE id = ? RETURNING bytes');
    this.page = this.db.prepare('SELECT id, json FROM outbox WHERE id > ? ORDER BY id LIMIT ?');
    const row = this.db.prepare('SELECT count(*) AS n, coalesce(sum(bytes), 0) AS b FROM outbox').get() as {
      n: number;
      b: number;
    };
    this.countCache = row.n;
    this.bytesCache = row.b;
  }

  get capacityBytes(): number {
    return this.o.maxBytes;
  }

  /** Alerts waiting for an ack, and the bytes of their JSON. */
  depth(): { count: number; bytes: number } {
    return { count: this.countCache, bytes: this.bytesCache };
  }

  /**
   * Writes the alerts durably, all or none. Throws OutboxFullError (after logging each refused alert) when they do
   * not fit; any other error is a real fault and propagates.
   */
  enqueue(alerts: readonly Alert[], progress?: { source: string; position: number }): void {
    if (alerts.length === 0 && !progress) return;
    const rows = alerts.map((a) => ({ id: a.id, json: JSON.stringify(a) }));
    let bytes = 0;
    try {
      this.db.transaction(() => {
        for (const r of rows) {
          this.insert.run(r.id, r.json, r.json.length);
          bytes += r.json.length;
        }
        if (progress) {
          this.db
            .prepare(
              'INSERT INTO source_progress (source, position) VALUES (?, ?) ON CONFLICT (source) DO UPDATE SET position = excluded.position',
            )
            .run(progress.source, progress.position);
        }
      })();
    } catch (err) {
      if (!isFull(err)) throw err;
      this.refused += rows.length;
      for (const r of rows) this.log(`FULL (${this.o.maxBytes} bytes), alert NOT queued: ${r.json}`);
      throw new OutboxFullError(
        `the outbox is full (${this.o.maxBytes} bytes, ${this.countCache} alerts waiting for the aggregator)`,
      );
    }
    this.countCache += rows.length;
    this.bytesCache += bytes;
  }

  /** Where a replayable source was when its last alerts were enqueued (0 when never). */
  position(source: string): number {
    const r = this.db.prepare('SELECT position FROM source_progress WHERE source = ?').get(source) as
      { position: number } | undefined;
    return r?.position ?? 0;
  }

  /** Up to `limit` entries with id > afterId, oldest first. */
  peek(afterId: number, limit: number): OutboxEntry[] {
    return this.page.all(afterId, limit);
  }

  /** Deletes acknowledged entries. */
  remove(ids: readonly number[]): void {
    if (ids.length === 0) return;
    let removed = 0;
    let bytes = 0;
    this.db.transaction(() => {
      for (const id of ids) {
        const row = this.del.get(id);
        if (row) {
          removed++;
          bytes += row.bytes;
        }
      }
    })();
    this.countCache -= removed;
    this.bytesCache -= bytes;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
