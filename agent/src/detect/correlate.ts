// Correlation: detections become alerts (spec Alert). Detections of one source host form one incident, and the alert
// carries every source, the 60-s timeline of the window, and first_seen/last_seen of the evidence. An incident is
// decided as soon as it is sure enough to name:
// - at once on a detection as sure as DECIDE_AT_ONCE (strong);
// - at once when two independent pieces of evidence (two rules or models, or one and an earlier stage's alert, see
//   below) name the same technique with a combined confidence of MIN_ALERT_CONFIDENCE (agreement);
// - otherwise HOLD_MS of packet time after its first detection (hold): a lone medium detection waits for what
//   follows it (a new master's first read may be the start of a write: the hold lets the write name the alert),
//   and an incident still below MIN_ALERT_CONFIDENCE then raises no alert (weak policy hints alone, e.g. one new
//   service, are not an attack).
// Each alert says how it was decided (correlation_summary; counted in `decided`). Suppression rules drop matching
// detections before correlation; they are counted per rule, never forgotten.
//
// The alert's technique (attack_type) is what the incident stands for: the most severe technique a rule saw surely
// (a protocol fact), else the surest detection's (a model's confident class beats a weak rule hint such as a new
// service, which a scan causes too). Each detector watches one kind of activity (network scans, what a Modbus master
// does, protocol conformance, floods): an incident in which detectors sure of different techniques saw two
// activities of one source within the hold (e.g. a routine engineering write as a scan from that host begins) gives
// one alert per activity, in the order they began, so that each is told under its own name and Layer 3 predicts
// from each (one alert named after the write kept the scan from ever being alerted as one while it went on); what
// one detector finds, or several find of one technique, stays one alert (a new master's read, then its write). Later detections of the same source and a technique of an alerted incident
// within QUIET_MS of the last are folded into it (counted, no new alert), and so is whatever models and weak hints
// say of a source the rules alert on (the same attack seen less surely) - except a weak hint that is the attack's
// next stage (below). A rule's sure detection, though, is folded only into an alert that told its technique (its
// attack_type, or another rule's sure detection in it): a technique only a model or a weak hint named inside an alert
// was never told to the operator, so the rule's fact is a new alert (e.g. the recon stage after a scan during which
// the models guessed recon).
// Stages of one attack corroborate each other: an incident whose source was alerted, within FOLLOW_UP_MS, for
// activity against one of the incident's targets counts that earlier alert as one more piece of evidence
// (FOLLOW_UP_CONFIDENCE): a write, weak alone, to a PLC the same host scanned or probed a minute before is the
// attack's next stage, not the earlier alert seen less surely, when its technique is not one the source was alerted
// for already.
// A demoted model finding (DEMOTED_RULE: a class that did not fit the flow) is evidence only: it joins a source's
// open incident and is listed among its sources, but never opens an incident (counted in `belowThreshold`), adds to
// its confidence, decides it or names its alert (with weight, it lifted a legitimate engineering write's weak
// new-pair hint over the alert threshold). A known host's device-identification read (INVENTORY_RULE, an asset
// inventory read) is evidence only in the same way: a recon's identification probe is named by what follows it.
import type { Alert, AlertSource, Severity, TimelinePoint } from '@vigil/shared';
import { shippedCatalog, timeOrderedUuid } from '@vigil/shared';
import { MAX_SOURCES } from '@vigil/proto/codec';
import type { FacilityWindow } from '../window/window.js';
import { safeAlert } from './safe-text.js';
import { isEvidenceOnly, type Detection } from './types.js';

export const HOLD_MS = 2_000;
export const QUIET_MS = 60_000;
/** A detection this sure decides its incident at once, without waiting for the hold (weak hints wait). */
export const DECIDE_AT_ONCE = 0.85;
/** An incident less sure than this when its hold ends raises no alert (counted in `belowThreshold`). */
export const MIN_ALERT_CONFIDENCE = 0.5;
/** How long an alert on a source's target corroborates the source's next detections against that target. */
export const FOLLOW_UP_MS = 300_000;
/** The weight of that corroboration (one more piece of evidence in the noisy-or). */
export const FOLLOW_UP_CONFIDENCE = 0.5;
/**
 * Packet time after which what an alert told can no longer fold or follow anything (QUIET_MS, FOLLOW_UP_MS), with two
 * minutes for a model's late answer: older memories are forgotten, so a long-running agent's memory stays bounded.
 */
export const FORGET_MS = Math.max(QUIET_MS, FOLLOW_UP_MS) + 120_000;

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

/** Why an incident was decided when it was. */
export type Decision = 'strong' | 'agreement' | 'hold';

interface Incident {
  src: string;
  detections: Detection[];
  decideAt: number;
  /** Set when the incident was decided before its hold ended. */
  early: Decision | undefined;
}

/** An alert on one target of a source: when its evidence was last seen, and its technique. */
interface Prior {
  ms: number;
  technique: string;
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
  /** What a detection stands for in what the rules know (a spoofed source's finding within a connection flood is
   * the flood's); asked first for every detection. */
  rewrite?: ((d: Detection) => Detection) | undefined;
}

export class Correlator {
  /** Suppressed detections per `rule/technique`. */
  readonly suppressed = new Map<string, number>();
  /** Detections folded into an alert already written. */
  folded = 0;
  detections = 0;
  /** Incidents dropped for too little confidence, and their detections. */
  belowThreshold = 0;
  /** Alerts by how they were decided. */
  readonly decided: Record<Decision, number> = { strong: 0, agreement: 0, hold: 0 };
  private readonly open = new Map<string, Incident>();
  /** The earliest decideAt of the open incidents (tick() has nothing to do before it). */
  private nextDecideAt = Number.POSITIVE_INFINITY;
  /**
   * `src|technique` of the alerted incidents' detections -> packet time of the last detection of it, and whether an
   * alert told it (its attack_type, or a rule's sure detection in it).
   */
  private readonly alerted = new Map<string, { ms: number; told: boolean }>();
  /** Source -> packet time of the last sure rule detection in (or folded into) an alerted incident. */
  private readonly alertedSrc = new Map<string, number>();
  /** Packet time of the last endIncidents: evidence from before it belongs to the ended incidents. */
  private endedAtMs = Number.NEGATIVE_INFINITY;
  /** Packet time at which memories older than FORGET_MS are next looked for. */
  private nextForgetMs = Number.NEGATIVE_INFINITY;
  /** `src|dst` -> the last alert of the source against that target. */
  private readonly alertedTarget = new Map<string, Prior>();
  private readonly opts: CorrelatorOptions;

  constructor(opts: CorrelatorOptions) {
    this.opts = opts;
    // The technique catalog is parsed now, not when the first alert is being decided (a quarter of a second).
    shippedCatalog();
  }

  add(found: Detection): void {
    this.detections++;
    const d = this.opts.rewrite === undefined ? found : this.opts.rewrite(found);
    this.forgetBefore(d.timeMs - FORGET_MS);
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
      this.decideEarly(inc, d);
      return;
    }
    if (isEvidenceOnly(d)) {
      this.belowThreshold++;
      return;
    }
    const sure = isSureRule(d);
    const last = this.alerted.get(`${d.src}|${d.technique}`);
    const recent = last !== undefined && d.timeMs - last.ms < QUIET_MS;
    // While the rules alert on a source, a model or a weak hint naming another technique is the same attack seen
    // less surely (the rules saw a protocol fact): folded, not a new stage - unless it is a weak rule hint of a
    // technique the source was not alerted for, against a target an earlier stage's alert covers (see the header).
    const nextStage = !sure && !recent && this.corroborated(d);
    const lastSrc = this.alertedSrc.get(d.src);
    if (!sure && !nextStage && lastSrc !== undefined && d.timeMs - lastSrc < QUIET_MS) {
      this.folded++;
      return;
    }
    if (last !== undefined && recent && (last.told || !sure)) {
      last.ms = Math.max(last.ms, d.timeMs);
      // the rules still see this source's attack: the rest of it stays folded
      if (sure) this.alertedSrc.set(d.src, Math.max(this.alertedSrc.get(d.src) ?? d.timeMs, d.timeMs));
      this.rememberTarget(d, d.technique);
      this.folded++;
      return;
    }
    const opened: Incident = { src: d.src, detections: [d], decideAt: d.timeMs + HOLD_MS, early: undefined };
    this.open.set(d.src, opened);
    if (opened.decideAt < this.nextDecideAt) this.nextDecideAt = opened.decideAt;
    this.decideEarly(opened, d);
  }

  /** Brings the incident's decision forward to `d` when `d` is strong or makes two pieces of evidence agree. */
  private decideEarly(inc: Incident, d: Detection): void {
    if (inc.early !== undefined || isEvidenceOnly(d)) return;
    if (d.confidence >= DECIDE_AT_ONCE) inc.early = 'strong';
    else if (agree(inc.detections, d.technique, this.priorOf(inc.src, inc.detections)))
      inc.early = 'agreement';
    else return;
    inc.decideAt = Math.min(inc.decideAt, d.timeMs);
    if (inc.decideAt < this.nextDecideAt) this.nextDecideAt = inc.decideAt;
  }

  /** Decides the incidents whose hold is over at packet time `nowMs` (all of them when `flush`). */
  tick(nowMs: number, flush = false): void {
    // Asked every frame and mostly nothing is due: kept small so that V8 inlines this check into the caller.
    if (!flush && nowMs < this.nextDecideAt) return;
    this.decide(nowMs, flush);
  }

  /** Decides the incidents due at `nowMs` (every open one when `flush`). */
  private decide(nowMs: number, flush: boolean): void {
    let next = Number.POSITIVE_INFINITY;
    for (const [src, inc] of this.open) {
      if (!flush && nowMs < inc.decideAt) {
        if (inc.decideAt < next) next = inc.decideAt;
        continue;
      }
      this.open.delete(src);
      const prior = this.priorOf(inc.src, inc.detections);
      if (combined(inc.detections, prior) < MIN_ALERT_CONFIDENCE) {
        this.belowThreshold += inc.detections.length;
        continue;
      }
      const how = inc.early ?? 'hold';
      for (const detections of this.partsOf(inc.detections)) {
        const part: Incident = { ...inc, detections };
        this.decided[how]++;
        const alert = this.alert(part, nowMs, this.priorOf(inc.src, detections), how);
        this.remember(part, alert.attack_type);
        this.opts.onAlert(alert);
      }
    }
    this.nextDecideAt = next;
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
    this.alertedTarget.clear();
    this.endedAtMs = Math.max(this.endedAtMs, nowMs);
  }

  /** Entries of the memory of alerted incidents (sources, techniques, targets). */
  get remembered(): number {
    return this.alerted.size + this.alertedSrc.size + this.alertedTarget.size;
  }

  /** Forgets alerted incidents last seen before `ms` (looked for once a minute of packet time). */
  private forgetBefore(ms: number): void {
    if (ms < this.nextForgetMs) return;
    this.nextForgetMs = ms + 60_000;
    for (const [k, v] of this.alerted) if (v.ms < ms) this.alerted.delete(k);
    for (const [k, v] of this.alertedSrc) if (v < ms) this.alertedSrc.delete(k);
    for (const [k, v] of this.alertedTarget) if (v.ms < ms) this.alertedTarget.delete(k);
  }

  /** What an alerted incident told, to fold its continuation, and the targets it covered (see the header). */
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
      this.rememberTarget(d, attackType);
    }
  }

  /** Remembers the targets of a detection in an alert (a scan names several, comma-separated). */
  private rememberTarget(d: Detection, technique: string): void {
    for (const dst of d.dst.split(',')) {
      const k = `${d.src}|${dst}`;
      const p = this.alertedTarget.get(k);
      if (p === undefined || p.ms <= d.timeMs) this.alertedTarget.set(k, { ms: d.timeMs, technique });
    }
  }

  /**
   * A weak rule hint of an action on the process (a write, a command: the tactics impair process control, inhibit
   * response function, impact) against a target an earlier alert of its source covers: the attack's next stage, as
   * sure as a rule's finding. Hints of other kinds after an alert (a scan's new services and pairs) are that attack.
   */
  private corroborated(d: Detection): boolean {
    return (
      d.detector !== 'models' &&
      actsOnProcess(d.technique) &&
      combined([d], this.priorOf(d.src, [d])) >= MIN_ALERT_CONFIDENCE
    );
  }

  /** The latest earlier alert of `src` against one of the detections' targets, within FOLLOW_UP_MS. */
  private priorOf(src: string, ds: readonly Detection[]): (Prior & { dst: string }) | undefined {
    const first = firstMs(ds);
    let best: (Prior & { dst: string }) | undefined;
    for (const d of ds) {
      for (const dst of d.dst.split(',')) {
        const p = this.alertedTarget.get(`${src}|${dst}`);
        if (p === undefined || p.ms > first || first - p.ms > FOLLOW_UP_MS) continue;
        if (best === undefined || p.ms > best.ms) best = { ...p, dst };
      }
    }
    return best;
  }

  /** What names an alert: a rule's sure detection, or a weak hint of the attack's next stage (see corroborated). */
  private names(d: Detection): boolean {
    return isSureRule(d) || this.corroborated(d);
  }

  /**
   * The detections of each alert an incident gives (see the header). The detections that can name an alert form
   * activities: two are one activity when they share a detector or a technique (a master's read and write; a sweep
   * one rule sees as a new master and another as exceptions). One part per activity, in the order they began; every
   * other detection joins the first part with a detection against one of its targets (a scan's new services go with
   * the scan), else the part of the incident's lead.
   */
  private partsOf(ds: readonly Detection[]): Detection[][] {
    let parts: { keys: Set<string>; ds: Detection[] }[] = [];
    for (const d of ds) {
      if (!this.names(d)) continue;
      const keys = [`d:${d.detector}`, `t:${d.technique}`];
      const joined = parts.filter((p) => keys.some((k) => p.keys.has(k)));
      const into = {
        keys: new Set([...keys, ...joined.flatMap((p) => [...p.keys])]),
        ds: [...joined.flatMap((p) => p.ds), d],
      };
      parts = [...parts.filter((p) => !joined.includes(p)), into];
    }
    if (parts.length <= 1) return [[...ds]];
    const ordered = parts.map((p) => p.ds).sort((a, b) => firstMs(a) - firstMs(b));
    const byTarget = new Map<string, Detection[]>();
    for (const part of ordered)
      for (const d of part)
        for (const dst of d.dst.split(',')) if (!byTarget.has(dst)) byTarget.set(dst, part);
    const leadDetection = leadOf(ds, (d) => this.names(d));
    const lead = ordered.find((part) => part.includes(leadDetection)) ?? [];
    for (const d of ds) {
      if (this.names(d)) continue;
      const part = d.dst
        .split(',')
        .map((dst) => byTarget.get(dst))
        .find((p) => p !== undefined);
      (part ?? lead).push(d);
    }
    // each part in time order (the alert lists its sources in it)
    return ordered.map((part) => part.sort((a, b) => a.timeMs - b.timeMs));
  }

  private alert(
    inc: Incident,
    nowMs: number,
    prior: (Prior & { dst: string }) | undefined,
    how: Decision,
  ): AgentAlert {
    const ds = inc.detections;
    const lead = leadOf(ds, (d) => this.names(d));
    const catalog = shippedCatalog();
    const name = (id: string): string => catalog.technique(id)?.name ?? id;
    const first = firstMs(ds);
    const last = Math.max(...ds.map((d) => d.timeMs));
    const techniques = [...new Set(ds.map((d) => d.technique))];
    const rules = [...new Set(ds.map((d) => `${d.detector}/${d.rule}`))];
    const confidence = combined(ds, prior);
    const follows =
      prior === undefined
        ? ''
        : `; follows the alert ${prior.technique} against ${prior.dst} ${((first - prior.ms) / 1000).toFixed(1)} s earlier`;
    const listed = listedOf(ds, lead);
    const sources: AlertSource[] = listed.map((d) => ({
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
    const timeline: TimelinePoint[] = this.opts.window.timeline().map((r) => ({
      time: r.time,
      packets_per_sec: r.packets_per_sec,
      unique_dest_ips: Math.round(r.unique_dest_ips),
      protocol_distribution: r.protocol_distribution,
      status: evidenceSecs.has(Math.floor(Date.parse(r.time) / 1000)) ? 'attack' : 'normal',
    }));
    const evidence: Record<string, string> = {};
    ds.slice(0, 20).forEach((d, i) => (evidence[`${i + 1}. ${d.detector}/${d.rule}`] = d.evidence));
    if (prior !== undefined) evidence['earlier stage'] = follows.slice(2);
    const dsts = [...new Set(ds.map((d) => d.dst))];
    // evidence carries packet fields: escape their control characters and keep every field within the link's limits
    return safeAlert({
      // time-ordered: the aggregator's unique index on alert ids takes them at its end (shared/src/ids.ts)
      id: timeOrderedUuid(),
      timestamp: iso(nowMs),
      facility_id: this.opts.facility,
      severity: SEVERITY[lead.technique] ?? 'low',
      title: `${name(lead.technique)} from ${inc.src}`,
      description: lead.evidence,
      status: 'new',
      sources,
      correlation_confidence: round(confidence),
      correlation_summary: `${ds.length} detection(s)${listed.length < ds.length ? ` (${listed.length} listed)` : ''} by ${rules.join(', ')} from ${inc.src} to ${dsts.slice(0, 5).join(', ')} within ${((last - first) / 1000).toFixed(1)} s; techniques ${techniques.join(', ')}${follows}; ${DECIDED[how]}`,
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
    });
  }
}

/**
 * The detections an alert lists as its sources, at most the link's MAX_SOURCES (a scan of a plant gives one per
 * target): the lead, the first of every rule, then the earliest others, in time order. The summary counts them all.
 */
function listedOf(ds: readonly Detection[], lead: Detection): readonly Detection[] {
  if (ds.length <= MAX_SOURCES) return ds;
  const keep = new Set<Detection>([lead]);
  const rules = new Set<string>();
  for (const d of ds) {
    const rule = `${d.detector}/${d.rule}`;
    if (keep.size < MAX_SOURCES && !rules.has(rule)) keep.add(d);
    rules.add(rule);
  }
  for (const d of ds) if (keep.size < MAX_SOURCES) keep.add(d);
  return ds.filter((d) => keep.has(d));
}

/** A rule's detection sure enough to alert on its own: a protocol fact, not a weak hint. */
function isSureRule(d: Detection): boolean {
  return d.detector !== 'models' && d.confidence >= MIN_ALERT_CONFIDENCE;
}

const rank = (d: Detection): number => RANK[SEVERITY[d.technique] ?? 'low'];

const PROCESS_TACTICS = new Set(['impair-process-control', 'inhibit-response-function', 'impact']);
const processTechniques = new Map<string, boolean>();

/** True when the ATT&CK for ICS technique acts on the physical process (see Correlator.corroborated). */
function actsOnProcess(technique: string): boolean {
  let v = processTechniques.get(technique);
  if (v === undefined) {
    v = (shippedCatalog().technique(technique)?.tacticShortnames ?? []).some((t) => PROCESS_TACTICS.has(t));
    processTechniques.set(technique, v);
  }
  return v;
}

/**
 * The detection whose technique the alert names: among the rules' sure detections (`sure`) the most severe (then
 * surest), a rule having seen a protocol fact; without one the surest detection (then the most severe), so a model's
 * confident class is not named after a weak hint that came with it (a scan also touches new services). A demoted
 * model finding never names it.
 */
function leadOf(all: readonly Detection[], sure: (d: Detection) => boolean): Detection {
  const told = all.filter((d) => !isEvidenceOnly(d));
  const ds = told.length > 0 ? told : all;
  const ruled = ds.filter(sure);
  if (ruled.length > 0) {
    return ruled.reduce((a, b) =>
      rank(b) > rank(a) || (rank(b) === rank(a) && b.confidence > a.confidence) ? b : a,
    );
  }
  return ds.reduce((a, b) =>
    b.confidence > a.confidence || (b.confidence === a.confidence && rank(b) > rank(a)) ? b : a,
  );
}

/**
 * Noisy-or over the rules of the detections, each rule counted once with its surest detection: several hits of one
 * rule (a new pair read, then written) are one piece of evidence, not independent ones; an earlier stage's alert
 * against the same target is one more. A demoted model finding counts for nothing.
 */
function combined(ds: readonly Detection[], prior: Prior | undefined): number {
  const best = new Map<string, number>();
  for (const d of ds) {
    if (isEvidenceOnly(d)) continue;
    const k = `${d.detector}/${d.rule}`;
    best.set(k, Math.max(best.get(k) ?? 0, d.confidence));
  }
  let p = prior === undefined ? 1 : 1 - FOLLOW_UP_CONFIDENCE;
  for (const c of best.values()) p *= 1 - c;
  return 1 - p;
}

const DECIDED: Record<Decision, string> = {
  strong: `decided at once on a detection of confidence >= ${DECIDE_AT_ONCE}`,
  agreement: 'decided at once: two pieces of evidence named the same technique',
  hold: `decided ${HOLD_MS / 1000} s after the first detection`,
};

/**
 * True when at least two independent pieces of evidence (distinct rules or models; an earlier stage's alert counts
 * as one) name `technique` with a combined (noisy-or) confidence of MIN_ALERT_CONFIDENCE.
 */
function agree(ds: readonly Detection[], technique: string, prior: Prior | undefined): boolean {
  const best = new Map<string, number>();
  for (const d of ds) {
    if (d.technique !== technique || isEvidenceOnly(d)) continue;
    const k = `${d.detector}/${d.rule}`;
    best.set(k, Math.max(best.get(k) ?? 0, d.confidence));
  }
  if (best.size + (prior === undefined ? 0 : 1) < 2) return false;
  let p = prior === undefined ? 1 : 1 - FOLLOW_UP_CONFIDENCE;
  for (const c of best.values()) p *= 1 - c;
  return 1 - p >= MIN_ALERT_CONFIDENCE;
}

function firstMs(ds: readonly Detection[]): number {
  return Math.min(...ds.map((d) => d.timeMs));
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
