// DNS over UDP and TCP (RFC 1035; TCP messages carry a two-byte length prefix): header fields, the questions
// (name, type, class) and the record counts. Names follow compression pointers only backwards and at most
// MAX_POINTER_JUMPS times, and never grow past 255 bytes, so loops and bad pointers end as malformed input, not
// hangs (a pointer must point before the labels it ends, so targets strictly decrease). A query whose id is already waiting for an answer in the same flow is flagged as a retransmission.
import {
  TEXT_HASH_SEED,
  TextCache,
  detached,
  objectArray,
  textHashStep as bytesHashStep,
  u16 as bytesU16,
  u8 as bytesU8,
} from './bytes.js';
import { Counters, type Decoder, type EventBase, type EventSink, type Segment } from './types.js';

export const DNS_PORT = 53;
export const DNS_HEADER = 12;
/** Longest name on the wire (RFC 1035 section 3.1). */
export const MAX_NAME_LENGTH = 255;
/** Compression pointers followed per name; a longer chain is a loop. */
export const MAX_POINTER_JUMPS = 64;
/** Questions listed per message. */
const MAX_QUESTIONS = 16;
/** Outstanding query ids remembered per flow for retransmission detection. */
const MAX_PENDING_PER_FLOW = 64;

export const DnsType = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  PTR: 12,
  MX: 15,
  TXT: 16,
  AAAA: 28,
  SRV: 33,
  ANY: 255,
};
export const DnsRcode = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;

export interface DnsQuestion {
  name: string;
  type: number;
  class: number;
}

/** One DNS message. Field names follow the JSONL oracle format; absent fields are undefined. */
export interface DnsEvent extends EventBase {
  protocol: 'dns';
  transport: 'udp' | 'tcp';
  id: number;
  is_response: boolean;
  opcode: number;
  rcode: number;
  authoritative: boolean;
  truncated: boolean;
  recursion_desired: boolean;
  recursion_available: boolean;
  qdcount: number;
  ancount: number;
  nscount: number;
  arcount: number;
  /** First question (as tshark's dns.qry.name / dns.qry.type / dns.qry.class). */
  qry_name?: string | undefined;
  qry_type?: number | undefined;
  qry_class?: number | undefined;
  /** Every question read (at most 16). */
  questions: DnsQuestion[];
  /** A query whose id was already outstanding in this flow. */
  retransmission?: boolean | undefined;
  malformed?: string | undefined;
}

// The per-PDU path's constants and byte readers as this module's own: an imported or exported binding (u16, u8,
// textHashStep, TEXT_HASH_SEED, DNS_HEADER, MAX_NAME_LENGTH, MAX_POINTER_JUMPS) is read through its module cell, with
// a check for the uninitialised hole (and, for an object, a map check) at every use, also inside this module; a local
// constant compiles to its value.
const u16 = bytesU16;
const u8 = bytesU8;
const textHashStep = bytesHashStep;
const HASH_SEED = TEXT_HASH_SEED;
const HEADER = DNS_HEADER;
const MAX_NAME = MAX_NAME_LENGTH;
const MAX_JUMPS = MAX_POINTER_JUMPS;

/** Query ids kept in a flow's own slots; a flow with more outstanding moves them to a list of its own. */
const INLINE_PENDING = 4;
/** counts[] value of a flow whose ids are in the overflow list. */
const OVERFLOW = 255;

/**
 * Query ids outstanding per flow id, oldest first: up to INLINE_PENDING in typed arrays (no object per flow; the
 * usual client has one or two queries in flight), more in a plain array per flow (linear scan; a client has few),
 * the oldest forgotten beyond MAX_PENDING_PER_FLOW. Grown as flow ids come; a flow's ids are dropped on release.
 */
class PendingIds {
  private counts = new Uint8Array(1024);
  private ids = new Uint16Array(1024 * INLINE_PENDING);
  private readonly overflow = new Map<number, number[]>();

  release(flow: number): void {
    if (flow >= this.counts.length) return;
    if (this.counts[flow] === OVERFLOW) this.overflow.delete(flow);
    this.counts[flow] = 0;
  }

  /** Removes id from the flow's outstanding ids; true if it was there. */
  delete(flow: number, id: number): boolean {
    if (flow >= this.counts.length) return false;
    const n = this.counts[flow] ?? 0;
    if (n === OVERFLOW) {
      const list = this.overflow.get(flow) ?? [];
      const i = list.indexOf(id);
      if (i >= 0) list.splice(i, 1);
      return i >= 0;
    }
    const ids = this.ids;
    const base = flow * INLINE_PENDING;
    for (let i = 0; i < n; i++) {
      if (ids[base + i] === id) {
        for (let j = i + 1; j < n; j++) ids[base + j - 1] = ids[base + j] ?? 0;
        this.counts[flow] = n - 1;
        return true;
      }
    }
    return false;
  }

  has(flow: number, id: number): boolean {
    if (flow >= this.counts.length) return false;
    const n = this.counts[flow] ?? 0;
    if (n === OVERFLOW) return (this.overflow.get(flow) ?? []).includes(id);
    const ids = this.ids;
    const base = flow * INLINE_PENDING;
    for (let i = 0; i < n; i++) if (ids[base + i] === id) return true;
    return false;
  }

  add(flow: number, id: number): void {
    if (flow >= this.counts.length) this.grow(flow);
    const n = this.counts[flow] ?? 0;
    const base = flow * INLINE_PENDING;
    if (n === OVERFLOW) {
      const list = this.overflow.get(flow) ?? [];
      if (list.length >= MAX_PENDING_PER_FLOW) list.shift();
      list.push(id);
    } else if (n < INLINE_PENDING) {
      this.ids[base + n] = id;
      this.counts[flow] = n + 1;
    } else {
      const list = Array.from(this.ids.subarray(base, base + n));
      list.push(id);
      this.overflow.set(flow, list);
      this.counts[flow] = OVERFLOW;
    }
  }

  private grow(flow: number): void {
    let n = this.counts.length;
    while (n <= flow) n *= 2;
    const counts = new Uint8Array(n);
    counts.set(this.counts);
    const ids = new Uint16Array(n * INLINE_PENDING);
    ids.set(this.ids);
    this.counts = counts;
    this.ids = ids;
  }
}

/** Result of reading a name: the text and the offset just after the name in place, or an error reason. */
export interface NameResult {
  name: string;
  next: number;
  error?: string;
}

/** The text of the name being read: escaped labels joined by dots (at most 4 bytes per wire byte). */
const NAME_TEXT = Buffer.alloc(MAX_NAME * 4);
const NAME_VIEW = new DataView(NAME_TEXT.buffer, NAME_TEXT.byteOffset, NAME_TEXT.byteLength);
const DOT = 0x2e;
const BACKSLASH = 0x5c;
const DIGIT_0 = 0x30;

/** Names as texts: a plant asks for the same few names again and again. */
const NAMES = new TextCache('latin1', 2048, 128);

/** Where the last scanName() ended: the offset after the name in place, and its error reason (undefined: none). */
let nameNext = 0;
let nameError: string | undefined;

function cut(textLength: number, next: number, end: number, error: string): string {
  nameNext = next < 0 ? end : next;
  nameError = error;
  return NAMES.text(NAME_TEXT, 0, textLength);
}

/**
 * Reads a (possibly compressed) domain name starting at msg[start] in the message msg[base, end). Pointers are
 * relative to base. Never loops: every pointer must point before the label it is in, and the jumps are capped.
 * Label bytes are printable ASCII as is, anything else as \ddd (as dig and tshark escape it), labels joined by dots;
 * the text is built in one scratch buffer and made a string once.
 */
export function readName(b: Buffer, base: number, start: number, end: number): NameResult {
  const name = scanName(b, base, start, end);
  return nameError === undefined ? { name, next: nameNext } : { name, next: nameNext, error: nameError };
}

/** Writes byte c as \\ddd at t[tl, tl + 4); returns the text hash h with those bytes. */
function escape(t: Buffer, tl: number, c: number, h: number): number {
  t[tl] = BACKSLASH;
  t[tl + 1] = DIGIT_0 + ((c / 100) | 0);
  t[tl + 2] = DIGIT_0 + (((c / 10) | 0) % 10);
  t[tl + 3] = DIGIT_0 + (c % 10);
  for (let i = tl; i < tl + 4; i++) h = textHashStep(h, t[i] ?? 0);
  return h;
}

/** readName without a result object: returns the name, and sets nameNext and nameError. */
function scanName(b: Buffer, base: number, start: number, end: number): string {
  const t = NAME_TEXT;
  let tl = 0;
  let labels = 0;
  let p = start;
  let next = -1;
  let jumps = 0;
  let wire = 0;
  // Every pointer must point before the run of labels it ends: targets strictly decrease, so no loop can form.
  let runStart = start;
  // The text's hash for the text cache, built as the bytes are written (TextCache.hashed).
  let h = HASH_SEED;
  for (;;) {
    if (p >= end) return cut(tl, next, end, 'name_truncated');
    const len = u8(b, p);
    if ((len & 0xc0) === 0xc0) {
      if (p + 1 >= end) return cut(tl, next, end, 'name_truncated');
      const target = base + (((len & 0x3f) << 8) | u8(b, p + 1));
      if (next < 0) next = p + 2;
      if (target >= end || target < base + HEADER) return cut(tl, next, end, 'bad_pointer');
      if (target >= runStart || ++jumps > MAX_JUMPS) return cut(tl, next, end, 'pointer_loop');
      p = runStart = target;
      continue;
    }
    if ((len & 0xc0) !== 0) return cut(tl, next, end, 'bad_label_type');
    if (len === 0) {
      if (next < 0) next = p + 1;
      nameNext = next;
      nameError = undefined;
      return labels === 0 ? '<Root>' : NAMES.hashed(t, 0, tl, h, NAME_VIEW);
    }
    wire += len + 1;
    if (wire > MAX_NAME) return cut(tl, next, end, 'name_too_long');
    if (p + 1 + len > end) return cut(tl, next, end, 'name_truncated');
    if (labels++ > 0) {
      t[tl++] = DOT;
      h = textHashStep(h, DOT);
    }
    for (let i = p + 1, stop = p + 1 + len; i < stop; i++) {
      const c = u8(b, i);
      if (c > 0x20 && c < 0x7f) {
        t[tl++] = c;
        h = textHashStep(h, c);
      } else {
        h = escape(t, tl, c, h);
        tl += 4;
      }
    }
    p += 1 + len;
  }
}

/**
 * A decoder's one reused event (see DecodedEvent: valid only during onEvent), every field present in the order a
 * message sets them, so that the JSON output (fields in the order set) is what a fresh event per message gave. A
 * first question whose name breaks off sets `malformed` before `qry_name`: that message goes on with a detached copy.
 * The questions list and its entries are reused too.
 */
class DnsMessages {
  readonly ev: DnsEvent = {
    protocol: 'dns',
    frame: 0,
    ts: -0, // a double field from the start (see PacketView.tsSec)
    flow: 0,
    transport: 'udp',
    id: 0,
    is_response: false,
    opcode: 0,
    rcode: 0,
    authoritative: false,
    truncated: false,
    recursion_desired: false,
    recursion_available: false,
    qdcount: 0,
    ancount: 0,
    nscount: 0,
    arcount: 0,
    questions: objectArray(),
    qry_name: undefined,
    qry_type: undefined,
    qry_class: undefined,
    malformed: undefined,
    retransmission: undefined,
  };
  private readonly pool = objectArray<DnsQuestion>();
  readonly pending = new PendingIds();

  question(i: number, name: string, type: number, cls: number): DnsQuestion {
    let q = this.pool[i];
    if (q === undefined) {
      q = { name, type, class: cls };
      this.pool[i] = q;
    } else {
      q.name = name;
      q.type = type;
      q.class = cls;
    }
    return q;
  }
}

/** Decodes one DNS message at buf[off, off + len) (shared by the UDP and TCP decoders). */
function decodeMessage(
  dec: Decoder,
  m: DnsMessages,
  transport: 'udp' | 'tcp',
  seg: Segment,
  off: number,
  len: number,
  emit: EventSink,
): void {
  const b = seg.buf;
  if (len < HEADER) {
    dec.counters.inc('dns.truncated_header');
    return;
  }
  const flags = u16(b, off + 2);
  let ev = m.ev;
  ev.frame = seg.pkt.frame;
  ev.ts = seg.pkt.ts;
  ev.flow = seg.flow;
  ev.transport = transport;
  ev.id = u16(b, off);
  ev.is_response = (flags & 0x8000) !== 0;
  ev.opcode = (flags >> 11) & 15;
  ev.rcode = flags & 15;
  ev.authoritative = (flags & 0x0400) !== 0;
  ev.truncated = (flags & 0x0200) !== 0;
  ev.recursion_desired = (flags & 0x0100) !== 0;
  ev.recursion_available = (flags & 0x0080) !== 0;
  ev.qdcount = u16(b, off + 4);
  ev.ancount = u16(b, off + 6);
  ev.nscount = u16(b, off + 8);
  ev.arcount = u16(b, off + 10);
  const questions = ev.questions;
  // Emptied by pops: setting the length is a runtime call, a pop of a message's one question is not.
  while (questions.length > 0) questions.pop();
  ev.qry_name = undefined;
  ev.qry_type = undefined;
  ev.qry_class = undefined;
  ev.malformed = undefined;
  ev.retransmission = undefined;
  const end = off + len;
  let p = off + HEADER;
  for (let i = 0; i < ev.qdcount; i++) {
    const name = scanName(b, off, p, end);
    if (nameError !== undefined) {
      if (i === 0 && name !== '') {
        ev = detached(ev);
        ev.malformed = nameError;
        ev.qry_name = name;
      } else ev.malformed = nameError;
      break;
    }
    const next = nameNext;
    if (next + 4 > end) {
      ev.malformed = 'question_truncated';
      break;
    }
    const type = u16(b, next);
    const cls = u16(b, next + 2);
    p = next + 4;
    if (i === 0) {
      ev.qry_name = name;
      ev.qry_type = type;
      ev.qry_class = cls;
    }
    if (questions.length < MAX_QUESTIONS) questions.push(m.question(questions.length, name, type, cls));
  }
  const flow = seg.flow;
  if (ev.is_response) {
    m.pending.delete(flow, ev.id);
  } else if (m.pending.has(flow, ev.id)) {
    ev.retransmission = true;
    dec.counters.inc('dns.retransmission');
  } else {
    m.pending.add(flow, ev.id);
  }
  if (ev.malformed !== undefined) dec.counters.inc(`dns.${ev.malformed}`);
  emit(ev);
}

export class DnsUdpDecoder implements Decoder {
  readonly protocol = 'dns' as const;
  readonly transport = 'udp' as const;
  readonly ports: readonly number[] = [DNS_PORT];
  /** The UDP and TCP decoders share one set of counters (pass the same instance to both). */
  constructor(readonly counters: Counters = new Counters()) {}

  pduLength(_buf: Buffer, _off: number, avail: number): number {
    return avail;
  }

  private readonly messages = new DnsMessages();

  decode(seg: Segment, emit: EventSink): void {
    decodeMessage(this, this.messages, 'udp', seg, seg.off, seg.len, emit);
  }

  release(flow: number): void {
    this.messages.pending.release(flow);
  }
}

export class DnsTcpDecoder implements Decoder {
  readonly protocol = 'dns' as const;
  readonly transport = 'tcp' as const;
  readonly ports: readonly number[] = [DNS_PORT];
  /** The UDP and TCP decoders share one set of counters (pass the same instance to both). */
  constructor(readonly counters: Counters = new Counters()) {}

  pduLength(buf: Buffer, off: number, avail: number): number {
    if (avail < 2) return 0;
    const n = u16(buf, off);
    if (n < HEADER) return -1;
    return 2 + n;
  }

  private readonly messages = new DnsMessages();

  decode(seg: Segment, emit: EventSink): void {
    decodeMessage(this, this.messages, 'tcp', seg, seg.off + 2, seg.len - 2, emit);
  }

  release(flow: number): void {
    this.messages.pending.release(flow);
  }
}
