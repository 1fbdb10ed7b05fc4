// Writes an outbox as agents before session 6 did (JSON rows), and reads what an outbox holds back as link.proto alerts, decoded by the generated (proto-loader) decoder the aggregator
// uses: what the aggregator would receive.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { loadLink, type AgentMessage, type PbAlert } from '@vigil/proto/link';
import type { Alert } from '@vigil/shared';
import type { OutboxEntry } from '../outbox/outbox.js';
import { alertMessageFromEncoded } from '../link/wire.js';

const connect = loadLink().link.Connect as unknown as { requestDeserialize(b: Buffer): AgentMessage };

/** The alerts of these outbox entries, in their order. */
export function decodeEntries(entries: readonly OutboxEntry[]): PbAlert[] {
  const m = connect.requestDeserialize(
    alertMessageFromEncoded(
      1,
      entries.map((e) => e.pb),
    ),
  );
  return 'alerts' in m && m.alerts ? m.alerts.alerts : [];
}

/**
 * Writes `alerts` into a new outbox file at `path` as agents before session 6 kept it: table `outbox`, the alert as
 * JSON text. The first `acked` of them are then deleted, as acknowledged alerts were.
 */
export function writeLegacyOutbox(path: string, alerts: readonly Alert[], acked = 0): void {
  mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path);
  try {
    db.pragma('journal_mode = WAL');
    db.exec(`CREATE TABLE outbox (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      alert_id TEXT NOT NULL,
      json TEXT NOT NULL,
      bytes INTEGER NOT NULL,
      enqueued_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
    )`);
    db.exec('CREATE TABLE source_progress (source TEXT PRIMARY KEY, position INTEGER NOT NULL)');
    const insert = db.prepare('INSERT INTO outbox (alert_id, json, bytes) VALUES (?, ?, ?)');
    db.transaction(() => {
      for (const a of alerts) {
        const json = JSON.stringify(a);
        insert.run(a.id, json, json.length);
      }
    })();
    db.prepare('DELETE FROM outbox WHERE id <= ?').run(acked);
  } finally {
    db.close();
  }
}
