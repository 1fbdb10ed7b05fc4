// Version 12 (Postgres): the store's alert insert keeps the search document and the counters itself, once per batch,
// instead of the server computing them per row. Of the Postgres backend's ~70 us per small alert (load 5-9), the
// stored generated search document (regexp_replace, then the text search parser) took about a quarter and the insert
// triggers' counters about a third, most of it alert_term_counts (each row's words unnested, hashed and grouped)
// (aggregator/bench/RESULTS.md, "Session 7, Postgres ingest"). The store already holds each alert's words as the API's
// search sees them (common.ts textWords, which SQLite's alert_terms uses too): it now sends the search document in the
// COPY as a binary tsvector of those words, and adds the batch's counter deltas (alert_counts, alert_hour_counts,
// alert_term_counts) in one statement in the same transaction (postgres.ts, insertNewAlerts).
// - search_doc stops being generated; rows stored before keep their document (for text of ASCII letters and digits
//   the parser gave the same words; non-ASCII letters, which the old expression dropped under a C locale, are now
//   indexed as SQLite does). It is NOT NULL, so a writer that forgets it fails instead of hiding rows from search.
// - The insert triggers go; update and delete triggers stay (status changes and retention touch few rows at a time).
//   Anything that inserts alert rows outside the store must give search_doc and count the rows
//   (postgres.ts, POSTGRES_COUNT_ALERTS).
// SQLite: nothing changes (migration 11 did the same there).
import type { Migration } from './index.js';

export const postgresBulkAlertInsert: Migration = {
  version: 12,
  name: 'postgres bulk alert insert',
  sqlite: `-- nothing to change: see above`,
  postgres: `
DROP TRIGGER alert_counts_insert ON alerts;
DROP TRIGGER alert_hour_counts_insert ON alerts;
DROP TRIGGER alert_term_counts_insert ON alerts;
ALTER TABLE alerts ALTER COLUMN search_doc DROP EXPRESSION;
ALTER TABLE alerts ALTER COLUMN search_doc SET NOT NULL;
`,
};
