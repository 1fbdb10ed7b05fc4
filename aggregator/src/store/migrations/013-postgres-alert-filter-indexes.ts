// Version 13 (Postgres): two of the five B-tree indexes of alerts go, alerts_severity_ts and alerts_status_ts. Each
// alert inserted paid for every index (session 7: the B-trees and the search index were ~60 % of the backend's CPU
// per alert); without these two the server's CPU per inserted alert went from 33-44 to 27-31 us (30k-alert batches
// of 4096, 3 runs each, aggregator/bench/RESULTS.md, "session 8, s8pg"). A severity or status filter is now read from the index that stays: alerts_ts (or alerts_facility_ts
// with a facility) holds both as INCLUDE columns, so the page's ids come from an index-only scan newest first that
// skips the other rows on the index tuples alone, and only the page's rows are read from the table
// (postgres.ts, alertPage). Time-range totals already counted them that way.
// SQLite: nothing changes.
import type { Migration } from './index.js';

export const postgresAlertFilterIndexes: Migration = {
  version: 13,
  name: 'postgres alert filter indexes',
  sqlite: `-- nothing to change: see above`,
  postgres: `
DROP INDEX alerts_severity_ts;
DROP INDEX alerts_status_ts;
`,
};
