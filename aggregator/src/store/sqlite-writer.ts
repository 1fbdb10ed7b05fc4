// The SQLite store's alert writer thread, seen from the store: the alert inserts of a file database run on a second
// connection in a worker thread (sqlite-writer-thread.ts), so the thread that receives the alerts does not spend
// ~30 us per alert in SQLite. A batch's promise settles only after its transaction committed in the thread; if the
// thread dies (crash, terminate), every batch it had not answered is refused with StoreUnavailableError, so nothing
// is acknowledged that was not confirmed stored (the link then tells the agent to retry; a resend is stored once, by
// alert id), and the next batch starts a new thread.
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import type { AlertRowValues } from './sqlite-alert-insert.js';
import { StoreUnavailableError } from './types.js';

export type WriterRequest =
  { id: number; rows: readonly AlertRowValues[]; words: readonly string[] } | { close: true };
export type WriterReply =
  { id: number; fresh: string[] } | { id: number; error: { message: string; code: string | undefined } };

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

interface Thread {
  worker: Worker;
  pending: Map<number, { resolve: (fresh: string[]) => void; reject: (err: Error) => void }>;
  /** Why the thread failed, when it threw before exiting. */
  failure: Error | null;
  /** Told when the thread holds no batch any more. */
  idle: (() => void)[];
}

export class AlertWriterThread {
  private thread: Thread | null = null;
  private nextId = 0;
  private closed = false;
  /** Set while a write of another connection waits for or runs its turn (exclusive); new batches wait for it. */
  private gate: Promise<void> | null = null;

  /** `onStart` is told of each thread started (tests stop one to show a crash acknowledges nothing). */
  constructor(
    private readonly path: string,
    private readonly onStart?: (worker: Worker) => void,
  ) {}

  /** Stores one batch in one transaction in the thread; resolves with the ids it added once that committed. */
  insert(rows: readonly AlertRowValues[], words: readonly string[]): Promise<string[]> {
    if (this.closed) return Promise.reject(new StoreUnavailableError('the SQLite store is closed'));
    if (this.gate !== null) return this.gate.then(() => this.insert(rows, words));
    const t = this.thread ?? this.start();
    const id = ++this.nextId;
    return new Promise<string[]>((resolve, reject) => {
      if (t.pending.size === 0) t.worker.ref();
      t.pending.set(id, { resolve, reject });
      t.worker.postMessage({ id, rows, words } satisfies WriterRequest);
    });
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
    }
  }

  /** Lets the queued batches finish, then closes the thread's connection. */
  async close(): Promise<void> {
    this.closed = true;
    const t = this.thread;
    if (t === null) return;
    const exited = new Promise<void>((resolve) => t.worker.once('exit', () => resolve()));
    t.worker.postMessage({ close: true } satisfies WriterRequest);
    t.worker.ref();
    await exited;
  }

  private start(): Thread {
    const worker = spawn(this.path);
    const t: Thread = { worker, pending: new Map(), failure: null, idle: [] };
    const settled = (): void => {
      if (t.pending.size > 0) return;
      worker.unref();
      for (const resolve of t.idle.splice(0)) resolve();
    };
    this.thread = t;
    worker.unref();
    worker.on('message', (m: WriterReply) => {
      const waiter = t.pending.get(m.id);
      if (waiter === undefined) return;
      t.pending.delete(m.id);
      if ('fresh' in m) waiter.resolve(m.fresh);
      else waiter.reject(new SqliteWriteError(m.error.message, m.error.code));
      settled();
    });
    worker.on('error', (err) => {
      t.failure = err;
      if (this.thread === t) this.thread = null;
    });
    worker.on('exit', (code) => {
      if (this.thread === t) this.thread = null;
      if (t.pending.size === 0) return settled();
      const why = t.failure?.message ?? `exit code ${code}`;
      const err = new StoreUnavailableError(
        `the SQLite writer thread stopped (${why}) before confirming ${t.pending.size} alert batch(es); none is acknowledged`,
      );
      for (const waiter of t.pending.values()) waiter.reject(err);
      t.pending.clear();
      settled();
    });
    this.onStart?.(worker);
    return t;
  }
}

/**
 * The thread runs the compiled module next to this one; from the TypeScript sources (tests, benchmarks under tsx) it
 * loads the .ts module through tsx's loader, registered in the thread first.
 */
function spawn(path: string): Worker {
  const here = import.meta.url;
  if (here.endsWith('.ts')) {
    const entry = new URL('./sqlite-writer-thread.ts', here).href;
    return new Worker(
      `import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(entry)}); })`,
      { eval: true, workerData: { path } },
    );
  }
  return new Worker(new URL('./sqlite-writer-thread.js', here), { workerData: { path } });
}
