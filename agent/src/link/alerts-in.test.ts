import { randomUUID } from 'node:crypto';
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Alert } from '@vigil/shared';
import { Outbox } from '../outbox/outbox.js';
import { forwardAlertsFile } from './alerts-in.js';
import { decodeEntries } from '../testing/outbox.js';

function alert(title: string): Alert {
  return {
    id: randomUUID(),
    timestamp: '2026-03-01T10:00:00.000Z',
    facility_id: 'plant-a',
    severity: 'medium',
    title,
    description: '',
    status: 'new',
    sources: [],
    correlation_confidence: 0.4,
    correlation_summary: '',
    attack_type: 'T0846',
    attack_name: 'Remote System Discovery',
    context_analysis: { duration: '', pattern: '', behavior: '', timeline: [], evidence: {} },
  };
}

describe('forwardAlertsFile', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-alerts-in-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('queues valid lines, logs and skips bad ones by line number, and resumes after what it already read', async () => {
    const file = join(dir, 'alerts.jsonl');
    const a = alert('first');
    const b = alert('second');
    writeFileSync(file, `${JSON.stringify(a)}\n{"id":"x"}\nnot json\n${JSON.stringify(b)}\n`);
    const outbox = new Outbox({ path: join(dir, 'outbox.db'), maxBytes: 1 << 20 });
    const lines: string[] = [];

    const first = await forwardAlertsFile({ file, outbox, log: (l) => lines.push(l) });
    const c = alert('third');
    appendFileSync(file, `${JSON.stringify(c)}\n`);
    const second = await forwardAlertsFile({ file, outbox, log: (l) => lines.push(l) });

    expect(first).toEqual({ forwarded: 2, rejected: 2 });
    expect(second).toEqual({ forwarded: 1, rejected: 0 });
    expect(lines[0]).toMatch(/line 2 .*alert\.id: must be a UUID/);
    expect(lines[1]).toMatch(/line 3 .*not JSON/);
    const queued = decodeEntries(outbox.peek(0, 10)).map((a) => a.title);
    expect(queued).toEqual(['first', 'second', 'third']);
    outbox.close();
  });

  it('waits while the outbox is full and goes on once acks free room', async () => {
    const file = join(dir, 'alerts.jsonl');
    const big = (i: number): Alert => ({ ...alert(`a${i}`), description: 'x'.repeat(3000) });
    writeFileSync(file, `${Array.from({ length: 40 }, (_, i) => JSON.stringify(big(i))).join('\n')}\n`);
    const outbox = new Outbox({ path: join(dir, 'outbox.db'), maxBytes: 64 * 1024, log: () => undefined });
    const lines: string[] = [];

    const running = forwardAlertsFile({ file, outbox, batch: 1, fullRetryMs: 20, log: (l) => lines.push(l) });
    while (!lines.some((l) => l.includes('outbox full'))) await new Promise((r) => setTimeout(r, 10));
    const waitingAtFull = outbox.depth().count;
    const seen: string[] = [];
    while (seen.length < 40) {
      const entries = outbox.peek(0, 100);
      seen.push(...decodeEntries(entries).map((a) => a.title));
      outbox.remove(entries.map((e) => e.id)); // the aggregator acknowledges
      await new Promise((r) => setTimeout(r, 25));
    }
    const result = await running;

    expect(waitingAtFull).toBeLessThan(40);
    expect(result).toEqual({ forwarded: 40, rejected: 0 });
    expect(seen).toEqual(Array.from({ length: 40 }, (_, i) => `a${i}`));
    outbox.close();
  });
});
