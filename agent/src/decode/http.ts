// HTTP/1.x over TCP: request and status lines (method, URI, version, status), the headers the features and the
// inventory use (host, user-agent, content-length, transfer-encoding), and the body size.
// Framing: a message is its header block plus a Content-Length body; a chunked body is framed chunk by chunk (each
// chunk is its own PDU) and the message is emitted with its last chunk, as tshark shows it. The header block is
// bounded (MAX_HEADER_BYTES, MAX_HEADERS): endless headers are broken framing, counted, never buffered without end.
// Known limits: a body larger than the reassembly buffer cap, and a close-delimited body (no length, not chunked),
// are not followed: their bytes are counted as dropped until the next segment that starts a message.
import { TextCache, detached, objectArray, u8 as bytesU8 } from './bytes.js';
import { Counters, type Decoder, type EventBase, type EventSink, type Segment } from './types.js';

/** The TCP ports tshark dissects as HTTP by default. */
export const HTTP_PORTS: readonly number[] = [80, 3128, 3132, 5985, 8080, 8088, 11371];
/** Longest header block (start line + headers + blank line) accepted, as Node's default limit. */
export const MAX_HEADER_BYTES = 16_384;
export const MAX_HEADERS = 100;
/** Longest chunk-size line (size, extensions, CRLF). */
// The per-PDU path's constants and byte readers as this module's own: an imported or exported binding (u8,
// MAX_HEADER_BYTES, MAX_HEADERS) is read through its module cell, with a check for the uninitialised hole (and, for
// an object, a map check) at every use, also inside this module; a local constant compiles to its value.
const u8 = bytesU8;
const HEAD_LIMIT = MAX_HEADER_BYTES;
const HEADERS_LIMIT = MAX_HEADERS;

const MAX_CHUNK_LINE = 1024;
/** Requests remembered per flow to match responses (pipelining). */
const MAX_PENDING_PER_FLOW = 32;
/** Flow states kept for reuse. */
const MAX_POOLED_STATES = 1024;

const CR = 13;
const LF = 10;

/** One HTTP/1.x message. Field names follow the JSONL oracle format; absent fields are undefined. */
export interface HttpEvent extends EventBase {
  protocol: 'http';
  is_response: boolean;
  method?: string | undefined;
  uri?: string | undefined;
  /** "HTTP/1.1", "HTTP/1.0". */
  version: string;
  status?: number | undefined;
  reason?: string | undefined;
  host?: string | undefined;
  user_agent?: string | undefined;
  content_length?: number | undefined;
  content_type?: string | undefined;
  chunked?: boolean | undefined;
  header_count: number;
  /** Bytes of the start line and headers including the blank line. */
  header_length: number;
  /** Body bytes (chunk data for a chunked body). */
  body_size: number;
  /** Responses: the method and URI of the request they answer (when seen). */
  request_method?: string | undefined;
  request_uri?: string | undefined;
  malformed?: string | undefined;
}

/**
 * A flow's HTTP state, held only while it holds something (a request waiting, a chunked message open); taken from
 * and given back to the decoder's pool, so an exchange allocates nothing.
 */
interface FlowState {
  /** The requests waiting for their responses, oldest first: methods and URIs, index by index. */
  methods: string[];
  uris: string[];
  /** A chunked message per direction (0: to server, 1: to client) waiting for its last chunk. */
  chunked: [HttpEvent | undefined, HttpEvent | undefined];
}

/** Offset just after the first CRLF CRLF in buf[from, to), or -1 (a byte scan bounded by `to`). */
function headerEnd(b: Buffer, from: number, to: number): number {
  for (let i = from; i + 4 <= to; i++) {
    if (b[i] === CR && b[i + 1] === LF && b[i + 2] === CR && b[i + 3] === LF) return i + 4;
  }
  return -1;
}

/** "HTTP/" at b[off]? */
function startsHttp(b: Buffer, off: number): boolean {
  return (
    b[off] === 0x48 &&
    b[off + 1] === 0x54 &&
    b[off + 2] === 0x54 &&
    b[off + 3] === 0x50 &&
    b[off + 4] === 0x2f
  );
}

/** Line ends recorded by scanHead: the CRLFs of the header block, the last one the terminator's. */
const LINE_CAP = HEADERS_LIMIT + 2;
const LINE_ENDS = new Int32Array(LINE_CAP);
/** Lines of the block scanHead found last (all of them, even past LINE_CAP). */
let scanLines = 0;
/** Counts scanHead calls: a decoder's remembered scan is still the one LINE_ENDS describes if this has not moved. */
let scanSeq = 0;

/**
 * headerEnd, recording on the way where each line of the block ends (every CRLF before the blank line, then the
 * blank line's own): one pass gives framing and the message's lines.
 */
function scanHead(b: Buffer, from: number, to: number): number {
  scanSeq++;
  let lines = 0;
  for (let i = from; i + 3 < to;) {
    // Two bytes a step: a CRLF starting at i or at i + 1 has its CR or LF at i + 1 (the first of the two wins).
    const c = b[i + 1];
    let j: number;
    if (c === LF && b[i] === CR) j = i;
    else if (c === CR && b[i + 2] === LF && i + 4 < to) j = i + 1;
    else {
      i += 2;
      continue;
    }
    if (lines < LINE_CAP) LINE_ENDS[lines] = j;
    lines++;
    if (b[j + 2] === CR && b[j + 3] === LF) {
      scanLines = lines;
      return j + 4;
    }
    i = j + 2;
  }
  return -1;
}

/** Whitespace that String.prototype.trim removes, among latin1 characters. */
function isSpace(c: number): boolean {
  return (c >= 0x09 && c <= 0x0d) || c === 0x20 || c === 0xa0;
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/** Lower-cases an ASCII letter (other bytes unchanged). */
function lower(c: number): number {
  return c >= 0x41 && c <= 0x5a ? c + 32 : c;
}

/** Does b[from, to) equal `name` (lower-case ASCII), ignoring ASCII case? */
function sameName(b: Buffer, from: number, to: number, name: string): boolean {
  if (to - from !== name.length) return false;
  for (let i = 0; i < name.length; i++) if (lower(u8(b, from + i)) !== name.charCodeAt(i)) return false;
  return true;
}

/** Does b[from, to) end with `word` (lower-case ASCII), ignoring ASCII case? */
function endsWithWord(b: Buffer, from: number, to: number, word: string): boolean {
  const start = to - word.length;
  if (start < from) return false;
  return sameName(b, start, to, word);
}

/** [start, end) of b[from, to) without the whitespace trim() removes, in trimStart / trimEnd. */
let trimStart = 0;
let trimEnd = 0;
function trim(b: Buffer, from: number, to: number): void {
  while (from < to && isSpace(u8(b, from))) from++;
  while (to > from && isSpace(u8(b, to - 1))) to--;
  trimStart = from;
  trimEnd = to;
}

/** /^\d{1,15}$/ over b[from, to): its number, or -1. */
function digits(b: Buffer, from: number, to: number): number {
  const n = to - from;
  if (n < 1 || n > 15) return -1;
  let v = 0;
  for (let i = from; i < to; i++) {
    const c = u8(b, i);
    if (!isDigit(c)) return -1;
    v = v * 10 + (c - 0x30);
  }
  return v;
}

/** Header values and start-line parts as texts: a plant's hosts, agents, methods and URIs recur. */
const TEXTS = new TextCache('latin1', 2048, 96);

function isTokenChar(c: number): boolean {
  // RFC 9110 tchar, enough to tell a method from binary junk.
  return (
    (c >= 0x41 && c <= 0x5a) ||
    (c >= 0x61 && c <= 0x7a) ||
    (c >= 0x30 && c <= 0x39) ||
    c === 0x2d ||
    c === 0x5f ||
    c === 0x2e ||
    c === 0x21 ||
    c === 0x2b
  );
}

/** Does buf[off, off + avail) start like an HTTP message (a method token and a space, or "HTTP/")? */
function looksLikeStart(b: Buffer, off: number, avail: number): boolean | undefined {
  const n = Math.min(avail, 24);
  for (let i = 0; i < n; i++) {
    const c = u8(b, off + i);
    if (c === 0x20) return i > 0;
    if (c === 0x2f) return i === 4 && startsHttp(b, off);
    if (!isTokenChar(c)) return false;
  }
  return avail >= 24 ? false : undefined;
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

/**
 * A chunk at buf[off]: [PDU length, data size], [0, 0] when more bytes are needed, or undefined when the bytes
 * are not a chunk. The last chunk (size 0) includes its trailers up to the blank line.
 */
function chunkLength(b: Buffer, off: number, avail: number): [number, number] | undefined {
  let size = 0;
  let i = 0;
  const limit = Math.min(avail, MAX_CHUNK_LINE);
  for (; i < limit; i++) {
    const h = hexValue(u8(b, off + i));
    if (h < 0) break;
    if (i >= 8) return undefined;
    size = size * 16 + h;
  }
  if (i === 0) return undefined;
  // Chunk extensions or whitespace may follow the size, then CRLF.
  const c = u8(b, off + i);
  if (i < limit && c !== CR && c !== 0x3b && c !== 0x20 && c !== 0x09) return undefined;
  let j = i;
  while (j < limit && u8(b, off + j) !== LF) j++;
  if (j >= limit) return avail >= MAX_CHUNK_LINE ? undefined : [0, 0];
  if (u8(b, off + j - 1) !== CR) return undefined;
  const line = j + 1;
  if (size > 0) return [line + size + 2, size];
  // Last chunk: either CRLF right away, or trailer fields ending with a blank line.
  if (avail < line + 2) return [0, 0];
  if (u8(b, off + line) === CR && u8(b, off + line + 1) === LF) return [line + 2, 0];
  const end = headerEnd(b, off + line, off + Math.min(avail, line + HEAD_LIMIT));
  if (end < 0) return avail >= line + HEAD_LIMIT ? undefined : [0, 0];
  return [end - off, 0];
}

interface Head {
  length: number;
  contentLength: number | undefined;
  chunked: boolean;
  status: number;
}

/** Framing's reading of a complete header block (reused). */
const HEAD: Head = { length: 0, contentLength: undefined, chunked: false, status: 0 };

/**
 * Reads what framing needs from a complete header block b[off, end): the status of a response (the three
 * characters after "HTTP/x.y " as a number) and every header line that starts right after a CRLF with the name
 * Content-Length or Transfer-Encoding (any case, spaces or tabs before and after the colon), its value up to the
 * next CR or LF, trimmed: the last Content-Length counts (-1 when not 1-15 digits), any Transfer-Encoding ending in
 * "chunked" makes the body chunked.
 */
function frameHead(b: Buffer, off: number, end: number): Head {
  // (Called right after scanHead found `end` for this block.)
  let status = 0;
  if (end - off >= 5 && startsHttp(b, off)) {
    const s = off + 9;
    status =
      s + 3 <= end && isDigit(u8(b, s)) && isDigit(u8(b, s + 1)) && isDigit(u8(b, s + 2))
        ? (u8(b, s) - 0x30) * 100 + (u8(b, s + 1) - 0x30) * 10 + (u8(b, s + 2) - 0x30)
        : Number(b.toString('latin1', Math.min(s, end), Math.min(s + 3, end)));
  }
  let contentLength: number | undefined;
  let chunked = false;
  // The header lines start after the CRLFs scanHead recorded (all of them unless the block has more lines).
  const recorded = scanLines <= LINE_CAP;
  const count = recorded ? scanLines - 1 : 0;
  for (let k = 0, i = off; recorded ? k < count : i + 1 < end; k++, i++) {
    if (recorded) i = LINE_ENDS[k] ?? end;
    else if (b[i] !== CR || b[i + 1] !== LF) continue;
    const n = i + 2;
    const first = lower(u8(b, n));
    let nameEnd: number;
    if (first === 0x63 && n + 14 <= end && sameName(b, n, n + 14, 'content-length')) nameEnd = n + 14;
    else if (first === 0x74 && n + 17 <= end && sameName(b, n, n + 17, 'transfer-encoding')) nameEnd = n + 17;
    else continue;
    let p = nameEnd;
    while (p < end && (b[p] === 0x20 || b[p] === 0x09)) p++;
    if (p >= end || b[p] !== 0x3a) continue;
    p++;
    let v = p;
    while (v < end && b[v] !== CR && b[v] !== LF) v++;
    trim(b, p, v);
    if (nameEnd === n + 14) contentLength = digits(b, trimStart, trimEnd);
    else if (endsWithWord(b, trimStart, trimEnd, 'chunked')) chunked = true;
    if (!recorded) i = v - 1;
  }
  HEAD.length = end - off;
  HEAD.contentLength = contentLength;
  HEAD.chunked = chunked;
  HEAD.status = status;
  return HEAD;
}

/** Bodies that never exist, whatever the headers say (RFC 9112 section 6.3). */
function hasNoBody(status: number): boolean {
  return (status >= 100 && status < 200) || status === 204 || status === 304;
}

/** Rank of each header field in the reused event's field order (see HttpDecoder.message). */
const HOST = 1;
const USER_AGENT = 2;
const CONTENT_TYPE = 3;
const CONTENT_LENGTH = 4;
const CHUNKED = 5;

/** Method token characters (RFC 9110 tchar), as the request-line pattern has them. */
const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+.^_`|~-") TCHAR[c.charCodeAt(0)] = 1;
for (let c = 0x30; c <= 0x39; c++) TCHAR[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) TCHAR[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) TCHAR[c] = 1;

/** "HTTP/d.d" at b[p, p + 8)? */
function isVersion(b: Buffer, p: number): boolean {
  return (
    u8(b, p) === 0x48 &&
    u8(b, p + 1) === 0x54 &&
    u8(b, p + 2) === 0x54 &&
    u8(b, p + 3) === 0x50 &&
    u8(b, p + 4) === 0x2f &&
    isDigit(u8(b, p + 5)) &&
    u8(b, p + 6) === 0x2e &&
    isDigit(u8(b, p + 7))
  );
}

/**
 * The text of the version "HTTP/d.d" at b[p, p + 8) (isVersion holds): the two usual ones without the text cache's
 * hash and compare.
 */
function versionText(b: Buffer, p: number): string {
  if (u8(b, p + 5) === 0x31) {
    const minor = u8(b, p + 7);
    if (minor === 0x31) return 'HTTP/1.1';
    if (minor === 0x30) return 'HTTP/1.0';
  }
  return TEXTS.text(b, p, p + 8);
}

/**
 * The decoder's one reused event (see DecodedEvent: valid only during onEvent), every field present in one order:
 * the start line's, then the header fields in the order Host, User-Agent, Content-Type, Content-Length,
 * Transfer-Encoding, then the matched request. A message that sets them in another order (headers in another
 * order, or `malformed` before later fields) goes on with a detached copy, so that the JSON output (fields in the
 * order set) is what a fresh event per message gave; so does a chunked message, which lives until its last chunk.
 */
function reusableEvent(): HttpEvent {
  return {
    protocol: 'http',
    frame: 0,
    ts: -0, // a double field from the start (see PacketView.tsSec)
    flow: 0,
    is_response: false,
    version: '',
    header_count: 0,
    header_length: 0,
    body_size: 0,
    method: undefined,
    uri: undefined,
    status: undefined,
    reason: undefined,
    host: undefined,
    user_agent: undefined,
    content_type: undefined,
    content_length: undefined,
    chunked: undefined,
    request_method: undefined,
    request_uri: undefined,
    malformed: undefined,
  };
}

export class HttpDecoder implements Decoder {
  readonly protocol = 'http' as const;
  readonly transport = 'tcp' as const;
  readonly ports: readonly number[] = HTTP_PORTS;
  readonly counters = new Counters();
  private readonly ev = reusableEvent();
  /** Per flow id: its state while it holds something, else undefined (filled, grown by doubling: fast elements). */
  private states: (FlowState | undefined)[] = new Array<FlowState | undefined>(1024).fill(undefined);
  /** Emptied flow states, for the next flow that needs one. */
  private readonly pool = objectArray<FlowState>();
  /** The header block pduLength scanned last (LINE_ENDS and scanLines describe it), until message() takes it. */
  private scanBuf: Buffer | undefined;
  private scanOff = -1;
  private scanEnd = -1;
  private scanAt = -1;

  pduLength(buf: Buffer, off: number, avail: number): number {
    if (avail < 1) return 0;
    const start = looksLikeStart(buf, off, avail);
    if (start === false) {
      const chunk = chunkLength(buf, off, avail);
      if (chunk === undefined) return -1;
      return chunk[0];
    }
    if (start === undefined) return 0;
    const end = scanHead(buf, off, off + Math.min(avail, HEAD_LIMIT));
    if (end < 0) {
      if (avail < HEAD_LIMIT) return 0;
      this.counters.inc('http.header_too_large');
      return -1;
    }
    const head = frameHead(buf, off, end);
    // The pipeline hands this PDU to decode() next: message() takes the scan from here (once).
    this.scanBuf = buf;
    this.scanOff = off;
    this.scanEnd = end;
    this.scanAt = scanSeq;
    if (head.contentLength === -1) {
      this.counters.inc('http.bad_content_length');
      return -1;
    }
    if (head.chunked || hasNoBody(head.status)) return head.length;
    return head.length + (head.contentLength ?? 0);
  }

  release(flow: number): void {
    if (flow < this.states.length) this.states[flow] = undefined;
  }

  decode(seg: Segment, emit: EventSink): void {
    const flow = seg.flow;
    // Compared with true: a boolean field is of unknown type to the optimizing compiler (see modbus.ts).
    const dir = seg.toServer === true ? 0 : 1;
    const b = seg.buf;
    const start = looksLikeStart(b, seg.off, seg.len);
    if (start !== true) {
      this.chunk(seg, dir, emit);
      return;
    }
    let state = this.states[flow];
    const open = state?.chunked[dir];
    if (state !== undefined && open !== undefined) {
      // A new message before the last chunk of the previous one: emit what we have.
      open.malformed ??= 'chunked_body_incomplete';
      this.counters.inc('http.chunked_body_incomplete');
      state.chunked[dir] = undefined;
      emit(open);
    }
    let ev = this.message(seg);
    if (ev === undefined) return;
    if (ev.is_response) {
      const method = state?.methods.shift();
      const uri = state?.uris.shift();
      if (method !== undefined && uri !== undefined) {
        ev.request_method = method;
        ev.request_uri = uri;
      } else this.counters.inc('http.unmatched_response');
    } else if (ev.method !== undefined && ev.uri !== undefined) {
      state ??= this.state(flow);
      if (state.methods.length >= MAX_PENDING_PER_FLOW) {
        state.methods.shift();
        state.uris.shift();
        this.counters.inc('http.unanswered_request_dropped');
      }
      state.methods.push(ev.method);
      state.uris.push(ev.uri);
    }
    if (ev.malformed !== undefined) this.counters.inc(`http.${ev.malformed}`);
    if (ev.chunked === true) {
      if (ev === this.ev) ev = detached(ev);
      state ??= this.state(flow);
      state.chunked[dir] = ev;
    } else emit(ev);
    if (state !== undefined && this.states[flow] === state) this.dropIfEmpty(flow, state);
  }

  private state(flow: number): FlowState {
    const s: FlowState = this.pool.pop() ?? {
      methods: objectArray(),
      uris: objectArray(),
      chunked: [undefined, undefined],
    };
    if (flow >= this.states.length) {
      let n = this.states.length;
      while (n <= flow) n *= 2;
      const bigger = new Array<FlowState | undefined>(n).fill(undefined);
      for (let i = 0; i < this.states.length; i++) bigger[i] = this.states[i];
      this.states = bigger;
    }
    this.states[flow] = s;
    return s;
  }

  private dropIfEmpty(flow: number, s: FlowState): void {
    if (s.methods.length === 0 && s.chunked[0] === undefined && s.chunked[1] === undefined) {
      this.states[flow] = undefined;
      if (this.pool.length < MAX_POOLED_STATES) this.pool.push(s);
    }
  }

  private chunk(seg: Segment, dir: number, emit: EventSink): void {
    const c = chunkLength(seg.buf, seg.off, seg.len);
    const state = this.states[seg.flow];
    const open = state?.chunked[dir];
    if (c === undefined || c[0] !== seg.len) {
      this.counters.inc('http.bad_chunk');
      return;
    }
    if (state === undefined || open === undefined) {
      this.counters.inc('http.chunk_without_message');
      return;
    }
    open.body_size += c[1];
    if (c[1] === 0) {
      // The message completes in this frame (tshark shows it here).
      open.frame = seg.pkt.frame;
      open.ts = seg.pkt.ts;
      state.chunked[dir] = undefined;
      this.dropIfEmpty(seg.flow, state);
      emit(open);
    }
  }

  /**
   * Reads the start line and the header lines (CRLF-separated; at most MAX_HEADERS read) of the message at the
   * segment's start, byte by byte: request line `token SP uri SP HTTP/d.d`, status line `HTTP/d.d SP ddd [SP
   * reason]`, header names matched without case and values trimmed as String.prototype.trim does.
   */
  private message(seg: Segment): HttpEvent | undefined {
    const b = seg.buf;
    const off = seg.off;
    let end: number;
    const fresh = this.scanAt === scanSeq && b === this.scanBuf && off === this.scanOff;
    if (fresh && this.scanEnd <= off + seg.len) end = this.scanEnd;
    else end = scanHead(b, off, off + seg.len);
    this.scanBuf = undefined;
    if (end < 0) {
      this.counters.inc('http.truncated_header');
      return undefined;
    }
    const textEnd = end - 4;
    // The block's lines: the first one, and how many (the blank line's CRLF ends the last).
    const lineCount = scanLines;
    const firstEnd = LINE_ENDS[0] ?? textEnd;
    let ev = this.ev;
    ev.frame = seg.pkt.frame;
    ev.ts = seg.pkt.ts;
    ev.flow = seg.flow;
    const isResponse = firstEnd - off >= 5 && startsHttp(b, off);
    ev.is_response = isResponse;
    ev.version = '';
    ev.header_count = lineCount - 1;
    ev.header_length = end - off;
    ev.body_size = off + seg.len - end;
    ev.method = undefined;
    ev.uri = undefined;
    ev.status = undefined;
    ev.reason = undefined;
    ev.host = undefined;
    ev.user_agent = undefined;
    ev.content_type = undefined;
    ev.content_length = undefined;
    ev.chunked = undefined;
    ev.request_method = undefined;
    ev.request_uri = undefined;
    ev.malformed = undefined;
    if (isResponse) {
      const n = firstEnd - off;
      let ok = n >= 12 && isVersion(b, off) && u8(b, off + 8) === 0x20;
      ok &&= isDigit(u8(b, off + 9)) && isDigit(u8(b, off + 10)) && isDigit(u8(b, off + 11));
      if (ok && n > 12) {
        ok = u8(b, off + 12) === 0x20;
        for (let i = off + 13; ok && i < firstEnd; i++) if (b[i] === CR || b[i] === LF) ok = false;
      }
      if (!ok) {
        ev = detached(ev);
        ev.malformed = 'bad_status_line';
      } else {
        ev.version = versionText(b, off);
        ev.status = (u8(b, off + 9) - 0x30) * 100 + (u8(b, off + 10) - 0x30) * 10 + (u8(b, off + 11) - 0x30);
        ev.reason =
          n === 15 && u8(b, off + 13) === 0x4f && u8(b, off + 14) === 0x4b
            ? 'OK'
            : n > 12
              ? TEXTS.text(b, off + 13, firstEnd)
              : '';
      }
    } else {
      let m = off;
      while (m < firstEnd && TCHAR[u8(b, m)] === 1) m++;
      let ok = m > off && m < firstEnd && u8(b, m) === 0x20;
      let u = m + 1;
      while (ok && u < firstEnd && !isSpace(u8(b, u))) u++;
      ok &&= u > m + 1 && u === firstEnd - 9 && u8(b, u) === 0x20 && isVersion(b, u + 1);
      if (!ok) {
        ev = detached(ev);
        ev.malformed = 'bad_request_line';
      } else {
        ev.method =
          m - off === 3 && u8(b, off) === 0x47 && u8(b, off + 1) === 0x45 && u8(b, off + 2) === 0x54
            ? 'GET'
            : TEXTS.text(b, off, m);
        ev.uri = TEXTS.text(b, m + 1, u);
        ev.version = versionText(b, u + 1);
      }
    }
    if (ev.header_count > HEADERS_LIMIT && ev.malformed === undefined) {
      ev = detached(ev);
      ev.malformed = 'too_many_headers';
    }
    // Header lines 1..MAX_HEADERS: each up to the next CRLF (the last one up to the block's end).
    let maxRank = 0;
    const lines = Math.min(lineCount, HEADERS_LIMIT + 1);
    for (let li = 1; li < lines; li++) {
      const lineStart = (LINE_ENDS[li - 1] ?? textEnd) + 2;
      const q = LINE_ENDS[li] ?? textEnd;
      let colon = lineStart;
      while (colon < q && b[colon] !== 0x3a) colon++;
      if (colon === q || colon === lineStart) {
        if (ev.malformed === undefined) {
          ev = detached(ev);
          ev.malformed = 'bad_header_line';
        }
        continue;
      }
      trim(b, lineStart, colon);
      const ns = trimStart;
      const ne = trimEnd;
      let rank = 0;
      switch (ne - ns) {
        case 4:
          if (sameName(b, ns, ne, 'host')) rank = HOST;
          break;
        case 10:
          if (sameName(b, ns, ne, 'user-agent')) rank = USER_AGENT;
          break;
        case 12:
          if (sameName(b, ns, ne, 'content-type')) rank = CONTENT_TYPE;
          break;
        case 14:
          if (sameName(b, ns, ne, 'content-length')) rank = CONTENT_LENGTH;
          break;
        case 17:
          if (sameName(b, ns, ne, 'transfer-encoding')) rank = CHUNKED;
          break;
      }
      if (rank === 0) continue;
      trim(b, colon + 1, q);
      const vs = trimStart;
      const ve = trimEnd;
      let length = -1;
      if (rank === CONTENT_LENGTH) {
        length = digits(b, vs, ve);
        if (length < 0) continue;
      } else if (rank === CHUNKED && !endsWithWord(b, vs, ve, 'chunked')) continue;
      // A field set for the first time after one that comes later in the reused event's order: go on with a copy.
      if (ev === this.ev) {
        if (rank < maxRank && fieldOf(ev, rank) === undefined) ev = detached(ev);
        else if (rank > maxRank) maxRank = rank;
      }
      if (rank === HOST) ev.host = TEXTS.text(b, vs, ve);
      else if (rank === USER_AGENT) ev.user_agent = TEXTS.text(b, vs, ve);
      else if (rank === CONTENT_TYPE) ev.content_type = TEXTS.text(b, vs, ve);
      else if (rank === CONTENT_LENGTH) ev.content_length = length;
      else ev.chunked = true;
    }
    return ev;
  }
}

/** The header field of the given rank. */
function fieldOf(ev: HttpEvent, rank: number): unknown {
  return rank === HOST
    ? ev.host
    : rank === USER_AGENT
      ? ev.user_agent
      : rank === CONTENT_TYPE
        ? ev.content_type
        : rank === CONTENT_LENGTH
          ? ev.content_length
          : ev.chunked;
}
