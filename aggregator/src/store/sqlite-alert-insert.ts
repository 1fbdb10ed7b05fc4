// The SQLite store's alert insert, as one function over a connection: the store runs it on its own connection
// (`:memory:`, or alertWriter 'inline') or in its writer thread (sqlite-writer.ts) on a second connection to the same
// file. It takes rows already in column order and the batch's search words (alertRowValues, batchWords: built on the
// thread that received the alerts), so what crosses to the writer thread is flat strings and numbers, and the writer
// does SQLite's work only.
import type Database from 'better-sqlite3';
import { iso, textWords } from './common.js';
import type { StoredAlert } from './types.js';

export const ALERT_COLUMNS =
  'id, ts, facility_id, severity, title, description, status, correlation_confidence, correlation_summary, ' +
  'attack_type, attack_name, sources, context, generated';

/** An alert's values in ALERT_COLUMNS order, as SQLite stores them. */
export type AlertRowValues = [
  id: string,
  ts: string,
  facility_id: string,
  severity: string,
  title: string,
  description: string,
  status: string,
  correlation_confidence: number,
  correlation_summary: string,
  attack_type: string,
  attack_name: string,
  sources: string,
  context: string,
  generated: 0 | 1,
];

export function alertRowValues(a: StoredAlert): AlertRowValues {
  return [
    a.id,
    iso(a.timestamp),
    a.facility_id,
    a.severity,
    a.title,
    a.description,
    a.status,
    a.correlation_confidence,
    a.correlation_summary,
    a.attack_type,
    a.attack_name,
    JSON.stringify(a.sources),
    JSON.stringify(a.context_analysis),
    a.generated ? 1 : 0,
  ];
}

/**
 * The search words of a batch's alerts (for alert_terms, the words search expands a prefix into), each once. Built
 * beside the rows, on the thread that has time for it; a resend's words are already there, so adding the words of
 * every alert of the batch adds what adding those of its new rows would (a resend that changed its text, which is not
 * stored, may add words no alert has: a prefix then expands to one more term that matches nothing).
 */
export function batchWords(alerts: readonly StoredAlert[]): string[] {
  const words = new Set<string>();
  // alerts of one rule repeat their title, description and technique: each distinct text is split once
  const texts = new Set<string>();
  const add = (text: string): void => {
    if (texts.has(text)) return;
    texts.add(text);
    for (const w of textWords(text)) words.add(w);
  };
  for (const a of alerts) {
    add(a.title);
    add(a.description);
    add(a.attack_type);
    add(a.attack_name);
  }
  return [...words];
}

/**
 * What the store's alert insert does once per batch for the rows the batch added (see alertInserter): the work of the
 * per-row insert triggers of migrations 1, 7 and 9, which migration 11 dropped. Each takes the largest rowid before
 * the batch as its one parameter. A writer that inserts rows by other means (bench/store.ts's bulk fill) runs them
 * too.
 */
export const BULK_INDEX = [
  `INSERT INTO alerts_fts (rowid, title, description, attack_type, attack_name, facets)
   SELECT rowid, title, description, attack_type, attack_name, facets FROM alerts NOT INDEXED WHERE rowid > ?`,
  `INSERT INTO alert_counts (facility_id, severity, status, n)
   SELECT facility_id, severity, status, count(*) FROM alerts NOT INDEXED WHERE rowid > ? GROUP BY 1, 2, 3
   ON CONFLICT (facility_id, severity, status) DO UPDATE SET n = n + excluded.n`,
  `INSERT INTO alert_hour_counts (hour, facility_id, severity, status, n)
   SELECT substr(ts, 1, 13), facility_id, severity, status, count(*) FROM alerts NOT INDEXED WHERE rowid > ? GROUP BY 1, 2, 3, 4
   ON CONFLICT (hour, facility_id, severity, status) DO UPDATE SET n = n + excluded.n`,
] as const;

/** What a batch's insert did: the ids it added, in input order, and the largest alert rowid after it. */
export interface InsertedAlerts {
  fresh: string[];
  top: bigint;
}

/** What the counters add for a batch's new rows: per (facility, severity, status) and per hour of those. */
interface BatchCounts {
  all: Map<string, [facility: string, severity: string, status: string, n: number]>;
  hours: Map<string, [hour: string, facility: string, severity: string, status: string, n: number]>;
}

/** The counter deltas of the rows a batch added: the GROUP BYs of BULK_INDEX's two counter statements. */
function countRows(rows: readonly AlertRowValues[]): BatchCounts {
  const all: BatchCounts['all'] = new Map();
  const hours: BatchCounts['hours'] = new Map();
  for (const r of rows) {
    // hour as SQLite keys it: substr(ts, 1, 13) of the stored ISO time
    const [, ts, facility, severity, , , status] = r;
    const hour = ts.slice(0, 13);
    // each part but the last prefixed by its length: two different tuples never make the same key
    const key = `${facility.length}:${facility}${severity.length}:${severity}${status}`;
    const a = all.get(key);
    if (a === undefined) all.set(key, [facility, severity, status, 1]);
    else a[3]++;
    const hk = `${hour.length}:${hour}${key}`;
    const h = hours.get(hk);
    if (h === undefined) hours.set(hk, [hour, facility, severity, status, 1]);
    else h[4]++;
  }
  return { all, hours };
}

/**
 * Prepares the alert insert on a connection. The function it returns stores one batch in one transaction and
 * returns the ids of the rows it added (ON CONFLICT DO NOTHING reports a resend as 0 changes). alerts has no insert
 * triggers (migration 11): the batch's new rows are indexed (FTS5) by one statement over the rows above the largest
 * rowid before the batch, all of them this transaction's, as it holds the write lock from its first statement
 * (IMMEDIATE); they are counted (alert_counts, alert_hour_counts) from the values of the rows the insert added, one
 * upsert per key: the same sums as BULK_INDEX's GROUP BYs, without reading the batch's rows back (those two scans
 * were ~3.4 of the writer's ~25 us per alert).
 */
export function alertInserter(
  db: Database.Database,
): (rows: readonly AlertRowValues[], words: readonly string[]) => InsertedAlerts {
  const insert = db.prepare(
    `INSERT INTO alerts (${ALERT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
  );
  const addTerm = db.prepare('INSERT INTO alert_terms (term) VALUES (?) ON CONFLICT (term) DO NOTHING');
  const top = db.prepare('SELECT coalesce(max(rowid), 0) AS m FROM alerts').safeIntegers();
  const indexSearch = db.prepare(BULK_INDEX[0]);
  const addCount = db.prepare(
    `INSERT INTO alert_counts (facility_id, severity, status, n) VALUES (?, ?, ?, ?)
     ON CONFLICT (facility_id, severity, status) DO UPDATE SET n = n + excluded.n`,
  );
  const addHourCount = db.prepare(
    `INSERT INTO alert_hour_counts (hour, facility_id, severity, status, n) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT (hour, facility_id, severity, status) DO UPDATE SET n = n + excluded.n`,
  );
  const run = db.transaction((rows: readonly AlertRowValues[], words: readonly string[]): InsertedAlerts => {
    const { m: before } = top.get() as { m: bigint };
    const fresh: string[] = [];
    const added: AlertRowValues[] = [];
    for (const r of rows) {
      if (insert.run(r).changes > 0) {
        fresh.push(r[0]);
        added.push(r);
      }
    }
    if (fresh.length === 0) return { fresh, top: before };
    indexSearch.run(before);
    const counts = countRows(added);
    for (const c of counts.all.values()) addCount.run(c);
    for (const c of counts.hours.values()) addHourCount.run(c);
    for (const w of words) addTerm.run(w);
    return { fresh, top: (top.get() as { m: bigint }).m };
  });
  return (rows, words) => run.immediate(rows, words);
}
