// The Predictor component of the product. On every new alert with a live ATT&CK for ICS technique (its attack_type):
// 1. validation: open predictions at the alert's facility that listed this technique, made before the alert and no
//    more than that technique's timeframe_seconds before it, are marked validated (`prediction_validated`);
// 2. prediction: the served predictor's unmodified top PREDICTION_K next techniques given that technique are stored
//    as a Prediction (`prediction_created`), and the current and predicted techniques go to the attack-graph room
//    (`attack_detected`). The store is the PublishingStore, which publishes the prediction events.
//    An alert whose technique already has an open prediction at its facility, still inside that prediction's
//    widest timeframe, adds none: the predictor sees only the technique, so it would list the same techniques
//    again, and an alert storm (thousands of alerts of one technique) would otherwise store thousands of copies
//    and make every later validation scan them all.
// Alerts are handled one at a time in arrival order, so a validation never races the prediction it checks.
import { randomUUID } from 'node:crypto';
import type { Alert, PredictedTechnique, Prediction } from '@vigil/shared';
import type { EventBus } from '../events/bus.js';
import type { Store } from '../store/types.js';
import type { NextTechniquePredictor } from './predictor.js';
import { timeframeFor } from './timeframe.js';
import type { AttackGraph, RankedTechnique } from './types.js';

/** How many techniques a prediction lists: the predictor's top 5, as ranked, nothing filtered or re-weighted. */
export const PREDICTION_K = 5;
/** The widest timeframe (timeframe.ts): no open prediction older than this can still be validated. */
const MAX_TIMEFRAME_MS = 86_400_000;

export interface PredictionServiceOptions {
  store: Store;
  bus: EventBus;
  graph: AttackGraph;
  predictor: NextTechniquePredictor;
  k?: number;
  now?: () => Date;
  onError?: (err: unknown) => void;
}

export class UnknownTechniqueError extends Error {}

export class PredictionService {
  private queue: Promise<unknown> = Promise.resolve();
  private unsubscribe: (() => void) | undefined;
  private readonly k: number;
  private readonly now: () => Date;

  constructor(private readonly o: PredictionServiceOptions) {
    this.k = o.k ?? PREDICTION_K;
    this.now = o.now ?? (() => new Date());
  }

  /** Listens for `alert_created` on the bus. */
  start(): void {
    this.unsubscribe ??= this.o.bus.subscribe((e) => {
      if (e.type !== 'alert_created') return;
      const alert = e.data as Alert;
      void this.enqueue(() => this.onAlert(alert)).catch((err: unknown) => this.o.onError?.(err));
    });
  }

  /** Stops listening and waits for the alerts already received. */
  async stop(): Promise<void> {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    await this.queue.catch(() => undefined);
  }

  /**
   * Validates open predictions with this alert, then predicts from its technique. Null when the technique is not a
   * live one, or when a prediction from it at this facility is still open (see the top of the file).
   */
  async onAlert(alert: Alert): Promise<Prediction | null> {
    const technique = await this.o.graph.technique(alert.attack_type);
    if (technique === undefined) return null;
    const at = Date.parse(alert.timestamp);
    const open = Number.isNaN(at)
      ? []
      : await this.o.store.openPredictions(alert.facility_id, new Date(at - MAX_TIMEFRAME_MS).toISOString());
    await this.validate(alert, at, open);
    if (open.some((p) => stillOpenFor(p, alert.attack_type, at))) return null;
    return this.predict(alert.attack_type, {
      alertId: alert.id,
      facilityId: alert.facility_id,
      at: alert.timestamp,
      confidence: alert.correlation_confidence,
    });
  }

  /**
   * A stored prediction from `current` (a live technique id; UnknownTechniqueError otherwise). `at` is the prediction's
   * time (the alert's, so that validation windows start when the attack was seen), now when absent.
   */
  async predict(
    current: string,
    ctx: { alertId: string | null; facilityId: string | null; at?: string; confidence?: number },
  ): Promise<Prediction> {
    const cur = await this.o.graph.technique(current);
    if (cur === undefined) throw new UnknownTechniqueError(`no live ATT&CK for ICS technique ${current}`);
    const ranked = await this.o.predictor.predict([current], this.k);
    const predicted = await withTimeframes(this.o.graph, [current], ranked);
    const prediction: Prediction = {
      id: randomUUID(),
      timestamp: new Date(ctx.at ?? this.now()).toISOString(),
      current_technique: cur.id,
      current_technique_name: cur.name,
      alert_id: ctx.alertId,
      validated: false,
      validation_time: null,
      predicted_techniques: predicted,
    };
    await this.o.store.insertPrediction({ ...prediction, facility_id: ctx.facilityId });
    const links = predicted.map((p) => ({
      source: cur.id,
      target: p.technique_id,
      probability: p.probability,
    }));
    this.o.bus.publish({
      type: 'attack_detected',
      data: {
        technique_id: cur.id,
        technique_name: cur.name,
        confidence: ctx.confidence ?? 1,
        type: 'current',
        source_technique_id: null,
        link_probability: null,
        links,
      },
    });
    for (const p of predicted)
      this.o.bus.publish({
        type: 'attack_detected',
        data: {
          technique_id: p.technique_id,
          technique_name: p.technique_name,
          confidence: p.probability,
          type: 'predicted',
          source_technique_id: cur.id,
          link_probability: p.probability,
          links: [{ source: cur.id, target: p.technique_id, probability: p.probability }],
        },
      });
    return prediction;
  }

  /** Runs `f` after everything queued before it. */
  enqueue<T>(f: () => Promise<T>): Promise<T> {
    const next = this.queue.then(f, f);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async validate(alert: Alert, at: number, open: readonly Prediction[]): Promise<void> {
    for (const p of open) {
      const made = Date.parse(p.timestamp);
      const hit = p.predicted_techniques.find((t) => t.technique_id === alert.attack_type);
      if (hit !== undefined && made < at && at - made <= hit.timeframe_seconds * 1000)
        await this.o.store.markPredictionValidated(p.id, alert.timestamp);
    }
  }
}

/** True when `p` predicts from `technique`, was made at or before `at`, and its widest timeframe has not passed. */
function stillOpenFor(p: Prediction, technique: string, at: number): boolean {
  const made = Date.parse(p.timestamp);
  const widest = Math.max(0, ...p.predicted_techniques.map((t) => t.timeframe_seconds));
  return p.current_technique === technique && made <= at && at - made <= widest * 1000;
}

/**
 * The ranked techniques as a Prediction lists them, each with its timeframe from the tactic distance (timeframe.ts)
 * between the furthest observed technique in the ICS matrix and the predicted one.
 */
export async function withTimeframes(
  graph: AttackGraph,
  observed: readonly string[],
  ranked: readonly RankedTechnique[],
): Promise<PredictedTechnique[]> {
  const order = new Map((await graph.subgraph()).tactics.map((t, i) => [t, i]));
  const position = async (id: string) => {
    const first = (await graph.technique(id))?.tactics[0];
    return first === undefined ? undefined : order.get(first);
  };
  const known = (await Promise.all(observed.map(position))).filter((p) => p !== undefined);
  const from = known.length === 0 ? undefined : Math.max(...known);
  const out: PredictedTechnique[] = [];
  for (const r of ranked) {
    const tf = timeframeFor(from, await position(r.id));
    out.push({
      technique_id: r.id,
      technique_name: r.name,
      probability: r.probability,
      rank: r.rank,
      timeframe: tf.label,
      timeframe_seconds: tf.seconds,
    });
  }
  return out;
}
