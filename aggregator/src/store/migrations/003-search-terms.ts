// Version 3: the vocabulary of alert text, so a search word can be expanded to the indexed words it is a prefix of.
// SQLite FTS5 answers a prefix query ("modbus"*) by merging the doclists of every matching term into memory before it
// returns a row: 150 ms for a common word at a million alerts, however few rows are wanted. An exact term query
// streams in rowid order and can be limited to a rowid range. insertAlerts adds each new word here; the backfill
// reads the words already indexed through a transient fts5vocab table. Postgres needs nothing (its GIN index serves
// prefix queries itself).
import type { Migration } from './index.js';

export const searchTerms: Migration = {
  version: 3,
  name: 'search terms',
  sqlite: `
CREATE TABLE alert_terms (term TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE VIRTUAL TABLE temp.alerts_fts_vocabulary USING fts5vocab (main, alerts_fts, row);
INSERT INTO alert_terms (term) SELECT term FROM temp.alerts_fts_vocabulary;
DROP TABLE temp.alerts_fts_vocabulary;
`,
  postgres: `SELECT 1;`,
};
