// Version 1: every table the API serves.
// Alerts keep their sources and 60-s context as JSON columns: an alert is always read whole and never queried by a
// source's fields, so one row per alert keeps batched ingest fast. Counts per (facility, severity, status) are
// maintained by triggers in the same transaction, so the stats and filtered totals never count a million rows.
import type { Migration } from './index.js';

const SEVERITY_CHECK = "severity IN ('critical', 'high', 'medium', 'low')";
const STATUS_CHECK = "status IN ('new', 'acknowledged', 'resolved', 'false-positive')";

const sqlite = `
CREATE TABLE facilities (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  created_at TEXT NOT NULL,
  revoked_at TEXT
);

CREATE TABLE agents (
  id TEXT PRIMARY KEY,
  facility_id TEXT NOT NULL REFERENCES facilities (id) ON DELETE CASCADE,
  enrolled_at TEXT NOT NULL,
  last_heartbeat TEXT,
  health TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX agents_facility ON agents (facility_id);

CREATE TABLE alerts (
  id TEXT NOT NULL UNIQUE,
  ts TEXT NOT NULL,
  facility_id TEXT NOT NULL,
  severity TEXT NOT NULL CHECK (${SEVERITY_CHECK}),
  title TEXT NOT NULL,
  description TEXT NOT NULL,
  status TEXT NOT NULL CHECK (${STATUS_CHECK}),
  correlation_confidence REAL NOT NULL,
  correlation_summary TEXT NOT NULL,
  attack_type TEXT NOT NULL,
  attack_name TEXT NOT NULL,
  sources TEXT NOT NULL,
  context TEXT NOT NULL,
  generated INTEGER NOT NULL DEFAULT 0
);
-- Each list filter has an index in (filter, ts, id) order, so a page is read newest first without sorting; the
-- other filter columns ride along so totals over a time range are counted from the index alone.
CREATE INDEX alerts_ts ON alerts (ts, id, facility_id, severity, status);
CREATE INDEX alerts_facility_ts ON alerts (facility_id, ts, id, severity, status);
CREATE INDEX alerts_severity_ts ON alerts (severity, ts, id, facility_id, status);
CREATE INDEX alerts_status_ts ON alerts (status, ts, id, facility_id, severity);

CREATE VIRTUAL TABLE alerts_fts USING fts5 (
  title, description, attack_type, attack_name,
  content = 'alerts', content_rowid = 'rowid', tokenize = 'unicode61 remove_diacritics 0'
);
CREATE TRIGGER alerts_fts_insert AFTER INSERT ON alerts BEGIN
  INSERT INTO alerts_fts (rowid, title, description, attack_type, attack_name)
  VALUES (new.rowid, new.title, new.description, new.attack_type, new.attack_name);
END;
CREATE TRIGGER alerts_fts_delete AFTER DELETE ON alerts BEGIN
  INSERT INTO alerts_fts (alerts_fts, rowid, title, description, attack_type, attack_name)
  VALUES ('delete', old.rowid, old.title, old.description, old.attack_type, old.attack_name);
END;
CREATE TRIGGER alerts_fts_update AFTER UPDATE OF title, description, attack_type, attack_name ON alerts BEGIN
  INSERT INTO alerts_fts (alerts_fts, rowid, title, description, attack_type, attack_name)
  VALUES ('delete', old.rowid, old.title, old.description, old.attack_type, old.attack_name);
  INSERT INTO alerts_fts (rowid, title, description, attack_type, attack_name)
  VALUES (new.rowid, new.title, new.description, new.attack_type, new.attack_name);
END;

CREATE TABLE alert_counts (
  facility_id TEXT NOT NULL,
  severity TEXT NOT NULL,
  status TEXT NOT NULL,
  n INTEGER NOT NULL,
  PRIMARY KEY (facility_id, severity, status)
) WITHOUT ROWID;
CREATE TRIGGER alert_counts_insert AFTER INSERT ON alerts BEGIN
  INSERT INTO alert_counts (facility_id, severity, status, n) VALUES (new.facility_id, new.severity, new.status, 1)
  ON CONFLICT (facility_id, severity, status) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER alert_counts_delete AFTER DELETE ON alerts BEGIN
  UPDATE alert_counts SET n = n - 1
  WHERE facility_id = old.facility_id AND severity = old.severity AND status = old.status;
END;
CREATE TRIGGER alert_counts_update AFTER UPDATE OF facility_id, severity, status ON alerts BEGIN
  UPDATE alert_counts SET n = n - 1
  WHERE facility_id = old.facility_id AND severity = old.severity AND status = old.status;
  INSERT INTO alert_counts (facility_id, severity, status, n) VALUES (new.facility_id, new.severity, new.status, 1)
  ON CONFLICT (facility_id, severity, status) DO UPDATE SET n = n + 1;
END;

CREATE TABLE aggregates (
  facility_id TEXT NOT NULL,
  time TEXT NOT NULL,
  packets_per_sec REAL NOT NULL,
  bytes_per_sec REAL NOT NULL,
  unique_src_ips INTEGER NOT NULL,
  unique_dest_ips INTEGER NOT NULL,
  protocol_distribution TEXT NOT NULL,
  failed_connections INTEGER NOT NULL,
  avg_packet_size REAL NOT NULL,
  inter_arrival_time REAL NOT NULL,
  PRIMARY KEY (facility_id, time)
) WITHOUT ROWID;
CREATE INDEX aggregates_time ON aggregates (time);

CREATE TABLE fl_rounds (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  round_number INTEGER NOT NULL,
  status TEXT NOT NULL,
  phase TEXT NOT NULL,
  start_time TEXT NOT NULL,
  end_time TEXT,
  progress REAL NOT NULL DEFAULT 0,
  epsilon REAL NOT NULL DEFAULT 0,
  model_accuracy REAL,
  clients_active INTEGER NOT NULL DEFAULT 0,
  total_clients INTEGER NOT NULL
);

CREATE TABLE fl_round_clients (
  round_id INTEGER NOT NULL REFERENCES fl_rounds (id) ON DELETE CASCADE,
  id TEXT NOT NULL,
  facility_id TEXT NOT NULL,
  name TEXT NOT NULL,
  status TEXT NOT NULL,
  progress REAL NOT NULL,
  current_epoch INTEGER NOT NULL,
  total_epochs INTEGER NOT NULL,
  loss REAL,
  accuracy REAL,
  last_update TEXT NOT NULL,
  PRIMARY KEY (round_id, id)
);
CREATE INDEX fl_round_clients_client ON fl_round_clients (id);

CREATE TABLE predictions (
  id TEXT PRIMARY KEY,
  ts TEXT NOT NULL,
  facility_id TEXT,
  current_technique TEXT NOT NULL,
  current_technique_name TEXT NOT NULL,
  alert_id TEXT,
  validated INTEGER NOT NULL DEFAULT 0,
  validation_time TEXT
);
CREATE INDEX predictions_ts ON predictions (ts, id);
CREATE INDEX predictions_validated_ts ON predictions (validated, ts, id);

CREATE TABLE predicted_techniques (
  prediction_id TEXT NOT NULL REFERENCES predictions (id) ON DELETE CASCADE,
  rank INTEGER NOT NULL,
  technique_id TEXT NOT NULL,
  technique_name TEXT NOT NULL,
  probability REAL NOT NULL,
  timeframe TEXT NOT NULL,
  timeframe_seconds INTEGER NOT NULL,
  PRIMARY KEY (prediction_id, rank)
);

CREATE TABLE api_tokens (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  role TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
  hash TEXT NOT NULL UNIQUE,
  created_at TEXT NOT NULL,
  revoked_at TEXT,
  last_used_at TEXT
);

CREATE TABLE audit_log (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  at TEXT NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  target TEXT NOT NULL,
  details TEXT NOT NULL
);
`;

// Postgres keeps the counters with statement-level triggers over transition tables: one grouped upsert per
// INSERT/UPDATE/DELETE statement instead of one per row, which keeps batched ingest fast. Rows are upserted in key
// order so concurrent writers lock counter rows in the same order (no deadlock).
// Search indexes the same words SQLite's FTS5 sees: non-alphanumerics become spaces before the 'simple' parser, so
// "10.0.0.5" is four words on both, not one host token.
const SEARCH_DOC = `to_tsvector('simple'::regconfig, regexp_replace(title || ' ' || description || ' ' || attack_type || ' ' || attack_name, '[^[:alnum:]]+', ' ', 'g'))`;

const postgres = `
CREATE TABLE facilities (
  id text COLLATE "C" PRIMARY KEY,
  name text NOT NULL,
  created_at timestamptz NOT NULL,
  revoked_at timestamptz
);

CREATE TABLE agents (
  id text COLLATE "C" PRIMARY KEY,
  facility_id text COLLATE "C" NOT NULL REFERENCES facilities (id) ON DELETE CASCADE,
  enrolled_at timestamptz NOT NULL,
  last_heartbeat timestamptz,
  health jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX agents_facility ON agents (facility_id);

CREATE TABLE alerts (
  id text COLLATE "C" PRIMARY KEY,
  ts timestamptz NOT NULL,
  facility_id text COLLATE "C" NOT NULL,
  severity text NOT NULL CHECK (${SEVERITY_CHECK}),
  title text NOT NULL,
  description text NOT NULL,
  status text NOT NULL CHECK (${STATUS_CHECK}),
  correlation_confidence double precision NOT NULL,
  correlation_summary text NOT NULL,
  attack_type text NOT NULL,
  attack_name text NOT NULL,
  sources json NOT NULL,
  context json NOT NULL,
  generated boolean NOT NULL DEFAULT false
);
-- The 60-s context is ~10 KB of JSON per alert: lz4 compresses it at a fraction of pglz's CPU cost.
ALTER TABLE alerts ALTER COLUMN context SET COMPRESSION lz4, ALTER COLUMN sources SET COMPRESSION lz4;
CREATE INDEX alerts_ts ON alerts (ts, id) INCLUDE (facility_id, severity, status);
CREATE INDEX alerts_facility_ts ON alerts (facility_id, ts, id) INCLUDE (severity, status);
CREATE INDEX alerts_severity_ts ON alerts (severity, ts, id) INCLUDE (facility_id, status);
CREATE INDEX alerts_status_ts ON alerts (status, ts, id) INCLUDE (facility_id, severity);
CREATE INDEX alerts_search ON alerts USING gin ((${SEARCH_DOC}));

CREATE TABLE alert_counts (
  facility_id text COLLATE "C" NOT NULL,
  severity text NOT NULL,
  status text NOT NULL,
  n bigint NOT NULL,
  PRIMARY KEY (facility_id, severity, status)
);

CREATE FUNCTION alert_counts_apply() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  IF TG_OP IN ('DELETE', 'UPDATE') THEN
    INSERT INTO alert_counts AS c (facility_id, severity, status, n)
      SELECT facility_id, severity, status, -count(*) FROM old_rows GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
      ON CONFLICT (facility_id, severity, status) DO UPDATE SET n = c.n + excluded.n;
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    INSERT INTO alert_counts AS c (facility_id, severity, status, n)
      SELECT facility_id, severity, status, count(*) FROM new_rows GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
      ON CONFLICT (facility_id, severity, status) DO UPDATE SET n = c.n + excluded.n;
  END IF;
  RETURN NULL;
END
$fn$;
CREATE TRIGGER alert_counts_insert AFTER INSERT ON alerts
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION alert_counts_apply();
CREATE TRIGGER alert_counts_update AFTER UPDATE ON alerts
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION alert_counts_apply();
CREATE TRIGGER alert_counts_delete AFTER DELETE ON alerts
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION alert_counts_apply();

CREATE TABLE aggregates (
  facility_id text COLLATE "C" NOT NULL,
  time timestamptz NOT NULL,
  packets_per_sec double precision NOT NULL,
  bytes_per_sec double precision NOT NULL,
  unique_src_ips integer NOT NULL,
  unique_dest_ips integer NOT NULL,
  protocol_distribution jsonb NOT NULL,
  failed_connections integer NOT NULL,
  avg_packet_size double precision NOT NULL,
  inter_arrival_time double precision NOT NULL,
  PRIMARY KEY (facility_id, time)
);
CREATE INDEX aggregates_time ON aggregates (time);

CREATE TABLE fl_rounds (
  id integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  round_number integer NOT NULL,
  status text NOT NULL,
  phase text NOT NULL,
  start_time timestamptz NOT NULL,
  end_time timestamptz,
  progress double precision NOT NULL DEFAULT 0,
  epsilon double precision NOT NULL DEFAULT 0,
  model_accuracy double precision,
  clients_active integer NOT NULL DEFAULT 0,
  total_clients integer NOT NULL
);

CREATE TABLE fl_round_clients (
  round_id integer NOT NULL REFERENCES fl_rounds (id) ON DELETE CASCADE,
  id text COLLATE "C" NOT NULL,
  facility_id text COLLATE "C" NOT NULL,
  name text NOT NULL,
  status text NOT NULL,
  progress double precision NOT NULL,
  current_epoch integer NOT NULL,
  total_epochs integer NOT NULL,
  loss double precision,
  accuracy double precision,
  last_update timestamptz NOT NULL,
  PRIMARY KEY (round_id, id)
);
CREATE INDEX fl_round_clients_client ON fl_round_clients (id);

CREATE TABLE predictions (
  id text COLLATE "C" PRIMARY KEY,
  ts timestamptz NOT NULL,
  facility_id text COLLATE "C",
  current_technique text NOT NULL,
  current_technique_name text NOT NULL,
  alert_id text COLLATE "C",
  validated boolean NOT NULL DEFAULT false,
  validation_time timestamptz
);
CREATE INDEX predictions_ts ON predictions (ts, id);
CREATE INDEX predictions_validated_ts ON predictions (validated, ts, id);

CREATE TABLE predicted_techniques (
  prediction_id text COLLATE "C" NOT NULL REFERENCES predictions (id) ON DELETE CASCADE,
  rank integer NOT NULL,
  technique_id text NOT NULL,
  technique_name text NOT NULL,
  probability double precision NOT NULL,
  timeframe text NOT NULL,
  timeframe_seconds integer NOT NULL,
  PRIMARY KEY (prediction_id, rank)
);

CREATE TABLE api_tokens (
  id text COLLATE "C" PRIMARY KEY,
  name text NOT NULL,
  role text NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
  hash text COLLATE "C" NOT NULL UNIQUE,
  created_at timestamptz NOT NULL,
  revoked_at timestamptz,
  last_used_at timestamptz
);

CREATE TABLE audit_log (
  id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  at timestamptz NOT NULL,
  actor text NOT NULL,
  action text NOT NULL,
  target text NOT NULL,
  details jsonb NOT NULL
);
`;

/** The search document expression (migration 3 stores it in the generated column search_doc). */
export const POSTGRES_SEARCH_DOCUMENT = SEARCH_DOC;

export const initial: Migration = { version: 1, name: 'initial', sqlite, postgres };
