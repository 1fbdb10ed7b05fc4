// `--alerts-in FILE`: forwards alerts from a JSON-lines file (one API Alert per line) through the outbox, e.g. to
// replay alerts another agent recorded. Each line is validated as the aggregator would; a bad line is logged with
// its line number and skipped. The position in the file is committed with the alerts it produced, so a restarted
// agent continues where it stopped. A full outbox pauses the reading (the file can wait; nothing is refused).
import { createReadStream } from 'node:fs';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import type { Alert } from '@vigil/shared';
import { InvalidMessageError, alertFromPb } from '@vigil/proto/codec';
import type { PbAlert } from '@vigil/proto/link';
import { OutboxFullError, type Outbox } from '../outbox/outbox.js';

export interface ForwardOptions {
  file: string;
  outbox: Outbox;
  /** Called after each batch is in the outbox. */
  onEnqueued?: () => void;
  log?: (line: string) => void;
  /** Stops the forwarding early (shutdown). */
  signal?: AbortSignal;
  batch?: number;
  /** Wait between attempts while the outbox is full, ms. */
  fullRetryMs?: number;
}

export interface ForwardResult {
  forwarded: number;
  rejected: number;
}

/** Parses one line into an alert (its facility is set by the aggregator from the certificate). */
export function parseAlertLine(line: string): Alert {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    throw new InvalidMessageError('line', 'is not JSON');
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new InvalidMessageError('line', 'is not a JSON object');
  }
  const o = raw as Record<string, unknown>;
  return alertFromPb(
    {
      ...(o as unknown as PbAlert),
      context_analysis: (o.context_analysis ?? null) as PbAlert['context_analysis'],
    },
    typeof o.facility_id === 'string' ? o.facility_id : '',
    'alert',
  );
}

export async function forwardAlertsFile(o: ForwardOptions): Promise<ForwardResult> {
  const log = o.log ?? ((line) => process.stderr.write(`vigil-agent alerts-in: ${line}\n`));
  const source = `alerts-in:${resolve(o.file)}`;
  const start = o.outbox.position(source);
  const batchSize = o.batch ?? 500;
  const result: ForwardResult = { forwarded: 0, rejected: 0 };
  const input = createReadStream(o.file, { start });
  const lines = createInterface({ input, crlfDelay: Infinity });
  let position = start;
  let lineNo = 0;
  let pending: Alert[] = [];

  const flush = async (): Promise<void> => {
    for (;;) {
      try {
        o.outbox.enqueue(pending, { source, position });
        break;
      } catch (err) {
        if (!(err instanceof OutboxFullError)) throw err;
        log(`outbox full; waiting for the aggregator before reading more of ${o.file}`);
        if (o.signal?.aborted) return;
        await new Promise((r) => setTimeout(r, o.fullRetryMs ?? 1000));
      }
    }
    result.forwarded += pending.length;
    pending = [];
    o.onEnqueued?.();
  };

  try {
    for await (const line of lines) {
      if (o.signal?.aborted) break;
      lineNo++;
      position += Buffer.byteLength(line) + 1;
      if (line.trim() === '') continue;
      try {
        pending.push(parseAlertLine(line));
      } catch (err) {
        result.rejected++;
        log(`${o.file}: line ${lineNo} (from byte ${start}) skipped: ${(err as Error).message}`);
      }
      if (pending.length >= batchSize) await flush();
    }
    if (!o.signal?.aborted) await flush();
  } finally {
    lines.close();
    input.destroy();
  }
  return result;
}
