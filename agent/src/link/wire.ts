// The agent's encoder for alert batches: AgentMessage{seq, alerts: AlertBatch} straight into one buffer, bytes the
// aggregator's protobuf decoder reads as it reads protobufjs's. protobufjs builds a list of write operations and forks a
// writer for every nested message (each source, timeline point and map entry), so a real alert (a 60-point timeline
// with a few protocols per point, ~9 kB on the wire) cost about 0.8 ms of CPU to encode, the largest cost of a
// backlog drain. Each alert is encoded once, when it enters the outbox (encodeAlert), and a batch is framed around
// those bytes when it is sent (alertMessageFromEncoded). Here a first pass sizes every nested message and string (kept in `slots`, in the order the second
// pass writes them), and the second pass writes into a buffer of exactly that size. Every other message goes through
// the generated serializer unchanged.
//
// Wire rules kept: proto3 fields at their default (empty string, 0) are left out, which decodes to the same value;
// map entries always carry key and value; uint32 is taken as `value >>> 0` and a double as its IEEE bits (NaN and -0
// included), as protobufjs does.
import type {
  AgentMessage,
  PbAlert,
  PbAlertSource,
  PbContextAnalysis,
  PbTimelinePoint,
} from '@vigil/proto/link';

/** Field tags: (field number << 3) | wire type (0 varint, 1 64-bit, 2 length-delimited). */
const T = {
  message: { seq: 0x08, alerts: 0x12 },
  batch: { alerts: 0x0a },
  alert: {
    id: 0x0a,
    timestamp: 0x12,
    severity: 0x1a,
    title: 0x22,
    description: 0x2a,
    sources: 0x32,
    correlation_confidence: 0x39,
    correlation_summary: 0x42,
    attack_type: 0x4a,
    attack_name: 0x52,
    context_analysis: 0x5a,
  },
  source: {
    layer: 0x08,
    model_name: 0x12,
    confidence: 0x19,
    detection_time: 0x22,
    evidence: 0x2a,
    context_evidence: 0x32,
  },
  context: { duration: 0x0a, pattern: 0x12, behavior: 0x1a, timeline: 0x22, evidence: 0x2a },
  point: {
    time: 0x0a,
    packets_per_sec: 0x11,
    unique_dest_ips: 0x19,
    protocol_distribution: 0x22,
    status: 0x2a,
  },
  entry: { key: 0x0a, string: 0x12, double: 0x11 },
} as const;

function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 0x80);
    size++;
  }
  return size;
}

function isDefaultNumber(v: number | null | undefined): boolean {
  return v === undefined || v === null || Object.is(v, 0);
}

function str(v: string | null | undefined): string {
  return typeof v === 'string' ? v : v === undefined || v === null ? '' : String(v);
}

/** First pass: sizes, recorded in write order (a nested message's size before its fields' string lengths). */
class Sizer {
  readonly slots: number[] = [];

  /** A string field (left out when empty unless `always`). */
  string(v: string | null | undefined, always = false): number {
    const s = str(v);
    if (s.length === 0 && !always) return 0;
    const len = Buffer.byteLength(s);
    this.slots.push(len);
    return 1 + varintSize(len) + len;
  }

  double(v: number | null | undefined): number {
    return isDefaultNumber(v) ? 0 : 9;
  }

  uint32(v: number | null | undefined): number {
    const u = (v ?? 0) >>> 0;
    return u === 0 ? 0 : 1 + varintSize(u);
  }

  /** A nested message field: reserves its size slot, then sizes its body. */
  message(body: () => number): number {
    const slot = this.slots.length;
    this.slots.push(0);
    const size = body();
    this.slots[slot] = size;
    return 1 + varintSize(size) + size;
  }

  alert(a: PbAlert): number {
    let n =
      this.string(a.id) +
      this.string(a.timestamp) +
      this.string(a.severity) +
      this.string(a.title) +
      this.string(a.description);
    for (const s of a.sources ?? []) n += this.message(() => this.source(s));
    n +=
      this.double(a.correlation_confidence) +
      this.string(a.correlation_summary) +
      this.string(a.attack_type) +
      this.string(a.attack_name);
    const ctx = a.context_analysis;
    if (ctx !== null && ctx !== undefined) n += this.message(() => this.context(ctx));
    return n;
  }

  source(s: PbAlertSource): number {
    return (
      this.uint32(s.layer) +
      this.string(s.model_name) +
      this.double(s.confidence) +
      this.string(s.detection_time) +
      this.string(s.evidence) +
      this.string(s.context_evidence)
    );
  }

  context(c: PbContextAnalysis): number {
    let n = this.string(c.duration) + this.string(c.pattern) + this.string(c.behavior);
    for (const p of c.timeline ?? []) n += this.message(() => this.point(p));
    for (const [k, v] of Object.entries(c.evidence ?? {})) {
      n += this.message(() => this.string(k, true) + this.string(v, true));
    }
    return n;
  }

  point(p: PbTimelinePoint): number {
    let n = this.string(p.time) + this.double(p.packets_per_sec) + this.double(p.unique_dest_ips);
    for (const k of Object.keys(p.protocol_distribution ?? {}))
      n += this.message(() => this.string(k, true) + 9);
    return n + this.string(p.status);
  }
}

/** Second pass: writes the fields in the order the Sizer visited them, taking each size from its slot. */
class Writer {
  private pos = 0;
  private slot = 0;

  constructor(
    readonly buf: Buffer,
    private readonly slots: readonly number[],
  ) {}

  private varint(n: number): void {
    while (n >= 0x80) {
      this.buf[this.pos++] = (n % 0x80) | 0x80;
      n = Math.floor(n / 0x80);
    }
    this.buf[this.pos++] = n;
  }

  string(tag: number, v: string | null | undefined, always = false): void {
    const s = str(v);
    if (s.length === 0 && !always) return;
    const len = this.slots[this.slot++] ?? 0;
    this.buf[this.pos++] = tag;
    this.varint(len);
    if (len === s.length && len < 64) {
      // ASCII (one byte per UTF-16 unit): a loop beats the native call on short strings.
      for (let i = 0; i < len; i++) this.buf[this.pos + i] = s.charCodeAt(i);
    } else {
      this.buf.write(s, this.pos, len, 'utf8');
    }
    this.pos += len;
  }

  double(tag: number, v: number | null | undefined): void {
    if (isDefaultNumber(v)) return;
    this.buf[this.pos++] = tag;
    this.buf.writeDoubleLE(v as number, this.pos);
    this.pos += 8;
  }

  uint32(tag: number, v: number | null | undefined): void {
    const u = (v ?? 0) >>> 0;
    if (u === 0) return;
    this.buf[this.pos++] = tag;
    this.varint(u);
  }

  message(tag: number, body: () => void): void {
    this.buf[this.pos++] = tag;
    this.varint(this.slots[this.slot++] ?? 0);
    body();
  }

  alert(a: PbAlert): void {
    const t = T.alert;
    this.string(t.id, a.id);
    this.string(t.timestamp, a.timestamp);
    this.string(t.severity, a.severity);
    this.string(t.title, a.title);
    this.string(t.description, a.description);
    for (const s of a.sources ?? []) this.message(t.sources, () => this.source(s));
    this.double(t.correlation_confidence, a.correlation_confidence);
    this.string(t.correlation_summary, a.correlation_summary);
    this.string(t.attack_type, a.attack_type);
    this.string(t.attack_name, a.attack_name);
    const ctx = a.context_analysis;
    if (ctx !== null && ctx !== undefined) this.message(t.context_analysis, () => this.context(ctx));
  }

  source(s: PbAlertSource): void {
    const t = T.source;
    this.uint32(t.layer, s.layer);
    this.string(t.model_name, s.model_name);
    this.double(t.confidence, s.confidence);
    this.string(t.detection_time, s.detection_time);
    this.string(t.evidence, s.evidence);
    this.string(t.context_evidence, s.context_evidence);
  }

  context(c: PbContextAnalysis): void {
    const t = T.context;
    this.string(t.duration, c.duration);
    this.string(t.pattern, c.pattern);
    this.string(t.behavior, c.behavior);
    for (const p of c.timeline ?? []) this.message(t.timeline, () => this.point(p));
    for (const [k, v] of Object.entries(c.evidence ?? {})) {
      this.message(t.evidence, () => {
        this.string(T.entry.key, k, true);
        this.string(T.entry.string, v, true);
      });
    }
  }

  point(p: PbTimelinePoint): void {
    const t = T.point;
    this.string(t.time, p.time);
    this.double(t.packets_per_sec, p.packets_per_sec);
    this.double(t.unique_dest_ips, p.unique_dest_ips);
    for (const [k, v] of Object.entries(p.protocol_distribution ?? {})) {
      this.message(t.protocol_distribution, () => {
        this.string(T.entry.key, k, true);
        this.buf[this.pos++] = T.entry.double;
        this.buf.writeDoubleLE(v, this.pos);
        this.pos += 8;
      });
    }
    this.string(t.status, p.status);
  }

  get written(): number {
    return this.pos;
  }
}

/** One alert's wire bytes: the body of an Alert message, as the outbox stores it (encoded once, when queued). */
export function encodeAlert(a: PbAlert): Buffer {
  const sizer = new Sizer();
  const size = sizer.alert(a);
  const writer = new Writer(Buffer.allocUnsafe(size), sizer.slots);
  writer.alert(a);
  if (writer.written !== size) throw new Error(`alert encoder wrote ${writer.written} of ${size} bytes`);
  return writer.buf;
}

function writeVarint(buf: Buffer, pos: number, n: number): number {
  while (n >= 0x80) {
    buf[pos++] = (n % 0x80) | 0x80;
    n = Math.floor(n / 0x80);
  }
  buf[pos++] = n;
  return pos;
}

/**
 * AgentMessage{seq, alerts: AlertBatch} around alerts already encoded by encodeAlert: the bytes are copied, not
 * re-encoded. `seq` as AgentMessage.seq (a non-negative integer below 2^53).
 */
export function alertMessageFromEncoded(seq: number, alerts: readonly Uint8Array[]): Buffer {
  let batch = 0;
  for (const a of alerts) batch += 1 + varintSize(a.length) + a.length;
  const total = (seq !== 0 ? 1 + varintSize(seq) : 0) + 1 + varintSize(batch) + batch;
  const buf = Buffer.allocUnsafe(total);
  let pos = 0;
  if (seq !== 0) {
    buf[pos++] = T.message.seq;
    pos = writeVarint(buf, pos, seq);
  }
  buf[pos++] = T.message.alerts;
  pos = writeVarint(buf, pos, batch);
  for (const a of alerts) {
    buf[pos++] = T.batch.alerts;
    pos = writeVarint(buf, pos, a.length);
    buf.set(a, pos);
    pos += a.length;
  }
  return buf;
}

/** Encodes one AlertBatch message; `seq` as AgentMessage.seq (a non-negative integer below 2^53). */
export function encodeAlertMessage(seq: number, alerts: readonly PbAlert[]): Buffer {
  return alertMessageFromEncoded(seq, alerts.map(encodeAlert));
}

/** An alert batch whose alerts are already wire bytes (from the outbox). */
export interface EncodedAlertBatch {
  seq: number;
  encoded_alerts: readonly Uint8Array[];
}

/** What the agent writes on its Link.Connect stream. */
export type OutgoingAgentMessage = AgentMessage | EncodedAlertBatch;

/**
 * A requestSerialize for Link.Connect: alert batches by wire.ts (pre-encoded ones framed, others encoded here),
 * everything else by `generated` (the proto-loader serializer).
 */
export function agentMessageSerializer(
  generated: (m: AgentMessage) => Buffer,
): (m: OutgoingAgentMessage) => Buffer {
  return (m) =>
    'encoded_alerts' in m
      ? alertMessageFromEncoded(m.seq, m.encoded_alerts)
      : 'alerts' in m && m.alerts
        ? encodeAlertMessage(m.seq, m.alerts.alerts ?? [])
        : generated(m);
}
