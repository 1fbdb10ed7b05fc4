// Operators' verdicts on alerts, as labelled Layer 2 examples for the next federated rounds. The aggregator pushes
// each verdict over the link's config channel (settings_json {"fl_feedback": [...]}, see the aggregator's
// fl/feedback.ts): the alert's id, the verdict ("normal" for a false positive, "attack" for an alert an operator
// confirmed, "none" when the verdict was withdrawn), its technique and the flows behind it (second, client, server:
// identifiers the alert already carried, no packets). The agent looks each flow up among the Layer 2 inputs its
// detector still holds (ModelDetector.l2InputOf) and labels them: a false positive is a "normal" example of that flow, a
// confirmed alert an example of its technique's class. The latest verdict per alert counts. A verdict on flows the
// detector no longer holds (it keeps the last 50,000 flow-seconds) is counted as unmatched. The labelled examples are
// kept in the agent's data dir (feedback.db, SQLite, beside the outbox), written before the push is answered, so a
// restarted agent trains on them as before; the detector's flow-seconds themselves are not kept, so a verdict that
// arrives after a restart on flows seen before it finds nothing (unmatched).
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { z } from 'zod';
import type { Example } from '@vigil/models';
import type { ModelDetector } from '../detect/ml/detector.js';
import { NL2 } from '../detect/ml/features.js';
import { L2_CLASSES, classIndex } from '../detect/ml/models.js';

const verdictSchema = z.object({
  alert_id: z.string().min(1).max(100),
  verdict: z.enum(['normal', 'attack', 'none']),
  technique: z.string().max(20),
  flows: z
    .array(
      z.object({ sec: z.number().int().nonnegative(), src: z.string().max(200), dst: z.string().max(2000) }),
    )
    .max(100),
});
export type AlertVerdict = z.infer<typeof verdictSchema>;
const pushSchema = z.object({ fl_feedback: z.array(verdictSchema).max(10_000) });

/** Most alerts whose verdicts are kept (the oldest verdict goes first). */
const MAX_VERDICTS = 5000;

interface StoredRow {
  alert_id: string;
  class: number;
  width: number;
  inputs: Buffer;
}

export class OperatorFeedback {
  private readonly labelled = new Map<string, Example[]>();
  private unmatched = 0;
  private readonly db: Database.Database;

  constructor(
    private readonly o: {
      detectors: () => readonly ModelDetector[];
      /** The SQLite file the labelled examples are kept in (the data dir's feedback.db). */
      path: string;
      log: (line: string) => void;
    },
  ) {
    mkdirSync(dirname(o.path), { recursive: true });
    this.db = new Database(o.path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    // one row per alert: its class and its flows' Layer 2 inputs (float32, concatenated); seq keeps the order of
    // arrival, the oldest going first when MAX_VERDICTS is passed
    this.db.exec(`CREATE TABLE IF NOT EXISTS feedback (
      seq INTEGER PRIMARY KEY AUTOINCREMENT,
      alert_id TEXT NOT NULL UNIQUE,
      class INTEGER NOT NULL,
      width INTEGER NOT NULL,
      inputs BLOB NOT NULL
    )`);
    let skipped = 0;
    for (const r of this.db
      .prepare('SELECT alert_id, class, width, inputs FROM feedback ORDER BY seq')
      .all() as StoredRow[]) {
      // rows of another feature layout (an agent upgraded since) are of no use to this Layer 2: left, not trained on
      if (
        r.width !== NL2 ||
        r.class < 0 ||
        r.class >= L2_CLASSES.length ||
        r.inputs.length % (4 * NL2) !== 0
      ) {
        skipped++;
        continue;
      }
      const all = new Float32Array(
        r.inputs.buffer.slice(r.inputs.byteOffset, r.inputs.byteOffset + r.inputs.length),
      );
      const y = new Float32Array(L2_CLASSES.length);
      y[r.class] = 1;
      const rows: Example[] = [];
      for (let off = 0; off < all.length; off += NL2) rows.push({ x: all.slice(off, off + NL2), y });
      this.labelled.set(r.alert_id, rows);
    }
    if (this.labelled.size > 0 || skipped > 0)
      o.log(
        `operator feedback: ${this.size} example(s) from verdicts on ${this.labelled.size} alert(s) kept from before${skipped > 0 ? `; ${skipped} alert(s) of another Layer 2 input layout not used` : ''}`,
      );
  }

  /**
   * A config push's settings: applies the verdicts it carries. Throws (the push is refused with the reason) when the
   * settings are not a feedback list; returns what became of them. The labelled examples are stored before it returns.
   */
  apply(settingsJson: string): { labelled: number; unmatched: number; withdrawn: number } {
    let parsed: z.infer<typeof pushSchema>;
    try {
      parsed = pushSchema.parse(JSON.parse(settingsJson));
    } catch (e) {
      throw new Error(
        `not an operator feedback push (settings {"fl_feedback": [...]}): ${e instanceof Error ? e.message.slice(0, 300) : String(e)}`,
      );
    }
    const out = { labelled: 0, unmatched: 0, withdrawn: 0 };
    const del = this.db.prepare('DELETE FROM feedback WHERE alert_id = ?');
    const ins = this.db.prepare('INSERT INTO feedback (alert_id, class, width, inputs) VALUES (?, ?, ?, ?)');
    this.db.transaction(() => {
      for (const v of parsed.fl_feedback) {
        this.labelled.delete(v.alert_id);
        del.run(v.alert_id);
        if (v.verdict === 'none') {
          out.withdrawn++;
          continue;
        }
        const cls = v.verdict === 'normal' ? 0 : classIndex(v.technique);
        if (v.verdict === 'attack' && cls === 0) {
          // a technique Layer 2 has no class for: nothing to learn from the confirmation
          out.unmatched++;
          continue;
        }
        const rows = this.rowsOf(v);
        if (rows.length === 0) {
          out.unmatched++;
          continue;
        }
        const y = new Float32Array(L2_CLASSES.length);
        y[cls] = 1;
        this.labelled.set(
          v.alert_id,
          rows.map((x) => ({ x, y })),
        );
        const inputs = new Float32Array(rows.length * NL2);
        rows.forEach((x, i) => inputs.set(x, i * NL2));
        ins.run(v.alert_id, cls, NL2, Buffer.from(inputs.buffer));
        if (this.labelled.size > MAX_VERDICTS) {
          const oldest = this.labelled.keys().next().value!;
          this.labelled.delete(oldest);
          del.run(oldest);
        }
        out.labelled++;
      }
    })();
    this.unmatched += out.unmatched;
    this.o.log(
      `operator feedback: ${out.labelled} alert(s) labelled, ${out.withdrawn} withdrawn, ${out.unmatched} without Layer 2 inputs here; ${this.size} examples for the next rounds`,
    );
    return out;
  }

  close(): void {
    this.db.close();
  }

  private rowsOf(v: AlertVerdict): Float32Array[] {
    const rows = new Map<string, Float32Array>();
    for (const f of v.flows)
      for (const dst of f.dst.split(','))
        for (const d of this.o.detectors()) {
          const k = `${f.sec}|${f.src}|${dst}`;
          const x = rows.has(k) ? undefined : d.l2InputOf(f.sec, f.src, dst);
          if (x !== undefined) rows.set(k, x);
        }
    return [...rows.values()];
  }

  /** The labelled examples (each row once: repeating one would weaken its DP-SGD guarantee). */
  examples(): Example[] {
    return [...this.labelled.values()].flat();
  }

  get size(): number {
    let n = 0;
    for (const e of this.labelled.values()) n += e.length;
    return n;
  }

  status(): string {
    return `${this.size} example(s) from operator verdicts on ${this.labelled.size} alert(s) (${this.unmatched} verdict(s) without Layer 2 inputs here)`;
  }
}
