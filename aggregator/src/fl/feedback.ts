// Operators' verdicts on alerts become Layer 2 training examples at the agent that raised them. When an alert's status
// changes (PUT /api/alerts/{id}/status, published on the event bus as alert_updated), its verdict is queued for its
// facility and pushed over the link's config channel: "normal" for a false positive, "attack" for a resolved alert
// (an operator confirmed and handled it), "none" when it goes back to new or acknowledged (a verdict withdrawn). A
// verdict names the alert's flows by what the alert already carries (each source's detection second and its
// client -> server), never packets; the agent finds their Layer 2 inputs in its detector (agent fl/feedback.ts) and
// trains on them in the next rounds. A facility without a connected agent keeps its verdicts queued until one
// connects, in the store (fl_verdicts), so a restart of the aggregator loses none; an agent that refuses them is
// logged and not asked again.
import type { Alert, AlertStatus } from '@vigil/shared';
import type { BusEvent } from '../events/bus.js';
import type { Store } from '../store/types.js';
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
  /** Where queued verdicts are kept until an agent of their facility answers their push. */
  store: Pick<Store, 'queueVerdict' | 'queuedVerdicts' | 'dropVerdicts'>;
  intervalMs?: number;
  pushTimeoutMs?: number;
  log?: (line: string) => void;
}

/** A queued verdict and its JSON as stored and pushed. */
interface Queued {
  verdict: Verdict;
  json: string;
}

export class FeedbackPublisher {
  private readonly pending = new Map<string, Map<string, Queued>>();
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<unknown> = Promise.resolve();
  /** Store writes of verdicts queued by onEvent, in order (a flush waits for them). */
  private writes: Promise<unknown> = Promise.resolve();
  private loaded: Promise<unknown> | null = null;
  private readonly log: (line: string) => void;

  constructor(private readonly o: FeedbackPublisherOptions) {
    this.log = o.log ?? ((line) => process.stderr.write(`vigil fl: ${line}\n`));
  }

  private enqueue(facility: string, q: Queued): void {
    const m = this.pending.get(facility) ?? new Map<string, Queued>();
    m.set(q.verdict.alert_id, q);
    this.pending.set(facility, m);
  }

  /** For the event bus: queues the verdict of an alert whose status changed (and stores it). */
  onEvent(e: BusEvent): void {
    if (e.type !== 'alert_updated') return;
    const a = e.data as Alert;
    if (typeof a.facility_id !== 'string' || !Array.isArray(a.sources) || !(a.status in VERDICTS)) return;
    const v = verdictOf(a);
    if (v === null) return;
    const q = { verdict: v, json: JSON.stringify(v) };
    this.enqueue(a.facility_id, q);
    const row = {
      facility_id: a.facility_id,
      alert_id: v.alert_id,
      verdict: q.json,
      queued_at: new Date().toISOString(),
    };
    this.writes = this.writes
      .then(() => this.o.store.queueVerdict(row))
      .catch((err: unknown) =>
        this.log(
          `operator feedback on alert ${v.alert_id} not stored (it is pushed, but lost if the aggregator restarts first): ${err instanceof Error ? err.message : String(err)}`,
        ),
      );
  }

  /** Reads the verdicts queued before a restart (once it worked); a verdict queued since for the same alert wins. */
  private load(): Promise<unknown> {
    this.loaded ??= this.o.store.queuedVerdicts().then((rows) => {
      let n = 0;
      for (const r of rows) {
        if (this.pending.get(r.facility_id)?.has(r.alert_id)) continue;
        let verdict: Verdict;
        try {
          verdict = JSON.parse(r.verdict) as Verdict;
        } catch {
          this.log(`stored operator feedback on alert ${r.alert_id} is not JSON; left in the store`);
          continue;
        }
        this.enqueue(r.facility_id, { verdict, json: r.verdict });
        n++;
      }
      if (n > 0) this.log(`${n} operator verdict(s) queued before the restart wait for their agents`);
    });
    // a store that could not answer is asked again at the next flush
    this.loaded.catch(() => (this.loaded = null));
    return this.loaded;
  }

  /** Pushes each facility's queued verdicts; returns the facilities whose agent took them. */
  async flush(): Promise<string[]> {
    await this.load();
    await this.writes;
    const took: string[] = [];
    for (const [facility, q] of [...this.pending]) {
      if (q.size === 0) continue;
      const batch = [...q.values()];
      const answers = await this.o.link.push(
        facility,
        { config: { settings_json: `{"fl_feedback":[${batch.map((b) => b.json).join(',')}]}` } },
        this.o.pushTimeoutMs ?? 10_000,
      );
      if (answers.length === 0) continue; // no agent connected: kept for later
      // the verdicts pushed are done with (taken, or refused and logged); newer ones queued meanwhile stay
      for (const b of batch) if (q.get(b.verdict.alert_id) === b) q.delete(b.verdict.alert_id);
      if (q.size === 0) this.pending.delete(facility);
      await this.writes;
      await this.o.store.dropVerdicts(
        facility,
        batch.map((b) => ({ alert_id: b.verdict.alert_id, verdict: b.json })),
      );
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
    await this.writes;
  }
}
