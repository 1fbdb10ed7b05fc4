// Version 4 (link issue): the asset inventory each facility's agent reports (hosts seen on the plant network, their
// protocols and role), kept across restarts so the dashboard shows it and a restarted aggregator does not forget it.
import type { Migration } from './index.js';

export const assets: Migration = {
  version: 4,
  name: 'asset inventory',
  sqlite: `
CREATE TABLE assets (
  facility_id TEXT NOT NULL REFERENCES facilities (id) ON DELETE CASCADE,
  address TEXT NOT NULL,
  mac TEXT NOT NULL,
  protocols TEXT NOT NULL,
  role TEXT NOT NULL,
  first_seen TEXT NOT NULL,
  last_seen TEXT NOT NULL,
  removed_at TEXT,
  PRIMARY KEY (facility_id, address)
);
`,
  postgres: `
CREATE TABLE assets (
  facility_id text COLLATE "C" NOT NULL REFERENCES facilities (id) ON DELETE CASCADE,
  address text COLLATE "C" NOT NULL,
  mac text NOT NULL,
  protocols jsonb NOT NULL,
  role text NOT NULL,
  first_seen timestamptz NOT NULL,
  last_seen timestamptz NOT NULL,
  removed_at timestamptz,
  PRIMARY KEY (facility_id, address)
);
`,
};
