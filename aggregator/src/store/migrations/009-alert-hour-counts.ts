// Version 9: alerts counted per UTC hour, facility, severity and status, kept by triggers in the same transaction as
// alert_counts. A total over a time range (the dashboard's "last 24 hours", "last 7 days") is then the counters of
// its whole hours plus the rows of its two partial hours at the edges, instead of counting every alert in the range:
// at a million alerts over 30 days "high at plant-a in the last 7 days" counted 19,293 rows from the severity index,
// 5-9 ms on SQLite. SQLite keys an hour by the first 13 characters of the stored ISO time ("2026-11-22T17"), which
// sort as the times do; Postgres by date_trunc('hour', ts, 'UTC').
import type { Migration } from './index.js';

const KEY = '(hour, facility_id, severity, status)';

export const alertHourCounts: Migration = {
  version: 9,
  name: 'alert hour counts',
  sqlite: `
CREATE TABLE alert_hour_counts (
  hour TEXT NOT NULL,
  facility_id TEXT NOT NULL,
  severity TEXT NOT NULL,
  status TEXT NOT NULL,
  n INTEGER NOT NULL,
  PRIMARY KEY ${KEY}
) WITHOUT ROWID;
INSERT INTO alert_hour_counts (hour, facility_id, severity, status, n)
  SELECT substr(ts, 1, 13), facility_id, severity, status, count(*) FROM alerts GROUP BY 1, 2, 3, 4;
CREATE TRIGGER alert_hour_counts_insert AFTER INSERT ON alerts BEGIN
  INSERT INTO alert_hour_counts (hour, facility_id, severity, status, n)
  VALUES (substr(new.ts, 1, 13), new.facility_id, new.severity, new.status, 1)
  ON CONFLICT ${KEY} DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER alert_hour_counts_delete AFTER DELETE ON alerts BEGIN
  UPDATE alert_hour_counts SET n = n - 1
  WHERE hour = substr(old.ts, 1, 13) AND facility_id = old.facility_id AND severity = old.severity AND status = old.status;
END;
CREATE TRIGGER alert_hour_counts_update AFTER UPDATE OF ts, facility_id, severity, status ON alerts BEGIN
  UPDATE alert_hour_counts SET n = n - 1
  WHERE hour = substr(old.ts, 1, 13) AND facility_id = old.facility_id AND severity = old.severity AND status = old.status;
  INSERT INTO alert_hour_counts (hour, facility_id, severity, status, n)
  VALUES (substr(new.ts, 1, 13), new.facility_id, new.severity, new.status, 1)
  ON CONFLICT ${KEY} DO UPDATE SET n = n + 1;
END;
`,
  postgres: `
CREATE TABLE alert_hour_counts (
  hour timestamptz NOT NULL,
  facility_id text COLLATE "C" NOT NULL,
  severity text NOT NULL,
  status text NOT NULL,
  n bigint NOT NULL,
  PRIMARY KEY ${KEY}
);
INSERT INTO alert_hour_counts (hour, facility_id, severity, status, n)
  SELECT date_trunc('hour', ts, 'UTC'), facility_id, severity, status, count(*) FROM alerts GROUP BY 1, 2, 3, 4;
ANALYZE alert_hour_counts;

-- Statement-level over transition tables like alert_counts_apply, rows upserted in key order (no deadlock).
CREATE FUNCTION alert_hour_counts_apply() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  IF TG_OP IN ('DELETE', 'UPDATE') THEN
    INSERT INTO alert_hour_counts AS c (hour, facility_id, severity, status, n)
      SELECT date_trunc('hour', ts, 'UTC'), facility_id, severity, status, -count(*) FROM old_rows
      GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
      ON CONFLICT ${KEY} DO UPDATE SET n = c.n + excluded.n;
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    INSERT INTO alert_hour_counts AS c (hour, facility_id, severity, status, n)
      SELECT date_trunc('hour', ts, 'UTC'), facility_id, severity, status, count(*) FROM new_rows
      GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
      ON CONFLICT ${KEY} DO UPDATE SET n = c.n + excluded.n;
  END IF;
  RETURN NULL;
END
$fn$;
CREATE TRIGGER alert_hour_counts_insert AFTER INSERT ON alerts
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION alert_hour_counts_apply();
CREATE TRIGGER alert_hour_counts_update AFTER UPDATE ON alerts
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION alert_hour_counts_apply();
CREATE TRIGGER alert_hour_counts_delete AFTER DELETE ON alerts
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION alert_hour_counts_apply();
`,
};
