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
// Alerts the aggregator would refuse. Each alert is checked at enqueue with the aggregator's own validation (the
// codec's alertFromPb); one that fails it (a NUL, a field over its length limit, ...) would be refused on every resend
// and block every alert after it. It is not queued: it is set aside in the table outbox_refused (its wire bytes and
// the reason), logged once naming the field, and counted (`setAside`, reported as alerts_set_aside_invalid). The link
// sets an alert aside the same way when the aggregator still refuses it by name (INVALID_ARGUMENT, version skew).
// Window aggregates and inventory changes do not enter the outbox: they are kept in bounded memory queues and dropped
// (counted) under pressure.
//
// What a row holds: the alert's wire bytes (the body of a link.proto Alert message, encoded once when it is queued),
// so a send reads bytes and frames them, with no JSON parse and no encode per send. The wire form carries exactly what
// the aggregator receives; nothing agent-local (first_seen/last_seen stay in the detector) is in the outbox.
// Upgrade: agents before session 6 kept the alert as JSON text (column `json` of table `outbox`). That table is renamed
// outbox_json and its rows are left as they are (converting them at start could itself fill a full outbox); they are
// sent first, each encoded from its JSON when it is read, as before. New alerts go to the new `outbox`, numbered after
// them, so the send order stays the queue order. Once outbox_json is empty it is dropped (when the outbox is next
// opened).
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { InvalidMessageError, alertFromPb, alertToPb } from '@vigil/proto/codec';
import type { Alert } from '@vigil/shared';
import { encodeAlert } from '../link/wire.js';

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
  /** The alert's wire bytes: the body of a link.proto Alert message. */
  pb: Buffer;
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

/** Why the aggregator's validation refuses it (the field and the problem), or null when it passes. */
function refusal(check: () => unknown): string | null {
  try {
    check();
    return null;
  } catch (err) {
    if (err instanceof InvalidMessageError) return err.message;
    throw err;
  }
}

export class Outbox {
  private readonly db: Database.Database;
  private readonly insert: Database.Statement<[string, Buffer, number]>;
  private readonly del: Database.Statement<[number], { bytes: number }>;
  private readonly delMany: Database.Statement<[string], number>;
  private readonly page: Database.Statement<[number, number], OutboxEntry>;
  /** Rows of an outbox written before session 6 (JSON), while there are any; sent first. */
  private legacy: {
    page: Database.Statement<[number, number], { id: number; json: string }>;
    del: Database.Statement<[number], { bytes: number }>;
    /** Its largest id: every id above it is a row of the new outbox table. */
    top: number;
    count: number;
    /** Its bytes when the outbox was opened. */
    bytes: number;
  } | null = null;
  private readonly log: (line: string) => void;
  private countCache: number;
  private bytesCache: number;
  /** Alerts refused because the outbox was full, since this process started. */
  refused = 0;
  private setAsideCache: number;
  private readonly refuse: Database.Statement<[string, Buffer, string]>;

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
    this.openTables();
    // How far a replayable source (e.g. --alerts-in FILE) has been read, committed with the alerts it produced.
    this.db.exec(
      'CREATE TABLE IF NOT EXISTS source_progress (source TEXT PRIMARY KEY, position INTEGER NOT NULL)',
    );
    this.db.pragma(`max_page_count = ${Math.floor(o.maxBytes / PAGE_SIZE)}`);
    this.insert = this.db.prepare('INSERT INTO outbox (alert_id, pb, bytes) VALUES (?, ?, ?)');
    this.del = this.db.prepare('DELETE FROM outbox WHERE id = ? RETURNING bytes');
    this.delMany = this.db
      .prepare<[string], number>(
        'DELETE FROM outbox WHERE id IN (SELECT value FROM json_each(?)) RETURNING bytes',
      )
      .pluck();
    this.page = this.db.prepare('SELECT id, pb FROM outbox WHERE id > ? ORDER BY id LIMIT ?');
    const row = this.db.prepare('SELECT count(*) AS n, coalesce(sum(bytes), 0) AS b FROM outbox').get() as {
      n: number;
      b: number;
    };
    this.refuse = this.db.prepare('INSERT INTO outbox_refused (alert_id, pb, reason) VALUES (?, ?, ?)');
    this.setAsideCache = (
      this.db.prepare('SELECT count(*) AS n FROM outbox_refused').get() as { n: number }
    ).n;
    this.countCache = row.n + (this.legacy?.count ?? 0);
    this.bytesCache = row.b + (this.legacy?.bytes ?? 0);
  }

  /**
   * Creates the outbox table, or takes over one of an agent before session 6 (JSON rows): that table is renamed
   * outbox_json and dropped when empty; otherwise its rows are sent first, and new rows are numbered after its last
   * (AUTOINCREMENT starts above its largest id).
   */
  private openTables(): void {
    const columns = (table: string): string[] =>
      (this.db.prepare(`SELECT name FROM pragma_table_info('${table}')`).all() as { name: string }[]).map(
        (c) => c.name,
      );
    this.db.transaction(() => {
      if (columns('outbox').includes('json')) this.db.exec('ALTER TABLE outbox RENAME TO outbox_json');
      this.db.exec(`CREATE TABLE IF NOT EXISTS outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        alert_id TEXT NOT NULL,
        pb BLOB NOT NULL,
        bytes INTEGER NOT NULL,
        enqueued_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
      )`);
      this.db.exec(`CREATE TABLE IF NOT EXISTS outbox_refused (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        alert_id TEXT NOT NULL,
        pb BLOB NOT NULL,
        reason TEXT NOT NULL,
        refused_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
      )`);
      if (columns('outbox_json').length === 0) return;
      const old = this.db
        .prepare(
          'SELECT count(*) AS n, coalesce(sum(bytes), 0) AS b, coalesce(max(id), 0) AS top FROM outbox_json',
        )
        .get() as { n: number; b: number; top: number };
      if (old.n === 0) {
        this.db.exec('DROP TABLE outbox_json');
        return;
      }
      // The new table's AUTOINCREMENT counter (sqlite_sequence has a row once the table has had one).
      const seq = this.db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").get() as
        { seq: number } | undefined;
      if (seq === undefined) {
        this.db.prepare("INSERT INTO sqlite_sequence (name, seq) VALUES ('outbox', ?)").run(old.top);
      } else if (seq.seq < old.top) {
        this.db.prepare("UPDATE sqlite_sequence SET seq = ? WHERE name = 'outbox'").run(old.top);
      }
      this.legacy = {
        page: this.db.prepare('SELECT id, json FROM outbox_json WHERE id > ? ORDER BY id LIMIT ?'),
        del: this.db.prepare('DELETE FROM outbox_json WHERE id = ? RETURNING bytes'),
        top: old.top,
        count: old.n,
        bytes: old.b,
      };
    })();
  }

  get capacityBytes(): number {
    return this.o.maxBytes;
  }

  /** Alerts waiting for an ack, and their bytes (wire bytes; JSON for rows of an outbox before session 6). */
  depth(): { count: number; bytes: number } {
    return { count: this.countCache, bytes: this.bytesCache };
  }

  /**
   * Alerts set aside as ones the aggregator refuses (kept in outbox_refused), since the outbox was created: the
   * health counter alerts_set_aside_invalid.
   */
  get setAside(): number {
    return this.setAsideCache;
  }

  /**
   * Writes the alerts durably, all or none. An alert that fails the aggregator's validation is set aside instead of
   * queued (see the header). Throws OutboxFullError (after logging each refused alert) when they do not fit; any
   * other error is a real fault and propagates.
   */
  enqueue(alerts: readonly Alert[], progress?: { source: string; position: number }): void {
    if (alerts.length === 0 && !progress) return;
    const rows: { id: string; pb: Buffer }[] = [];
    const invalid: { id: string; pb: Buffer; reason: string }[] = [];
    for (const a of alerts) {
      const pb = alertToPb(a);
      const reason = refusal(() => alertFromPb(pb, a.facility_id));
      if (reason === null) rows.push({ id: a.id, pb: encodeAlert(pb) });
      else invalid.push({ id: a.id, pb: encodeAlert(pb), reason });
    }
    let bytes = 0;
    try {
      this.db.transaction(() => {
        for (const r of rows) {
          this.insert.run(r.id, r.pb, r.pb.length);
          bytes += r.pb.length;
        }
        for (const r of invalid) this.refuse.run(r.id, r.pb, r.reason);
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
      for (const a of alerts) {
        this.log(`FULL (${this.o.maxBytes} bytes), alert NOT queued: ${JSON.stringify(a)}`);
      }
      throw new OutboxFullError(
        `the outbox is full (${this.o.maxBytes} bytes, ${this.countCache} alerts waiting for the aggregator)`,
      );
    }
    this.countCache += rows.length;
    this.bytesCache += bytes;
    this.setAsideCache += invalid.length;
    for (const r of invalid) {
      this.log(`INVALID, alert ${r.id} set aside in outbox_refused, NOT sent: ${r.reason}`);
    }
  }

  /**
   * Moves a queued entry to outbox_refused with the reason (the aggregator refused it by name), so the alerts after
   * it flow. False when the entry is no longer queued.
   */
  setAsideEntry(id: number, reason: string): boolean {
    const legacy = this.legacy;
    const old = legacy !== null && id <= legacy.top;
    const moved = this.db.transaction(() => {
      if (old) {
        const row = this.db.prepare('SELECT json FROM outbox_json WHERE id = ?').get(id) as
          { json: string } | undefined;
        if (!row) return null;
        const alert = JSON.parse(row.json) as Alert;
        this.refuse.run(alert.id, encodeAlert(alertToPb(alert)), reason);
        return { alertId: alert.id, bytes: legacy.del.get(id)?.bytes ?? 0 };
      }
      const row = this.db.prepare('SELECT alert_id, pb FROM outbox WHERE id = ?').get(id) as
        { alert_id: string; pb: Buffer } | undefined;
      if (!row) return null;
      this.refuse.run(row.alert_id, row.pb, reason);
      return { alertId: row.alert_id, bytes: this.del.get(id)?.bytes ?? 0 };
    })();
    if (moved === null) return false;
    if (old && legacy) {
      legacy.count--;
      if (legacy.count === 0) this.legacy = null;
    }
    this.countCache--;
    this.bytesCache -= moved.bytes;
    this.setAsideCache++;
    this.log(`REFUSED by the aggregator, alert ${moved.alertId} set aside in outbox_refused: ${reason}`);
    return true;
  }

  /** Where a replayable source was when its last alerts were enqueued (0 when never). */
  position(source: string): number {
    const r = this.db.prepare('SELECT position FROM source_progress WHERE source = ?').get(source) as
      { position: number } | undefined;
    return r?.position ?? 0;
  }

  /** Up to `limit` entries with id > afterId, oldest first. */
  peek(afterId: number, limit: number): OutboxEntry[] {
    const old = this.legacy?.page.all(afterId, limit) ?? [];
    const entries: OutboxEntry[] = old.map((r) => ({
      id: r.id,
      pb: encodeAlert(alertToPb(JSON.parse(r.json) as Alert)),
    }));
    if (entries.length < limit) entries.push(...this.page.all(afterId, limit - entries.length));
    return entries;
  }

  /** Deletes acknowledged entries. */
  remove(ids: readonly number[]): void {
    if (ids.length === 0) return;
    let removed = 0;
    let bytes = 0;
    const legacy = this.legacy;
    let legacyRemoved = 0;
    this.db.transaction(() => {
      const current: number[] = [];
      for (const id of ids) {
        if (legacy === null || id > legacy.top) {
          current.push(id);
          continue;
        }
        const row = legacy.del.get(id);
        if (row) {
          removed++;
          bytes += row.bytes;
          legacyRemoved++;
        }
      }
      // one statement for the batch: an ack holds up to 2,000 alerts, one DELETE each cost ~2 us apiece
      if (current.length === 0) return;
      for (const b of this.delMany.all(JSON.stringify(current))) {
        removed++;
        bytes += b;
      }
    })();
    if (legacy) {
      legacy.count -= legacyRemoved;
      if (legacy.count === 0) this.legacy = null;
    }
    this.countCache -= removed;
    this.bytesCache -= bytes;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
