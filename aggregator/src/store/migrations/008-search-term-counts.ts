// Version 8 (Postgres): how many alerts of each facility hold each search word, kept by a statement-level trigger
// like alert_counts (per facility only: with severity and status too, a batch of 500 alerts upserted thousands of
// counter rows, and the server's CPU per inserted alert went from about 95 to 160 us). At a million alerts a common word's GIN bitmap holds ~150,000 rows (100-
// 290 ms to build, more with a prefix's partial match), and its capped count then reads one heap page per match, so a
// search took 192-482 ms. With these counters the store
// - expands a search word to the indexed words it is a prefix of, so the GIN index looks up exact lexemes (no partial
//   match scan), as SQLite does with alert_terms;
// - knows the total of a one-word search without time range or severity and status filters from the counters
//   (exactly, or at least the count cap);
// - knows about how many alerts match before it asks, so it walks the newest-first index for a common word and takes
//   the GIN bitmap for a rare one, instead of the planner's guess (3,259 rows estimated against 47,317).
// - puts each alert's facility, severity and status in the GIN index as three lexemes beside its words (alert_facets;
//   each starts with '~', which no search word or prefix can match), so a filtered search's matches are one GIN
//   intersection: the capped count then reads a heap page per match of every filter (at most the cap), not per text
//   match of any facility. The filters are left out of the SQL of such a query, so the planner does not AND the
//   bitmap with a facility B-tree's 333,000 entries (session 4 tried facet lexemes with the SQL filters kept).
// The backfill reads every alert's stored search document once, and the index is built anew in place of
// alerts_search (no second GIN index to keep up on insert).
// SQLite: nothing changes; alert_terms (migration 5) and the FTS5 facets (migration 7) serve the same ends there.
import type { Migration } from './index.js';

/** Each row's search words with its facility, grouped: the counters' delta for a set of rows (negated for old rows). */
const deltas = (rows: string, sign: '' | '-'): string => `
    INSERT INTO alert_term_counts AS c (term, facility_id, n)
      SELECT w.term, r.facility_id, ${sign}count(*)
      FROM ${rows} AS r, unnest(tsvector_to_array(r.search_doc)) AS w (term)
      GROUP BY 1, 2 ORDER BY 1, 2
      ON CONFLICT (term, facility_id) DO UPDATE SET n = c.n + excluded.n;`;

export const searchTermCounts: Migration = {
  version: 8,
  name: 'search term counts',
  sqlite: `-- nothing to change: see above`,
  postgres: `
CREATE TABLE alert_term_counts (
  term text COLLATE "C" NOT NULL,
  facility_id text COLLATE "C" NOT NULL,
  n bigint NOT NULL,
  PRIMARY KEY (term, facility_id)
);
SET LOCAL work_mem = '256MB';
INSERT INTO alert_term_counts (term, facility_id, n)
  SELECT w.term, a.facility_id, count(*)
  FROM alerts AS a, unnest(tsvector_to_array(a.search_doc)) AS w (term)
  GROUP BY 1, 2;
ANALYZE alert_term_counts;

CREATE FUNCTION alert_facets(facility_id text, severity text, status text) RETURNS tsvector
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $fn$ SELECT array_to_tsvector(ARRAY['~f' || facility_id, '~v' || severity, '~u' || status]) $fn$;
SET LOCAL maintenance_work_mem = '256MB';
CREATE INDEX alerts_search_facets ON alerts USING gin ((search_doc || alert_facets(facility_id, severity, status)));
DROP INDEX alerts_search;
-- The planner's statistics of the new index expression.
ANALYZE alerts;

-- Rows are upserted in key order so concurrent writers lock counter rows in the same order (no deadlock).
CREATE FUNCTION alert_term_counts_apply() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  IF TG_OP IN ('DELETE', 'UPDATE') THEN${deltas('old_rows', '-')}
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN${deltas('new_rows', '')}
  END IF;
  RETURN NULL;
END
$fn$;
CREATE TRIGGER alert_term_counts_insert AFTER INSERT ON alerts
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION alert_term_counts_apply();
CREATE TRIGGER alert_term_counts_update AFTER UPDATE ON alerts
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION alert_term_counts_apply();
CREATE TRIGGER alert_term_counts_delete AFTER DELETE ON alerts
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION alert_term_counts_apply();
`,
};
