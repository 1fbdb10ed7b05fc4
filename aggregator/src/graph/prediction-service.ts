// The Predictor component of the product. It keeps, per facility, the live ATT&CK for ICS techniques its alerts
// showed in the last RECENT_WINDOW_MS (24 h, the widest prediction timeframe): the attack picture the predictions are
// made from, the same "observed set" the models are evaluated on (models/EVAL.md: several observed techniques rank
// the next one far better than one). On every new alert with a live technique (its attack_type):
// - a technique already seen at the facility inside the window changes nothing: no validation (it is not news; a
//   prediction made since it was seen does not list it, and one made before it was validated by its first alert or
//   had expired) and no prediction (the observed set is the same, so the predictor would list the same techniques; an
//   alert storm of one technique thus stores one prediction, not thousands);
// - a technique new at the facility first validates the open predictions there that listed it, made before the alert
//   and no more than that technique's timeframe_seconds before it (`prediction_validated`); then the served
//   predictor's unmodified top PREDICTION_K next techniques given every technique recently seen at the facility and
//   this one (all of them excluded from the ranking) are stored as a Prediction from this alert's technique
//   (`prediction_created`), and the current and predicted techniques go to the attack-graph room (`attack_detected`).
//   The store is the PublishingStore, which publishes the prediction events.
// Only open alerts count: when an operator resolves an alert or marks it false-positive (`alert_updated`), the
// facility's picture is read again from its open alerts, so a closed incident no longer steers the predictions and
// the same attack coming back later is news again (it predicts, and validates what was predicted).
// The recent techniques live in memory; a facility's are read from its stored open alerts (Store.alertTechniques) at
// its first alert after the service starts or after an alert there was closed, so a restart neither forgets them nor
// predicts what was already seen.
// Alerts are handled one at a time in arrival order, so a validation never races the prediction it checks.
import { randomUUID } from 'node:crypto';
import type { Alert, AlertStatus, PredictedTechnique, Prediction } from '@vigil/shared';
import type { EventBus } from '../events/bus.js';
import type { Store } from '../store/types.js';
import type { NextTechniquePredictor } from './predictor.js';
import { timeframeFor } from './timeframe.js';
import type { AttackGraph, RankedTechnique } from './types.js';

/** How many techniques a prediction lists: the predictor's top 5, as ranked, nothing filtered or re-weighted. */
export const PREDICTION_K = 5;
/** The widest timeframe (timeframe.ts): no open prediction older than this can still be validated. */
const MAX_TIMEFRAME_MS = 86_400_000;
/**
 * How long a technique seen at a facility stays in its observed set: the widest timeframe, so that every technique a
 * still-open prediction could be validated by is judged against the same picture the prediction was made from.
 */
export const RECENT_WINDOW_MS = MAX_TIMEFRAME_MS;

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

/** Alert statuses that take an alert out of its facility's attack picture. */
const CLOSED: ReadonlySet<AlertStatus> = new Set(['resolved', 'false-positive']);

export class PredictionService {
  private queue: Promise<unknown> = Promise.resolve();
  private unsubscribe: (() => void) | undefined;
  private readonly k: number;
  private readonly now: () => Date;
  /** Per facility: live technique -> latest time (ms) an alert showed it; entries older than the window are dropped. */
  private readonly recent = new Map<string, Map<string, number>>();

  constructor(private readonly o: PredictionServiceOptions) {
    this.k = o.k ?? PREDICTION_K;
    this.now = o.now ?? (() => new Date());
  }

  /** Listens for `alert_created` and for `alert_updated` that closes an alert on the bus. */
  start(): void {
    this.unsubscribe ??= this.o.bus.subscribe((e) => {
      if (e.type !== 'alert_created' && e.type !== 'alert_updated') return;
      const alert = e.data as Alert;
      if (e.type === 'alert_updated') {
        if (CLOSED.has(alert.status)) void this.enqueue(() => Promise.resolve(this.onAlertClosed(alert)));
        return;
      }
      void this.enqueue(() => this.onAlert(alert)).catch((err: unknown) => this.o.onError?.(err));
    });
  }

  /**
   * An operator resolved the alert or marked it false-positive: the facility's recent techniques are read again from
   * its open alerts at its next alert.
   */
  onAlertClosed(alert: Alert): void {
    this.recent.delete(alert.facility_id);
  }

  /** Stops listening and waits for the alerts already received. */
  async stop(): Promise<void> {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    await this.queue.catch(() => undefined);
  }

  /**
   * Adds the alert's technique to its facility's recent techniques; when it is new there, validates the open
   * predictions with it and predicts from every recent technique. Null when nothing is predicted: the technique is
   * not a live one, the timestamp is not a time, or the technique was already seen at the facility within the window.
   */
  async onAlert(alert: Alert): Promise<Prediction | null> {
    const technique = await this.o.graph.technique(alert.attack_type);
    const at = Date.parse(alert.timestamp);
    if (technique === undefined || Number.isNaN(at)) return null;
    const recent = await this.recentAt(alert.facility_id, at);
    const seen = recent.get(technique.id);
    if (seen !== undefined) {
      recent.set(technique.id, Math.max(seen, at));
      return null;
    }
    const open = await this.o.store.openPredictions(
      alert.facility_id,
      new Date(at - MAX_TIMEFRAME_MS).toISOString(),
    );
    await this.validate(alert, at, open);
    const observed = [...recent.keys()].sort();
    const prediction = await this.predict(technique.id, {
      alertId: alert.id,
      facilityId: alert.facility_id,
      at: alert.timestamp,
      confidence: alert.correlation_confidence,
      observed,
    });
    // Seen only once its prediction is stored: if validating or storing failed, the technique's next alert is still
    // news and tries again, instead of the prediction being lost for the whole window.
    recent.set(technique.id, at);
    return prediction;
  }

  /** The facility's recent techniques as of `at` (read from the store the first time), older ones dropped. */
  private async recentAt(facilityId: string, at: number): Promise<Map<string, number>> {
    let recent = this.recent.get(facilityId);
    if (recent === undefined) {
      recent = new Map();
      const stored = await this.o.store.alertTechniques(
        facilityId,
        new Date(at - RECENT_WINDOW_MS).toISOString(),
        new Date(at).toISOString(),
      );
      for (const r of stored)
        if ((await this.o.graph.technique(r.attack_type)) !== undefined)
          recent.set(r.attack_type, Date.parse(r.last_seen));
      this.recent.set(facilityId, recent);
    }
    for (const [t, last] of recent) if (last < at - RECENT_WINDOW_MS) recent.delete(t);
    return recent;
  }

  /**
   * A stored prediction from `current` (a live technique id; UnknownTechniqueError otherwise) and the other techniques
   * already `observed` (none when absent), none of which is predicted. `at` is the prediction's time (the alert's, so
   * that validation windows start when the attack was seen), now when absent.
   */
  async predict(
    current: string,
    ctx: {
      alertId: string | null;
      facilityId: string | null;
      at?: string;
      confidence?: number;
      observed?: readonly string[];
    },
  ): Promise<Prediction> {
    const cur = await this.o.graph.technique(current);
    if (cur === undefined) throw new UnknownTechniqueError(`no live ATT&CK for ICS technique ${current}`);
    const observed = [current, ...(ctx.observed ?? []).filter((t) => t !== current)];
    const ranked = await this.o.predictor.predict(observed, this.k);
    const predicted = await withTimeframes(this.o.graph, observed, ranked);
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

/**
 * Tactic id -> position in the ICS matrix, read once per graph: the whole subgraph (techniques, their context, the uses
 * sets; four queries on Neo4j) is not read again for every prediction. The GNN reads it once too, when it opens.
 */
const tacticOrders = new WeakMap<AttackGraph, Promise<Map<string, number>>>();
function tacticOrder(graph: AttackGraph): Promise<Map<string, number>> {
  let order = tacticOrders.get(graph);
  if (order === undefined) {
    order = graph.subgraph().then((s) => new Map(s.tactics.map((t, i) => [t, i])));
    order.catch(() => tacticOrders.delete(graph));
    tacticOrders.set(graph, order);
  }
  return order;
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
  const order = await tacticOrder(graph);
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
