// Version 15 (SQLite): the search index (FTS5 alerts_fts) merges its segments 16 at a time instead of 4 (FTS5's
// `automerge` option, kept in alerts_fts_config). The writer thread flushes one new segment per alert transaction;
// with the default, FTS5 merged every 4 segments of a level into the next, so each indexed term was rewritten once per
// level on its way up, and on a large store that merging was a growing share of the writer's work. Writer CPU per
// alert, 100,000 alerts added in 4,096-alert transactions to two copies of a 580,000-alert seeded store, alternating:
// 31.6 -> 27.2 us (session 9 measured 37-39 -> 31-32 us on a 1.7M-alert store and ~1-4 % at up to 200,000 alerts).
// Searches return the same rows (merging only changes how the index is laid out); they read up to 15 segments per
// level instead of 3, and measured within the noise on those stores (aggregator/bench/RESULTS.md, "Session 10,
// s10sqlite"). Postgres: nothing changes.
import type { Migration } from './index.js';

export const ftsAutomerge: Migration = {
  version: 15,
  name: 'fts automerge 16',
  sqlite: `INSERT INTO alerts_fts (alerts_fts, rank) VALUES ('automerge', 16);`,
  postgres: `-- nothing to change: see above`,
};
