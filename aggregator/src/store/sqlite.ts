// The SQLite store (better-sqlite3): the default, one file. WAL lets readers run beside the one writer; every batch
// is one transaction. better-sqlite3 is synchronous; the async methods keep one contract with the Postgres store.
import { mkdirSync, statfsSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Worker } from 'node:worker_threads';
import type Database from 'better-sqlite3';
import type { AlertStats, AlertStatus, FLClient, FLRound, Prediction, Severity } from '@vigil/shared';
import { systemClock, type Clock } from '@vigil/shared';
import {
  checkLimitOffset,
  checkPaging,
  iso,
  isoOrNull,
  retentionCutoffs,
  searchTerms,
  splitHours,
  statsFromCounts,
} from './common.js';
import { MIGRATIONS } from './migrations/index.js';
import { ALERT_COLUMNS, alertInserter, alertRowValues, batchWords } from './sqlite-alert-insert.js';
import { AlertWriterThread, openSqlite } from './sqlite-writer.js';
import {
  MODEL_ACTIVE,
  MODEL_COLUMNS,
  PRIVACY_COLUMNS,
  modelFromRow,
  privacyFromRow,
  type ModelRow,
  type PrivacyRow,
} from './fl-rows.js';
import {
  agentFromRow,
  assetFromRow,
  aggregateFromRow,
  alertFromRow,
  auditFromRow,
  clientsByRound,
  facilityFromRow,
  predictionFromRow,
  roundFromRow,
  techniquesByPrediction,
  tokenFromRow,
  type AgentRow,
  type AggregateRow,
  type AlertRow,
  type AuditRow,
  type FacilityRow,
  type PredictedTechniqueRow,
  type PredictionRow,
  type AssetRow,
  type RoundClientRow,
  type RoundRow,
  type TokenRow,
} from './rows.js';
import {
  SEARCH_COUNT_CAP,
  StoreConflictError,
  StoreUnavailableError,
  type AgentRecord,
  type AlertQuery,
  type AlertTechnique,
  type EnrollmentRefusal,
  type ApiToken,
  type Asset,
  type AssetChange,
  type AuditEntry,
  type Facility,
  type FacilityAggregate,
  type ModelVersion,
  type NewModelVersion,
  type NewRound,
  type Page,
  type PrivacyAccount,
  type QueuedVerdict,
  type PredictionQuery,
  type RetentionPolicy,
  type Role,
  type RoundPatch,
  type Store,
  type StoredAlert,
} from './types.js';

type Param = string | number | bigint | null;

/** Rows of the newest-first index read per step of a search walk (see searchPage). */
const SEARCH_WALK_CHUNK = 2000;
/** Rows a search walk reads to count matches beyond its page before counting by rowid instead. */
const SEARCH_COUNT_WALK = 20_000;
/** A search word with more indexed completions than this is left to FTS5 as a prefix query. */
const MAX_WORD_EXPANSION = 32;

export interface SqliteStoreOptions {
  /** File path, or `:memory:`. The parent directory is created when missing. */
  path: string;
  clock?: Clock;
  /**
   * Where a file database's alert inserts run: `thread` (default) on a second connection in a worker thread
   * (sqlite-writer.ts), `inline` on the caller's thread. `:memory:` is always inline (one connection).
   */
  alertWriter?: 'thread' | 'inline';
  /** Told of each writer thread started (tests). */
  onWriterStart?: (worker: Worker) => void;
  /** Tests: the first writer thread dies right after its Nth commit, before answering it. */
  failWriterAfterCommit?: number;
}

/**
 * An alert's API JSON (alertJsonFromRow's text, field for field) built by SQLite as UTF-8 bytes, in two parts around
 * correlation_confidence, which JavaScript prints (SQLite prints a REAL with 15 significant digits, JavaScript with as
 * many as the double needs). Every column is NOT NULL, so no part is NULL; ts is stored as iso() printed it, and the
 * sources and context are the text JSON.stringify wrote. Bytes and not strings: a page of 50 alerts is about 0.5 MB,
 * which then goes to the socket without being decoded into strings, joined, and encoded again.
 */
const ALERT_JSON_COLUMNS =
  `CAST('{"id":' || json_quote(id) || ',"timestamp":' || json_quote(ts) || ',"facility_id":' || json_quote(facility_id) ||` +
  ` ',"severity":' || json_quote(severity) || ',"title":' || json_quote(title) ||` +
  ` ',"description":' || json_quote(description) || ',"status":' || json_quote(status) || ',"sources":' || sources ||` +
  ` ',"correlation_confidence":' AS BLOB) AS head, correlation_confidence,` +
  ` CAST(',"correlation_summary":' || json_quote(correlation_summary) || ',"attack_type":' || json_quote(attack_type) ||` +
  ` ',"attack_name":' || json_quote(attack_name) || ',"context_analysis":' || context || '}' AS BLOB) AS tail`;

interface AlertJsonRow {
  head: Buffer;
  correlation_confidence: number;
  tail: Buffer;
}

function alertJsonBytes(r: AlertJsonRow): Buffer {
  return Buffer.concat([r.head, Buffer.from(JSON.stringify(r.correlation_confidence)), r.tail]);
}

const ROUND_COLUMNS =
  'id, round_number, status, phase, start_time, end_time, progress, epsilon, model_accuracy, clients_active, total_clients, model';
const CLIENT_COLUMNS =
  'round_id, id, facility_id, name, status, progress, current_epoch, total_epochs, loss, accuracy, last_update';
const PREDICTION_COLUMNS =
  'id, ts, current_technique, current_technique_name, alert_id, validated, validation_time';
const TECHNIQUE_COLUMNS =
  'prediction_id, technique_id, technique_name, probability, rank, timeframe, timeframe_seconds';
const TOKEN_COLUMNS = 'id, name, role, created_at, revoked_at, last_used_at';

const ROUND_PATCH_COLUMNS = [
  'status',
  'phase',
  'end_time',
  'progress',
  'epsilon',
  'model_accuracy',
  'clients_active',
  'total_clients',
] as const satisfies readonly (keyof RoundPatch)[];

/**
 * Below this much free space under the database file the store reports itself down (health 503): SQLite needs room
 * for the WAL and its checkpoints, and alerts that cannot be written are refused (agents keep them) rather than lost.
 */
export const SQLITE_MIN_FREE_BYTES = 32 * 1024 * 1024;

/** A facet's token as the `facets` column spells it (migration 7): a tag letter and the value's UTF-8 in hex. */
function facetToken(tag: 'f' | 'v' | 'u', value: string): string {
  return `${tag}${Buffer.from(value, 'utf8').toString('hex')}`;
}

/* eslint-disable @typescript-eslint/require-await -- better-sqlite3 is synchronous; async methods turn its throws
   (constraint violations, invalid times) into rejections, as the Store contract promises. */
export class SqliteStore implements Store {
  readonly kind = 'sqlite' as const;
  private readonly db: Database.Database;
  private readonly clock: Clock;
  private readonly statements = new Map<string, Database.Statement>();
  /** The directory of the database file (undefined in memory): its free space is part of ping(). */
  private readonly dir: string | undefined;
  /** The alert writer thread of a file database (null: inserts run on this thread). */
  private readonly writer: AlertWriterThread | null;
  private inlineInsert: ReturnType<typeof alertInserter> | null = null;

  constructor(options: SqliteStoreOptions) {
    this.clock = options.clock ?? systemClock;
    this.dir = options.path === ':memory:' ? undefined : dirname(options.path);
    this.writer =
      this.dir !== undefined && options.alertWriter !== 'inline'
        ? new AlertWriterThread(
            options.path,
            { top: () => this.alertTop(), rowids: (ids) => this.alertRowids(ids) },
            options.onWriterStart,
            options.failWriterAfterCommit,
          )
        : null;
    try {
      if (options.path !== ':memory:') mkdirSync(dirname(options.path), { recursive: true });
      this.db = openSqlite(options.path);
    } catch (err) {
      throw new StoreUnavailableError(
        `cannot open SQLite database ${options.path}: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
  }

  private stmt(sql: string): Database.Statement {
    let s = this.statements.get(sql);
    if (s === undefined) {
      s = this.db.prepare(sql);
      this.statements.set(sql, s);
    }
    return s;
  }

  private all<T>(sql: string, ...params: Param[]): T[] {
    return this.stmt(sql).all(...params) as T[];
  }

  private get<T>(sql: string, ...params: Param[]): T | undefined {
    return this.stmt(sql).get(...params) as T | undefined;
  }

  private run(sql: string, ...params: Param[]): number {
    return this.stmt(sql).run(...params).changes;
  }

  /**
   * Runs a write of this connection while the writer thread holds no batch (new batches wait until it returned): the
   * two connections then never wait for each other's write lock, a wait that would block this thread in SQLite's
   * busy handler for up to a whole batch's commit. Used by every write of this connection, the frequent ones of the
   * link and the API and the rare ones (enrollment, facilities, FL rounds and models, tokens) alike: a rare write
   * that blocked the thread for a commit's length stalls every stream's alerts as much as a frequent one.
   */
  private async apart<T>(write: () => T): Promise<T> {
    return this.writer === null ? write() : this.writer.exclusive(write);
  }

  private now(): string {
    return iso(this.clock.now());
  }

  async migrate(): Promise<number[]> {
    this.db.exec(
      'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)',
    );
    const applied: number[] = [];
    for (const m of MIGRATIONS) {
      // IMMEDIATE takes the write lock first, so two processes migrating one file apply each version once.
      this.db
        .transaction(() => {
          if (
            this.db.prepare('SELECT 1 FROM schema_migrations WHERE version = ?').get(m.version) !== undefined
          )
            return;
          this.db.exec(m.sqlite);
          this.db
            .prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)')
            .run(m.version, m.name, this.now());
          applied.push(m.version);
        })
        .immediate();
    }
    return applied;
  }

  async ping(): Promise<void> {
    this.db.prepare('SELECT 1').get();
    if (this.dir === undefined) return;
    const fs = statfsSync(this.dir);
    const free = fs.bavail * fs.bsize;
    if (free < SQLITE_MIN_FREE_BYTES) {
      throw new StoreUnavailableError(
        `the disk of ${this.dir} is full: ${Math.floor(free / 1024 / 1024)} MiB free, ` +
          `${SQLITE_MIN_FREE_BYTES / 1024 / 1024} MiB needed to store alerts`,
      );
    }
  }

  async close(): Promise<void> {
    await this.writer?.close();
    if (this.db.open) this.db.close();
  }

  // Facilities and agents

  async addFacility(f: { id: string; name: string }): Promise<Facility> {
    return this.apart(() => {
      const row: FacilityRow = { id: f.id, name: f.name, created_at: this.now(), revoked_at: null };
      const n = this.run(
        'INSERT INTO facilities (id, name, created_at) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING',
        row.id,
        row.name,
        row.created_at as string,
      );
      if (n === 0) throw new StoreConflictError(`facility ${f.id} already exists`);
      return facilityFromRow(row);
    });
  }

  async getFacility(id: string): Promise<Facility | null> {
    const r = this.get<FacilityRow>(
      'SELECT id, name, created_at, revoked_at FROM facilities WHERE id = ?',
      id,
    );
    return r === undefined ? null : facilityFromRow(r);
  }

  async listFacilities(): Promise<Facility[]> {
    const rows = this.all<FacilityRow>('SELECT id, name, created_at, revoked_at FROM facilities ORDER BY id');
    return rows.map(facilityFromRow);
  }

  async removeFacility(id: string): Promise<boolean> {
    return this.apart(() => this.run('DELETE FROM facilities WHERE id = ?', id) > 0);
  }

  async upsertAgent(a: { id: string; facility_id: string; enrolled_at: string }): Promise<void> {
    return this.apart(() => {
      this.run(
        `INSERT INTO agents (id, facility_id, enrolled_at) VALUES (?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET facility_id = excluded.facility_id, enrolled_at = excluded.enrolled_at`,
        a.id,
        a.facility_id,
        iso(a.enrolled_at),
      );
    });
  }

  async recordHeartbeat(agentId: string, at: string, health: Record<string, unknown>): Promise<void> {
    await this.apart(() => {
      this.run(
        'UPDATE agents SET last_heartbeat = ?, health = ? WHERE id = ?',
        iso(at),
        JSON.stringify(health),
        agentId,
      );
    });
  }

  async listAgents(facilityId?: string): Promise<AgentRecord[]> {
    const cols = 'id, facility_id, enrolled_at, last_heartbeat, health';
    const rows =
      facilityId === undefined
        ? this.all<AgentRow>(`SELECT ${cols} FROM agents ORDER BY id`)
        : this.all<AgentRow>(`SELECT ${cols} FROM agents WHERE facility_id = ? ORDER BY id`, facilityId);
    return rows.map(agentFromRow);
  }

  async revokeFacility(id: string, at: string): Promise<boolean> {
    return this.apart(
      () =>
        this.run('UPDATE facilities SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL', iso(at), id) > 0,
    );
  }

  // Enrollment tokens

  async createEnrollmentToken(t: {
    hash: string;
    facility_id: string;
    created_at: string;
    expires_at: string;
  }): Promise<void> {
    return this.apart(() => {
      const n = this.run(
        'INSERT INTO enrollment_tokens (hash, facility_id, created_at, expires_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING',
        t.hash,
        t.facility_id,
        iso(t.created_at),
        iso(t.expires_at),
      );
      if (n === 0) throw new StoreConflictError('an enrollment token with this hash already exists');
    });
  }

  async consumeEnrollmentToken(
    hash: string,
    now: string,
  ): Promise<{ facility_id: string } | { refused: EnrollmentRefusal }> {
    return this.apart(() => {
      const at = iso(now);
      const won = this.get<{ facility_id: string }>(
        'UPDATE enrollment_tokens SET used_at = ? WHERE hash = ? AND used_at IS NULL AND expires_at > ? RETURNING facility_id',
        at,
        hash,
        at,
      );
      if (won !== undefined) return { facility_id: won.facility_id };
      const r = this.get<{ used_at: string | null }>(
        'SELECT used_at FROM enrollment_tokens WHERE hash = ?',
        hash,
      );
      if (r === undefined) return { refused: 'unknown' };
      return { refused: r.used_at !== null ? 'used' : 'expired' };
    });
  }

  // Alerts

  async insertAlerts(alerts: readonly StoredAlert[]): Promise<number> {
    return (await this.insertFresh(alerts)).length;
  }

  async insertNewAlerts(alerts: readonly StoredAlert[]): Promise<string[]> {
    return this.insertFresh(alerts);
  }

  /** One transaction (alertInserter), in the writer thread when there is one; the ids of the rows it added. */
  private async insertFresh(alerts: readonly StoredAlert[]): Promise<string[]> {
    if (alerts.length === 0) return [];
    const rows = alerts.map(alertRowValues);
    const words = batchWords(alerts);
    if (this.writer !== null) return this.writer.insert(rows, words);
    this.inlineInsert ??= alertInserter(this.db);
    return this.inlineInsert(rows, words).fresh;
  }

  /** The largest alert rowid (the writer thread's starting point). */
  private alertTop(): bigint {
    const r = this.stmt('SELECT coalesce(max(rowid), 0) AS m FROM alerts').safeIntegers().get() as {
      m: bigint;
    };
    return r.m;
  }

  /** Of `ids`, the stored ones with their rowids (what a dead writer thread committed). */
  private alertRowids(ids: readonly string[]): Map<string, bigint> {
    const rows = this.stmt('SELECT id, rowid AS r FROM alerts WHERE id IN (SELECT value FROM json_each(?))')
      .safeIntegers()
      .all(JSON.stringify(ids)) as { id: string; r: bigint }[];
    return new Map(rows.map((x) => [x.id, x.r]));
  }

  async seedAlerts(alerts: readonly StoredAlert[]): Promise<number> {
    // insertAlerts is already the bulk path: one transaction, the index and counters kept once per batch.
    return (await this.insertFresh(alerts)).length;
  }

  async getAlert(id: string): Promise<StoredAlert | null> {
    const r = this.get<AlertRow>(`SELECT ${ALERT_COLUMNS} FROM alerts WHERE id = ?`, id);
    return r === undefined ? null : alertFromRow(r);
  }

  async queryAlerts(q: AlertQuery): Promise<Page<StoredAlert>> {
    return this.alertPage(q, ALERT_COLUMNS, alertFromRow);
  }

  async queryAlertsJson(q: AlertQuery): Promise<Page<Buffer>> {
    return this.alertPage(q, ALERT_JSON_COLUMNS, alertJsonBytes);
  }

  /** A page of alerts; `columns` are what each row is read with, `item` what becomes of it. */
  private alertPage<R, T>(q: AlertQuery, columns: string, item: (r: R) => T): Page<T> {
    checkPaging(q.page, q.limit);
    const where: string[] = [];
    const params: Param[] = [];
    const counted: string[] = [];
    const countedParams: Param[] = [];
    const eq = (column: string, value: string | undefined): void => {
      if (value === undefined) return;
      where.push(`${column} = ?`);
      params.push(value);
      counted.push(`${column} = ?`);
      countedParams.push(value);
    };
    eq('facility_id', q.facility);
    eq('severity', q.severity);
    eq('status', q.status);
    if (q.from !== undefined) {
      where.push('ts >= ?');
      params.push(iso(q.from));
    }
    if (q.to !== undefined) {
      where.push('ts < ?');
      params.push(iso(q.to));
    }
    const terms = searchTerms(q.search);
    if (terms.length > 0) return this.searchPage(q, terms, where, params, columns, item);
    const clause = where.length > 0 ? `WHERE ${where.join(' AND ')}` : '';
    const rows = this.all<R>(
      `SELECT ${columns} FROM alerts ${clause} ORDER BY ts DESC, id DESC LIMIT ? OFFSET ?`,
      ...params,
      q.limit,
      (q.page - 1) * q.limit,
    );
    // Filters on facility, severity and status alone are answered from the maintained counters.
    const total =
      where.length === counted.length
        ? Number(
            this.get<{ n: number | null }>(
              `SELECT sum(n) AS n FROM alert_counts ${counted.length > 0 ? `WHERE ${counted.join(' AND ')}` : ''}`,
              ...countedParams,
            )?.n ?? 0,
          )
        : this.timedTotal(counted, countedParams, q.from, q.to);
    return { items: rows.map(item), total };
  }

  /** Alerts with these facets in a time range: whole hours from alert_hour_counts, the partial ones from the rows. */
  private timedTotal(
    facets: readonly string[],
    facetParams: readonly Param[],
    from: string | undefined,
    to: string | undefined,
  ): number {
    const count = (table: string, column: string, value: string, lo?: string, hi?: string): number => {
      const where = [...facets];
      const params = [...facetParams];
      if (lo !== undefined) {
        where.push(`${column} >= ?`);
        params.push(lo);
      }
      if (hi !== undefined) {
        where.push(`${column} < ?`);
        params.push(hi);
      }
      const clause = where.length > 0 ? `WHERE ${where.join(' AND ')}` : '';
      return Number(
        this.get<{ n: number | null }>(`SELECT ${value} AS n FROM ${table} ${clause}`, ...params)?.n ?? 0,
      );
    };
    const rows = (lo?: string, hi?: string): number => count('alerts', 'ts', 'count(*)', lo, hi);
    const split = splitHours(from, to);
    if (split === null)
      return rows(from === undefined ? undefined : iso(from), to === undefined ? undefined : iso(to));
    // An hour's key is the first 13 characters of its ISO time ("2026-11-22T17"), as migration 9 stores it.
    const hours = count(
      'alert_hour_counts',
      'hour',
      'sum(n)',
      split.hoursFrom?.slice(0, 13),
      split.hoursTo?.slice(0, 13),
    );
    return split.edges.reduce((sum, e) => sum + rows(e.from, e.to), hours);
  }

  /**
   * A page of alerts with every search word, newest first, and their number up to SEARCH_COUNT_CAP.
   * Each word becomes the indexed words it is a prefix of (alert_terms), so FTS5 streams exact terms in rowid order
   * instead of merging a prefix's doclists (migration 3). Then, by how many alerts match:
   * - few (about fewer than sqrt(rows wanted x alerts stored)): read the matches by rowid and sort them;
   * - many: walk the newest-first index (with the other filters) a chunk at a time and keep the rows FTS5 finds in
   *   that chunk's rowid ranges, stopping once the page is full and the matches are counted up to the cap.
   * The facility, severity and status filters are part of the FTS5 query (migration 7), so without a time range the
   * FTS5 count alone is the total, and the few/many choice is made on the matches of every filter but time.
   */
  private searchPage<R, T>(
    q: AlertQuery,
    terms: readonly string[],
    where: readonly string[],
    params: readonly Param[],
    columns: string,
    item: (r: R) => T,
  ): Page<T> {
    const match = this.matchExpression(terms, q);
    const timed = q.from !== undefined || q.to !== undefined;
    const offset = (q.page - 1) * q.limit;
    const matches =
      this.get<{ n: number }>(
        `SELECT count(*) AS n FROM (SELECT 1 FROM alerts_fts WHERE alerts_fts MATCH ? LIMIT ${SEARCH_COUNT_CAP + 1})`,
        match,
      )?.n ?? 0;
    if (matches === 0) return { items: [], total: 0 };
    const page = (rows: R[], total: number): Page<T> =>
      total > SEARCH_COUNT_CAP
        ? { items: rows.map(item), total: SEARCH_COUNT_CAP, totalCapped: true }
        : { items: rows.map(item), total };
    const filter = where.map((w) => ` AND ${w}`).join('');
    const byRowid = `rowid IN (SELECT rowid FROM alerts_fts WHERE alerts_fts MATCH ?)${filter}`;
    const stored = this.get<{ n: number | null }>('SELECT sum(n) AS n FROM alert_counts')?.n ?? 0;
    if (matches <= SEARCH_COUNT_CAP && matches * matches < (offset + q.limit) * stored) {
      const rows = this.all<R>(
        `SELECT ${columns} FROM alerts WHERE ${byRowid} ORDER BY ts DESC, id DESC LIMIT ? OFFSET ?`,
        match,
        ...params,
        q.limit,
        offset,
      );
      const total = !timed
        ? matches
        : (this.get<{ n: number }>(`SELECT count(*) AS n FROM alerts WHERE ${byRowid}`, match, ...params)
            ?.n ?? 0);
      return page(rows, total);
    }
    if (!timed) {
      const rows = this.pageByRowid<R>(match, where, params, offset, q.limit, columns);
      if (rows !== null) return page(rows, matches);
    }
    // Without a time range the FTS5 count is the total; with one, count exactly by rowid when the matches are
    // few enough, else count while walking; a walk that has read SEARCH_COUNT_WALK rows without reaching the cap
    // (matches are sparse in this time range) stops, and the matches are counted by rowid after all.
    let total: number | null = !timed
      ? matches
      : matches <= SEARCH_COUNT_CAP
        ? (this.get<{ n: number }>(`SELECT count(*) AS n FROM alerts WHERE ${byRowid}`, match, ...params)
            ?.n ?? 0)
        : null;
    const wanted: number[] = [];
    let seen = 0;
    let walked = 0;
    let exhausted = false;
    let after: { ts: string; id: string } | undefined;
    for (;;) {
      const chunk = this.all<{ rowid: number; ts: string; id: string }>(
        `SELECT rowid, ts, id FROM alerts WHERE ${[...where, after === undefined ? '1' : '(ts, id) < (?, ?)'].join(' AND ')}
         ORDER BY ts DESC, id DESC LIMIT ${SEARCH_WALK_CHUNK}`,
        ...params,
        ...(after === undefined ? [] : [after.ts, after.id]),
      );
      const hits = this.matchesAmong(
        match,
        chunk.map((r) => r.rowid),
      );
      walked += chunk.length;
      for (const r of chunk) {
        if (!hits.has(r.rowid)) continue;
        seen++;
        if (seen > offset && wanted.length < q.limit) wanted.push(r.rowid);
      }
      const last = chunk[chunk.length - 1];
      const pageDone = wanted.length === q.limit;
      exhausted = last === undefined || chunk.length < SEARCH_WALK_CHUNK;
      const countDone = total !== null || seen > SEARCH_COUNT_CAP || walked >= SEARCH_COUNT_WALK;
      if (exhausted || (pageDone && countDone) || last === undefined) break;
      after = { ts: last.ts, id: last.id };
    }
    total ??=
      exhausted || seen > SEARCH_COUNT_CAP
        ? seen
        : (this.get<{ n: number }>(
            `SELECT count(*) AS n FROM (SELECT 1 FROM alerts WHERE ${byRowid} LIMIT ${SEARCH_COUNT_CAP + 1})`,
            match,
            ...params,
          )?.n ?? 0);
    return page(this.rowsByRowid<R>(wanted, columns), total);
  }

  /**
   * The page of a search without time range read from its newest matches by rowid, or null when that could differ
   * from the page by time. FTS5 hands matches out newest rowid first and stops after a few more than the rows wanted;
   * alerts mostly arrive in time order, so these are the newest matches by time too, unless an alert stored earlier
   * (a smaller rowid than any of them) is newer than the page's last row: one index probe (the newest-first index of
   * the facets, from that row up) says whether such an alert exists, and then the caller walks instead.
   */
  private pageByRowid<R>(
    match: string,
    where: readonly string[],
    params: readonly Param[],
    offset: number,
    limit: number,
    columns: string,
  ): R[] | null {
    const wanted = offset + limit + 10;
    const candidates = this.all<{ rowid: number; ts: string; id: string }>(
      `SELECT rowid, ts, id FROM alerts
       WHERE rowid IN (SELECT rowid FROM alerts_fts WHERE alerts_fts MATCH ? ORDER BY rowid DESC LIMIT ?)
       ORDER BY ts DESC, id DESC`,
      match,
      wanted,
    );
    const rows = candidates.slice(offset, offset + limit);
    const last = rows[rows.length - 1];
    // Fewer candidates than asked for are every match: nothing is left to be newer.
    if (candidates.length === wanted && last !== undefined) {
      const oldest = candidates.reduce((min, r) => Math.min(min, r.rowid), Infinity);
      const newerStoredBefore = this.get<{ one: number }>(
        `SELECT 1 AS one FROM alerts WHERE (ts, id) > (?, ?) AND rowid < ?${where.map((w) => ` AND ${w}`).join('')} LIMIT 1`,
        last.ts,
        last.id,
        BigInt(oldest),
        ...params,
      );
      if (newerStoredBefore !== undefined) return null;
    }
    return this.rowsByRowid<R>(
      rows.map((r) => r.rowid),
      columns,
    );
  }

  /** The rows (read with `columns`) of these rowids, in the order given. */
  private rowsByRowid<R>(rowids: readonly number[], columns: string): R[] {
    if (rowids.length === 0) return [];
    const byId = new Map(
      this.db
        .prepare(
          `SELECT rowid AS row_id, ${columns} FROM alerts WHERE rowid IN (${rowids.map(() => '?').join(', ')})`,
        )
        .all(...rowids.map(BigInt))
        .map((r) => [(r as { row_id: number }).row_id, r as R]),
    );
    return rowids.flatMap((rowid) => byId.get(rowid) ?? []);
  }

  /**
   * The FTS5 query for search words and the query's facets: each word is its indexed completions, or a prefix query
   * when they are many, matched in the text columns only; each of facility, severity and status is its facet token.
   */
  private matchExpression(terms: readonly string[], q: AlertQuery): string {
    const text = terms
      .map((w) => {
        const words = this.all<{ term: string }>(
          'SELECT term FROM alert_terms WHERE term >= ? AND term < ? ORDER BY term LIMIT ?',
          w,
          `${w}\u{10FFFF}`,
          MAX_WORD_EXPANSION + 1,
        ).map((r) => `"${r.term.replaceAll('"', '""')}"`);
        // No known completion (the tokenizers may differ on rare characters) or too many: let FTS5 do the prefix.
        if (words.length === 0 || words.length > MAX_WORD_EXPANSION) return `"${w}"*`;
        return words.length === 1 ? (words[0] ?? '') : `(${words.join(' OR ')})`;
      })
      .join(' AND ');
    const facets = (
      [
        ['f', q.facility],
        ['v', q.severity],
        ['u', q.status],
      ] as const
    ).flatMap(([tag, value]) => (value === undefined ? [] : [`facets : ${facetToken(tag, value)}`]));
    return [`{title description attack_type attack_name} : (${text})`, ...facets].join(' AND ');
  }

  /** The rowids among `rowids` whose alerts match; one FTS5 range query per run of nearby rowids. */
  private matchesAmong(match: string, rowids: readonly number[]): Set<number> {
    const sorted = [...rowids].sort((a, b) => a - b);
    const hits = new Set<number>();
    const range = this.stmt(
      'SELECT rowid FROM alerts_fts WHERE alerts_fts MATCH ? AND rowid BETWEEN ? AND ?',
    );
    for (let i = 0; i < sorted.length;) {
      const lo = sorted[i] ?? 0;
      let hi = lo;
      // Alerts mostly arrive in time order, so a chunk's rowids form a few dense runs; a late batch is a run of its own.
      while (i + 1 < sorted.length && (sorted[i + 1] ?? 0) - hi <= SEARCH_WALK_CHUNK) hi = sorted[++i] ?? hi;
      i++;
      // BigInt binds an INTEGER: FTS5 seeks to a rowid range only for integers; a JS number binds as REAL and
      // FTS5 then reads the whole doclist (240 ms instead of 1 ms for a common word at a million alerts, measured).
      for (const r of range.all(match, BigInt(lo), BigInt(hi)) as { rowid: number }[]) hits.add(r.rowid);
    }
    return hits;
  }

  async setAlertStatus(id: string, status: AlertStatus): Promise<StoredAlert | null> {
    await this.apart(() =>
      this.run('UPDATE alerts SET status = ? WHERE id = ? AND status <> ?', status, id, status),
    );
    return this.getAlert(id);
  }

  async alertTechniques(facilityId: string, from: string, to: string): Promise<AlertTechnique[]> {
    return this.all<{ attack_type: string; last_seen: string }>(
      `SELECT attack_type, max(ts) AS last_seen FROM alerts WHERE facility_id = ? AND ts >= ? AND ts < ?
         AND status NOT IN ('resolved', 'false-positive')
       GROUP BY attack_type ORDER BY attack_type`,
      facilityId,
      iso(from),
      iso(to),
    ).map((r) => ({ attack_type: r.attack_type, last_seen: iso(r.last_seen) }));
  }

  async alertStats(): Promise<AlertStats> {
    const rows = this.all<{ severity: Severity; status: AlertStatus; n: number }>(
      'SELECT severity, status, sum(n) AS n FROM alert_counts GROUP BY severity, status',
    );
    return statsFromCounts(rows);
  }

  // Per-second network aggregates

  async insertAggregates(rows: readonly FacilityAggregate[]): Promise<void> {
    await this.apart(() => {
      const insert = this.stmt(
        `INSERT INTO aggregates (facility_id, time, packets_per_sec, bytes_per_sec, unique_src_ips, unique_dest_ips,
         protocol_distribution, failed_connections, avg_packet_size, inter_arrival_time)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (facility_id, time) DO NOTHING`,
      );
      this.db.transaction((batch: readonly FacilityAggregate[]) => {
        for (const r of batch) {
          insert.run(
            r.facility_id,
            iso(r.time),
            r.packets_per_sec,
            r.bytes_per_sec,
            r.unique_src_ips,
            r.unique_dest_ips,
            JSON.stringify(r.protocol_distribution),
            r.failed_connections,
            r.avg_packet_size,
            r.inter_arrival_time,
          );
        }
      })(rows);
    });
  }

  async aggregates(facilityId: string, from: string, to: string): Promise<FacilityAggregate[]> {
    const rows = this.all<AggregateRow>(
      `SELECT facility_id, time, packets_per_sec, bytes_per_sec, unique_src_ips, unique_dest_ips, protocol_distribution,
         failed_connections, avg_packet_size, inter_arrival_time
       FROM aggregates WHERE facility_id = ? AND time >= ? AND time < ? ORDER BY time`,
      facilityId,
      iso(from),
      iso(to),
    );
    return rows.map(aggregateFromRow);
  }

  // Asset inventory

  async applyAssetChanges(facilityId: string, changes: readonly AssetChange[]): Promise<void> {
    await this.apart(() => {
      const upsert = this.stmt(
        `INSERT INTO assets (facility_id, address, mac, protocols, role, first_seen, last_seen, removed_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, NULL)
       ON CONFLICT (facility_id, address) DO UPDATE SET mac = excluded.mac, protocols = excluded.protocols,
         role = excluded.role, first_seen = min(assets.first_seen, excluded.first_seen),
         last_seen = max(assets.last_seen, excluded.last_seen), removed_at = NULL`,
      );
      const remove = this.stmt(
        'UPDATE assets SET removed_at = ?, last_seen = max(last_seen, ?) WHERE facility_id = ? AND address = ?',
      );
      this.db.transaction((batch: readonly AssetChange[]) => {
        for (const a of batch) {
          if (a.change === 'removed') remove.run(iso(a.last_seen), iso(a.last_seen), facilityId, a.address);
          else
            upsert.run(
              facilityId,
              a.address,
              a.mac,
              JSON.stringify(a.protocols),
              a.role,
              iso(a.first_seen),
              iso(a.last_seen),
            );
        }
      })(changes);
    });
  }

  async listAssets(facilityId: string): Promise<Asset[]> {
    return this.all<AssetRow>(
      `SELECT facility_id, address, mac, protocols, role, first_seen, last_seen, removed_at
       FROM assets WHERE facility_id = ? ORDER BY address`,
      facilityId,
    ).map(assetFromRow);
  }

  // Federated learning

  async createRound(r: NewRound): Promise<FLRound> {
    const row = await this.apart(() => {
      return this.get<{ id: number }>(
        `INSERT INTO fl_rounds (round_number, status, phase, start_time, total_clients, model) VALUES (?, ?, ?, ?, ?, ?)
         RETURNING id`,
        r.round_number,
        r.status,
        r.phase,
        iso(r.start_time),
        r.total_clients,
        r.model,
      );
    });
    const round = await this.getRound(row?.id ?? -1);
    if (round === null) throw new Error('the new FL round was not found after insert');
    return round;
  }

  async updateRound(id: number, patch: RoundPatch): Promise<FLRound | null> {
    return this.apart(() => {
      const sets: string[] = [];
      const params: Param[] = [];
      for (const k of ROUND_PATCH_COLUMNS) {
        const v = patch[k];
        if (v === undefined) continue;
        sets.push(`${k} = ?`);
        params.push(k === 'end_time' ? isoOrNull(v as string | null) : v);
      }
      if (sets.length > 0) this.run(`UPDATE fl_rounds SET ${sets.join(', ')} WHERE id = ?`, ...params, id);
      return this.getRound(id);
    });
  }

  async upsertRoundClient(roundId: number, c: FLClient): Promise<void> {
    return this.apart(() => {
      this.run(
        `INSERT INTO fl_round_clients (${CLIENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (round_id, id) DO UPDATE SET facility_id = excluded.facility_id, name = excluded.name,
           status = excluded.status, progress = excluded.progress, current_epoch = excluded.current_epoch,
           total_epochs = excluded.total_epochs, loss = excluded.loss, accuracy = excluded.accuracy,
           last_update = excluded.last_update`,
        roundId,
        c.id,
        c.facility_id,
        c.name,
        c.status,
        c.progress,
        c.current_epoch,
        c.total_epochs,
        c.loss,
        c.accuracy,
        iso(c.last_update),
      );
    });
  }

  private roundsWithClients(rows: RoundRow[]): FLRound[] {
    if (rows.length === 0) return [];
    const ids = rows.map((r) => r.id);
    const clients = clientsByRound(
      this.db
        .prepare(
          `SELECT ${CLIENT_COLUMNS} FROM fl_round_clients WHERE round_id IN (${ids.map(() => '?').join(', ')})
           ORDER BY round_id, name, id`,
        )
        .all(...ids) as RoundClientRow[],
    );
    return rows.map((r) => roundFromRow(r, clients.get(r.id) ?? []));
  }

  async getRound(id: number): Promise<FLRound | null> {
    const rows = this.all<RoundRow>(`SELECT ${ROUND_COLUMNS} FROM fl_rounds WHERE id = ?`, id);
    return this.roundsWithClients(rows)[0] ?? null;
  }

  async currentRound(): Promise<FLRound | null> {
    const rows = this.all<RoundRow>(`SELECT ${ROUND_COLUMNS} FROM fl_rounds ORDER BY id DESC LIMIT 1`);
    return this.roundsWithClients(rows)[0] ?? null;
  }

  async listRounds(limit: number, offset: number): Promise<Page<FLRound>> {
    checkLimitOffset(limit, offset);
    const rows = this.all<RoundRow>(
      `SELECT ${ROUND_COLUMNS} FROM fl_rounds ORDER BY id DESC LIMIT ? OFFSET ?`,
      limit,
      offset,
    );
    const total = this.get<{ n: number }>('SELECT count(*) AS n FROM fl_rounds')?.n ?? 0;
    return { items: this.roundsWithClients(rows), total };
  }

  async queueVerdict(v: QueuedVerdict): Promise<void> {
    return this.apart(() => {
      this.run(
        `INSERT INTO fl_verdicts (facility_id, alert_id, verdict, queued_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (facility_id, alert_id) DO UPDATE SET verdict = excluded.verdict, queued_at = excluded.queued_at`,
        v.facility_id,
        v.alert_id,
        v.verdict,
        iso(v.queued_at),
      );
    });
  }

  async queuedVerdicts(): Promise<QueuedVerdict[]> {
    return this.all<QueuedVerdict>(
      'SELECT facility_id, alert_id, verdict, queued_at FROM fl_verdicts ORDER BY queued_at, facility_id, alert_id',
    ).map((r) => ({ ...r, queued_at: iso(r.queued_at) }));
  }

  async dropVerdicts(
    facilityId: string,
    done: readonly Pick<QueuedVerdict, 'alert_id' | 'verdict'>[],
  ): Promise<void> {
    return this.apart(() => {
      const del = this.db.prepare(
        'DELETE FROM fl_verdicts WHERE facility_id = ? AND alert_id = ? AND verdict = ?',
      );
      this.db.transaction(() => {
        for (const d of done) del.run(facilityId, d.alert_id, d.verdict);
      })();
    });
  }

  async putPrivacyAccount(a: PrivacyAccount): Promise<void> {
    return this.apart(() => {
      this.run(
        `INSERT INTO fl_privacy (${PRIVACY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (facility_id) DO UPDATE SET orders = excluded.orders, rdp = excluded.rdp,
           epsilon = excluded.epsilon, delta = excluded.delta, examples = excluded.examples, rounds = excluded.rounds,
           exhausted_at = excluded.exhausted_at, updated_at = excluded.updated_at`,
        a.facility_id,
        JSON.stringify(a.orders),
        JSON.stringify(a.rdp),
        a.epsilon,
        a.delta,
        a.examples,
        a.rounds,
        isoOrNull(a.exhausted_at),
        iso(a.updated_at),
      );
    });
  }

  async listPrivacyAccounts(): Promise<PrivacyAccount[]> {
    return this.all<PrivacyRow>(`SELECT ${PRIVACY_COLUMNS} FROM fl_privacy ORDER BY facility_id`).map(
      privacyFromRow,
    );
  }

  // Model registry

  private models(where: string, tail: string, ...params: Param[]): ModelVersion[] {
    return this.all<ModelRow>(
      `SELECT ${MODEL_COLUMNS}, ${MODEL_ACTIVE} AS active FROM fl_models m ${where} ${tail}`,
      ...params,
    ).map(modelFromRow);
  }

  async addModelVersion(m: NewModelVersion): Promise<ModelVersion> {
    const row = await this.apart(() => {
      const at = iso(m.created_at);
      return this.stmt(
        `INSERT INTO fl_models (name, round_id, created_at, sha256, format, payload, size_bytes, parameters,
           model_accuracy, activation, activated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, (SELECT coalesce(max(activation), 0) + 1 FROM fl_models), ?)
         RETURNING version`,
      ).get(
        m.name,
        m.round_id,
        at,
        m.sha256,
        m.format,
        Buffer.from(m.payload.buffer, m.payload.byteOffset, m.payload.byteLength),
        m.payload.byteLength,
        m.parameters,
        m.model_accuracy,
        at,
      ) as { version: number } | undefined;
    });
    const stored = await this.getModelVersion(row?.version ?? -1);
    if (stored === null) throw new Error('the new model version was not found after insert');
    return stored;
  }

  async getModelVersion(version: number): Promise<ModelVersion | null> {
    return this.models('WHERE version = ?', '', version)[0] ?? null;
  }

  async listModelVersions(limit: number, offset: number): Promise<Page<ModelVersion>> {
    checkLimitOffset(limit, offset);
    const items = this.models('', 'ORDER BY version DESC LIMIT ? OFFSET ?', limit, offset);
    const total = this.get<{ n: number }>('SELECT count(*) AS n FROM fl_models')?.n ?? 0;
    return { items, total };
  }

  async activeModelVersion(name: string): Promise<ModelVersion | null> {
    return this.models('WHERE name = ?', 'ORDER BY activation DESC LIMIT 1', name)[0] ?? null;
  }

  async activateModelVersion(version: number, at: string): Promise<ModelVersion | null> {
    return this.apart(() => {
      this.run(
        `UPDATE fl_models SET activation = (SELECT max(activation) + 1 FROM fl_models), activated_at = ?
         WHERE version = ?`,
        iso(at),
        version,
      );
      return this.getModelVersion(version);
    });
  }

  async modelPayload(version: number): Promise<Uint8Array | null> {
    const r = this.get<{ payload: Buffer }>('SELECT payload FROM fl_models WHERE version = ?', version);
    return r === undefined ? null : new Uint8Array(r.payload);
  }

  // Predictions

  async insertPrediction(p: Prediction & { facility_id: string | null }): Promise<void> {
    await this.apart(() => {
      this.db.transaction(() => {
        const n = this.run(
          `INSERT INTO predictions (id, ts, facility_id, current_technique, current_technique_name, alert_id, validated,
           validation_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
          p.id,
          iso(p.timestamp),
          p.facility_id,
          p.current_technique,
          p.current_technique_name,
          p.alert_id,
          p.validated ? 1 : 0,
          isoOrNull(p.validation_time),
        );
        if (n === 0) return;
        for (const t of p.predicted_techniques) {
          this.run(
            `INSERT INTO predicted_techniques (${TECHNIQUE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)`,
            p.id,
            t.technique_id,
            t.technique_name,
            t.probability,
            t.rank,
            t.timeframe,
            t.timeframe_seconds,
          );
        }
      })();
    });
  }

  private predictionsWithTechniques(rows: PredictionRow[]): Prediction[] {
    if (rows.length === 0) return [];
    const ids = rows.map((r) => r.id);
    const techniques = techniquesByPrediction(
      this.db
        .prepare(
          `SELECT ${TECHNIQUE_COLUMNS} FROM predicted_techniques WHERE prediction_id IN (${ids.map(() => '?').join(', ')})
           ORDER BY prediction_id, rank`,
        )
        .all(...ids) as PredictedTechniqueRow[],
    );
    return rows.map((r) => predictionFromRow(r, techniques.get(r.id) ?? []));
  }

  async getPrediction(id: string): Promise<Prediction | null> {
    const rows = this.all<PredictionRow>(`SELECT ${PREDICTION_COLUMNS} FROM predictions WHERE id = ?`, id);
    return this.predictionsWithTechniques(rows)[0] ?? null;
  }

  async latestPrediction(): Promise<Prediction | null> {
    const rows = this.all<PredictionRow>(
      `SELECT ${PREDICTION_COLUMNS} FROM predictions ORDER BY ts DESC, id DESC LIMIT 1`,
    );
    return this.predictionsWithTechniques(rows)[0] ?? null;
  }

  async listPredictions(q: PredictionQuery): Promise<Page<Prediction>> {
    checkLimitOffset(q.limit, q.offset);
    const clause = q.validated === undefined ? '' : 'WHERE validated = ?';
    const params: Param[] = q.validated === undefined ? [] : [q.validated ? 1 : 0];
    const rows = this.all<PredictionRow>(
      `SELECT ${PREDICTION_COLUMNS} FROM predictions ${clause} ORDER BY ts DESC, id DESC LIMIT ? OFFSET ?`,
      ...params,
      q.limit,
      q.offset,
    );
    const total =
      this.get<{ n: number }>(`SELECT count(*) AS n FROM predictions ${clause}`, ...params)?.n ?? 0;
    return { items: this.predictionsWithTechniques(rows), total };
  }

  async openPredictions(facilityId: string, since: string): Promise<Prediction[]> {
    const rows = this.all<PredictionRow>(
      `SELECT ${PREDICTION_COLUMNS} FROM predictions WHERE facility_id = ? AND validated = 0 AND ts >= ?
       ORDER BY ts, id`,
      facilityId,
      iso(since),
    );
    return this.predictionsWithTechniques(rows);
  }

  async markPredictionValidated(id: string, at: string): Promise<Prediction | null> {
    await this.apart(() =>
      this.run(
        'UPDATE predictions SET validated = 1, validation_time = ? WHERE id = ? AND validated = 0',
        iso(at),
        id,
      ),
    );
    return this.getPrediction(id);
  }

  // API tokens

  async createToken(t: { id: string; name: string; role: Role; hash: string }): Promise<ApiToken> {
    return this.apart(() => {
      const row: TokenRow = { ...t, created_at: this.now(), revoked_at: null, last_used_at: null };
      const n = this.run(
        'INSERT INTO api_tokens (id, name, role, hash, created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING',
        t.id,
        t.name,
        t.role,
        t.hash,
        row.created_at as string,
      );
      if (n === 0) throw new StoreConflictError(`token id ${t.id} or its hash already exists`);
      return tokenFromRow(row);
    });
  }

  async findTokenByHash(hash: string): Promise<ApiToken | null> {
    const r = this.get<TokenRow>(`SELECT ${TOKEN_COLUMNS} FROM api_tokens WHERE hash = ?`, hash);
    return r === undefined ? null : tokenFromRow(r);
  }

  async touchToken(id: string, at: string): Promise<void> {
    await this.apart(() => {
      this.run('UPDATE api_tokens SET last_used_at = ? WHERE id = ?', iso(at), id);
    });
  }

  async listTokens(): Promise<ApiToken[]> {
    const rows = this.all<TokenRow>(`SELECT ${TOKEN_COLUMNS} FROM api_tokens ORDER BY created_at, id`);
    return rows.map(tokenFromRow);
  }

  async revokeToken(id: string): Promise<boolean> {
    return this.apart(() => {
      const n = this.run(
        'UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL',
        this.now(),
        id,
      );
      return n > 0;
    });
  }

  // Audit log

  async audit(e: Omit<AuditEntry, 'id'>): Promise<void> {
    await this.apart(() => {
      this.run(
        'INSERT INTO audit_log (at, actor, action, target, details) VALUES (?, ?, ?, ?, ?)',
        iso(e.at),
        e.actor,
        e.action,
        e.target,
        JSON.stringify(e.details),
      );
    });
  }

  async listAudit(limit: number, offset: number): Promise<Page<AuditEntry>> {
    checkLimitOffset(limit, offset);
    const rows = this.all<AuditRow>(
      'SELECT id, at, actor, action, target, details FROM audit_log ORDER BY id DESC LIMIT ? OFFSET ?',
      limit,
      offset,
    );
    const total = this.get<{ n: number }>('SELECT count(*) AS n FROM audit_log')?.n ?? 0;
    return { items: rows.map(auditFromRow), total };
  }

  // Retention

  async purge(policy: RetentionPolicy, now: string): Promise<{ alerts: number; aggregates: number }> {
    return this.apart(() => {
      const cut = retentionCutoffs(policy, now);
      const result = this.db.transaction(() => ({
        alerts: cut.alerts === null ? 0 : this.run('DELETE FROM alerts WHERE ts < ?', cut.alerts),
        aggregates:
          cut.aggregates === null ? 0 : this.run('DELETE FROM aggregates WHERE time < ?', cut.aggregates),
      }))();
      return result;
    });
  }
}
