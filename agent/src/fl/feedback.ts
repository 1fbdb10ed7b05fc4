// Operators' verdicts on alerts, as labelled Layer 2 examples for the next federated rounds. The aggregator pushes
// each verdict over the link's config channel (settings_json {"fl_feedback": [...]}, see the aggregator's
// fl/feedback.ts): the alert's id, the verdict ("normal" for a false positive, "attack" for an alert an operator
// confirmed, "none" when the verdict was withdrawn), its technique and the flows behind it (second, client, server:
// identifiers the alert already carried, no packets). The agent looks each flow up among the Layer 2 inputs its
// detector still holds (ModelDetector.l2InputOf) and labels them: a false positive is a "normal" example of that flow, a
// confirmed alert an example of its technique's class. The latest verdict per alert counts. A verdict on flows the
// detector no longer holds (it keeps the last 50,000 flow-seconds) is counted as unmatched. The examples live in
// memory: a restarted agent starts without them.
import { z } from 'zod';
import type { Example } from '@vigil/models';
import type { ModelDetector } from '../detect/ml/detector.js';
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

export class OperatorFeedback {
  private readonly labelled = new Map<string, Example[]>();
  private unmatched = 0;

  constructor(
    private readonly o: { detectors: () => readonly ModelDetector[]; log: (line: string) => void },
  ) {}

  /**
   * A config push's settings: applies the verdicts it carries. Throws (the push is refused with the reason) when the
   * settings are not a feedback list; returns what became of them.
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
    for (const v of parsed.fl_feedback) {
      this.labelled.delete(v.alert_id);
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
      if (this.labelled.size > MAX_VERDICTS) this.labelled.delete(this.labelled.keys().next().value!);
      out.labelled++;
    }
    this.unmatched += out.unmatched;
    this.o.log(
      `operator feedback: ${out.labelled} alert(s) labelled, ${out.withdrawn} withdrawn, ${out.unmatched} without Layer 2 inputs here; ${this.size} examples for the next rounds`,
    );
    return out;
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
