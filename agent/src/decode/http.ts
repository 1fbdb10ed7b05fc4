// HTTP/1.x over TCP: request and status lines (method, URI, version, status), the headers the features and the
// inventory use (host, user-agent, content-length, transfer-encoding), and the body size.
// Framing: a message is its header block plus a Content-Length body; a chunked body is framed chunk by chunk (each
// chunk is its own PDU) and the message is emitted with its last chunk, as tshark shows it. The header block is
// bounded (MAX_HEADER_BYTES, MAX_HEADERS): endless headers are broken framing, counted, never buffered without end.
// Known limits: a body larger than the reassembly buffer cap, and a close-delimited body (no length, not chunked),
// are not followed: their bytes are counted as dropped until the next segment that starts a message.
import { u8 } from './bytes.js';
import { Counters, type Decoder, type EventBase, type EventSink, type Segment } from './types.js';

/** The TCP ports tshark dissects as HTTP by default. */
export const HTTP_PORTS: readonly number[] = [80, 3128, 3132, 5985, 8080, 8088, 11371];
/** Longest header block (start line + headers + blank line) accepted, as Node's default limit. */
export const MAX_HEADER_BYTES = 16_384;
export const MAX_HEADERS = 100;
/** Longest chunk-size line (size, extensions, CRLF). */
const MAX_CHUNK_LINE = 1024;
/** Requests remembered per flow to match responses (pipelining). */
const MAX_PENDING_PER_FLOW = 32;

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

interface Pending {
  method: string;
  uri: string;
}

interface FlowState {
  requests: Pending[];
  /** A chunked message per direction (0: to server, 1: to client) waiting for its last chunk. */
  chunked: [HttpEvent | undefined, HttpEvent | undefined];
}

/** Offset just after the first CRLF CRLF in buf[from, to), or -1. */
function headerEnd(b: Buffer, from: number, to: number): number {
  const i = b.indexOf('\r\n\r\n', from, 'latin1');
  return i >= 0 && i + 4 <= to ? i + 4 : -1;
}

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
    if (c === 0x2f) return i === 4 && b.toString('latin1', off, off + 4) === 'HTTP';
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
  const end = headerEnd(b, off + line, off + Math.min(avail, line + MAX_HEADER_BYTES));
  if (end < 0) return avail >= line + MAX_HEADER_BYTES ? undefined : [0, 0];
  return [end - off, 0];
}

interface Head {
  length: number;
  contentLength: number | undefined;
  chunked: boolean;
  status: number;
}

/** Reads what framing needs from a complete header block (its latin1 text). */
function frameHead(text: string): Head {
  const status = text.startsWith('HTTP/') ? Number(text.slice(9, 12)) : 0;
  let contentLength: number | undefined;
  let chunked = false;
  const re = /\r\n(content-length|transfer-encoding)[ \t]*:[ \t]*([^\r\n]*)/gi;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    const name = (m[1] ?? '').toLowerCase();
    const value = (m[2] ?? '').trim();
    if (name === 'content-length') {
      const n = /^\d{1,15}$/.test(value) ? Number(value) : NaN;
      contentLength = Number.isNaN(n) ? -1 : n;
    } else if (/chunked\s*$/i.test(value)) chunked = true;
  }
  return { length: text.length, contentLength, chunked, status };
}

/** Bodies that never exist, whatever the headers say (RFC 9112 section 6.3). */
function hasNoBody(status: number): boolean {
  return (status >= 100 && status < 200) || status === 204 || status === 304;
}

export class HttpDecoder implements Decoder {
  readonly protocol = 'http' as const;
  readonly transport = 'tcp' as const;
  readonly ports: readonly number[] = HTTP_PORTS;
  readonly counters = new Counters();
  /**
   * The header block pduLength read last (its buffer, start, end and text): the pipeline frames a PDU right before
   * it decodes it, so message() takes the text from here instead of reading the bytes again.
   */
  private headBuf: Buffer | undefined;
  private headOff = -1;
  private headEnd = -1;
  private headText = '';

  pduLength(buf: Buffer, off: number, avail: number): number {
    if (avail < 1) return 0;
    const start = looksLikeStart(buf, off, avail);
    if (start === false) {
      const chunk = chunkLength(buf, off, avail);
      if (chunk === undefined) return -1;
      return chunk[0];
    }
    if (start === undefined) return 0;
    const end = headerEnd(buf, off, off + Math.min(avail, MAX_HEADER_BYTES));
    if (end < 0) {
      if (avail < MAX_HEADER_BYTES) return 0;
      this.counters.inc('http.header_too_large');
      return -1;
    }
    const text = buf.toString('latin1', off, end);
    this.headBuf = buf;
    this.headOff = off;
    this.headEnd = end;
    this.headText = text;
    const head = frameHead(text);
    if (head.contentLength === -1) {
      this.counters.inc('http.bad_content_length');
      return -1;
    }
    if (head.chunked || hasNoBody(head.status)) return head.length;
    return head.length + (head.contentLength ?? 0);
  }

  decode(seg: Segment, emit: EventSink): void {
    let state = seg.appState as FlowState | undefined;
    if (state === undefined) {
      state = { requests: [], chunked: [undefined, undefined] };
      seg.appState = state;
    }
    const dir = seg.toServer ? 0 : 1;
    const b = seg.buf;
    const start = looksLikeStart(b, seg.off, seg.len);
    if (start !== true) {
      this.chunk(seg, state, dir, emit);
      return;
    }
    const open = state.chunked[dir];
    if (open !== undefined) {
      // A new message before the last chunk of the previous one: emit what we have.
      open.malformed ??= 'chunked_body_incomplete';
      this.counters.inc('http.chunked_body_incomplete');
      state.chunked[dir] = undefined;
      emit(open);
    }
    const ev = this.message(seg);
    if (ev === undefined) return;
    if (ev.is_response) {
      const req = state.requests.shift();
      if (req !== undefined) {
        ev.request_method = req.method;
        ev.request_uri = req.uri;
      } else this.counters.inc('http.unmatched_response');
    } else if (ev.method !== undefined && ev.uri !== undefined) {
      if (state.requests.length >= MAX_PENDING_PER_FLOW) {
        state.requests.shift();
        this.counters.inc('http.unanswered_request_dropped');
      }
      state.requests.push({ method: ev.method, uri: ev.uri });
    }
    if (ev.malformed !== undefined) this.counters.inc(`http.${ev.malformed}`);
    if (ev.chunked === true) state.chunked[dir] = ev;
    else emit(ev);
  }

  private chunk(seg: Segment, state: FlowState, dir: number, emit: EventSink): void {
    const c = chunkLength(seg.buf, seg.off, seg.len);
    const open = state.chunked[dir];
    if (c === undefined || c[0] !== seg.len) {
      this.counters.inc('http.bad_chunk');
      return;
    }
    if (open === undefined) {
      this.counters.inc('http.chunk_without_message');
      return;
    }
    open.body_size += c[1];
    if (c[1] === 0) {
      // The message completes in this frame (tshark shows it here).
      open.frame = seg.pkt.frame;
      open.ts = seg.pkt.ts;
      state.chunked[dir] = undefined;
      emit(open);
    }
  }

  private message(seg: Segment): HttpEvent | undefined {
    const b = seg.buf;
    const end = headerEnd(b, seg.off, seg.off + seg.len);
    if (end < 0) {
      this.counters.inc('http.truncated_header');
      return undefined;
    }
    const text =
      b === this.headBuf && seg.off === this.headOff && end === this.headEnd
        ? this.headText.slice(0, end - 4 - seg.off)
        : b.toString('latin1', seg.off, end - 4);
    this.headBuf = undefined;
    const lines = text.split('\r\n');
    const first = lines[0] ?? '';
    const ev: HttpEvent = {
      protocol: 'http',
      frame: seg.pkt.frame,
      ts: seg.pkt.ts,
      flow: seg.flow,
      is_response: first.startsWith('HTTP/'),
      version: '',
      header_count: lines.length - 1,
      header_length: end - seg.off,
      body_size: seg.off + seg.len - end,
    };
    if (ev.is_response) {
      const m = /^(HTTP\/\d\.\d) (\d{3})(?: (.*))?$/.exec(first);
      if (m === null) ev.malformed = 'bad_status_line';
      else {
        ev.version = m[1] ?? '';
        ev.status = Number(m[2]);
        ev.reason = m[3] ?? '';
      }
    } else {
      const m = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+) (\S+) (HTTP\/\d\.\d)$/.exec(first);
      if (m === null) ev.malformed = 'bad_request_line';
      else {
        ev.method = m[1];
        ev.uri = m[2];
        ev.version = m[3] ?? '';
      }
    }
    if (ev.header_count > MAX_HEADERS) ev.malformed ??= 'too_many_headers';
    const n = Math.min(lines.length, MAX_HEADERS + 1);
    for (let i = 1; i < n; i++) {
      const line = lines[i] ?? '';
      const colon = line.indexOf(':');
      if (colon <= 0) {
        ev.malformed ??= 'bad_header_line';
        continue;
      }
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      if (name === 'host') ev.host = value;
      else if (name === 'user-agent') ev.user_agent = value;
      else if (name === 'content-type') ev.content_type = value;
      else if (name === 'content-length' && /^\d{1,15}$/.test(value)) ev.content_length = Number(value);
      else if (name === 'transfer-encoding' && /chunked\s*$/i.test(value)) ev.chunked = true;
    }
    return ev;
  }
}
