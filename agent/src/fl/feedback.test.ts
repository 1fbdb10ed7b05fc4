// The agent's store of operators' verdicts (feedback.db): what a restarted agent reads back, and what it leaves alone.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { NL2 } from '../detect/ml/features.js';
import { L2_CLASSES } from '../detect/ml/models.js';
import { OperatorFeedback } from './feedback.js';

describe('OperatorFeedback storage', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('reads back the stored examples after a restart, leaves rows of another input layout unused, and forgets a withdrawn verdict', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-feedback-'));
    dirs.push(dir);
    const path = join(dir, 'feedback.db');
    new OperatorFeedback({ detectors: () => [], path, log: () => undefined }).close();
    const rows = Float32Array.from({ length: 2 * NL2 }, (_, i) => i / 7);
    const db = new Database(path);
    const ins = db.prepare('INSERT INTO feedback (alert_id, class, width, inputs) VALUES (?, ?, ?, ?)');
    ins.run('a-ok', 3, NL2, Buffer.from(rows.buffer));
    ins.run('a-old-layout', 3, NL2 - 1, Buffer.from(new Float32Array(NL2 - 1).buffer));
    db.close();

    const lines: string[] = [];
    const first = new OperatorFeedback({ detectors: () => [], path, log: (l) => lines.push(l) });
    const read = first.examples();
    first.apply(
      JSON.stringify({ fl_feedback: [{ alert_id: 'a-ok', verdict: 'none', technique: '', flows: [] }] }),
    );
    first.close();
    const second = new OperatorFeedback({ detectors: () => [], path, log: () => undefined });
    const after = second.examples();
    second.close();
    const check = new Database(path);
    const left = check.prepare('SELECT alert_id FROM feedback').all();
    check.close();

    expect(read.map((e) => [...e.x])).toEqual([[...rows.subarray(0, NL2)], [...rows.subarray(NL2)]]);
    expect(
      read.every(
        (e) => e.y.length === L2_CLASSES.length && e.y[3] === 1 && e.y.reduce((s, v) => s + v) === 1,
      ),
    ).toBe(true);
    expect(lines[0]).toBe(
      'operator feedback: 2 example(s) from verdicts on 1 alert(s) kept from before; 1 alert(s) of another Layer 2 input layout not used',
    );
    expect(after).toEqual([]);
    expect(left).toEqual([{ alert_id: 'a-old-layout' }]);
  });
});
