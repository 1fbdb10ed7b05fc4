// Version 11 (SQLite): the store's alert insert keeps the search index and the counters once per batch instead of
// once per row. The per-row insert triggers (FTS5 row, alert_counts, alert_hour_counts) cost about 40 us of the
// aggregator's one thread per small alert, and a trigger that is skipped by a WHEN condition still cost half of that;
// the same work as three set-based statements over the batch's new rows costs a few us (aggregator/bench/RESULTS.md,
// "Agent link ingest, session 6"). So the insert triggers go: the store's insertAlerts and seedAlerts are the writers
// of alerts rows and index and count them in the same transaction (sqlite.ts, BULK_INDEX). Update and delete triggers
// stay (status changes and retention touch few rows at a time).
// Postgres: nothing changes; its counters are statement-level triggers over transition tables already.
import type { Migration } from './index.js';

export const bulkAlertInsert: Migration = {
  version: 11,
  name: 'bulk alert insert',
  sqlite: `
DROP TRIGGER alerts_fts_insert;
DROP TRIGGER alert_counts_insert;
DROP TRIGGER alert_hour_counts_insert;
`,
  postgres: `-- nothing to change: see above`,
};
