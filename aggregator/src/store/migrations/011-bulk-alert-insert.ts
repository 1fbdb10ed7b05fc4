// Version 11 (SQLite): the store's alert insert keeps the search index and the counters once per batch instead of
// once per row. The per-row insert triggers (FTS5 row, alert_counts, alert_hour_counts) cost about 50 us of the
// aggregator's one thread per small alert; the same work as three set-based statements over the batch's new rows
// costs a fraction of that (aggregator/bench/RESULTS.md, "Agent link ingest, session 6").
// The triggers stay, for every other writer (a raw INSERT still indexes and counts its rows), but skip a row while
// alert_insert_mode.bulk is 1. Only the store sets it, inside its insert transaction, and sets it back to 0 before
// that transaction commits: no other connection ever sees it at 1, and a crash rolls it back with the rows.
// Postgres: nothing changes; its counters are statement-level triggers over transition tables already.
import type { Migration } from './index.js';

const FTS_COLUMNS = 'title, description, attack_type, attack_name, facets';
const COUNT_KEY = '(facility_id, severity, status)';
const HOUR_KEY = '(hour, facility_id, severity, status)';
const PER_ROW = 'WHEN (SELECT bulk FROM alert_insert_mode) = 0';

export const bulkAlertInsert: Migration = {
  version: 11,
  name: 'bulk alert insert',
  sqlite: `
CREATE TABLE alert_insert_mode (bulk INTEGER NOT NULL);
INSERT INTO alert_insert_mode (bulk) VALUES (0);
DROP TRIGGER alerts_fts_insert;
DROP TRIGGER alert_counts_insert;
DROP TRIGGER alert_hour_counts_insert;
CREATE TRIGGER alerts_fts_insert AFTER INSERT ON alerts ${PER_ROW} BEGIN
  INSERT INTO alerts_fts (rowid, ${FTS_COLUMNS})
  VALUES (new.rowid, new.title, new.description, new.attack_type, new.attack_name, new.facets);
END;
CREATE TRIGGER alert_counts_insert AFTER INSERT ON alerts ${PER_ROW} BEGIN
  INSERT INTO alert_counts (facility_id, severity, status, n) VALUES (new.facility_id, new.severity, new.status, 1)
  ON CONFLICT ${COUNT_KEY} DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER alert_hour_counts_insert AFTER INSERT ON alerts ${PER_ROW} BEGIN
  INSERT INTO alert_hour_counts (hour, facility_id, severity, status, n)
  VALUES (substr(new.ts, 1, 13), new.facility_id, new.severity, new.status, 1)
  ON CONFLICT ${HOUR_KEY} DO UPDATE SET n = n + 1;
END;
`,
  postgres: `-- nothing to change: see above`,
};
