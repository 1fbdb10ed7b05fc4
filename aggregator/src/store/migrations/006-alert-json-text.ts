// Version 6: Postgres keeps an alert's sources and 60-s context as text, not json. Both are only ever written whole by
// the store (JSON.stringify) and read whole (spliced into the API's JSON as they are), never queried inside, so
// json's one service was validating each ~11 kB document on insert: 14 % of the backend's CPU in a COPY of full
// alerts (perf, json_lex). The columns the TOAST compressor still tries on a wide row (title, description, the search
// document) move to lz4 like the context (pglz_compress was another 1.5 %). A full alert's row is ~2.6 kB once lz4
// has shrunk its context to ~1.7 kB: just over the default 2 kB toast_tuple_target, so every context was also moved
// out of line into the TOAST table (its chunks and its index: 10 % of the backend's CPU). With the target at 4000
// bytes it stays in the row, which also spares the list query a TOAST fetch per alert; the heap grows by about a
// fifth (two rows a page instead of a 2 kB TOAST pointer row). SQLite already stores the JSON as TEXT.
import type { Migration } from './index.js';

export const alertJsonText: Migration = {
  version: 6,
  name: 'alert json as text',
  sqlite: `-- nothing to change: SQLite keeps sources and context as TEXT`,
  postgres: `
ALTER TABLE alerts
  ALTER COLUMN sources TYPE text,
  ALTER COLUMN context TYPE text,
  ALTER COLUMN sources SET COMPRESSION lz4,
  ALTER COLUMN context SET COMPRESSION lz4,
  ALTER COLUMN title SET COMPRESSION lz4,
  ALTER COLUMN description SET COMPRESSION lz4,
  ALTER COLUMN search_doc SET COMPRESSION lz4,
  SET (toast_tuple_target = 4000);
`,
};
