// Correlation: detections become alerts (spec Alert). Detections of one source host that arrive within HOLD_MS of the
// first one form one incident; the alert is decided HOLD_MS after that first detection (packet time) and carries
// every source, the 60-s timeline of the window, and first_seen/last_seen of the evidence. A detection as sure as
// DECIDE_AT_ONCE decides its incident at once (packet time may stand still for seconds on a quiet network); an
// incident that stays below MIN_ALERT_CONFIDENCE raises no alert (weak policy hints alone, e.g. one new service, are
// not an attack). Suppression rules drop matching detections before correlation; they are counted per rule.
//
// The alert's technique (attack_type) is what the incident stands for: the most severe technique a rule saw surely
// (a protocol fact), else the surest detection's (a model's confident class beats a weak rule hint such as a new
// service, which a scan causes too). Later detections of the same source and a technique of an alerted incident
// within QUIET_MS of the last are folded into it (counted, no new alert), and so is whatever models and weak hints
// say of a source the rules alert on (the same attack seen less surely). A rule's sure detection, though, is folded
// only into an alert that told its technique (its attack_type, or another rule's sure detection in it): a technique
// only a model or a weak hint named inside an alert was never told to the operator, so the rule's fact is a new
// alert (e.g. the recon stage after a scan during which the models guessed recon).
import { randomUUID } from 'node:crypto';
import type { Alert, AlertSource, Severity, TimelinePoint } from '@vigil/shared';
import { shippedCatalog } from '@vigil/shared';
import type { FacilityWindow } from '../window/window.js';
import type { Detection } from './types.js';

export const HOLD_MS = 2_000;
export const QUIET_MS = 60_000;
/** A detection this sure decides its incident at once, without waiting for the hold (weak hints wait). */
export const DECIDE_AT_ONCE = 0.85;
/** An incident less sure than this when its hold ends raises no alert (counted in `belowThreshold`). */
export const MIN_ALERT_CONFIDENCE = 0.5;

/** An alert as the agent writes it: the spec's Alert plus the packet times of its evidence. */
export interface AgentAlert extends Alert {
  first_seen: string;
  last_seen: string;
}

/** Matches detections to drop; every given field must match (absent = any). */
export interface Suppression {
  facility?: string | undefined;
  /** Either host of the detection. */
  host?: string | undefined;
  /** `a>b` or `a<>b` (either direction). */
  pair?: string | undefined;
  rule?: string | undefined;
  technique?: string | undefined;
}

const SEVERITY: Record<string, Severity> = {
  T0843: 'critical',
  T0855: 'critical',
  T0836: 'critical',
  T0831: 'critical',
  T0814: 'high',
  T0856: 'high',
  T0812: 'high',
  T0859: 'high',
  T0869: 'medium',
  T0846: 'medium',
  T0888: 'medium',
  T0861: 'medium',
  T0886: 'low',
};
const RANK: Record<Severity, number> = { critical: 3, high: 2, medium: 1, low: 0 };

interface Incident {
  src: string;
  detections: Detection[];
  decideAt: number;
}

function matches(s: Suppression, facility: string, d: Detection): boolean {
  if (s.facility !== undefined && s.facility !== facility) return false;
  if (s.rule !== undefined && s.rule !== d.rule && s.rule !== d.detector) return false;
  if (s.technique !== undefined && s.technique !== d.technique) return false;
  if (s.host !== undefined && s.host !== d.src && s.host !== d.dst) return false;
  if (s.pair !== undefined) {
    const both = s.pair.includes('<>');
    const [a, b] = s.pair.split(both ? '<>' : '>');
    const fwd = d.src === a && d.dst === b;
    if (!(fwd || (both && d.src === b && d.dst === a))) return false;
  }
  return true;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

export interface CorrelatorOptions {
  facility: string;
  window: FacilityWindow;
  suppress?: readonly Suppression[];
  onAlert: (a: AgentAlert) => void;
}

export class Correlator {
  /** Suppressed detections per `rule/technique`. */
  readonly suppressed = new Map<string, number>();
  /** Detections folded into an alert already written. */
  folded = 0;
  detections = 0;
  /** Incidents dropped for too little confidence, and their detections. */
  belowThreshold = 0;
  private readonly open = new Map<string, Incident>();
  /**
   * `src|technique` of the alerted incidents' detections -> packet time of the last detection of it, and whether an
   * alert told it (its attack_type, or a rule's sure detection in it).
   */
  private readonly alerted = new Map<string, { ms: number; told: boolean }>();
  /** Source -> packet time of the last sure rule detection in (or folded into) an alerted incident. */
  private readonly alertedSrc = new Map<string, number>();
  /** Packet time of the last endIncidents: evidence from before it belongs to the ended incidents. */
  private endedAtMs = Number.NEGATIVE_INFINITY;
  private readonly opts: CorrelatorOptions;

  constructor(opts: CorrelatorOptions) {
    this.opts = opts;
  }

  add(d: Detection): void {
    this.detections++;
    const s = this.opts.suppress?.find((x) => matches(x, this.opts.facility, d));
    if (s !== undefined) {
      const k = `${d.rule}/${d.technique}`;
      this.suppressed.set(k, (this.suppressed.get(k) ?? 0) + 1);
      return;
    }
    // An answer about traffic before the incidents were ended (a model scores a second after it is over).
    if (d.timeMs < this.endedAtMs) {
      this.folded++;
      return;
    }
    const inc = this.open.get(d.src);
    if (inc !== undefined) {
      inc.detections.push(d);
      if (d.confidence >= DECIDE_AT_ONCE) inc.decideAt = d.timeMs;
      return;
    }
    // While the rules alert on a source, a model or a weak hint naming another technique is the same attack seen
    // less surely (the rules saw a protocol fact): folded, not a new stage.
    const sure = isSureRule(d);
    const lastSrc = this.alertedSrc.get(d.src);
    if (!sure && lastSrc !== undefined && d.timeMs - lastSrc < QUIET_MS) {
      this.folded++;
      return;
    }
    const last = this.alerted.get(`${d.src}|${d.technique}`);
    if (last !== undefined && d.timeMs - last.ms < QUIET_MS && (last.told || !sure)) {
      last.ms = Math.max(last.ms, d.timeMs);
      // the rules still see this source's attack: the rest of it stays folded
      if (sure) this.alertedSrc.set(d.src, Math.max(this.alertedSrc.get(d.src) ?? d.timeMs, d.timeMs));
      this.folded++;
      return;
    }
    const decideAt = d.confidence >= DECIDE_AT_ONCE ? d.timeMs : d.timeMs + HOLD_MS;
    this.open.set(d.src, { src: d.src, detections: [d], decideAt });
  }

  /** Decides the incidents whose hold is over at packet time `nowMs` (all of them when `flush`). */
  tick(nowMs: number, flush = false): void {
    for (const [src, inc] of this.open) {
      if (!flush && nowMs < inc.decideAt) continue;
      this.open.delete(src);
      if (combined(inc.detections) < MIN_ALERT_CONFIDENCE) {
        this.belowThreshold += inc.detections.length;
        continue;
      }
      const alert = this.alert(inc, nowMs);
      this.remember(inc, alert.attack_type);
      this.opts.onAlert(alert);
    }
  }

  /**
   * Ends every incident: the open ones are decided now and the memory that folds a continuing source and technique
   * into an alert already written is cleared, so the next detection starts a new alert (the demo's reset: the
   * injected activity was stopped on purpose, and what comes next is a new attack).
   */
  endIncidents(nowMs: number): void {
    this.tick(nowMs, true);
    this.alerted.clear();
    this.alertedSrc.clear();
    this.endedAtMs = Math.max(this.endedAtMs, nowMs);
  }

  /** What an alerted incident told, to fold its continuation (see the header). */
  private remember(inc: Incident, attackType: string): void {
    for (const d of inc.detections) {
      const sure = isSureRule(d);
      if (sure) this.alertedSrc.set(d.src, Math.max(this.alertedSrc.get(d.src) ?? d.timeMs, d.timeMs));
      const k = `${d.src}|${d.technique}`;
      const was = this.alerted.get(k);
      this.alerted.set(k, {
        ms: Math.max(was?.ms ?? d.timeMs, d.timeMs),
        told: (was?.told ?? false) || sure || d.technique === attackType,
      });
    }
  }

  private alert(inc: Incident, nowMs: number): AgentAlert {
    const ds = inc.detections;
    const lead = leadOf(ds);
    const catalog = shippedCatalog();
    const name = (id: string): string => catalog.technique(id)?.name ?? id;
    const first = Math.min(...ds.map((d) => d.timeMs));
    const last = Math.max(...ds.map((d) => d.timeMs));
    const techniques = [...new Set(ds.map((d) => d.technique))];
    const rules = [...new Set(ds.map((d) => `${d.detector}/${d.rule}`))];
    const confidence = combined(ds);
    const sources: AlertSource[] = ds.map((d) => ({
      layer: d.layer,
      model_name: `${d.detector}/${d.rule}`,
      confidence: round(d.confidence),
      detection_time: iso(d.timeMs),
      evidence: d.evidence,
      context_evidence: `frame ${d.frame}, ${d.src} -> ${d.dst}; features: ${Object.entries(d.features)
        .map(([k, v]) => `${k}=${v}`)
        .join(', ')}`,
    }));
    const evidenceSecs = new Set(ds.map((d) => Math.floor(d.timeMs / 1000)));
    const timeline: TimelinePoint[] = this.opts.window.rows().map((r) => ({
      time: r.time,
      packets_per_sec: r.packets_per_sec,
      unique_dest_ips: Math.round(r.unique_dest_ips),
      protocol_distribution: r.protocol_distribution,
      status: evidenceSecs.has(Math.floor(Date.parse(r.time) / 1000)) ? 'attack' : 'normal',
    }));
    const evidence: Record<string, string> = {};
    ds.slice(0, 20).forEach((d, i) => (evidence[`${i + 1}. ${d.detector}/${d.rule}`] = d.evidence));
    const dsts = [...new Set(ds.map((d) => d.dst))];
    return {
      id: randomUUID(),
      timestamp: iso(nowMs),
      facility_id: this.opts.facility,
      severity: SEVERITY[lead.technique] ?? 'low',
      title: `${name(lead.technique)} from ${inc.src}`,
      description: lead.evidence,
      status: 'new',
      sources,
      correlation_confidence: round(confidence),
      correlation_summary: `${ds.length} detection(s) by ${rules.join(', ')} from ${inc.src} to ${dsts.slice(0, 5).join(', ')} within ${((last - first) / 1000).toFixed(1)} s; techniques ${techniques.join(', ')}`,
      attack_type: lead.technique,
      attack_name: name(lead.technique),
      context_analysis: {
        duration: `${((last - first) / 1000).toFixed(1)} s`,
        pattern: rules.join(', '),
        behavior: techniques.map((t) => `${t} ${name(t)}`).join('; '),
        timeline,
        evidence,
      },
      first_seen: iso(first),
      last_seen: iso(last),
    };
  }
}

/** A rule's detection sure enough to alert on its own: a protocol fact, not a weak hint. */
function isSureRule(d: Detection): boolean {
  return d.detector !== 'models' && d.confidence >= MIN_ALERT_CONFIDENCE;
}

const rank = (d: Detection): number => RANK[SEVERITY[d.technique] ?? 'low'];

/**
 * The detection whose technique the alert names: among the rules' sure detections the most severe (then surest), a
 * rule having seen a protocol fact; without one the surest detection (then the most severe), so a model's confident
 * class is not named after a weak hint that came with it (a scan also touches new services).
 */
function leadOf(ds: readonly Detection[]): Detection {
  const sure = ds.filter(isSureRule);
  if (sure.length > 0) {
    return sure.reduce((a, b) =>
      rank(b) > rank(a) || (rank(b) === rank(a) && b.confidence > a.confidence) ? b : a,
    );
  }
  return ds.reduce((a, b) =>
    b.confidence > a.confidence || (b.confidence === a.confidence && rank(b) > rank(a)) ? b : a,
  );
}

/**
 * Noisy-or over the rules of the detections, each rule counted once with its surest detection: several hits of one
 * rule (a new pair read, then written) are one piece of evidence, not independent ones.
 */
function combined(ds: readonly Detection[]): number {
  const best = new Map<string, number>();
  for (const d of ds) {
    const k = `${d.detector}/${d.rule}`;
    best.set(k, Math.max(best.get(k) ?? 0, d.confidence));
  }
  let p = 1;
  for (const c of best.values()) p *= 1 - c;
  return 1 - p;
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
