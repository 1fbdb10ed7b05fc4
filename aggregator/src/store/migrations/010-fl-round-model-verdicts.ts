// Version 8 (FL issue): a round says which model it trained, and operators' verdicts waiting for their facility's agent
// survive a restart.
// fl_rounds.model: the registry name of the model the round trained ('fl-global' = Layer 2, 'fl-global-l1b' = Layer
// 1b); NULL for rounds stored before this version, which did not record it.
// fl_verdicts: one row per facility and alert, the latest verdict an operator's status change gave (JSON, as pushed to
// the agent), kept until an agent of the facility has answered the push.
import type { Migration } from './index.js';

export const flRoundModelVerdicts: Migration = {
  version: 10,
  name: 'fl round model and queued verdicts',
  sqlite: `
ALTER TABLE fl_rounds ADD COLUMN model TEXT;

CREATE TABLE fl_verdicts (
  facility_id TEXT NOT NULL,
  alert_id TEXT NOT NULL,
  verdict TEXT NOT NULL,
  queued_at TEXT NOT NULL,
  PRIMARY KEY (facility_id, alert_id)
);
`,
  postgres: `
ALTER TABLE fl_rounds ADD COLUMN model text;

CREATE TABLE fl_verdicts (
  facility_id text COLLATE "C" NOT NULL,
  alert_id text COLLATE "C" NOT NULL,
  verdict text NOT NULL,
  queued_at timestamptz NOT NULL,
  PRIMARY KEY (facility_id, alert_id)
);
`,
};
