// Version 5: the vocabulary of alert text, so a search word can be expanded to the indexed words it is a prefix of.
// SQLite FTS5 answers a prefix query ("modbus"*) by merging the doclists of every matching term into memory before it
// returns a row: 150 ms for a common word at a million alerts, however few rows are wanted. An exact term query
// streams in rowid order and can be limited to a rowid range. insertAlerts adds each new word here; the backfill
// reads the words already indexed through a transient fts5vocab table.
// Postgres: the search document becomes a stored generated column with the GIN index on it. Matching a row is then a
// cheap @@ on stored data rather than to_tsvector(regexp_replace(...)) per row, so the planner can walk the newest-
// first index and stop after a page for a common word, and keep the bitmap scan of the GIN index for rare ones.
import { POSTGRES_SEARCH_DOCUMENT } from './001-initial.js';
import type { Migration } from './index.js';

export const searchTerms: Migration = {
  version: 5,
  name: 'search terms',
  sqlite: `
CREATE TABLE alert_terms (term TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE VIRTUAL TABLE temp.alerts_fts_vocabulary USING fts5vocab (main, alerts_fts, row);
INSERT INTO alert_terms (term) SELECT term FROM temp.alerts_fts_vocabulary;
DROP TABLE temp.alerts_fts_vocabulary;
`,
  postgres: `
ALTER TABLE alerts ADD COLUMN search_doc tsvector GENERATED ALWAYS AS (${POSTGRES_SEARCH_DOCUMENT}) STORED;
DROP INDEX alerts_search;
CREATE INDEX alerts_search ON alerts USING gin (search_doc);
`,
};
