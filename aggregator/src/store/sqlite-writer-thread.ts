// The SQLite store's writer thread (started by sqlite-writer.ts): a second connection to the store's file that runs
// the alert inserts, so the aggregator's main thread decodes and validates the next batch while this one commits.
// Each request is answered after its transaction committed (or with the error that stopped it).
import { parentPort, workerData } from 'node:worker_threads';
import type Database from 'better-sqlite3';
import { alertInserter } from './sqlite-alert-insert.js';
import { openSqlite, type WriterData, type WriterReply, type WriterRequest } from './sqlite-writer.js';

/** The tests' crash between a commit and its answer (WriterData.failAfterCommit): ends the thread unanswered. */
class InjectedFailure extends Error {}

const port = parentPort;
if (port === null) throw new Error('sqlite-writer-thread runs as a worker thread');
const { path, failAfterCommit } = workerData as WriterData;
const db: Database.Database = openSqlite(path);
const insert = alertInserter(db);
let commits = 0;

port.on('message', (m: WriterRequest) => {
  if ('close' in m) {
    db.close();
    port.close();
    return;
  }
  let reply: WriterReply;
  try {
    reply = { id: m.id, ...insert(m.rows, m.words) };
    if (++commits === failAfterCommit) throw new InjectedFailure(`injected failure after commit ${commits}`);
  } catch (err) {
    if (err instanceof InjectedFailure) throw err;
    const e = err as { message?: unknown; code?: unknown };
    reply = {
      id: m.id,
      error: {
        message: typeof e.message === 'string' ? e.message : String(err),
        code: typeof e.code === 'string' ? e.code : undefined,
      },
    };
  }
  port.postMessage(reply);
});
