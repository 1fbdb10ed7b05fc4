// Version 2 (link issue): one-time agent enrollment tokens. Only the sha256 of a token's secret is stored; a token is
// spent by setting used_at, in the same statement that checks it is unused and unexpired.
import type { Migration } from './index.js';

export const enrollment: Migration = {
  version: 2,
  name: 'enrollment tokens',
  sqlite: `
CREATE TABLE enrollment_tokens (
  hash TEXT PRIMARY KEY,
  facility_id TEXT NOT NULL REFERENCES facilities (id) ON DELETE CASCADE,
  created_at TEXT NOT NULL,
  expires_at TEXT NOT NULL,
  used_at TEXT
);
CREATE INDEX enrollment_tokens_facility ON enrollment_tokens (facility_id);
`,
  postgres: `
CREATE TABLE enrollment_tokens (
  hash text COLLATE "C" PRIMARY KEY,
  facility_id text COLLATE "C" NOT NULL REFERENCES facilities (id) ON DELETE CASCADE,
  created_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL,
  used_at timestamptz
);
CREATE INDEX enrollment_tokens_facility ON enrollment_tokens (facility_id);
`,
};
