// Converts between the API's shapes (@vigil/shared) and link.proto messages, and validates what arrives: the
// aggregator never trusts an agent's message, the agent checks an alert before it enters the outbox.
import {
  ICS_TECHNIQUE_PATTERN,
  SEVERITIES,
  TIMELINE_STATUSES,
  isCanonicalTime,
  isUuid,
  type Alert,
  type NetworkMetrics,
  type Severity,
  type TimelineStatus,
} from '@vigil/shared';
import type { PbAgentHealth, PbAlert, PbWindowAggregate } from './link.js';

/** A message that decodes but breaks the protocol's rules; `field` names the offending field. */
export class InvalidMessageError extends Error {
  override readonly name = 'InvalidMessageError';
  constructor(
    readonly field: string,
    problem: string,
  ) {
    super(`${field}: ${problem}`);
  }
}

/** Length limits of an alert's text fields, in UTF-16 code units (JS string length); the agent cuts to them. */
export const MAX_SHORT = 512;
export const MAX_TEXT = 16 * 1024;
/** Sources one alert may list. */
export const MAX_SOURCES = 64;
const MAX_TIMELINE = 600;

/**
 * Where a value sits in a message, spelled out (`field(name)`) only when an error names it: an alert with a 60-point
 * timeline has some 400 fields, and building each one's label while it was valid cost about as much as checking it.
 * `list`/`index` name the list item being read (sources[2]), empty for the message's own fields.
 */
class Where {
  list = '';
  index = 0;
  /** The item of a list of messages this names (alerts[item]), -1 when `at` names the message itself. */
  item = -1;
  constructor(readonly at: string) {}
  field(name: string): string {
    const at = this.item < 0 ? this.at : `${this.at}[${this.item}]`;
    return this.list === '' ? `${at}.${name}` : `${at}.${this.list}[${this.index}].${name}`;
  }
}

/**
 * A text field. NUL (U+0000) is refused in every one: Postgres cannot store it in text or json (SQLite can), so both
 * stores accept exactly the alerts this lets through.
 */
function text(v: unknown, w: Where, name: string, max: number, allowEmpty = true): string {
  if (typeof v === 'string' && v.length <= max && (allowEmpty || v.length > 0) && !v.includes('\0')) return v;
  const field = w.field(name);
  if (typeof v !== 'string') throw new InvalidMessageError(field, 'must be a string');
  if (v.length === 0) throw new InvalidMessageError(field, 'must not be empty');
  if (v.length > max) throw new InvalidMessageError(field, `longer than ${max} characters`);
  throw new InvalidMessageError(field, 'contains NUL (U+0000)');
}

function time(v: unknown, w: Where, name: string): string {
  const s = text(v, w, name, 64, false);
  if (isCanonicalTime(s)) return s;
  const ms = Date.parse(s);
  if (!Number.isFinite(ms))
    throw new InvalidMessageError(w.field(name), `"${s.slice(0, 40)}" is not an ISO-8601 time`);
  return new Date(ms).toISOString();
}

function isNum(v: unknown, min: number, max: number): v is number {
  return typeof v === 'number' && Number.isFinite(v) && v >= min && v <= max;
}

function num(v: unknown, w: Where, name: string, min: number, max: number): number {
  if (isNum(v, min, max)) return v;
  throw new InvalidMessageError(w.field(name), `must be a number in [${min}, ${max}]`);
}

/** The keys of a map field (a plain object), at most 256. */
function mapKeys(v: unknown, w: Where, name: string): string[] {
  if (v === null || v === undefined) return [];
  if (typeof v !== 'object') throw new InvalidMessageError(w.field(name), 'must be a map');
  const keys = Object.keys(v);
  if (keys.length > 256) throw new InvalidMessageError(w.field(name), 'more than 256 entries');
  return keys;
}

function numberMap(v: unknown, w: Where, name: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of mapKeys(v, w, name)) {
    const x = (v as Record<string, unknown>)[k];
    if (k.length > 64 || k.includes('\0')) text(k, w, `${name} key`, 64);
    if (!isNum(x, 0, Number.MAX_VALUE)) {
      throw new InvalidMessageError(`${w.field(name)}[${k}]`, `must be a number in [0, ${Number.MAX_VALUE}]`);
    }
    out[k] = x;
  }
  return out;
}

function stringMap(v: unknown, w: Where, name: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of mapKeys(v, w, name)) {
    const x = (v as Record<string, unknown>)[k];
    if (k.length > 128 || k.includes('\0')) text(k, w, `${name} key`, 128);
    if (typeof x !== 'string' || x.length > MAX_TEXT || x.includes('\0'))
      text(x, w, `${name}[${k}]`, MAX_TEXT);
    out[k] = x as string;
  }
  return out;
}

function oneOf<T extends string>(v: unknown, allowed: readonly T[], w: Where, name: string): T {
  if (typeof v === 'string' && (allowed as readonly string[]).includes(v)) return v as T;
  throw new InvalidMessageError(w.field(name), `must be one of ${allowed.join(', ')}`);
}

/** The wire form of an alert; facility_id and status are not sent (the aggregator sets them). */
export function alertToPb(a: Alert): PbAlert {
  return {
    id: a.id,
    timestamp: a.timestamp,
    severity: a.severity,
    title: a.title,
    description: a.description,
    sources: a.sources.map((s) => ({ ...s })),
    correlation_confidence: a.correlation_confidence,
    correlation_summary: a.correlation_summary,
    attack_type: a.attack_type,
    attack_name: a.attack_name,
    context_analysis: {
      duration: a.context_analysis.duration,
      pattern: a.context_analysis.pattern,
      behavior: a.context_analysis.behavior,
      timeline: a.context_analysis.timeline.map((t) => ({ ...t })),
      evidence: { ...a.context_analysis.evidence },
    },
  };
}

/**
 * Validates a received alert and gives it the facility the caller's certificate names (never one from the message).
 * Throws InvalidMessageError naming the first bad field.
 */
export function alertFromPb(p: PbAlert, facilityId: string, at = 'alert'): Alert {
  const w = new Where(at);
  const id = text(p.id, w, 'id', 64, false);
  if (!isUuid(id)) throw new InvalidMessageError(w.field('id'), 'must be a UUID');
  const attackType = text(p.attack_type, w, 'attack_type', 16);
  if (attackType !== '' && !ICS_TECHNIQUE_PATTERN.test(attackType)) {
    throw new InvalidMessageError(w.field('attack_type'), 'must be an ATT&CK for ICS id like T0846');
  }
  if (!Array.isArray(p.sources) || p.sources.length > MAX_SOURCES) {
    throw new InvalidMessageError(w.field('sources'), `must be a list of at most ${MAX_SOURCES}`);
  }
  const ctx = p.context_analysis;
  if (ctx !== null && (!Array.isArray(ctx.timeline) || ctx.timeline.length > MAX_TIMELINE)) {
    throw new InvalidMessageError(
      w.field('context_analysis.timeline'),
      `must be a list of at most ${MAX_TIMELINE}`,
    );
  }
  const timestamp = time(p.timestamp, w, 'timestamp');
  const severity = oneOf<Severity>(p.severity, SEVERITIES, w, 'severity');
  const title = text(p.title, w, 'title', MAX_SHORT, false);
  const description = text(p.description, w, 'description', MAX_TEXT);
  w.list = 'sources';
  const sources = p.sources.map((s, i): Alert['sources'][number] => {
    w.index = i;
    const layer = num(s.layer, w, 'layer', 1, 3);
    if (layer !== 1 && layer !== 2 && layer !== 3)
      throw new InvalidMessageError(w.field('layer'), 'must be 1, 2 or 3');
    return {
      layer,
      model_name: text(s.model_name, w, 'model_name', MAX_SHORT, false),
      confidence: num(s.confidence, w, 'confidence', 0, 1),
      detection_time: time(s.detection_time, w, 'detection_time'),
      evidence: text(s.evidence, w, 'evidence', MAX_TEXT),
      context_evidence: text(s.context_evidence, w, 'context_evidence', MAX_TEXT),
    };
  });
  w.list = '';
  const correlationConfidence = num(p.correlation_confidence, w, 'correlation_confidence', 0, 1);
  const correlationSummary = text(p.correlation_summary, w, 'correlation_summary', MAX_TEXT);
  const attackName = text(p.attack_name, w, 'attack_name', MAX_SHORT);
  const duration = text(ctx?.duration ?? '', w, 'context_analysis.duration', MAX_SHORT);
  const pattern = text(ctx?.pattern ?? '', w, 'context_analysis.pattern', MAX_SHORT);
  const behavior = text(ctx?.behavior ?? '', w, 'context_analysis.behavior', MAX_TEXT);
  w.list = 'context_analysis.timeline';
  const timeline = (ctx?.timeline ?? []).map((t, i) => {
    w.index = i;
    return {
      time: time(t.time, w, 'time'),
      packets_per_sec: num(t.packets_per_sec, w, 'packets_per_sec', 0, Number.MAX_VALUE),
      unique_dest_ips: num(t.unique_dest_ips, w, 'unique_dest_ips', 0, Number.MAX_VALUE),
      protocol_distribution: numberMap(t.protocol_distribution, w, 'protocol_distribution'),
      status: oneOf<TimelineStatus>(t.status, TIMELINE_STATUSES, w, 'status'),
    };
  });
  w.list = '';
  const evidence = stringMap(ctx?.evidence, w, 'context_analysis.evidence');
  return {
    id: id.toLowerCase(),
    timestamp,
    facility_id: facilityId,
    severity,
    title,
    description,
    status: 'new',
    sources,
    correlation_confidence: correlationConfidence,
    correlation_summary: correlationSummary,
    attack_type: attackType,
    attack_name: attackName,
    context_analysis: { duration, pattern, behavior, timeline, evidence },
  };
}

// ---- the aggregator's decoder of alert batches ----
//
// alertsFromBatch reads an AlertBatch's bytes straight into validated alerts: the objects it returns are the ones it
// decoded into, checked where they lie, with no protobufjs message objects in between and no copy of them. It
// accepts exactly what protobufjs's decode followed by alertFromPb accepts, gives the same alerts (key order
// included) and refuses a bad alert naming the same field with the same words (codec.test.ts compares the two).
// Wire rules: unknown fields are skipped, a known field sent with another wire type too (the proto spec's rule for
// it); a repeated singular field keeps its last value, also for context_analysis (as protobufjs does); a uint32 is
// a varint's low 32 bits; strings are UTF-8 with invalid bytes read as U+FFFD, as Buffer#toString reads them.

/** Bytes that are not a protobuf encoding (a length past the end, a broken varint, a group). */
class Malformed extends Error {}

/** The batch being decoded and the read position: module state, since a batch is decoded in one synchronous call. */
const NOTHING: Buffer = Buffer.alloc(0);
let wire = NOTHING;
let pos = 0;

function malformed(why: string): never {
  throw new Malformed(why);
}

/** A varint's low 32 bits, unsigned (protobufjs's uint32: the high bits of a longer varint are dropped). */
function uint32(end: number): number {
  let value = 0;
  for (let shift = 0; shift < 70; shift += 7) {
    if (pos >= end) malformed('a varint runs past the end of its message');
    const b = wire[pos++] as number;
    if (shift < 32) value |= (b & 0x7f) << shift;
    if (b < 0x80) return value >>> 0;
  }
  return malformed('a varint longer than 10 bytes');
}

/** The end of a length-delimited field that starts at pos (after its length). */
function fieldEnd(end: number): number {
  const len = uint32(end);
  const to = pos + len;
  if (to > end) malformed('a length runs past the end of its message');
  return to;
}

/** Buffer's own UTF-8 slice: what toString('utf8', start, end) calls after checking its arguments. */
interface SlicingBuffer extends Buffer {
  utf8Slice(start: number, end: number): string;
}

/** A string field read as it is: for texts that differ in every alert (ids, times, titles). */
function string(end: number): string {
  const to = fieldEnd(end);
  const s = to === pos ? '' : (wire as SlicingBuffer).utf8Slice(pos, to);
  pos = to;
  return s;
}

/**
 * Short ASCII texts read before, by a hash of their bytes: the names, severities, statuses, rule descriptions and map
 * keys that repeat from alert to alert are then one string each, which saves reading them again and, since a batch's
 * alerts live until its transaction commits, the collector's copying of thousands of equal strings. A slot holds
 * the last text that hashed to it, compared byte for byte before it is used.
 */
const SEEN_SLOTS = 4096;
const SEEN_MAX_BYTES = 96;
const seen: string[] = new Array<string>(SEEN_SLOTS).fill('');

/** A string field that is likely to repeat across alerts (see `seen`). */
function word(end: number): string {
  const to = fieldEnd(end);
  const from = pos;
  const len = to - from;
  pos = to;
  if (len === 0) return '';
  if (len > SEEN_MAX_BYTES) return (wire as SlicingBuffer).utf8Slice(from, to);
  // the hash reads the first and last 8 bytes; the comparison reads them all (a slot only ever holds a text whose
  // UTF-16 length is its UTF-8 length, and equal char codes then mean equal ASCII bytes)
  let h = 0x811c9dc5 ^ len;
  const head = Math.min(to, from + 8);
  for (let i = from; i < head; i++) h = Math.imul(h ^ (wire[i] as number), 0x01000193);
  for (let i = Math.max(head, to - 8); i < to; i++) h = Math.imul(h ^ (wire[i] as number), 0x01000193);
  const slot = (h ^ (h >>> 16)) & (SEEN_SLOTS - 1);
  const known = seen[slot] as string;
  if (known.length === len) {
    let i = 0;
    while (i < len && known.charCodeAt(i) === wire[from + i]) i++;
    if (i === len) return known;
  }
  const s = (wire as SlicingBuffer).utf8Slice(from, to);
  if (s.length === len) seen[slot] = s;
  return s;
}

function double(end: number): number {
  if (pos + 8 > end) malformed('a double runs past the end of its message');
  const v = wire.readDoubleLE(pos);
  pos += 8;
  return v;
}

/** Skips a field of wire type `type` (an unknown field, or a known one sent with another type). */
function skip(type: number, end: number): void {
  if (type === 0) uint32(end);
  else if (type === 1) pos += 8;
  else if (type === 2) pos = fieldEnd(end);
  else if (type === 5) pos += 4;
  else malformed(`wire type ${type}`);
  if (pos > end) malformed('a field runs past the end of its message');
}

/** A tag's field number, after checking it (0 is not a field). */
function fieldOf(tag: number): number {
  const field = tag >>> 3;
  if (field === 0) malformed('field number 0');
  return field;
}

function decodeSource(end: number): Alert['sources'][number] {
  const s = {
    layer: 0 as 1 | 2 | 3,
    model_name: '',
    confidence: 0,
    detection_time: '',
    evidence: '',
    context_evidence: '',
  };
  while (pos < end) {
    const tag = uint32(end);
    const type = tag & 7;
    switch (fieldOf(tag)) {
      case 1:
        if (type === 0) s.layer = uint32(end) as 1 | 2 | 3;
        else skip(type, end);
        break;
      case 2:
        if (type === 2) s.model_name = word(end);
        else skip(type, end);
        break;
      case 3:
        if (type === 1) s.confidence = double(end);
        else skip(type, end);
        break;
      case 4:
        if (type === 2) s.detection_time = string(end);
        else skip(type, end);
        break;
      case 5:
        if (type === 2) s.evidence = word(end);
        else skip(type, end);
        break;
      case 6:
        if (type === 2) s.context_evidence = word(end);
        else skip(type, end);
        break;
      default:
        skip(type, end);
    }
  }
  return s;
}

/** One map entry into `into` (key 1 a string; value 2 a string or a double), as protobufjs sets it: into[key] = v. */
function decodeEntry<V extends string | number>(into: Record<string, V>, empty: V, end: number): void {
  let key = '';
  let value = empty;
  while (pos < end) {
    const tag = uint32(end);
    const type = tag & 7;
    const field = fieldOf(tag);
    if (field === 1 && type === 2) key = word(end);
    else if (field === 2 && typeof empty === 'string' && type === 2) value = word(end) as V;
    else if (field === 2 && typeof empty === 'number' && type === 1) value = double(end) as V;
    else skip(type, end);
  }
  into[key] = value;
}

type DecodedPoint = Alert['context_analysis']['timeline'][number];

function decodePoint(end: number): DecodedPoint {
  const p: DecodedPoint = {
    time: '',
    packets_per_sec: 0,
    unique_dest_ips: 0,
    protocol_distribution: {},
    status: '' as TimelineStatus,
  };
  while (pos < end) {
    const tag = uint32(end);
    const type = tag & 7;
    switch (fieldOf(tag)) {
      case 1:
        if (type === 2) p.time = string(end);
        else skip(type, end);
        break;
      case 2:
        if (type === 1) p.packets_per_sec = double(end);
        else skip(type, end);
        break;
      case 3:
        if (type === 1) p.unique_dest_ips = double(end);
        else skip(type, end);
        break;
      case 4:
        if (type === 2) decodeEntry<number>(p.protocol_distribution, 0, fieldEnd(end));
        else skip(type, end);
        break;
      case 5:
        if (type === 2) p.status = word(end) as TimelineStatus;
        else skip(type, end);
        break;
      default:
        skip(type, end);
    }
  }
  return p;
}

function decodeContext(end: number): Alert['context_analysis'] {
  const c: Alert['context_analysis'] = {
    duration: '',
    pattern: '',
    behavior: '',
    timeline: [],
    evidence: {},
  };
  while (pos < end) {
    const tag = uint32(end);
    const type = tag & 7;
    switch (fieldOf(tag)) {
      case 1:
        if (type === 2) c.duration = word(end);
        else skip(type, end);
        break;
      case 2:
        if (type === 2) c.pattern = word(end);
        else skip(type, end);
        break;
      case 3:
        if (type === 2) c.behavior = word(end);
        else skip(type, end);
        break;
      case 4:
        if (type === 2) c.timeline.push(decodePoint(fieldEnd(end)));
        else skip(type, end);
        break;
      case 5:
        if (type === 2) decodeEntry<string>(c.evidence, '', fieldEnd(end));
        else skip(type, end);
        break;
      default:
        skip(type, end);
    }
  }
  return c;
}

/**
 * Decodes one Alert message into the stored alert's shape (values as sent; checkAlert then validates them), with
 * `generated` as its last field when it is given.
 */
function decodeAlert(end: number, facilityId: string, generated: boolean | undefined): Alert {
  // fields into locals, the alert made once at the end: no default context made and then replaced
  let id = '';
  let timestamp = '';
  let severity = '';
  let title = '';
  let description = '';
  const sources: Alert['sources'] = [];
  let correlationConfidence = 0;
  let correlationSummary = '';
  let attackType = '';
  let attackName = '';
  let context: Alert['context_analysis'] | null = null;
  while (pos < end) {
    const tag = uint32(end);
    const type = tag & 7;
    switch (fieldOf(tag)) {
      case 1:
        if (type === 2) id = string(end);
        else skip(type, end);
        break;
      case 2:
        if (type === 2) timestamp = string(end);
        else skip(type, end);
        break;
      case 3:
        if (type === 2) severity = word(end);
        else skip(type, end);
        break;
      case 4:
        if (type === 2) title = string(end);
        else skip(type, end);
        break;
      case 5:
        if (type === 2) description = word(end);
        else skip(type, end);
        break;
      case 6:
        if (type === 2) sources.push(decodeSource(fieldEnd(end)));
        else skip(type, end);
        break;
      case 7:
        if (type === 1) correlationConfidence = double(end);
        else skip(type, end);
        break;
      case 8:
        if (type === 2) correlationSummary = word(end);
        else skip(type, end);
        break;
      case 9:
        if (type === 2) attackType = word(end);
        else skip(type, end);
        break;
      case 10:
        if (type === 2) attackName = word(end);
        else skip(type, end);
        break;
      case 11:
        if (type === 2) context = decodeContext(fieldEnd(end));
        else skip(type, end);
        break;
      default:
        skip(type, end);
    }
  }
  const contextAnalysis = context ?? { duration: '', pattern: '', behavior: '', timeline: [], evidence: {} };
  // two literals, so each caller's alerts have one shape from the start (a field added later changes it per alert)
  if (generated === undefined) {
    return {
      id,
      timestamp,
      facility_id: facilityId,
      severity: severity as Severity,
      title,
      description,
      status: 'new',
      sources,
      correlation_confidence: correlationConfidence,
      correlation_summary: correlationSummary,
      attack_type: attackType,
      attack_name: attackName,
      context_analysis: contextAnalysis,
    };
  }
  const stored: AlertWithOrigin = {
    id,
    timestamp,
    facility_id: facilityId,
    severity: severity as Severity,
    title,
    description,
    status: 'new',
    sources,
    correlation_confidence: correlationConfidence,
    correlation_summary: correlationSummary,
    attack_type: attackType,
    attack_name: attackName,
    context_analysis: contextAnalysis,
    generated,
  };
  return stored;
}

/** A decoded map's entries checked as numberMap/stringMap check them (the map itself is kept: no copy). */
function checkNumberMap(m: Record<string, number>, w: Where, name: string): void {
  for (const k of mapKeys(m, w, name)) {
    const x = m[k];
    if (k.length > 64 || k.includes('\0')) text(k, w, `${name} key`, 64);
    if (!isNum(x, 0, Number.MAX_VALUE)) {
      throw new InvalidMessageError(`${w.field(name)}[${k}]`, `must be a number in [0, ${Number.MAX_VALUE}]`);
    }
  }
}

function checkStringMap(m: Record<string, string>, w: Where, name: string): void {
  for (const k of mapKeys(m, w, name)) {
    const x = m[k];
    if (k.length > 128 || k.includes('\0')) text(k, w, `${name} key`, 128);
    if (typeof x !== 'string' || x.length > MAX_TEXT || x.includes('\0'))
      text(x, w, `${name}[${k}]`, MAX_TEXT);
  }
}

/** alertFromPb's checks, in its order, on a decoded alert; times are made canonical and the id lower-cased in place. */
function checkAlert(a: Alert, w: Where): void {
  const id = text(a.id, w, 'id', 64, false);
  if (!isUuid(id)) throw new InvalidMessageError(w.field('id'), 'must be a UUID');
  const attackType = text(a.attack_type, w, 'attack_type', 16);
  if (attackType !== '' && !ICS_TECHNIQUE_PATTERN.test(attackType)) {
    throw new InvalidMessageError(w.field('attack_type'), 'must be an ATT&CK for ICS id like T0846');
  }
  if (a.sources.length > MAX_SOURCES) {
    throw new InvalidMessageError(w.field('sources'), `must be a list of at most ${MAX_SOURCES}`);
  }
  const ctx = a.context_analysis;
  if (ctx.timeline.length > MAX_TIMELINE) {
    throw new InvalidMessageError(
      w.field('context_analysis.timeline'),
      `must be a list of at most ${MAX_TIMELINE}`,
    );
  }
  a.timestamp = time(a.timestamp, w, 'timestamp');
  oneOf<Severity>(a.severity, SEVERITIES, w, 'severity');
  text(a.title, w, 'title', MAX_SHORT, false);
  text(a.description, w, 'description', MAX_TEXT);
  w.list = 'sources';
  for (let i = 0; i < a.sources.length; i++) {
    const s = a.sources[i] as Alert['sources'][number];
    w.index = i;
    const layer = num(s.layer, w, 'layer', 1, 3);
    if (layer !== 1 && layer !== 2 && layer !== 3)
      throw new InvalidMessageError(w.field('layer'), 'must be 1, 2 or 3');
    text(s.model_name, w, 'model_name', MAX_SHORT, false);
    num(s.confidence, w, 'confidence', 0, 1);
    s.detection_time = time(s.detection_time, w, 'detection_time');
    text(s.evidence, w, 'evidence', MAX_TEXT);
    text(s.context_evidence, w, 'context_evidence', MAX_TEXT);
  }
  w.list = '';
  num(a.correlation_confidence, w, 'correlation_confidence', 0, 1);
  text(a.correlation_summary, w, 'correlation_summary', MAX_TEXT);
  text(a.attack_name, w, 'attack_name', MAX_SHORT);
  text(ctx.duration, w, 'context_analysis.duration', MAX_SHORT);
  text(ctx.pattern, w, 'context_analysis.pattern', MAX_SHORT);
  text(ctx.behavior, w, 'context_analysis.behavior', MAX_TEXT);
  w.list = 'context_analysis.timeline';
  for (let i = 0; i < ctx.timeline.length; i++) {
    const t = ctx.timeline[i] as DecodedPoint;
    w.index = i;
    t.time = time(t.time, w, 'time');
    num(t.packets_per_sec, w, 'packets_per_sec', 0, Number.MAX_VALUE);
    num(t.unique_dest_ips, w, 'unique_dest_ips', 0, Number.MAX_VALUE);
    checkNumberMap(t.protocol_distribution, w, 'protocol_distribution');
    oneOf<TimelineStatus>(t.status, TIMELINE_STATUSES, w, 'status');
  }
  w.list = '';
  checkStringMap(ctx.evidence, w, 'context_analysis.evidence');
  a.id = id.toLowerCase();
}

/** An alert with the aggregator's mark of its origin (`generated`: false for an agent's, true for `vigil seed`'s). */
export type AlertWithOrigin = Alert & { generated: boolean };

/**
 * The alerts of an AlertBatch's bytes (the `alerts` field of an AgentMessage), validated as alertFromPb validates
 * each, with the facility the caller's certificate names. Throws InvalidMessageError naming the first bad field of
 * the first bad alert (`<at>[i].field`), or the alert whose bytes are not a protobuf encoding. With `generated`, each
 * alert also has that field, after the others (the aggregator's stored alert), made with it rather than added later.
 */
export function alertsFromBatch(batch: Buffer, facilityId: string, at?: string): Alert[];
export function alertsFromBatch(
  batch: Buffer,
  facilityId: string,
  at: string,
  generated: boolean,
): AlertWithOrigin[];
export function alertsFromBatch(
  batch: Buffer,
  facilityId: string,
  at = 'alerts',
  generated?: boolean,
): Alert[] {
  wire = batch;
  pos = 0;
  const end = batch.length;
  const alerts: Alert[] = [];
  const w = new Where(at);
  try {
    while (pos < end) {
      w.item = alerts.length;
      const tag = uint32(end);
      const type = tag & 7;
      if (fieldOf(tag) === 1 && type === 2) {
        const a = decodeAlert(fieldEnd(end), facilityId, generated);
        checkAlert(a, w);
        alerts.push(a);
      } else skip(type, end);
    }
  } catch (err) {
    if (!(err instanceof Malformed)) throw err;
    throw new InvalidMessageError(`${at}[${alerts.length}]`, `not a protobuf Alert (${err.message})`);
  } finally {
    wire = NOTHING;
  }
  return alerts;
}

export function aggregateToPb(m: NetworkMetrics): PbWindowAggregate {
  return { ...m, protocol_distribution: { ...m.protocol_distribution } };
}

/** Validates a received per-second aggregate. */
export function aggregateFromPb(p: PbWindowAggregate, at = 'aggregate'): NetworkMetrics {
  const w = new Where(at);
  const n = (v: unknown, f: string): number => num(v, w, f, 0, Number.MAX_VALUE);
  return {
    time: time(p.time, w, 'time'),
    packets_per_sec: n(p.packets_per_sec, 'packets_per_sec'),
    bytes_per_sec: n(p.bytes_per_sec, 'bytes_per_sec'),
    unique_src_ips: n(p.unique_src_ips, 'unique_src_ips'),
    unique_dest_ips: n(p.unique_dest_ips, 'unique_dest_ips'),
    protocol_distribution: numberMap(p.protocol_distribution, w, 'protocol_distribution'),
    failed_connections: n(p.failed_connections, 'failed_connections'),
    avg_packet_size: n(p.avg_packet_size, 'avg_packet_size'),
    inter_arrival_time: n(p.inter_arrival_time, 'inter_arrival_time'),
  };
}

/** Validates a health report; the result is what the store keeps per agent (and the API shows). */
export function healthFromPb(p: PbAgentHealth | null): Record<string, unknown> {
  if (p === null) throw new InvalidMessageError('heartbeat.health', 'missing');
  const w = new Where('heartbeat.health');
  const n = (v: unknown, f: string): number => num(v, w, f, 0, Number.MAX_SAFE_INTEGER);
  return {
    agent_version: text(p.agent_version, w, 'agent_version', 64),
    uptime_seconds: n(p.uptime_seconds, 'uptime_seconds'),
    capture_drops: n(p.capture_drops, 'capture_drops'),
    malformed_packets: n(p.malformed_packets, 'malformed_packets'),
    outbox_depth: n(p.outbox_depth, 'outbox_depth'),
    outbox_bytes: n(p.outbox_bytes, 'outbox_bytes'),
    outbox_capacity_bytes: n(p.outbox_capacity_bytes, 'outbox_capacity_bytes'),
    alerts_refused_outbox_full: n(p.alerts_refused_outbox_full, 'alerts_refused_outbox_full'),
    // absent in the health of agents before session 6
    alerts_set_aside_invalid: n(p.alerts_set_aside_invalid ?? 0, 'alerts_set_aside_invalid'),
    aggregates_dropped: n(p.aggregates_dropped, 'aggregates_dropped'),
    inventory_dropped: n(p.inventory_dropped, 'inventory_dropped'),
    model_versions: stringMap(p.model_versions, w, 'model_versions'),
    models_serving: stringMap(p.models_serving, w, 'models_serving'),
    model_error: text(p.model_error ?? '', w, 'model_error', MAX_TEXT),
    fl_status: text(p.fl_status ?? '', w, 'fl_status', MAX_TEXT),
    baseline_status: text(p.baseline_status ?? '', w, 'baseline_status', MAX_TEXT),
    suppressed: numberMap(p.suppressed, w, 'suppressed'),
  };
}
