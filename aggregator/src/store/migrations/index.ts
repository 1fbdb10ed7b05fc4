// The ordered list of schema migrations. A migration is never edited once released: add the next version instead.
// Each carries one SQL script per dialect; the runner (sqlite.ts, postgres.ts) applies each pending version in its
// own transaction and records it in schema_migrations.
import { initial } from './001-initial.js';
import { enrollment } from './002-enrollment.js';
import { flState } from './003-fl.js';
import { assets } from './004-assets.js';
import { searchTerms } from './005-search-terms.js';
import { alertJsonText } from './006-alert-json-text.js';
import { searchFacets } from './007-search-facets.js';
import { searchTermCounts } from './008-search-term-counts.js';
import { alertHourCounts } from './009-alert-hour-counts.js';
import { flRoundModelVerdicts } from './010-fl-round-model-verdicts.js';
import { bulkAlertInsert } from './011-bulk-alert-insert.js';
import { postgresBulkAlertInsert } from './012-postgres-bulk-alert-insert.js';
import { postgresAlertFilterIndexes } from './013-postgres-alert-filter-indexes.js';

export interface Migration {
  version: number;
  name: string;
  sqlite: string;
  postgres: string;
}

export const MIGRATIONS: readonly Migration[] = [
  initial,
  enrollment,
  flState,
  assets,
  searchTerms,
  alertJsonText,
  searchFacets,
  searchTermCounts,
  alertHourCounts,
  flRoundModelVerdicts,
  bulkAlertInsert,
  postgresBulkAlertInsert,
  postgresAlertFilterIndexes,
];
