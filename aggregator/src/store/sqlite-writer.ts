// The SQLite store's alert writer thread, seen from the store: the alert inserts of a file database run on a second
// connection in a worker thread (sqlite-writer-thread.ts), so the thread that receives the alerts does not spend
// ~30 us per alert in SQLite. A batch's promise settles only after its transaction committed in the thread; if the
// thread dies (crash, terminate), the batches it had not answered are looked up on the store's own connection: one
// whose alerts are all stored is answered as stored, with the alerts the dead thread added (so they are announced
// once, like any batch's new alerts: a resend of them would be a duplicate and never announced); every other one is
// refused with StoreUnavailableError, so nothing is acknowledged that is not stored (the link then tells the agent
// to retry; a resend is stored once, by alert id). The next batch starts a new thread.
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import type { AlertRowValues } from './sqlite-alert-insert.js';
import { StoreUnavailableError } from './types.js';

export type WriterRequest =
  { id: number; rows: readonly AlertRowValues[]; words: readonly string[] } | { close: true };
/** `top`: the largest alert rowid once the batch committed (rows above it are a later batch's). */
export type WriterReply =
  | { id: number; fresh: string[]; top: bigint }
  | { id: number; error: { message: string; code: string | undefined } };

/** What the thread is started with. */
export interface WriterData {
  path: string;
  /** Tests: the thread throws right after its Nth commit, before answering it (a crash between commit and answer). */
  failAfterCommit?: number;
}

/** What the writer reads on the store's own connection to tell what a dead thread committed. */
export interface StoredAlertRows {
  /** The largest alert rowid now (0 when there is none). */
  top(): bigint;
  /** Of `ids`, those stored, with their rowids. */
  rowids(ids: readonly string[]): Map<string, bigint>;
}

/** Opens a SQLite connection the way the store uses every one (WAL, durable commits, waits for the write lock). */
export function openSqlite(path: string): Database.Database {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  // FULL: each commit is on disk before it returns, so an alert acknowledged to its agent (which then deletes it
  // from its outbox) survives a power loss too; NORMAL in WAL mode may lose the last commits on an OS crash.
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  // 64 MB of page cache (default 2 MB): the alert indexes stay in memory while a large table is written.
  db.pragma('cache_size = -65536');
  return db;
}

/** An error from the thread's connection, with the message and SQLite code it had there. */
export class SqliteWriteError extends Error {
  override readonly name = 'SqliteWriteError';
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
  }
}

interface Waiter {
  /** The batch's alert ids, in order. */
  ids: string[];
  resolve: (fresh: string[]) => void;
  reject: (err: Error) => void;
}

interface Thread {
  worker: Worker;
  pending: Map<number, Waiter>;
  /** The largest alert rowid after the thread's last answered batch (before its first: when it started). */
  top: bigint;
  /** Why the thread failed, when it threw before exiting. */
  failure: Error | null;
  /** Told when the thread holds no batch any more. */
  idle: (() => void)[];
}

/** Batches the thread holds at once: one committing, one ready to start as soon as it is done. */
const IN_THREAD = 2;
/** Rows of waiting batches merged into one transaction. */
const MAX_MERGED_ROWS = 8192;

export class AlertWriterThread {
  private thread: Thread | null = null;
  private nextId = 0;
  /** Transactions sent to the thread (each one commit, however many batches it merged). */
  transactions = 0;
  /** Batches waiting for the thread to have room, oldest first. */
  private queued: {
    rows: readonly AlertRowValues[];
    words: readonly string[];
    resolve: (fresh: string[]) => void;
    reject: (err: Error) => void;
  }[] = [];
  private closed = false;
  /** Set while a write of another connection waits for or runs its turn (exclusive); new batches wait for it. */
  private gate: Promise<void> | null = null;

  /**
   * `stored` reads the store's own connection; `onStart` is told of each thread started (tests stop one to show a
   * crash acknowledges nothing); `failAfterCommit` (tests) makes the first thread die after that commit, unanswered.
   */
  constructor(
    private readonly path: string,
    private readonly stored: StoredAlertRows,
    private readonly onStart?: (worker: Worker) => void,
    private failAfterCommit?: number,
  ) {}

  /**
   * Stores one batch in one transaction in the thread; resolves with the ids it added once that committed. While the
   * thread holds IN_THREAD batches, the batches that arrive wait here and go to it together, as one transaction,
   * when it answers one: with hundreds of agents sending a few alerts each, one commit (one fsync) per batch queued
   * them behind each other's commits (200 agents: acks after ~1 s with the aggregator at a fifth of a core).
   */
  insert(rows: readonly AlertRowValues[], words: readonly string[]): Promise<string[]> {
    if (this.closed) return Promise.reject(new StoreUnavailableError('the SQLite store is closed'));
    if (this.gate !== null) return this.gate.then(() => this.insert(rows, words));
    return new Promise<string[]>((resolve, reject) => {
      this.queued.push({ rows, words, resolve, reject });
      this.flush(false);
    });
  }

  /**
   * Sends the waiting batches, merged into one transaction of at most MAX_MERGED_ROWS rows (a single larger batch
   * goes alone), when the thread holds fewer than IN_THREAD batches (`force`: whatever it holds) and no write of
   * another connection waits for its turn.
   */
  private flush(force: boolean): void {
    while (this.queued.length > 0) {
      if (this.gate !== null && !force) return;
      const t = this.thread ?? this.start();
      if (t.pending.size >= IN_THREAD && !force) return;
      let n = 0;
      let take = 0;
      for (const q of this.queued) {
        if (take > 0 && n + q.rows.length > MAX_MERGED_ROWS) break;
        n += q.rows.length;
        take++;
      }
      const calls = this.queued.splice(0, take);
      const rows = calls.length === 1 ? (calls[0]?.rows ?? []) : calls.flatMap((c) => c.rows);
      const words =
        calls.length === 1 ? (calls[0]?.words ?? []) : [...new Set(calls.flatMap((c) => c.words))];
      const id = ++this.nextId;
      this.transactions++;
      if (t.pending.size === 0) t.worker.ref();
      t.pending.set(id, {
        ids: rows.map((r) => r[0]),
        // each caller gets the ids of its own batch that the transaction added (an id in two batches: the first)
        resolve: (fresh) => {
          const added = new Set(fresh);
          for (const c of calls) c.resolve(c.rows.map((r) => r[0]).filter((a) => added.delete(a)));
        },
        reject: (err) => {
          for (const c of calls) c.reject(err);
        },
      });
      t.worker.postMessage({ id, rows, words } satisfies WriterRequest);
    }
  }

  /**
   * Runs `write` (synchronous, on another connection to the file) once the thread has answered every batch sent to
   * it, and sends none until `write` returned.
   */
  async exclusive<T>(write: () => T): Promise<T> {
    while (this.gate !== null) await this.gate;
    let open = (): void => undefined;
    this.gate = new Promise<void>((resolve) => (open = resolve));
    try {
      const t = this.thread;
      if (t !== null && t.pending.size > 0) await new Promise<void>((resolve) => t.idle.push(resolve));
      return write();
    } finally {
      this.gate = null;
      open();
      this.flush(false);
    }
  }

  /** Lets the queued batches finish, then closes the thread's connection. */
  async close(): Promise<void> {
    this.closed = true;
    this.flush(true);
    const t = this.thread;
    if (t === null) return;
    const exited = new Promise<void>((resolve) => t.worker.once('exit', () => resolve()));
    t.worker.postMessage({ close: true } satisfies WriterRequest);
    t.worker.ref();
    await exited;
  }

  private start(): Thread {
    const data: WriterData = { path: this.path };
    if (this.failAfterCommit !== undefined) data.failAfterCommit = this.failAfterCommit;
    this.failAfterCommit = undefined;
    // read before the thread can write: every row above it is one of this thread's batches'
    const top = this.stored.top();
    const worker = spawn(data);
    const t: Thread = { worker, pending: new Map(), top, failure: null, idle: [] };
    // after each answer: tell the writes waiting for an idle thread, then send what waits for room
    const settled = (): void => {
      if (t.pending.size === 0) {
        worker.unref();
        for (const resolve of t.idle.splice(0)) resolve();
      }
      this.flush(false);
    };
    this.thread = t;
    worker.unref();
    worker.on('message', (m: WriterReply) => {
      const waiter = t.pending.get(m.id);
      if (waiter === undefined) return;
      t.pending.delete(m.id);
      if ('fresh' in m) {
        t.top = m.top;
        waiter.resolve(m.fresh);
      } else waiter.reject(new SqliteWriteError(m.error.message, m.error.code));
      settled();
    });
    worker.on('error', (err) => {
      t.failure = err;
      if (this.thread === t) this.thread = null;
    });
    worker.on('exit', (code) => {
      if (this.thread === t) this.thread = null;
      if (t.pending.size === 0) return settled();
      const stored = this.storedUnanswered(t);
      const why = t.failure?.message ?? `exit code ${code}`;
      const err = new StoreUnavailableError(
        `the SQLite writer thread stopped (${why}) before confirming ${t.pending.size} alert batch(es); ` +
          `${t.pending.size - stored.size} of them are not stored and not acknowledged`,
      );
      for (const [id, waiter] of t.pending) {
        const fresh = stored.get(id);
        if (fresh !== undefined) waiter.resolve(fresh);
        else waiter.reject(err);
      }
      t.pending.clear();
      settled();
    });
    this.onStart?.(worker);
    return t;
  }

  /**
   * The batches of a dead thread that are stored (each of their alerts is in the table, committed: the store's
   * connection sees no other), with the alerts each added: the rows above the thread's last answered rowid, each
   * counted for the first batch that holds it. Empty when the store cannot be read (every batch is then refused).
   */
  private storedUnanswered(t: Thread): Map<number, string[]> {
    const out = new Map<number, string[]>();
    let rowids: Map<string, bigint>;
    try {
      rowids = this.stored.rowids([...new Set([...t.pending.values()].flatMap((w) => w.ids))]);
    } catch {
      return out;
    }
    const claimed = new Set<string>();
    for (const [id, w] of t.pending) {
      if (!w.ids.every((a) => rowids.has(a))) continue;
      const fresh: string[] = [];
      for (const a of w.ids) {
        if ((rowids.get(a) ?? 0n) <= t.top || claimed.has(a)) continue;
        claimed.add(a);
        fresh.push(a);
      }
      out.set(id, fresh);
    }
    return out;
  }
}

/**
 * The thread runs the compiled module next to this one; from the TypeScript sources (tests, benchmarks under tsx) it
 * loads the .ts module through tsx's loader, registered in the thread first.
 */
function spawn(workerData: WriterData): Worker {
  const here = import.meta.url;
  if (here.endsWith('.ts')) {
    const entry = new URL('./sqlite-writer-thread.ts', here).href;
    return new Worker(
      `import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(entry)}); })`,
      { eval: true, workerData },
    );
  }
  return new Worker(new URL('./sqlite-writer-thread.js', here), { workerData });
}
