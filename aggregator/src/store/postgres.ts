// The Postgres store (pg Pool): for production and for several aggregator replicas over one database. Alert batches
// go in through COPY FROM STDIN (see insertAlerts); other batches as arrays through unnest() (one statement per
// chunk, a handful of parameters however many rows). Every batch is one transaction.
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { AlertStats, AlertStatus, FLClient, FLRound, Prediction, Severity } from '@vigil/shared';
import { canonicalTimeMs, systemClock, type Clock } from '@vigil/shared';
import {
  checkLimitOffset,
  checkPaging,
  iso,
  isoOrNull,
  retentionCutoffs,
  searchTerms,
  splitHours,
  statsFromCounts,
  textWords,
} from './common.js';
import { MIGRATIONS } from './migrations/index.js';
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
  alertJsonFromRow,
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

export interface PostgresStoreOptions {
  url: string;
  clock?: Clock;
  /** Pool size (default 10). */
  maxConnections?: number;
  /**
   * Told each time the server drops one of the pool's connections (restart, shutdown, pg_terminate_backend, network
   * cut). The call using it fails; the connection leaves the pool and the next call opens a new one.
   */
  onConnectionError?: (err: Error) => void;
}

/** Rows per INSERT statement in a batch (one JSON document or arrays, so no parameter limit applies). */
const CHUNK = 2000;
/** Key of the advisory lock that serialises migrations across replicas starting at once. */
const MIGRATION_LOCK = 0x76_69_67_69; // "vigi"

const ALERT_COLUMNS =
  'id, ts, facility_id, severity, title, description, status, correlation_confidence, correlation_summary, ' +
  'attack_type, attack_name, sources, context, generated';
/** What the store writes of an alert: its columns and the search document it computes (migration 12). */
const ALERT_WRITE_COLUMNS = `${ALERT_COLUMNS}, search_doc`;
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

type Queryable = pg.Pool | pg.PoolClient;

/** True when `err` (or its cause) says the database named in the URL does not exist (SQLSTATE 3D000). */
export function isMissingDatabase(err: unknown): boolean {
  for (let e = err; e instanceof Error; e = e.cause) {
    if ((e as { code?: unknown }).code === '3D000') return true;
  }
  return false;
}

/** Creates the database a URL names, connecting to the server's `postgres` database to do it. */
export async function createPostgresDatabase(url: string): Promise<void> {
  const u = new URL(url);
  const name = decodeURIComponent(u.pathname.replace(/^\//, ''));
  u.pathname = '/postgres';
  const client = new pg.Client({ connectionString: u.toString(), connectionTimeoutMillis: 5000 });
  // A connection lost here fails the awaited call below; unlistened, its 'error' event would end the process.
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query(`CREATE DATABASE "${name.replaceAll('"', '""')}"`);
  } catch (err) {
    // Another process may have created it meanwhile (42P04): that is what we wanted.
    if ((err as { code?: unknown }).code === '42P04') return;
    throw new StoreUnavailableError(
      `database ${name} does not exist and could not be created: ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** COPY's binary header: signature, flags, header extension length. */
const COPY_BINARY_HEADER = Buffer.from([
  ...Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1'),
  ...[0, 0, 0, 0],
  ...[0, 0, 0, 0],
]);
/** Unix time of Postgres's timestamp epoch, 2000-01-01T00:00:00Z, in ms. */
const PG_EPOCH_MS = 946_684_800_000;
const COPY_CHUNK = 1 << 20;
/** Strings up to this many UTF-16 units are written to a COPY buffer byte by byte when they are ASCII (copyBinary). */
const SHORT_TEXT = 16;

/** Longest word the search document holds, in UTF-8 bytes: to_tsvector skipped longer ones (its MAXSTRLEN). */
const MAX_LEXEME_BYTES = 2046;

/**
 * Compares two words in the order of their UTF-8 bytes, which is the order of a tsvector's lexemes (tsCompareString:
 * memcmp, then the shorter first): UTF-16 order, except that a surrogate (half of a code point above U+FFFF) sorts
 * after U+E000-U+FFFF, as its code point does.
 */
export function compareLexemes(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    if (x < 0xd800 || y < 0xd800) return x - y;
    // Both at or above U+D800: surrogates move above U+E000-U+FFFF.
    return (x >= 0xe000 ? x - 0x800 : x + 0x2000) - (y >= 0xe000 ? y - 0x800 : y + 0x2000);
  }
  return a.length - b.length;
}

/**
 * A text's words as its search document holds them: each once, none longer than MAX_LEXEME_BYTES, in lexeme order
 * (compareLexemes).
 */
function documentWords(text: string): string[] {
  const words = new Set<string>();
  for (const w of textWords(text)) {
    if (w.length * 3 <= MAX_LEXEME_BYTES || Buffer.byteLength(w) <= MAX_LEXEME_BYTES) words.add(w);
  }
  return [...words].sort(compareLexemes);
}

/** Two lists of words in lexeme order merged into one, each word once. */
function mergeWords(a: readonly string[], b: readonly string[]): readonly string[] {
  if (b.length === 0) return a;
  if (a.length === 0) return b;
  const out: string[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const x = a[i] as string;
    const y = b[j] as string;
    const c = compareLexemes(x, y);
    out.push(c <= 0 ? x : y);
    if (c <= 0) i++;
    if (c >= 0) j++;
  }
  while (i < a.length) out.push(a[i++] as string);
  while (j < b.length) out.push(b[j++] as string);
  return out;
}

/**
 * Splits texts into search words once each (documentWords). A batch's alerts mostly repeat their descriptions and
 * attack names (and often titles), so each distinct text is split once, and each distinct description with attack id
 * and name is merged once.
 */
class AlertWords {
  private readonly texts = new Map<string, readonly string[]>();
  private readonly rests = new Map<string, readonly string[]>();
  /** The last alert's description, attack id and name and their words: consecutive alerts mostly repeat them. */
  private last:
    { description: string; attack_type: string; attack_name: string; rest: readonly string[] } | undefined;

  private text(text: string): readonly string[] {
    let words = this.texts.get(text);
    if (words === undefined) this.texts.set(text, (words = documentWords(text)));
    return words;
  }

  /**
   * An alert's search words: the words of its title, description, attack id and name as the API's search sees them
   * (common.ts textWords, as SQLite's alert_terms), each once, in lexeme order. They are its search document's
   * lexemes (migration 12), sent sorted so that the server does not sort them (tsvectorrecv sorts only a document
   * whose lexemes arrive out of order). The four texts are split one by one: a word never spans two of them
   * (textWords splits at the space between).
   */
  of(a: StoredAlert): readonly string[] {
    const last = this.last;
    let rest: readonly string[] | undefined;
    if (
      last !== undefined &&
      a.description === last.description &&
      a.attack_type === last.attack_type &&
      a.attack_name === last.attack_name
    ) {
      rest = last.rest;
    } else {
      const key = `${a.description}\0${a.attack_type}\0${a.attack_name}`;
      rest = this.rests.get(key);
      if (rest === undefined) {
        rest = mergeWords(
          this.text(a.description),
          mergeWords(this.text(a.attack_type), this.text(a.attack_name)),
        );
        this.rests.set(key, rest);
      }
      this.last = {
        description: a.description,
        attack_type: a.attack_type,
        attack_name: a.attack_name,
        rest,
      };
    }
    return mergeWords(this.text(a.title), rest);
  }
}

/** An alert's search words (AlertWords.of). */
export function alertSearchWords(a: StoredAlert): readonly string[] {
  return new AlertWords().of(a);
}

/** An alert to write, its time in ms and its search words. */
interface AlertToWrite {
  alert: StoredAlert;
  ms: number;
  words: readonly string[];
}

/**
 * The alerts to write with their times and search words. A link alert's time is already canonical (the decoder made
 * it so): its digits give the ms without a parse; any other form is parsed.
 */
function toWrite(alerts: readonly StoredAlert[]): AlertToWrite[] {
  const words = new AlertWords();
  return alerts.map((alert) => {
    const t = alert.timestamp;
    let ms = canonicalTimeMs(t);
    if (Number.isNaN(ms)) ms = new Date(t).getTime();
    if (Number.isNaN(ms)) throw new RangeError(`invalid time: ${alert.timestamp}`);
    return { alert, ms, words: words.of(alert) };
  });
}

/**
 * The alerts in COPY's binary format, in ALERT_WRITE_COLUMNS order, about a megabyte per chunk. Binary rather than
 * text: the server then reads each field by its length instead of scanning ~11 kB per row for tabs, newlines and
 * escapes (24 % of the backend's CPU in a text COPY of full alerts, perf), and the client writes each string's UTF-8
 * once instead of escaping it first. The search document goes as a binary tsvector (tsvectorrecv: the lexeme count,
 * then each lexeme NUL-terminated with no positions, in lexeme order so the server's sort is skipped).
 */
function* copyBinary(alerts: readonly AlertToWrite[]): Generator<Buffer> {
  let buf = Buffer.allocUnsafe(COPY_CHUNK);
  COPY_BINARY_HEADER.copy(buf, 0);
  let at = COPY_BINARY_HEADER.length;
  // A string's UTF-8 at `to`, its length in bytes returned: a short ASCII one (a severity, a status, most search
  // words) byte by byte, which costs a tenth of buf.write's call for 3-7 characters; others by buf.write.
  const put = (v: string, to: number): number => {
    if (v.length <= SHORT_TEXT) {
      for (let i = 0; i < v.length; i++) {
        const c = v.charCodeAt(i);
        if (c >= 0x80) return buf.write(v, to, 'utf8');
        buf[to + i] = c;
      }
      return v.length;
    }
    return buf.write(v, to, 'utf8');
  };
  const text = (v: string): void => {
    const n = put(v, at + 4);
    buf.writeInt32BE(n, at);
    at += 4 + n;
  };
  for (const { alert: a, ms, words } of alerts) {
    const sources = JSON.stringify(a.sources);
    const context = JSON.stringify(a.context_analysis);
    let wordChars = 0;
    for (const w of words) wordChars += w.length + 1;
    const chars =
      a.id.length +
      a.facility_id.length +
      a.severity.length +
      a.title.length +
      a.description.length +
      a.status.length +
      a.correlation_summary.length +
      a.attack_type.length +
      a.attack_name.length +
      sources.length +
      context.length +
      wordChars;
    // At most 3 UTF-8 bytes per UTF-16 unit (and per word its NUL and position count); the int16 field count, 15
    // length words, 8 + 8 + 1 bytes of numbers and the tsvector's count.
    const most = 3 * chars + 2 + 15 * 4 + 17 + 4;
    if (at + most + 2 > buf.length) {
      yield buf.subarray(0, at);
      buf = Buffer.allocUnsafe(Math.max(COPY_CHUNK, most + 2));
      at = 0;
    }
    buf.writeInt16BE(15, at);
    at += 2;
    text(a.id);
    buf.writeInt32BE(8, at);
    buf.writeBigInt64BE(BigInt(ms - PG_EPOCH_MS) * 1000n, at + 4); // timestamptz: microseconds
    at += 12;
    text(a.facility_id);
    text(a.severity);
    text(a.title);
    text(a.description);
    text(a.status);
    buf.writeInt32BE(8, at);
    buf.writeDoubleBE(a.correlation_confidence, at + 4);
    at += 12;
    text(a.correlation_summary);
    text(a.attack_type);
    text(a.attack_name);
    text(sources);
    text(context);
    buf.writeInt32BE(1, at);
    buf[at + 4] = a.generated ? 1 : 0;
    at += 5;
    // Each lexeme is followed by its NUL and a zero position count: three zero bytes.
    let end = at + 8;
    for (const w of words) {
      end += put(w, end);
      buf[end] = 0;
      buf[end + 1] = 0;
      buf[end + 2] = 0;
      end += 3;
    }
    buf.writeInt32BE(end - at - 4, at);
    buf.writeInt32BE(words.length, at + 4);
    at = end;
  }
  buf.writeInt16BE(-1, at); // end of data
  yield buf.subarray(0, at + 2);
}

/**
 * Adds a batch's new alerts to the counters (migration 12; the key orders of the update and delete triggers, so
 * concurrent writers lock counter rows in the same order): $1-$4 alert_counts, $5-$9 alert_hour_counts, $10-$12
 * alert_term_counts, as parallel arrays of keys and counts.
 */
const ADD_COUNTS = `WITH a AS (
  INSERT INTO alert_counts AS c (facility_id, severity, status, n)
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) AS d (f, v, u, n)
    ORDER BY d.f COLLATE "C", d.v, d.u
    ON CONFLICT (facility_id, severity, status) DO UPDATE SET n = c.n + excluded.n
), h AS (
  INSERT INTO alert_hour_counts AS c (hour, facility_id, severity, status, n)
    SELECT * FROM unnest($5::timestamptz[], $6::text[], $7::text[], $8::text[], $9::bigint[]) AS d (h, f, v, u, n)
    ORDER BY d.h, d.f COLLATE "C", d.v, d.u
    ON CONFLICT (hour, facility_id, severity, status) DO UPDATE SET n = c.n + excluded.n
)
INSERT INTO alert_term_counts AS c (term, facility_id, n)
  SELECT * FROM unnest($10::text[], $11::text[], $12::bigint[]) AS d (t, f, n)
  ORDER BY d.t, d.f COLLATE "C"
  ON CONFLICT (term, facility_id) DO UPDATE SET n = c.n + excluded.n`;

/**
 * Counts alert rows already in the table by id, as the store counts the alerts it writes: for writers of alert rows
 * outside the store (a benchmark's raw fill, a test's rival writer), which must also give search_doc. $1: the ids.
 */
export const POSTGRES_COUNT_ALERTS = `WITH r AS MATERIALIZED (
  SELECT ts, facility_id, severity, status, search_doc FROM alerts WHERE id = ANY ($1::text[])
), a AS (
  INSERT INTO alert_counts AS c (facility_id, severity, status, n)
    SELECT facility_id, severity, status, count(*) FROM r GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (facility_id, severity, status) DO UPDATE SET n = c.n + excluded.n
), h AS (
  INSERT INTO alert_hour_counts AS c (hour, facility_id, severity, status, n)
    SELECT date_trunc('hour', ts, 'UTC'), facility_id, severity, status, count(*) FROM r
    GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
    ON CONFLICT (hour, facility_id, severity, status) DO UPDATE SET n = c.n + excluded.n
)
INSERT INTO alert_term_counts AS c (term, facility_id, n)
  SELECT w.term, r.facility_id, count(*) FROM r, unnest(tsvector_to_array(r.search_doc)) AS w (term)
  GROUP BY 1, 2 ORDER BY 1, 2
  ON CONFLICT (term, facility_id) DO UPDATE SET n = c.n + excluded.n`;

const HOUR_MS = 3_600_000;

/** An alert_hour_counts delta: hour, facility, severity, status, count. */
type HourCount = [string, string, string, string, number];

/** ADD_COUNTS's parameters for these new alerts. */
function countDeltas(alerts: readonly AlertToWrite[]): unknown[] {
  // One key string per alert (facility, severity, status), its hours under it by number, and the words per facility:
  // a counter found is counted in place, with no second lookup to set it and no key string built per hour or word.
  const counts = new Map<string, { row: [string, string, string, number]; hours: Map<number, HourCount> }>();
  const hours: HourCount[] = [];
  const terms = new Map<string, Map<string, { n: number }>>();
  for (const { alert: a, ms, words } of alerts) {
    const key = `${a.facility_id}\0${a.severity}\0${a.status}`;
    let c = counts.get(key);
    if (c) c.row[3]++;
    else {
      c = { row: [a.facility_id, a.severity, a.status, 1], hours: new Map<number, HourCount>() };
      counts.set(key, c);
    }
    const hour = Math.floor(ms / HOUR_MS);
    const h = c.hours.get(hour);
    if (h) h[4]++;
    else {
      const row: HourCount = [new Date(hour * HOUR_MS).toISOString(), a.facility_id, a.severity, a.status, 1];
      c.hours.set(hour, row);
      hours.push(row);
    }
    let held = terms.get(a.facility_id);
    if (!held) terms.set(a.facility_id, (held = new Map<string, { n: number }>()));
    for (const w of words) {
      const t = held.get(w);
      if (t) t.n++;
      else held.set(w, { n: 1 });
    }
  }
  const columns = <T extends unknown[]>(rows: Iterable<T>, n: number): unknown[][] => {
    const out: unknown[][] = Array.from({ length: n }, () => []);
    for (const r of rows) r.forEach((v, i) => out[i]?.push(v));
    return out;
  };
  const term: string[] = [];
  const facility: string[] = [];
  const n: number[] = [];
  for (const [f, held] of terms) {
    for (const [w, k] of held) {
      term.push(w);
      facility.push(f);
      n.push(k.n);
    }
  }
  return [
    ...columns(
      [...counts.values()].map((c) => c.row),
      4,
    ),
    ...columns(hours, 5),
    term,
    facility,
    n,
  ];
}

/** SQLSTATE of a duplicate key. */
const UNIQUE_VIOLATION = '23505';

/** The alerts with the first of each id only (a batch may repeat an alert; the first one is stored). */
function firstOfEachId(alerts: readonly StoredAlert[]): readonly StoredAlert[] {
  const seen = new Set<string>();
  const out = alerts.filter((a) => {
    if (seen.has(a.id)) return false;
    seen.add(a.id);
    return true;
  });
  return out.length === alerts.length ? alerts : out;
}

/** Collects positional parameters while a query is built: `p(v)` returns `$n`. */
/** A search word as the store asks for it (see PostgresStore.searchWords). */
interface SearchWord {
  /** tsquery text matching the word. */
  query: string;
  /** Its indexed completions held by alerts of the query's facets; null when left to a prefix query. */
  completions: string[] | null;
  /** Alerts of the query's facets holding a completion: at most the sum of the counts, at least the largest. */
  atMost: number;
  atLeast: number;
}

/** A search word with more indexed completions than this is left to the GIN index as a prefix query. */
const MAX_WORD_EXPANSION = 32;

/**
 * The least string above every string that starts with `word`, in code point order (the "C" collation's order of
 * UTF-8): the word with its last character's code point one higher. Computed here rather than with chr() so the
 * bound needs no particular server encoding. Search words are letters and digits, never the last code point.
 */
function prefixEnd(word: string): string {
  const chars = [...word];
  const last = chars.pop()?.codePointAt(0) ?? 0;
  const next = last + 1 === 0xd800 ? 0xe000 : last + 1;
  return `${chars.join('')}${String.fromCodePoint(next)}`;
}

/** A lexeme quoted for tsquery text. */
function tsLexeme(word: string): string {
  return `'${word.replaceAll('\\', '\\\\').replaceAll("'", "''")}'`;
}

/**
 * Filter columns without an index of their own (migration 13): the indexes of alerts hold them as INCLUDE columns, so
 * an index-only scan checks them, but a plain index scan reads each row's table page before it can.
 */
const UNINDEXED_FACETS: ReadonlySet<string> = new Set(['severity', 'status']);

/** The query's equality filters on the counted columns, as (column, value) pairs. */
function facetFilters(q: AlertQuery): (readonly [string, string])[] {
  const out: (readonly [string, string])[] = [];
  if (q.facility !== undefined) out.push(['facility_id', q.facility]);
  if (q.severity !== undefined) out.push(['severity', q.severity]);
  if (q.status !== undefined) out.push(['status', q.status]);
  return out;
}

/** The query's time range as SQL conditions. */
function timeFilters(q: AlertQuery, ps: Params): string[] {
  const out: string[] = [];
  if (q.from !== undefined) out.push(`ts >= ${ps.p(iso(q.from))}`);
  if (q.to !== undefined) out.push(`ts < ${ps.p(iso(q.to))}`);
  return out;
}

/**
 * Search words and facets as one match on the GIN index of words and facets (migration 8): the expression is the
 * index's own, and the facets are lexemes of the tsquery rather than SQL filters.
 */
function facetMatch(text: string, facets: readonly (readonly [string, string])[], ps: Params): string {
  const tags: Record<string, string> = { facility_id: '~f', severity: '~v', status: '~u' };
  const query = [text, ...facets.map(([column, value]) => tsLexeme(`${tags[column] ?? ''}${value}`))].join(
    ' & ',
  );
  return `(search_doc || alert_facets(facility_id, severity, status)) @@ ${ps.p(query)}::tsquery`;
}

class Params {
  readonly values: unknown[] = [];
  p(v: unknown): string {
    this.values.push(v);
    return `$${this.values.length}`;
  }
}

export class PostgresStore implements Store {
  readonly kind = 'postgres' as const;
  private readonly pool: pg.Pool;
  private readonly clock: Clock;
  private readonly where: string;
  private closed = false;
  /** Pool connections whose session has the alerts_incoming staging table (see insertAlerts). */
  private readonly staged = new WeakSet<pg.PoolClient>();

  constructor(options: PostgresStoreOptions) {
    this.clock = options.clock ?? systemClock;
    this.pool = new pg.Pool({
      connectionString: options.url,
      max: options.maxConnections ?? 10,
      connectionTimeoutMillis: 5000,
      idleTimeoutMillis: 30_000,
    });
    // A connection the server drops emits 'error' on its client: the pool listens only while the client is idle
    // (and then re-emits it as the pool's 'error'), so a client checked out between two queries, or awaiting a
    // ROLLBACK on a dead socket, would throw it as an uncaught exception and end the process. Every client gets its
    // own listener for its whole life; the failed call rejects on its own, and the pool drops the broken client on
    // release (it is no longer queryable), so the next call reconnects.
    // A dying connection usually errs twice (the server's FATAL message, then the closed socket): reported once.
    const lost = options.onConnectionError ?? (() => undefined);
    this.pool.on('connect', (client) => {
      let reported = false;
      client.on('error', (err) => {
        if (reported) return;
        reported = true;
        lost(err);
      });
    });
    this.pool.on('error', () => undefined);
    const u = new URL(options.url);
    this.where = `${u.hostname || 'localhost'}:${u.port || '5432'}${u.pathname}`;
  }

  private async connect(): Promise<pg.PoolClient> {
    try {
      return await this.pool.connect();
    } catch (err) {
      throw new StoreUnavailableError(
        `cannot connect to Postgres at ${this.where}: ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      );
    }
  }

  private async query<T extends pg.QueryResultRow>(
    sql: string,
    params: unknown[] = [],
    on?: Queryable,
  ): Promise<T[]> {
    if (on !== undefined) return (await on.query<T>(sql, params)).rows;
    const c = await this.connect();
    try {
      return (await c.query<T>(sql, params)).rows;
    } finally {
      c.release();
    }
  }

  private async exec(sql: string, params: unknown[] = [], on?: Queryable): Promise<number> {
    if (on !== undefined) return (await on.query(sql, params)).rowCount ?? 0;
    const c = await this.connect();
    try {
      return (await c.query(sql, params)).rowCount ?? 0;
    } finally {
      c.release();
    }
  }

  private async tx<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    const c = await this.connect();
    let broken: Error | undefined;
    try {
      await c.query('BEGIN');
      const result = await fn(c);
      await c.query('COMMIT');
      return result;
    } catch (err) {
      await c.query('ROLLBACK').catch((e: unknown) => {
        broken = e instanceof Error ? e : new Error(String(e));
      });
      throw err;
    } finally {
      c.release(broken);
    }
  }

  private now(): string {
    return iso(this.clock.now());
  }

  async migrate(): Promise<number[]> {
    const applied: number[] = [];
    for (const m of MIGRATIONS) {
      await this.tx(async (c) => {
        await c.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
        await c.query(
          'CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL)',
        );
        const done = await c.query('SELECT 1 FROM schema_migrations WHERE version = $1', [m.version]);
        if ((done.rowCount ?? 0) > 0) return;
        await c.query(m.postgres);
        await c.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [
          m.version,
          m.name,
          this.now(),
        ]);
        applied.push(m.version);
      });
    }
    return applied;
  }

  async ping(): Promise<void> {
    await this.query('SELECT 1');
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }

  // Facilities and agents

  async addFacility(f: { id: string; name: string }): Promise<Facility> {
    const rows = await this.query<FacilityRow>(
      `INSERT INTO facilities (id, name, created_at) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING
       RETURNING id, name, created_at, revoked_at`,
      [f.id, f.name, this.now()],
    );
    const row = rows[0];
    if (row === undefined) throw new StoreConflictError(`facility ${f.id} already exists`);
    return facilityFromRow(row);
  }

  async getFacility(id: string): Promise<Facility | null> {
    const rows = await this.query<FacilityRow>(
      'SELECT id, name, created_at, revoked_at FROM facilities WHERE id = $1',
      [id],
    );
    return rows[0] === undefined ? null : facilityFromRow(rows[0]);
  }

  async listFacilities(): Promise<Facility[]> {
    const rows = await this.query<FacilityRow>(
      'SELECT id, name, created_at, revoked_at FROM facilities ORDER BY id',
    );
    return rows.map(facilityFromRow);
  }

  async removeFacility(id: string): Promise<boolean> {
    return (await this.exec('DELETE FROM facilities WHERE id = $1', [id])) > 0;
  }

  async upsertAgent(a: { id: string; facility_id: string; enrolled_at: string }): Promise<void> {
    await this.exec(
      `INSERT INTO agents (id, facility_id, enrolled_at) VALUES ($1, $2, $3)
       ON CONFLICT (id) DO UPDATE SET facility_id = excluded.facility_id, enrolled_at = excluded.enrolled_at`,
      [a.id, a.facility_id, iso(a.enrolled_at)],
    );
  }

  async recordHeartbeat(agentId: string, at: string, health: Record<string, unknown>): Promise<void> {
    await this.exec('UPDATE agents SET last_heartbeat = $1, health = $2 WHERE id = $3', [
      iso(at),
      JSON.stringify(health),
      agentId,
    ]);
  }

  async listAgents(facilityId?: string): Promise<AgentRecord[]> {
    const cols = 'id, facility_id, enrolled_at, last_heartbeat, health';
    const rows =
      facilityId === undefined
        ? await this.query<AgentRow>(`SELECT ${cols} FROM agents ORDER BY id`)
        : await this.query<AgentRow>(`SELECT ${cols} FROM agents WHERE facility_id = $1 ORDER BY id`, [
            facilityId,
          ]);
    return rows.map(agentFromRow);
  }

  async revokeFacility(id: string, at: string): Promise<boolean> {
    return (
      (await this.exec('UPDATE facilities SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL', [
        iso(at),
        id,
      ])) > 0
    );
  }

  // Enrollment tokens

  async createEnrollmentToken(t: {
    hash: string;
    facility_id: string;
    created_at: string;
    expires_at: string;
  }): Promise<void> {
    const n = await this.exec(
      'INSERT INTO enrollment_tokens (hash, facility_id, created_at, expires_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING',
      [t.hash, t.facility_id, iso(t.created_at), iso(t.expires_at)],
    );
    if (n === 0) throw new StoreConflictError('an enrollment token with this hash already exists');
  }

  async consumeEnrollmentToken(
    hash: string,
    now: string,
  ): Promise<{ facility_id: string } | { refused: EnrollmentRefusal }> {
    const at = iso(now);
    const won = await this.query<{ facility_id: string }>(
      'UPDATE enrollment_tokens SET used_at = $1 WHERE hash = $2 AND used_at IS NULL AND expires_at > $1 RETURNING facility_id',
      [at, hash],
    );
    const first = won[0];
    if (first !== undefined) return { facility_id: first.facility_id };
    const rows = await this.query<{ used_at: Date | null }>(
      'SELECT used_at FROM enrollment_tokens WHERE hash = $1',
      [hash],
    );
    const r = rows[0];
    if (r === undefined) return { refused: 'unknown' };
    return { refused: r.used_at !== null ? 'used' : 'expired' };
  }

  // Alerts

  async insertAlerts(alerts: readonly StoredAlert[]): Promise<number> {
    return (await this.insertNewAlerts(alerts)).length;
  }

  async insertNewAlerts(alerts: readonly StoredAlert[]): Promise<string[]> {
    if (alerts.length === 0) return [];
    // A resend must never duplicate; the primary key refuses a stored id. A batch first goes in whole by one COPY
    // FROM STDIN straight into alerts, with no look-up: the usual batch is all new, and asking for its ids cost the
    // server ~5 % of its time per alert and the transaction a round trip. When the COPY meets a stored id (a unique
    // violation: a resend after a reconnect), the transaction is rolled back and the batch tried again with the
    // stored ids looked up first and left out. Only when a concurrent writer commits one of the same ids between
    // that look-up and the COPY (an agent reconnecting to another replica mid-batch) does it go the slower way: COPY
    // into a session temp table, then INSERT ... SELECT ... ON CONFLICT DO NOTHING (about twice the server CPU: the
    // rows are written twice).
    const batch = firstOfEachId(alerts);
    // The words and counter deltas are worked out before the transaction: its connection then waits on the client
    // only while the COPY is encoded (streamed as it goes).
    const all = toWrite(batch);
    const deltas = countDeltas(all);
    for (const lookUp of [false, true]) {
      try {
        return await this.tx(async (c) => {
          let fresh = all;
          if (lookUp) {
            const stored = await c.query<{ id: string }>('SELECT id FROM alerts WHERE id = ANY($1::text[])', [
              batch.map((a) => a.id),
            ]);
            const known = new Set(stored.rows.map((r) => r.id));
            fresh = all.filter((a) => !known.has(a.alert.id));
          }
          if (fresh.length > 0) {
            await this.copyAlerts(c, 'alerts', fresh);
            await c.query(ADD_COUNTS, fresh === all ? deltas : countDeltas(fresh));
          }
          return fresh.map((a) => a.alert.id);
        });
      } catch (err) {
        if ((err as { code?: unknown }).code !== UNIQUE_VIOLATION) throw err;
      }
    }
    return this.insertAlertsStaged(batch);
  }

  private async copyAlerts(c: pg.PoolClient, table: string, alerts: readonly AlertToWrite[]): Promise<void> {
    await pipeline(
      Readable.from(copyBinary(alerts)),
      c.query(copyFrom(`COPY ${table} (${ALERT_WRITE_COLUMNS}) FROM STDIN (FORMAT binary)`)),
    );
  }

  /** insertAlerts when other writers race on the same ids: staged in a temp table, then INSERT ... ON CONFLICT. */
  private async insertAlertsStaged(alerts: readonly StoredAlert[]): Promise<string[]> {
    const inserted = await this.tx(async (c) => {
      if (!this.staged.has(c)) {
        await c.query(
          `CREATE TEMP TABLE IF NOT EXISTS alerts_incoming (LIKE alerts INCLUDING DEFAULTS INCLUDING COMPRESSION)
           ON COMMIT DELETE ROWS`,
        );
      }
      const all = toWrite(alerts);
      await this.copyAlerts(c, 'alerts_incoming', all);
      const added = await c.query<{ id: string }>(
        `INSERT INTO alerts (${ALERT_WRITE_COLUMNS}) SELECT ${ALERT_WRITE_COLUMNS} FROM alerts_incoming ON CONFLICT (id) DO NOTHING RETURNING id`,
      );
      const ids = new Set(added.rows.map((r) => r.id));
      const fresh = all.filter((a) => ids.has(a.alert.id));
      if (fresh.length > 0) await c.query(ADD_COUNTS, countDeltas(fresh));
      return { connection: c, ids: fresh.map((a) => a.alert.id) };
    });
    // Only a committed CREATE TEMP TABLE lasts: a rolled-back first batch leaves the connection without it.
    this.staged.add(inserted.connection);
    return inserted.ids;
  }

  async seedAlerts(alerts: readonly StoredAlert[]): Promise<number> {
    // insertAlerts is already a bulk path here: one COPY per batch and one statement for the batch's counters; a seed
    // batch is simply a large one.
    return this.insertAlerts(alerts);
  }

  async getAlert(id: string): Promise<StoredAlert | null> {
    const rows = await this.query<AlertRow>(`SELECT ${ALERT_COLUMNS} FROM alerts WHERE id = $1`, [id]);
    return rows[0] === undefined ? null : alertFromRow(rows[0]);
  }

  async queryAlerts(q: AlertQuery): Promise<Page<StoredAlert>> {
    return this.alertPage(q, alertFromRow);
  }

  async queryAlertsJson(q: AlertQuery): Promise<Page<Buffer>> {
    // sources and context are text columns (migration 6): pg hands them back as stored, unparsed.
    return this.alertPage(q, (r) => Buffer.from(alertJsonFromRow(r)));
  }

  private async alertPage<T>(q: AlertQuery, item: (r: AlertRow) => T): Promise<Page<T>> {
    checkPaging(q.page, q.limit);
    const terms = searchTerms(q.search);
    if (terms.length > 0) return this.searchPage(q, terms, item);
    const ps = new Params();
    const facets = facetFilters(q);
    const where = [...facets.map(([column, value]) => `${column} = ${ps.p(value)}`), ...timeFilters(q, ps)];
    const clause = where.length > 0 ? `WHERE ${where.join(' AND ')}` : '';
    const offset = (q.page - 1) * q.limit;
    const order = `ORDER BY ts DESC, id DESC LIMIT ${ps.p(q.limit)} OFFSET ${ps.p(offset)}`;
    // Filters on facility, severity and status alone are answered from the maintained counters.
    const counted = (): Promise<number> =>
      where.length === facets.length ? this.countedAlerts(facets) : this.timedTotal(facets, q.from, q.to);
    if (!facets.some(([column]) => UNINDEXED_FACETS.has(column))) {
      // The page and its total are independent: asked on two pooled connections at once.
      const [rows, total] = await Promise.all([
        this.query<AlertRow>(`SELECT ${ALERT_COLUMNS} FROM alerts ${clause} ${order}`, ps.values),
        counted(),
      ]);
      return { items: rows.map(item), total };
    }
    // Severity and status have no index of their own (migration 13): the page's ids come from an index-only scan of
    // alerts_ts (alerts_facility_ts with a facility) newest first, which checks them on the index tuples, and only
    // the page's rows are read. The total comes first: a page past the last match is not looked for (the scan would
    // read every index entry in the range to find nothing).
    const total = await counted();
    if (offset >= total) return { items: [], total };
    const rows = await this.query<AlertRow>(
      `SELECT ${ALERT_COLUMNS} FROM alerts WHERE id = ANY (ARRAY (SELECT id FROM alerts ${clause} ${order})) ` +
        'ORDER BY ts DESC, id DESC',
      ps.values,
    );
    return { items: rows.map(item), total };
  }

  /** Alerts with these facets in a time range: whole hours from alert_hour_counts, the partial ones from the rows. */
  private async timedTotal(
    facets: readonly (readonly [string, string])[],
    from: string | undefined,
    to: string | undefined,
  ): Promise<number> {
    const count = async (
      table: string,
      column: string,
      value: string,
      lo?: string,
      hi?: string,
    ): Promise<number> => {
      const ps = new Params();
      const where = facets.map(([c, v]) => `${c} = ${ps.p(v)}`);
      if (lo !== undefined) where.push(`${column} >= ${ps.p(lo)}`);
      if (hi !== undefined) where.push(`${column} < ${ps.p(hi)}`);
      const clause = where.length > 0 ? `WHERE ${where.join(' AND ')}` : '';
      const r = await this.query<{ n: string | null }>(
        `SELECT ${value} AS n FROM ${table} ${clause}`,
        ps.values,
      );
      return Number(r[0]?.n ?? 0);
    };
    const rows = (lo?: string, hi?: string): Promise<number> => count('alerts', 'ts', 'count(*)', lo, hi);
    const split = splitHours(from, to);
    if (split === null)
      return rows(from === undefined ? undefined : iso(from), to === undefined ? undefined : iso(to));
    const parts = await Promise.all([
      count('alert_hour_counts', 'hour', 'sum(n)', split.hoursFrom, split.hoursTo),
      ...split.edges.map((e) => rows(e.from, e.to)),
    ]);
    return parts.reduce((a, b) => a + b, 0);
  }

  /** Alerts with these facets, from the maintained counters. */
  private async countedAlerts(facets: readonly (readonly [string, string])[]): Promise<number> {
    const cs = new Params();
    const clause = facets.map(([column, value]) => `${column} = ${cs.p(value)}`).join(' AND ');
    const rows = await this.query<{ n: string | null }>(
      `SELECT sum(n) AS n FROM alert_counts ${clause === '' ? '' : `WHERE ${clause}`}`,
      cs.values,
    );
    return Number(rows[0]?.n ?? 0);
  }

  /**
   * A page of alerts with every search word, newest first, and their number up to SEARCH_COUNT_CAP.
   * Each word becomes the indexed words it is a prefix of, with how many alerts of the facility hold each
   * (alert_term_counts, migration 8), so the GIN index looks up exact lexemes. Those counts also give
   * - the total without counting rows, when there is one word and no time range, severity or status (the counters are
   *   per facility): exactly when it has one completion,
   *   or "the cap or more" when one completion alone is held by more alerts than the cap;
   * - how many alerts match at most, which chooses the page's shape: for many matches, walk the newest-first index
   *   with the search as a filter (the match expression is wrapped so the planner cannot turn it into a GIN bitmap);
   *   for few, take the GIN bitmap and sort the matches.
   */
  private async searchPage<T>(
    q: AlertQuery,
    terms: readonly string[],
    item: (r: AlertRow) => T,
  ): Promise<Page<T>> {
    const facets = facetFilters(q);
    const timed = q.from !== undefined || q.to !== undefined;
    const offset = (q.page - 1) * q.limit;
    const facility = facets.filter(([column]) => column === 'facility_id');
    // The walk below reads the table row of every alert of its index: with a severity or status filter (no index of
    // their own, migration 13) that is every alert of the facility (or every alert), not only those with the facets.
    const unindexed = facets.some(([column]) => UNINDEXED_FACETS.has(column));
    const [words, stored, walked] = await Promise.all([
      this.searchWords(terms, facility),
      this.countedAlerts(facets),
      unindexed ? this.countedAlerts(facility) : null,
    ]);
    // A word of which no alert with these facets holds a completion: nothing matches.
    if (words.some((w) => w.completions?.length === 0)) return { items: [], total: 0 };
    const text = words.map((w) => w.query).join(' & ');
    const atMost = Math.min(stored, ...words.map((w) => w.atMost));
    const only = words.length === 1 ? words[0] : undefined;
    // The word counters are per facility: with a severity or status filter they only bound the matches.
    const known: Page<never> | null =
      timed || facility.length < facets.length || only === undefined || only.completions === null
        ? null
        : only.completions.length === 1 && only.atMost <= SEARCH_COUNT_CAP
          ? { items: [], total: only.atMost }
          : only.atLeast > SEARCH_COUNT_CAP
            ? { items: [], total: SEARCH_COUNT_CAP, totalCapped: true }
            : null;
    // Many matches (about more than sqrt(rows wanted x alerts the walk reads); a word left to a prefix query counts
    // as common): walk the newest-first index of the facets with the words as a filter, wrapped in IS TRUE so that
    // the planner cannot make it a GIN bitmap. Few: the GIN bitmap of words and facets, sorted. When every word is
    // held by at least half of the alerts with the facets, the count walks too (its GIN bitmap would hold them all).
    // With unindexed facets the walk reads every alert of its index; the matches among them are estimated as if the
    // words and the facets were independent (the smaller bound alone would send a common word with a rare severity
    // into a walk over the table rows of every severity).
    const matches =
      walked === null || walked === 0
        ? atMost
        : Math.min(atMost, (Math.min(...words.map((w) => w.atMost)) * stored) / walked);
    const walk = matches * matches >= (offset + q.limit) * (walked ?? stored);
    // With unindexed facets the counting walk reads every alert of its index (walked), not only those with the facets.
    const dense =
      walked === null
        ? words.every((w) => w.atLeast * 2 >= stored || w.completions === null)
        : matches * 2 >= walked;
    const ps = new Params();
    let pageSql: string;
    if (walk) {
      const where = [...facets.map(([column, value]) => `${column} = ${ps.p(value)}`), ...timeFilters(q, ps)];
      pageSql = `SELECT ${ALERT_COLUMNS} FROM alerts WHERE ${[...where, `(search_doc @@ ${ps.p(text)}::tsquery) IS TRUE`].join(' AND ')}`;
      pageSql += ` ORDER BY ts DESC, id DESC LIMIT ${ps.p(q.limit)} OFFSET ${ps.p(offset)}`;
    } else {
      // OFFSET 0 keeps the matching from seeing the ORDER BY ... LIMIT, which would tempt the planner into the walk
      // on its row estimate (a prefix query's is a guess): the matches' keys come from the bitmap, then the page's
      // rows by id.
      const matched = [...timeFilters(q, ps), facetMatch(text, facets, ps)].join(' AND ');
      pageSql =
        `SELECT ${ALERT_COLUMNS} FROM alerts WHERE id = ANY (ARRAY (SELECT id FROM (SELECT ts, id FROM alerts WHERE ${matched} OFFSET 0) AS m ` +
        `ORDER BY ts DESC, id DESC LIMIT ${ps.p(q.limit)} OFFSET ${ps.p(offset)})) ORDER BY ts DESC, id DESC`;
    }
    const count = async (): Promise<number> => {
      const cs = new Params();
      const where = dense
        ? [
            ...facets.map(([column, value]) => `${column} = ${cs.p(value)}`),
            ...timeFilters(q, cs),
            `(search_doc @@ ${cs.p(text)}::tsquery) IS TRUE`,
          ]
        : [...timeFilters(q, cs), facetMatch(text, facets, cs)];
      const r = await this.query<{ n: string }>(
        `SELECT count(*) AS n FROM (SELECT 1 FROM alerts WHERE ${where.join(' AND ')} LIMIT ${SEARCH_COUNT_CAP + 1}) AS m`,
        cs.values,
      );
      return Number(r[0]?.n ?? 0);
    };
    const [rows, total] = await Promise.all([
      this.query<AlertRow>(pageSql, ps.values),
      known === null ? count() : known.total,
    ]);
    return known?.totalCapped === true || total > SEARCH_COUNT_CAP
      ? { items: rows.map(item), total: SEARCH_COUNT_CAP, totalCapped: true }
      : { items: rows.map(item), total };
  }

  /**
   * Each search word's indexed completions, with how many alerts (of the facility, when one is given) hold each: the
   * tsquery for the word (its completions ORed, as exact lexemes), and bounds on the alerts that match it. The
   * counters hold every lexeme of every alert, so they are the very words the GIN index would find for the prefix. A
   * word with more completions than MAX_WORD_EXPANSION is left to the GIN index as a prefix query, unbounded
   * (completions null).
   */
  private async searchWords(
    terms: readonly string[],
    facility: readonly (readonly [string, string])[],
  ): Promise<SearchWord[]> {
    const ws = new Params();
    const words = ws.p(terms);
    const ends = ws.p(terms.map(prefixEnd));
    const clause = facility.map(([column, value]) => ` AND c.${column} = ${ws.p(value)}`).join('');
    // Completions are looked up among every alert (at most MAX_WORD_EXPANSION + 1 of them, so a word with too many
    // is known as such) and counted among those of the facility (n is null when none of them holds it).
    const rows = await this.query<{ i: string; term: string; n: string | null }>(
      `SELECT p.i, x.term, x.n FROM unnest(${words}::text[], ${ends}::text[]) WITH ORDINALITY AS p (w, e, i),
       LATERAL (
         SELECT c.term, sum(c.n) FILTER (WHERE true${clause}) AS n
         FROM alert_term_counts AS c
         WHERE c.term >= p.w COLLATE "C" AND c.term < p.e COLLATE "C" AND c.n > 0
         GROUP BY c.term ORDER BY c.term LIMIT ${MAX_WORD_EXPANSION + 1}
       ) AS x`,
      ws.values,
    );
    return terms.map((w, index) => {
      const found = rows.filter((r) => Number(r.i) === index + 1);
      if (found.length > MAX_WORD_EXPANSION) {
        return { query: `${tsLexeme(w)}:*`, completions: null, atMost: Infinity, atLeast: 0 };
      }
      const held = found.filter((r) => Number(r.n ?? 0) > 0);
      const counts = held.map((r) => Number(r.n));
      return {
        query: `(${held.map((r) => tsLexeme(r.term)).join(' | ')})`,
        completions: held.map((r) => r.term),
        atMost: counts.reduce((a, b) => a + b, 0),
        atLeast: Math.max(0, ...counts),
      };
    });
  }

  async setAlertStatus(id: string, status: AlertStatus): Promise<StoredAlert | null> {
    await this.exec('UPDATE alerts SET status = $1 WHERE id = $2 AND status <> $1', [status, id]);
    return this.getAlert(id);
  }

  async alertTechniques(facilityId: string, from: string, to: string): Promise<AlertTechnique[]> {
    const rows = await this.query<{ attack_type: string; last_seen: Date | string }>(
      `SELECT attack_type, max(ts) AS last_seen FROM alerts WHERE facility_id = $1 AND ts >= $2 AND ts < $3
         AND status NOT IN ('resolved', 'false-positive')
       GROUP BY attack_type ORDER BY attack_type`,
      [facilityId, iso(from), iso(to)],
    );
    return rows.map((r) => ({ attack_type: r.attack_type, last_seen: iso(r.last_seen) }));
  }

  async alertStats(): Promise<AlertStats> {
    const rows = await this.query<{ severity: Severity; status: AlertStatus; n: string }>(
      'SELECT severity, status, sum(n) AS n FROM alert_counts GROUP BY severity, status',
    );
    return statsFromCounts(rows.map((r) => ({ ...r, n: Number(r.n) })));
  }

  // Per-second network aggregates

  async insertAggregates(rows: readonly FacilityAggregate[]): Promise<void> {
    if (rows.length === 0) return;
    const sql = `INSERT INTO aggregates (facility_id, time, packets_per_sec, bytes_per_sec, unique_src_ips,
        unique_dest_ips, protocol_distribution, failed_connections, avg_packet_size, inter_arrival_time)
      SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::float8[], $4::float8[], $5::int[], $6::int[],
        $7::jsonb[], $8::int[], $9::float8[], $10::float8[])
      ON CONFLICT (facility_id, time) DO NOTHING`;
    await this.tx(async (c) => {
      for (let start = 0; start < rows.length; start += CHUNK) {
        const chunk = rows.slice(start, start + CHUNK);
        await c.query(sql, [
          chunk.map((r) => r.facility_id),
          chunk.map((r) => iso(r.time)),
          chunk.map((r) => r.packets_per_sec),
          chunk.map((r) => r.bytes_per_sec),
          chunk.map((r) => r.unique_src_ips),
          chunk.map((r) => r.unique_dest_ips),
          chunk.map((r) => JSON.stringify(r.protocol_distribution)),
          chunk.map((r) => r.failed_connections),
          chunk.map((r) => r.avg_packet_size),
          chunk.map((r) => r.inter_arrival_time),
        ]);
      }
    });
  }

  async aggregates(facilityId: string, from: string, to: string): Promise<FacilityAggregate[]> {
    const rows = await this.query<AggregateRow>(
      `SELECT facility_id, time, packets_per_sec, bytes_per_sec, unique_src_ips, unique_dest_ips, protocol_distribution,
         failed_connections, avg_packet_size, inter_arrival_time
       FROM aggregates WHERE facility_id = $1 AND time >= $2 AND time < $3 ORDER BY time`,
      [facilityId, iso(from), iso(to)],
    );
    return rows.map(aggregateFromRow);
  }

  // Asset inventory

  async applyAssetChanges(facilityId: string, changes: readonly AssetChange[]): Promise<void> {
    if (changes.length === 0) return;
    await this.tx(async (c) => {
      for (const a of changes) {
        if (a.change === 'removed') {
          await c.query(
            `UPDATE assets SET removed_at = $1, last_seen = greatest(last_seen, $1)
             WHERE facility_id = $2 AND address = $3`,
            [iso(a.last_seen), facilityId, a.address],
          );
        } else {
          await c.query(
            `INSERT INTO assets (facility_id, address, mac, protocols, role, first_seen, last_seen, removed_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, NULL)
             ON CONFLICT (facility_id, address) DO UPDATE SET mac = excluded.mac, protocols = excluded.protocols,
               role = excluded.role, first_seen = least(assets.first_seen, excluded.first_seen),
               last_seen = greatest(assets.last_seen, excluded.last_seen), removed_at = NULL`,
            [
              facilityId,
              a.address,
              a.mac,
              JSON.stringify(a.protocols),
              a.role,
              iso(a.first_seen),
              iso(a.last_seen),
            ],
          );
        }
      }
    });
  }

  async listAssets(facilityId: string): Promise<Asset[]> {
    const rows = await this.query<AssetRow>(
      `SELECT facility_id, address, mac, protocols, role, first_seen, last_seen, removed_at
       FROM assets WHERE facility_id = $1 ORDER BY address`,
      [facilityId],
    );
    return rows.map(assetFromRow);
  }

  // Federated learning

  async createRound(r: NewRound): Promise<FLRound> {
    const rows = await this.query<RoundRow>(
      `INSERT INTO fl_rounds (round_number, status, phase, start_time, total_clients, model)
       VALUES ($1, $2, $3, $4, $5, $6) RETURNING ${ROUND_COLUMNS}`,
      [r.round_number, r.status, r.phase, iso(r.start_time), r.total_clients, r.model],
    );
    const row = rows[0];
    if (row === undefined) throw new Error('INSERT ... RETURNING gave no FL round');
    return roundFromRow(row, []);
  }

  async updateRound(id: number, patch: RoundPatch): Promise<FLRound | null> {
    const ps = new Params();
    const sets: string[] = [];
    for (const k of ROUND_PATCH_COLUMNS) {
      const v = patch[k];
      if (v === undefined) continue;
      sets.push(`${k} = ${ps.p(k === 'end_time' ? isoOrNull(v as string | null) : v)}`);
    }
    if (sets.length > 0)
      await this.exec(`UPDATE fl_rounds SET ${sets.join(', ')} WHERE id = ${ps.p(id)}`, ps.values);
    return this.getRound(id);
  }

  async upsertRoundClient(roundId: number, c: FLClient): Promise<void> {
    await this.exec(
      `INSERT INTO fl_round_clients (${CLIENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
       ON CONFLICT (round_id, id) DO UPDATE SET facility_id = excluded.facility_id, name = excluded.name,
         status = excluded.status, progress = excluded.progress, current_epoch = excluded.current_epoch,
         total_epochs = excluded.total_epochs, loss = excluded.loss, accuracy = excluded.accuracy,
         last_update = excluded.last_update`,
      [
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
      ],
    );
  }

  private async roundsWithClients(rows: RoundRow[]): Promise<FLRound[]> {
    if (rows.length === 0) return [];
    const clients = clientsByRound(
      await this.query<RoundClientRow>(
        `SELECT ${CLIENT_COLUMNS} FROM fl_round_clients WHERE round_id = ANY($1::int[]) ORDER BY round_id, name, id`,
        [rows.map((r) => r.id)],
      ),
    );
    return rows.map((r) => roundFromRow(r, clients.get(r.id) ?? []));
  }

  async getRound(id: number): Promise<FLRound | null> {
    if (!Number.isSafeInteger(id) || Math.abs(id) > 2 ** 31 - 1) return null;
    const rows = await this.query<RoundRow>(`SELECT ${ROUND_COLUMNS} FROM fl_rounds WHERE id = $1`, [id]);
    return (await this.roundsWithClients(rows))[0] ?? null;
  }

  async currentRound(): Promise<FLRound | null> {
    const rows = await this.query<RoundRow>(
      `SELECT ${ROUND_COLUMNS} FROM fl_rounds ORDER BY id DESC LIMIT 1`,
    );
    return (await this.roundsWithClients(rows))[0] ?? null;
  }

  async listRounds(limit: number, offset: number): Promise<Page<FLRound>> {
    checkLimitOffset(limit, offset);
    const rows = await this.query<RoundRow>(
      `SELECT ${ROUND_COLUMNS} FROM fl_rounds ORDER BY id DESC LIMIT $1 OFFSET $2`,
      [limit, offset],
    );
    const total = await this.query<{ n: string }>('SELECT count(*) AS n FROM fl_rounds');
    return { items: await this.roundsWithClients(rows), total: Number(total[0]?.n ?? 0) };
  }

  async queueVerdict(v: QueuedVerdict): Promise<void> {
    await this.exec(
      `INSERT INTO fl_verdicts (facility_id, alert_id, verdict, queued_at) VALUES ($1, $2, $3, $4)
       ON CONFLICT (facility_id, alert_id) DO UPDATE SET verdict = excluded.verdict, queued_at = excluded.queued_at`,
      [v.facility_id, v.alert_id, v.verdict, iso(v.queued_at)],
    );
  }

  async queuedVerdicts(): Promise<QueuedVerdict[]> {
    const rows = await this.query<Omit<QueuedVerdict, 'queued_at'> & { queued_at: string | Date }>(
      'SELECT facility_id, alert_id, verdict, queued_at FROM fl_verdicts ORDER BY queued_at, facility_id, alert_id',
    );
    return rows.map((r) => ({ ...r, queued_at: iso(r.queued_at) }));
  }

  async dropVerdicts(
    facilityId: string,
    done: readonly Pick<QueuedVerdict, 'alert_id' | 'verdict'>[],
  ): Promise<void> {
    if (done.length === 0) return;
    await this.exec(
      `DELETE FROM fl_verdicts f USING unnest($2::text[], $3::text[]) AS d (alert_id, verdict)
       WHERE f.facility_id = $1 AND f.alert_id = d.alert_id AND f.verdict = d.verdict`,
      [facilityId, done.map((d) => d.alert_id), done.map((d) => d.verdict)],
    );
  }

  async putPrivacyAccount(a: PrivacyAccount): Promise<void> {
    await this.exec(
      `INSERT INTO fl_privacy (${PRIVACY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
       ON CONFLICT (facility_id) DO UPDATE SET orders = excluded.orders, rdp = excluded.rdp,
         epsilon = excluded.epsilon, delta = excluded.delta, examples = excluded.examples, rounds = excluded.rounds,
         exhausted_at = excluded.exhausted_at, updated_at = excluded.updated_at`,
      [
        a.facility_id,
        a.orders,
        a.rdp,
        a.epsilon,
        a.delta,
        a.examples,
        a.rounds,
        isoOrNull(a.exhausted_at),
        iso(a.updated_at),
      ],
    );
  }

  async listPrivacyAccounts(): Promise<PrivacyAccount[]> {
    const rows = await this.query<PrivacyRow>(
      `SELECT ${PRIVACY_COLUMNS} FROM fl_privacy ORDER BY facility_id`,
    );
    return rows.map(privacyFromRow);
  }

  // Model registry

  private async models(where: string, tail: string, params: unknown[]): Promise<ModelVersion[]> {
    const rows = await this.query<ModelRow>(
      `SELECT ${MODEL_COLUMNS}, ${MODEL_ACTIVE} AS active FROM fl_models m ${where} ${tail}`,
      params,
    );
    return rows.map(modelFromRow);
  }

  async addModelVersion(m: NewModelVersion): Promise<ModelVersion> {
    const at = iso(m.created_at);
    const rows = await this.query<{ version: number }>(
      `INSERT INTO fl_models (name, round_id, created_at, sha256, format, payload, size_bytes, parameters,
         model_accuracy, activation, activated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, nextval('fl_model_activation'), $3)
       RETURNING version`,
      [
        m.name,
        m.round_id,
        at,
        m.sha256,
        m.format,
        Buffer.from(m.payload.buffer, m.payload.byteOffset, m.payload.byteLength),
        m.payload.byteLength,
        m.parameters,
        m.model_accuracy,
      ],
    );
    const stored = await this.getModelVersion(rows[0]?.version ?? -1);
    if (stored === null) throw new Error('the new model version was not found after insert');
    return stored;
  }

  async getModelVersion(version: number): Promise<ModelVersion | null> {
    if (!Number.isSafeInteger(version) || Math.abs(version) > 2 ** 31 - 1) return null;
    return (await this.models('WHERE version = $1', '', [version]))[0] ?? null;
  }

  async listModelVersions(limit: number, offset: number): Promise<Page<ModelVersion>> {
    checkLimitOffset(limit, offset);
    const items = await this.models('', 'ORDER BY version DESC LIMIT $1 OFFSET $2', [limit, offset]);
    const total = await this.query<{ n: string }>('SELECT count(*) AS n FROM fl_models');
    return { items, total: Number(total[0]?.n ?? 0) };
  }

  async activeModelVersion(name: string): Promise<ModelVersion | null> {
    return (await this.models('WHERE name = $1', 'ORDER BY activation DESC LIMIT 1', [name]))[0] ?? null;
  }

  async activateModelVersion(version: number, at: string): Promise<ModelVersion | null> {
    if (!Number.isSafeInteger(version) || Math.abs(version) > 2 ** 31 - 1) return null;
    await this.exec(
      `UPDATE fl_models SET activation = nextval('fl_model_activation'), activated_at = $1 WHERE version = $2`,
      [iso(at), version],
    );
    return this.getModelVersion(version);
  }

  async modelPayload(version: number): Promise<Uint8Array | null> {
    if (!Number.isSafeInteger(version) || Math.abs(version) > 2 ** 31 - 1) return null;
    const rows = await this.query<{ payload: Buffer }>('SELECT payload FROM fl_models WHERE version = $1', [
      version,
    ]);
    const r = rows[0];
    return r === undefined ? null : new Uint8Array(r.payload);
  }

  // Predictions

  async insertPrediction(p: Prediction & { facility_id: string | null }): Promise<void> {
    await this.tx(async (c) => {
      const n = await this.exec(
        `INSERT INTO predictions (id, ts, facility_id, current_technique, current_technique_name, alert_id, validated,
           validation_time) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING`,
        [
          p.id,
          iso(p.timestamp),
          p.facility_id,
          p.current_technique,
          p.current_technique_name,
          p.alert_id,
          p.validated,
          isoOrNull(p.validation_time),
        ],
        c,
      );
      if (n === 0 || p.predicted_techniques.length === 0) return;
      const ts = p.predicted_techniques;
      await c.query(
        `INSERT INTO predicted_techniques (${TECHNIQUE_COLUMNS})
         SELECT $1, * FROM unnest($2::text[], $3::text[], $4::float8[], $5::int[], $6::text[], $7::int[])`,
        [
          p.id,
          ts.map((t) => t.technique_id),
          ts.map((t) => t.technique_name),
          ts.map((t) => t.probability),
          ts.map((t) => t.rank),
          ts.map((t) => t.timeframe),
          ts.map((t) => t.timeframe_seconds),
        ],
      );
    });
  }

  private async predictionsWithTechniques(rows: PredictionRow[]): Promise<Prediction[]> {
    if (rows.length === 0) return [];
    const techniques = techniquesByPrediction(
      await this.query<PredictedTechniqueRow>(
        `SELECT ${TECHNIQUE_COLUMNS} FROM predicted_techniques WHERE prediction_id = ANY($1::text[])
         ORDER BY prediction_id, rank`,
        [rows.map((r) => r.id)],
      ),
    );
    return rows.map((r) => predictionFromRow(r, techniques.get(r.id) ?? []));
  }

  async getPrediction(id: string): Promise<Prediction | null> {
    const rows = await this.query<PredictionRow>(
      `SELECT ${PREDICTION_COLUMNS} FROM predictions WHERE id = $1`,
      [id],
    );
    return (await this.predictionsWithTechniques(rows))[0] ?? null;
  }

  async latestPrediction(): Promise<Prediction | null> {
    const rows = await this.query<PredictionRow>(
      `SELECT ${PREDICTION_COLUMNS} FROM predictions ORDER BY ts DESC, id DESC LIMIT 1`,
    );
    return (await this.predictionsWithTechniques(rows))[0] ?? null;
  }

  async listPredictions(q: PredictionQuery): Promise<Page<Prediction>> {
    checkLimitOffset(q.limit, q.offset);
    const clause = q.validated === undefined ? '' : 'WHERE validated = $1';
    const filter: unknown[] = q.validated === undefined ? [] : [q.validated];
    const n = filter.length;
    const rows = await this.query<PredictionRow>(
      `SELECT ${PREDICTION_COLUMNS} FROM predictions ${clause} ORDER BY ts DESC, id DESC LIMIT $${n + 1} OFFSET $${n + 2}`,
      [...filter, q.limit, q.offset],
    );
    const total = await this.query<{ n: string }>(`SELECT count(*) AS n FROM predictions ${clause}`, filter);
    return { items: await this.predictionsWithTechniques(rows), total: Number(total[0]?.n ?? 0) };
  }

  async openPredictions(facilityId: string, since: string): Promise<Prediction[]> {
    const rows = await this.query<PredictionRow>(
      `SELECT ${PREDICTION_COLUMNS} FROM predictions WHERE facility_id = $1 AND NOT validated AND ts >= $2
       ORDER BY ts, id`,
      [facilityId, iso(since)],
    );
    return this.predictionsWithTechniques(rows);
  }

  async markPredictionValidated(id: string, at: string): Promise<Prediction | null> {
    await this.exec(
      'UPDATE predictions SET validated = true, validation_time = $1 WHERE id = $2 AND NOT validated',
      [iso(at), id],
    );
    return this.getPrediction(id);
  }

  // API tokens

  async createToken(t: { id: string; name: string; role: Role; hash: string }): Promise<ApiToken> {
    const rows = await this.query<TokenRow>(
      `INSERT INTO api_tokens (id, name, role, hash, created_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING
       RETURNING ${TOKEN_COLUMNS}`,
      [t.id, t.name, t.role, t.hash, this.now()],
    );
    if (rows[0] === undefined) throw new StoreConflictError(`token id ${t.id} or its hash already exists`);
    return tokenFromRow(rows[0]);
  }

  async findTokenByHash(hash: string): Promise<ApiToken | null> {
    const rows = await this.query<TokenRow>(`SELECT ${TOKEN_COLUMNS} FROM api_tokens WHERE hash = $1`, [
      hash,
    ]);
    return rows[0] === undefined ? null : tokenFromRow(rows[0]);
  }

  async touchToken(id: string, at: string): Promise<void> {
    await this.exec('UPDATE api_tokens SET last_used_at = $1 WHERE id = $2', [iso(at), id]);
  }

  async listTokens(): Promise<ApiToken[]> {
    const rows = await this.query<TokenRow>(
      `SELECT ${TOKEN_COLUMNS} FROM api_tokens ORDER BY created_at, id`,
    );
    return rows.map(tokenFromRow);
  }

  async revokeToken(id: string): Promise<boolean> {
    const n = await this.exec('UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL', [
      this.now(),
      id,
    ]);
    return n > 0;
  }

  // Audit log

  async audit(e: Omit<AuditEntry, 'id'>): Promise<void> {
    await this.exec(
      'INSERT INTO audit_log (at, actor, action, target, details) VALUES ($1, $2, $3, $4, $5)',
      [iso(e.at), e.actor, e.action, e.target, JSON.stringify(e.details)],
    );
  }

  async listAudit(limit: number, offset: number): Promise<Page<AuditEntry>> {
    checkLimitOffset(limit, offset);
    const rows = await this.query<AuditRow>(
      'SELECT id, at, actor, action, target, details FROM audit_log ORDER BY id DESC LIMIT $1 OFFSET $2',
      [limit, offset],
    );
    const total = await this.query<{ n: string }>('SELECT count(*) AS n FROM audit_log');
    return { items: rows.map(auditFromRow), total: Number(total[0]?.n ?? 0) };
  }

  // Retention

  async purge(policy: RetentionPolicy, now: string): Promise<{ alerts: number; aggregates: number }> {
    const cut = retentionCutoffs(policy, now);
    return this.tx(async (c) => ({
      alerts: cut.alerts === null ? 0 : await this.exec('DELETE FROM alerts WHERE ts < $1', [cut.alerts], c),
      aggregates:
        cut.aggregates === null
          ? 0
          : await this.exec('DELETE FROM aggregates WHERE time < $1', [cut.aggregates], c),
    }));
  }
}
