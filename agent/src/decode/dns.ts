// DNS over UDP and TCP (RFC 1035; TCP messages carry a two-byte length prefix): header fields, the questions
// (name, type, class) and the record counts. Names follow compression pointers only backwards and at most
// MAX_POINTER_JUMPS times, and never grow past 255 bytes, so loops and bad pointers end as malformed input, not
// hangs (a pointer must point before the labels it ends, so targets strictly decrease). A query whose id is already waiting for an answer in the same flow is flagged as a retransmission.
import { u16, u8 } from './bytes.js';
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

/**
 * Query ids outstanding in one flow, oldest first, in a plain array with a linear scan (a client has one or a few
 * in flight; cheaper than a Set per flow). The oldest is forgotten beyond MAX_PENDING_PER_FLOW.
 */
class PendingIds {
  private readonly ids: number[] = [];

  private indexOf(id: number): number {
    const a = this.ids;
    for (let i = 0; i < a.length; i++) if (a[i] === id) return i;
    return -1;
  }

  has(id: number): boolean {
    return this.indexOf(id) >= 0;
  }

  delete(id: number): void {
    const i = this.indexOf(id);
    if (i >= 0) this.ids.splice(i, 1);
  }

  add(id: number): void {
    if (this.ids.length >= MAX_PENDING_PER_FLOW) this.ids.shift();
    this.ids.push(id);
  }
}

interface FlowState {
  pending: PendingIds;
}

/** Result of reading a name: the text and the offset just after the name in place, or an error reason. */
export interface NameResult {
  name: string;
  next: number;
  error?: string;
}

/** The text of the name being read: escaped labels joined by dots (at most 4 bytes per wire byte). */
const NAME_TEXT = Buffer.alloc(MAX_NAME_LENGTH * 4);
const DOT = 0x2e;
const BACKSLASH = 0x5c;
const DIGIT_0 = 0x30;

function cut(textLength: number, next: number, end: number, error: string): NameResult {
  return { name: NAME_TEXT.toString('latin1', 0, textLength), next: next < 0 ? end : next, error };
}

/**
 * Reads a (possibly compressed) domain name starting at msg[start] in the message msg[base, end). Pointers are
 * relative to base. Never loops: every pointer must point before the label it is in, and the jumps are capped.
 * Label bytes are printable ASCII as is, anything else as \ddd (as dig and tshark escape it), labels joined by dots;
 * the text is built in one scratch buffer and made a string once.
 */
export function readName(b: Buffer, base: number, start: number, end: number): NameResult {
  const t = NAME_TEXT;
  let tl = 0;
  let labels = 0;
  let p = start;
  let next = -1;
  let jumps = 0;
  let wire = 0;
  // Every pointer must point before the run of labels it ends: targets strictly decrease, so no loop can form.
  let runStart = start;
  for (;;) {
    if (p >= end) return cut(tl, next, end, 'name_truncated');
    const len = u8(b, p);
    if ((len & 0xc0) === 0xc0) {
      if (p + 1 >= end) return cut(tl, next, end, 'name_truncated');
      const target = base + (((len & 0x3f) << 8) | u8(b, p + 1));
      if (next < 0) next = p + 2;
      if (target >= end || target < base + DNS_HEADER) return cut(tl, next, end, 'bad_pointer');
      if (target >= runStart || ++jumps > MAX_POINTER_JUMPS) return cut(tl, next, end, 'pointer_loop');
      p = runStart = target;
      continue;
    }
    if ((len & 0xc0) !== 0) return cut(tl, next, end, 'bad_label_type');
    if (len === 0) {
      if (next < 0) next = p + 1;
      return { name: labels === 0 ? '<Root>' : t.toString('latin1', 0, tl), next };
    }
    wire += len + 1;
    if (wire > MAX_NAME_LENGTH) return cut(tl, next, end, 'name_too_long');
    if (p + 1 + len > end) return cut(tl, next, end, 'name_truncated');
    if (labels++ > 0) t[tl++] = DOT;
    for (let i = p + 1, stop = p + 1 + len; i < stop; i++) {
      const c = u8(b, i);
      if (c > 0x20 && c < 0x7f) t[tl++] = c;
      else {
        t[tl++] = BACKSLASH;
        t[tl++] = DIGIT_0 + ((c / 100) | 0);
        t[tl++] = DIGIT_0 + (((c / 10) | 0) % 10);
        t[tl++] = DIGIT_0 + (c % 10);
      }
    }
    p += 1 + len;
  }
}

/** Decodes one DNS message at buf[off, off + len) (shared by the UDP and TCP decoders). */
function decodeMessage(
  dec: Decoder,
  transport: 'udp' | 'tcp',
  seg: Segment,
  off: number,
  len: number,
  emit: EventSink,
): void {
  const b = seg.buf;
  if (len < DNS_HEADER) {
    dec.counters.inc('dns.truncated_header');
    return;
  }
  const flags = u16(b, off + 2);
  const ev: DnsEvent = {
    protocol: 'dns',
    frame: seg.pkt.frame,
    ts: seg.pkt.ts,
    flow: seg.flow,
    transport,
    id: u16(b, off),
    is_response: (flags & 0x8000) !== 0,
    opcode: (flags >> 11) & 15,
    rcode: flags & 15,
    authoritative: (flags & 0x0400) !== 0,
    truncated: (flags & 0x0200) !== 0,
    recursion_desired: (flags & 0x0100) !== 0,
    recursion_available: (flags & 0x0080) !== 0,
    qdcount: u16(b, off + 4),
    ancount: u16(b, off + 6),
    nscount: u16(b, off + 8),
    arcount: u16(b, off + 10),
    questions: [],
  };
  const end = off + len;
  let p = off + DNS_HEADER;
  for (let i = 0; i < ev.qdcount; i++) {
    const r = readName(b, off, p, end);
    if (r.error !== undefined) {
      ev.malformed = r.error;
      if (i === 0 && r.name !== '') ev.qry_name = r.name;
      break;
    }
    if (r.next + 4 > end) {
      ev.malformed = 'question_truncated';
      break;
    }
    const q: DnsQuestion = { name: r.name, type: u16(b, r.next), class: u16(b, r.next + 2) };
    p = r.next + 4;
    if (i === 0) {
      ev.qry_name = q.name;
      ev.qry_type = q.type;
      ev.qry_class = q.class;
    }
    if (ev.questions.length < MAX_QUESTIONS) ev.questions.push(q);
  }
  let state = seg.appState as FlowState | undefined;
  if (state === undefined) {
    state = { pending: new PendingIds() };
    seg.appState = state;
  }
  if (ev.is_response) {
    state.pending.delete(ev.id);
  } else if (state.pending.has(ev.id)) {
    ev.retransmission = true;
    dec.counters.inc('dns.retransmission');
  } else {
    state.pending.add(ev.id);
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

  decode(seg: Segment, emit: EventSink): void {
    decodeMessage(this, 'udp', seg, seg.off, seg.len, emit);
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
    if (n < DNS_HEADER) return -1;
    return 2 + n;
  }

  decode(seg: Segment, emit: EventSink): void {
    decodeMessage(this, 'tcp', seg, seg.off + 2, seg.len - 2, emit);
  }
}
