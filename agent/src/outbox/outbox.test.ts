import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import type { Alert } from '@vigil/shared';
import { Outbox, OutboxFullError } from './outbox.js';
import { decodeEntries, writeLegacyOutbox } from '../testing/outbox.js';
import { alertToPb } from '@vigil/proto/codec';
import { encodeAlert } from '../link/wire.js';

const pb = (a: Alert): Buffer => encodeAlert(alertToPb(a));

function alert(i: number, descriptionBytes = 200): Alert {
  return {
    id: randomUUID(),
    timestamp: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(),
    facility_id: 'plant-a',
    severity: 'high',
    title: `alert ${i}`,
    description: 'x'.repeat(descriptionBytes),
    status: 'new',
    sources: [],
    correlation_confidence: 0.5,
    correlation_summary: '',
    attack_type: 'T0846',
    attack_name: 'Remote System Discovery',
    context_analysis: { duration: '', pattern: '', behavior: '', timeline: [], evidence: {} },
  };
}

describe('Outbox', () => {
  const dirs: string[] = [];
  const dir = (): string => {
    const d = mkdtempSync(join(tmpdir(), 'vigil-outbox-'));
    dirs.push(d);
    return d;
  };
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('keeps enqueued alerts across a reopen until they are removed', () => {
    const path = join(dir(), 'outbox.db');
    const first = new Outbox({ path, maxBytes: 1 << 20 });
    const alerts = [alert(1), alert(2), alert(3)];
    first.enqueue(alerts);
    first.close();

    const second = new Outbox({ path, maxBytes: 1 << 20 });
    const entries = second.peek(0, 10);
    expect(decodeEntries(entries).map((a) => a.id)).toEqual(alerts.map((a) => a.id));
    expect(second.depth().count).toBe(3);

    second.remove([entries[0]!.id, entries[2]!.id]);
    expect(decodeEntries(second.peek(0, 10)).map((a) => a.id)).toEqual([alerts[1]!.id]);
    expect(second.depth().count).toBe(1);
    const left = second.depth().bytes;
    second.remove([entries[0]!.id, entries[2]!.id]); // acknowledged twice: nothing more to remove
    expect(second.depth()).toMatchObject({ count: 1, bytes: left });
    second.close();
    const third = new Outbox({ path, maxBytes: 1 << 20 });
    expect(third.depth()).toMatchObject({ count: 1, bytes: left });
    third.close();
  });

  it('refuses, logs and counts alerts when the database reaches its page cap, and accepts again after acks', () => {
    const lines: string[] = [];
    const box = new Outbox({
      path: join(dir(), 'outbox.db'),
      maxBytes: 64 * 1024,
      log: (l) => lines.push(l),
    });
    let stored = 0;
    let refusal: unknown = null;
    for (let i = 0; i < 1000 && refusal === null; i++) {
      try {
        box.enqueue([alert(i, 1000)]);
        stored++;
      } catch (err) {
        refusal = err;
      }
    }

    expect(refusal).toBeInstanceOf(OutboxFullError);
    expect(stored).toBeGreaterThan(10);
    expect(box.refused).toBe(1);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('alert NOT queued');
    expect(lines[0]).toContain(`"title":"alert ${stored}"`);
    expect(box.depth().count).toBe(stored);

    box.remove(box.peek(0, 20).map((e) => e.id));
    expect(() => box.enqueue([alert(5000, 1000)])).not.toThrow();
    box.close();
  });

  it('writes nothing of a batch that does not fit', () => {
    const box = new Outbox({ path: join(dir(), 'outbox.db'), maxBytes: 64 * 1024, log: () => undefined });
    const batch = Array.from({ length: 200 }, (_, i) => alert(i, 1000));
    expect(() => box.enqueue(batch)).toThrow(OutboxFullError);
    expect(box.depth().count).toBe(0);
    expect(box.peek(0, 10)).toEqual([]);
    expect(box.refused).toBe(200);
    box.close();
  });

  it('sends an outbox written before the upgrade (JSON rows) first, then new alerts, and drops the old table once empty', () => {
    const path = join(dir(), 'outbox.db');
    const before = [alert(1), alert(2), alert(3)];
    writeLegacyOutbox(path, before, 1); // the first was acknowledged before the upgrade
    const waiting = before.slice(1);

    const box = new Outbox({ path, maxBytes: 1 << 20 });
    const after = [alert(4), alert(5)];
    box.enqueue(after);
    const entries = box.peek(0, 10);

    expect(decodeEntries(entries)).toEqual(
      decodeEntries([...waiting, ...after].map((a, id) => ({ id, pb: pb(a) }))),
    );
    expect(entries.map((e) => e.id)).toEqual([...entries.map((e) => e.id)].sort((a, b) => a - b));
    expect(box.depth().count).toBe(4);
    expect(box.peek(entries[1]!.id, 1).map((e) => e.id)).toEqual([entries[2]!.id]);
    box.remove([entries[0]!.id, entries[1]!.id, entries[2]!.id]);
    expect(box.depth().count).toBe(1);
    box.close();

    const reopened = new Outbox({ path, maxBytes: 1 << 20 });
    expect(decodeEntries(reopened.peek(0, 10)).map((a) => a.id)).toEqual([after[1]!.id]);
    expect(reopened.depth().count).toBe(1);
    reopened.close();
    const check = new Database(path, { readonly: true });
    expect(
      check
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'outbox%' ORDER BY name")
        .all(),
    ).toEqual([{ name: 'outbox' }, { name: 'outbox_refused' }]);
    check.close();
  });

  it('sets aside, logs once and counts an alert the aggregator would refuse, and queues the others of its batch', () => {
    const path = join(dir(), 'outbox.db');
    const lines: string[] = [];
    const box = new Outbox({ path, maxBytes: 1 << 20, log: (l) => lines.push(l) });
    const bad = { ...alert(2), title: 'client id a\0b' };
    const long = { ...alert(3), attack_name: 'n'.repeat(513) };
    const good = [alert(1), alert(4)];

    box.enqueue([good[0]!, bad, long, good[1]!]);

    expect(decodeEntries(box.peek(0, 10)).map((a) => a.id)).toEqual(good.map((a) => a.id));
    expect(box.depth().count).toBe(2);
    expect(box.setAside).toBe(2);
    expect(lines).toEqual([
      `INVALID, alert ${bad.id} set aside in outbox_refused, NOT sent: alert.title: contains NUL (U+0000)`,
      `INVALID, alert ${long.id} set aside in outbox_refused, NOT sent: alert.attack_name: longer than 512 characters`,
    ]);
    box.close();
    const reopened = new Outbox({ path, maxBytes: 1 << 20 });
    expect(reopened.setAside).toBe(2);
    reopened.close();
    const check = new Database(path, { readonly: true });
    const kept = check.prepare('SELECT alert_id, pb, reason FROM outbox_refused ORDER BY id').all() as {
      alert_id: string;
      pb: Buffer;
      reason: string;
    }[];
    check.close();
    expect(kept.map((r) => [r.alert_id, r.reason])).toEqual([
      [bad.id, 'alert.title: contains NUL (U+0000)'],
      [long.id, 'alert.attack_name: longer than 512 characters'],
    ]);
    expect(decodeEntries(kept.map((r, id) => ({ id, pb: r.pb })))).toEqual(
      decodeEntries([bad, long].map((a, id) => ({ id, pb: pb(a) }))),
    );
  });

  it('moves a queued alert the aggregator refused to the refused table, new and pre-upgrade rows alike', () => {
    const path = join(dir(), 'outbox.db');
    const before = [alert(1), alert(2)];
    writeLegacyOutbox(path, before, 0);
    const lines: string[] = [];
    const box = new Outbox({ path, maxBytes: 1 << 20, log: (l) => lines.push(l) });
    const after = [alert(3), alert(4)];
    box.enqueue(after);
    const entries = box.peek(0, 10);

    expect(box.setAsideEntry(entries[0]!.id, 'refused by the aggregator: x')).toBe(true);
    expect(box.setAsideEntry(entries[2]!.id, 'refused by the aggregator: y')).toBe(true);
    expect(box.setAsideEntry(entries[2]!.id, 'again')).toBe(false);

    expect(decodeEntries(box.peek(0, 10)).map((a) => a.id)).toEqual([before[1]!.id, after[1]!.id]);
    expect(box.depth().count).toBe(2);
    expect(box.setAside).toBe(2);
    expect(lines).toEqual([
      `REFUSED by the aggregator, alert ${before[0]!.id} set aside in outbox_refused: refused by the aggregator: x`,
      `REFUSED by the aggregator, alert ${after[0]!.id} set aside in outbox_refused: refused by the aggregator: y`,
    ]);
    box.close();
  });
});
