// Operators' verdicts on alerts become Layer 2 training examples at the agent that raised them. When an alert's status
// changes (PUT /api/alerts/{id}/status, published on the event bus as alert_updated), its verdict is queued for its
// facility and pushed over the link's config channel: "normal" for a false positive, "attack" for a resolved alert
// (an operator confirmed and handled it), "none" when it goes back to new or acknowledged (a verdict withdrawn). A
// verdict names the alert's flows by what the alert already carries (each source's detection second and its
// client -> server), never packets; the agent finds their Layer 2 inputs in its detector (agent fl/feedback.ts) and
// trains on them in the next rounds. A facility without a connected agent keeps its verdicts queued (in memory) until
// one connects; an agent that refuses them is logged and not asked again.
import type { Alert, AlertStatus } from '@vigil/shared';
import type { BusEvent } from '../events/bus.js';
import type { ModelPushTarget } from './publisher.js';

/** What the link needs for config pushes (LinkServer.push). */
export interface ConfigPushTarget {
  push(
    facilityId: string,
    push: { config: { settings_json: string } },
    timeoutMs?: number,
  ): ReturnType<ModelPushTarget['push']>;
}

export interface FlowRef {
  sec: number;
  src: string;
  dst: string;
}

export interface Verdict {
  alert_id: string;
  verdict: 'normal' | 'attack' | 'none';
  technique: string;
  flows: FlowRef[];
}

const VERDICTS: Record<AlertStatus, Verdict['verdict']> = {
  'false-positive': 'normal',
  resolved: 'attack',
  acknowledged: 'none',
  new: 'none',
};

/** A source's flow from its context_evidence ("frame N, SRC -> DST; features: ...") and detection time. */
function flowOf(s: Alert['sources'][number]): FlowRef | null {
  const m = /^frame \d+, (\S+) -> (\S+);/.exec(s.context_evidence);
  const ms = Date.parse(s.detection_time);
  if (m === null || !Number.isFinite(ms)) return null;
  return { sec: Math.floor(ms / 1000), src: m[1]!, dst: m[2]! };
}

/** The verdict an alert's current status gives (null for an alert without any flow to label). */
export function verdictOf(a: Pick<Alert, 'id' | 'status' | 'attack_type' | 'sources'>): Verdict | null {
  const seen = new Set<string>();
  const flows: FlowRef[] = [];
  for (const s of a.sources) {
    const f = flowOf(s);
    if (f === null) continue;
    const k = `${f.sec}|${f.src}|${f.dst}`;
    if (!seen.has(k) && seen.add(k)) flows.push(f);
  }
  if (flows.length === 0) return null;
  return {
    alert_id: a.id,
    verdict: VERDICTS[a.status],
    technique: a.attack_type,
    flows: flows.slice(0, 100),
  };
}

export interface FeedbackPublisherOptions {
  link: ConfigPushTarget;
  intervalMs?: number;
  pushTimeoutMs?: number;
  log?: (line: string) => void;
}

export class FeedbackPublisher {
  private readonly pending = new Map<string, Map<string, Verdict>>();
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<unknown> = Promise.resolve();
  private readonly log: (line: string) => void;

  constructor(private readonly o: FeedbackPublisherOptions) {
    this.log = o.log ?? ((line) => process.stderr.write(`vigil fl: ${line}\n`));
  }

  /** For the event bus: queues the verdict of an alert whose status changed. */
  onEvent(e: BusEvent): void {
    if (e.type !== 'alert_updated') return;
    const a = e.data as Alert;
    if (typeof a.facility_id !== 'string' || !Array.isArray(a.sources) || !(a.status in VERDICTS)) return;
    const v = verdictOf(a);
    if (v === null) return;
    const q = this.pending.get(a.facility_id) ?? new Map<string, Verdict>();
    q.set(v.alert_id, v);
    this.pending.set(a.facility_id, q);
  }

  /** Pushes each facility's queued verdicts; returns the facilities whose agent took them. */
  async flush(): Promise<string[]> {
    const took: string[] = [];
    for (const [facility, q] of [...this.pending]) {
      if (q.size === 0) continue;
      const batch = [...q.values()];
      const answers = await this.o.link.push(
        facility,
        { config: { settings_json: JSON.stringify({ fl_feedback: batch }) } },
        this.o.pushTimeoutMs ?? 10_000,
      );
      if (answers.length === 0) continue; // no agent connected: kept for later
      // the verdicts pushed are done with (taken, or refused and logged); newer ones queued meanwhile stay
      for (const v of batch) if (q.get(v.alert_id) === v) q.delete(v.alert_id);
      if (q.size === 0) this.pending.delete(facility);
      if (answers.some((a) => a.accepted)) {
        took.push(facility);
        this.log(`operator feedback on ${batch.length} alert(s) sent to ${facility}`);
      }
      for (const a of answers)
        if (!a.accepted) this.log(`operator feedback refused by an agent of ${facility}: ${a.error}`);
    }
    return took;
  }

  start(): void {
    if (this.timer !== null) return;
    this.timer = setInterval(() => {
      this.flushing = this.flushing
        .then(() => this.flush())
        .catch((err: unknown) =>
          this.log(`operator feedback push failed: ${err instanceof Error ? err.message : String(err)}`),
        );
    }, this.o.intervalMs ?? 2000);
  }

  async shutdown(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    await this.flushing;
  }
}
