// Streaming reader for classic pcap (µs and ns, both byte orders) and pcapng (SHB/IDB/EPB/SPB/OPB, any if_tsresol,
// both byte orders, several sections and interfaces; ISB counters of what the capture received and dropped). Push chunks of any size; each complete frame goes to onPacket
// as a RawPacket that points into the chunk (no copy). Never throws on bad input: problems become CaptureErrors
// that name the file and the frame; framing that cannot be trusted any more stops the file (counted), it is not guessed.
import type { CaptureError, PacketHandler, RawPacket } from './types.js';

/** The classic pcap magic 0xa1b2c3d4 as read little-endian from a big-endian file. */
const PCAP_US_LE = 0xd4c3b2a1;
const PCAPNG_SHB = 0x0a0d0d0a;
const PCAPNG_BOM = 0x1a2b3c4d;
const BLOCK_IDB = 1;
const BLOCK_OPB = 2;
const BLOCK_SPB = 3;
const BLOCK_ISB = 5;
const BLOCK_EPB = 6;
const OPT_END = 0;
const OPT_IF_TSRESOL = 9;
const OPT_ISB_IFRECV = 4;
const OPT_ISB_IFDROP = 5;
const OPT_ISB_OSDROP = 7;

/** Largest frame accepted (Wireshark's limit for Ethernet-class links is 256 KiB). */
export const DEFAULT_MAX_CAPLEN = 262_144;
/** Room for block headers and options around a frame of the largest captured length. */
const MAX_BLOCK_OVERHEAD = 65_536;
/** The first errors are kept verbatim; after that only counted. */
const MAX_KEPT_ERRORS = 100;

export interface CaptureParserOptions {
  /** Name used in error messages (file path, "stdin", "live:eth0"). */
  file: string;
  onPacket: PacketHandler;
  /** Called for every problem (also counted in stats). */
  onError?: (e: CaptureError) => void;
  maxCapLen?: number;
}

export interface CaptureStats {
  format: 'pcap' | 'pcapng' | 'unknown';
  frames: number;
  bytes: number;
  /** Problems by reason. */
  errors: Record<string, number>;
  /** The first problems, verbatim. */
  firstErrors: CaptureError[];
  /** True when the reader gave up on the rest of the input (broken framing). */
  stopped: boolean;
  /**
   * What the capture itself counted, from pcapng interface statistics blocks (dumpcap writes them when it stops):
   * packets the interfaces received and dropped (interface and OS drops, e.g. a full kernel buffer), summed over
   * interfaces. Undefined when the input carried none (classic pcap never does).
   */
  reported?: { received: number; dropped: number };
}

/** Stats of a capture nothing has been read from yet. */
export function emptyCaptureStats(): CaptureStats {
  return { format: 'unknown', frames: 0, bytes: 0, errors: {}, firstErrors: [], stopped: false };
}

interface Iface {
  linkType: number;
  snapLen: number;
  /** Timestamp units per second. */
  unitsPerSec: number;
  /** The interface's last ISB counters (cumulative), already added to stats.reported. */
  received: number;
  dropped: number;
}

type State = 'magic' | 'pcap-header' | 'pcap' | 'pcapng' | 'stopped';

export class CaptureParser {
  readonly stats: CaptureStats = emptyCaptureStats();
  private state: State = 'magic';
  private carry: Buffer | undefined;
  private le = true;
  private nano = false;
  private linkType = 0;
  private ifaces: Iface[] = [];
  private readonly maxCapLen: number;
  private readonly pkt: RawPacket = {
    frame: 0,
    // -0 (equal to 0): epoch seconds are doubles to V8, so the field is one from the start (see PacketView).
    tsSec: -0,
    tsNsec: 0,
    linkType: 0,
    buf: Buffer.alloc(0),
    off: 0,
    capLen: 0,
    origLen: 0,
  };

  constructor(private readonly opts: CaptureParserOptions) {
    this.maxCapLen = opts.maxCapLen ?? DEFAULT_MAX_CAPLEN;
  }

  /** Feed the next bytes of the capture. */
  push(chunk: Buffer): void {
    if (this.state === 'stopped' || chunk.length === 0) return;
    let buf = chunk;
    const carry = this.carry;
    if (carry !== undefined) {
      this.carry = undefined;
      // Join the left-over start of a record with only as much of the chunk as the largest record needs, so a
      // large chunk is not copied just to complete one record.
      const take = Math.min(chunk.length, this.maxCapLen + MAX_BLOCK_OVERHEAD);
      const head = Buffer.concat([carry, chunk.subarray(0, take)]);
      const used = this.parse(head);
      if (this.stats.stopped) return;
      if (take === chunk.length) {
        if (used < head.length) this.carry = head.subarray(used);
        return;
      }
      if (used < carry.length) {
        this.carry = Buffer.concat([head.subarray(used), chunk.subarray(take)]);
        return;
      }
      buf = chunk.subarray(used - carry.length);
    }
    const used = this.parse(buf);
    if (!this.stats.stopped && used < buf.length) this.carry = buf.subarray(used);
  }

  /** The input has ended: report what was left incomplete. */
  end(): CaptureStats {
    if (this.state === 'magic' && this.carry === undefined && this.stats.frames === 0) {
      this.error('empty', 'input is empty: not a pcap or pcapng capture');
    } else if (this.carry !== undefined && this.state !== 'stopped') {
      const what = this.state === 'magic' || this.state === 'pcap-header' ? 'file header' : 'frame';
      this.error('truncated', `input ends inside the ${what} (${this.carry.length} bytes left over)`);
    }
    this.carry = undefined;
    return this.stats;
  }

  private error(reason: string, message: string): void {
    const e: CaptureError = { reason, file: this.opts.file, frame: this.stats.frames + 1, message };
    this.stats.errors[reason] = (this.stats.errors[reason] ?? 0) + 1;
    if (this.stats.firstErrors.length < MAX_KEPT_ERRORS) this.stats.firstErrors.push(e);
    this.opts.onError?.(e);
  }

  private stop(reason: string, message: string): void {
    this.error(reason, `${message}; the rest of the input is not read`);
    this.state = 'stopped';
    this.stats.stopped = true;
    this.carry = undefined;
  }

  private parse(buf: Buffer): number {
    let off = 0;
    if (this.state === 'magic') {
      if (buf.length < 4) return 0;
      const m = buf.readUInt32LE(0);
      if (m === 0xa1b2c3d4 || m === 0xa1b23c4d) {
        this.le = true;
        this.nano = m === 0xa1b23c4d;
        this.state = 'pcap-header';
      } else if (m === PCAP_US_LE || m === 0x4d3cb2a1) {
        this.le = false;
        this.nano = m === 0x4d3cb2a1;
        this.state = 'pcap-header';
      } else if (m === PCAPNG_SHB) {
        this.state = 'pcapng';
        this.stats.format = 'pcapng';
      } else {
        this.stop('bad_magic', `not a pcap or pcapng capture (magic 0x${m.toString(16).padStart(8, '0')})`);
        return buf.length;
      }
    }
    if (this.state === 'pcap-header') {
      if (buf.length < 24) return 0;
      this.stats.format = 'pcap';
      this.linkType = (this.le ? buf.readUInt32LE(20) : buf.readUInt32BE(20)) & 0xffff;
      this.state = 'pcap';
      off = 24;
    }
    if (this.state === 'pcap') return this.parsePcap(buf, off);
    if (this.state === 'pcapng') return this.parsePcapng(buf, off);
    return buf.length;
  }

  private parsePcap(buf: Buffer, start: number): number {
    const len = buf.length;
    const le = this.le;
    const maxCap = this.maxCapLen;
    const pkt = this.pkt;
    const subMul = this.nano ? 1 : 1000;
    const subMax = this.nano ? 1_000_000_000 : 1_000_000;
    pkt.buf = buf;
    pkt.linkType = this.linkType;
    // Record headers read as whole words (one load each, where bytes make four); every read is inside buf.
    const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    let off = start;
    while (off + 16 <= len) {
      const incl = view.getUint32(off + 8, le);
      if (incl > maxCap) {
        this.stop(
          'caplen_too_large',
          `frame ${this.stats.frames + 1}: captured length ${incl} exceeds ${maxCap}`,
        );
        return len;
      }
      if (off + 16 + incl > len) break;
      const sec = view.getUint32(off, le);
      let sub = view.getUint32(off + 4, le);
      const orig = view.getUint32(off + 12, le);
      if (sub >= subMax) {
        this.error('bad_timestamp', `frame ${this.stats.frames + 1}: sub-second field ${sub} out of range`);
        sub = subMax - 1;
      }
      if (incl === 0) this.error('zero_caplen', `frame ${this.stats.frames + 1}: captured length is 0`);
      pkt.frame = ++this.stats.frames;
      this.stats.bytes += incl;
      pkt.tsSec = sec;
      pkt.tsNsec = sub * subMul;
      pkt.off = off + 16;
      pkt.capLen = incl;
      pkt.origLen = orig;
      this.opts.onPacket(pkt);
      off += 16 + incl;
    }
    return off;
  }

  private u32(buf: Buffer, off: number): number {
    return this.le ? buf.readUInt32LE(off) : buf.readUInt32BE(off);
  }

  private u16(buf: Buffer, off: number): number {
    return this.le ? buf.readUInt16LE(off) : buf.readUInt16BE(off);
  }

  private parsePcapng(buf: Buffer, start: number): number {
    const len = buf.length;
    let off = start;
    while (off + 12 <= len) {
      const rawType = buf.readUInt32LE(off);
      if (rawType === PCAPNG_SHB) {
        const bom = buf.readUInt32LE(off + 8);
        if (bom === PCAPNG_BOM) this.le = true;
        else if (bom === 0x4d3c2b1a) this.le = false;
        else {
          this.stop('bad_magic', `pcapng section header has byte-order magic 0x${bom.toString(16)}`);
          return len;
        }
        this.ifaces = [];
      }
      const type = this.u32(buf, off);
      const blen = this.u32(buf, off + 4);
      if (blen < 12 || blen % 4 !== 0 || blen > MAX_BLOCK_OVERHEAD + this.maxCapLen) {
        this.stop('bad_block_length', `pcapng block of type ${type} has length ${blen}`);
        return len;
      }
      if (off + blen > len) break;
      if (this.u32(buf, off + blen - 4) !== blen) {
        this.stop('bad_block_length', `pcapng block of type ${type}: trailing length differs from ${blen}`);
        return len;
      }
      if (type === BLOCK_IDB) this.readIdb(buf, off, blen);
      else if (type === BLOCK_EPB || type === BLOCK_OPB) this.readEpb(buf, off, blen, type === BLOCK_OPB);
      else if (type === BLOCK_SPB) this.readSpb(buf, off, blen);
      else if (type === BLOCK_ISB) this.readIsb(buf, off, blen);
      off += blen;
    }
    return off;
  }

  private readIdb(buf: Buffer, off: number, blen: number): void {
    if (blen < 20) {
      this.error('bad_block', 'pcapng interface description block too short');
      this.ifaces.push({ linkType: -1, snapLen: 0, unitsPerSec: 1_000_000, received: 0, dropped: 0 });
      return;
    }
    const iface: Iface = {
      linkType: this.u16(buf, off + 8),
      snapLen: this.u32(buf, off + 12),
      unitsPerSec: 1e6,
      received: 0,
      dropped: 0,
    };
    let o = off + 16;
    const end = off + blen - 4;
    while (o + 4 <= end) {
      const code = this.u16(buf, o);
      const olen = this.u16(buf, o + 2);
      if (code === OPT_END || o + 4 + olen > end) break;
      if (code === OPT_IF_TSRESOL && olen >= 1) {
        const v = buf[o + 4] ?? 6;
        const exp = v & 0x7f;
        const units = v & 0x80 ? 2 ** exp : 10 ** exp;
        if (units >= 1 && units <= 2 ** 40) iface.unitsPerSec = units;
        else this.error('bad_option', `pcapng if_tsresol ${v} unsupported; microseconds assumed`);
      }
      o += 4 + ((olen + 3) & ~3);
    }
    this.ifaces.push(iface);
  }

  private readEpb(buf: Buffer, off: number, blen: number, obsolete: boolean): void {
    // EPB: if u32, ts hi, ts lo, caplen, origlen. OPB: if u16, drops u16, ts hi, ts lo, caplen, origlen.
    if (blen < 32) {
      this.frameError('bad_block', 'packet block too short');
      return;
    }
    const ifId = obsolete ? this.u16(buf, off + 8) : this.u32(buf, off + 8);
    const hi = this.u32(buf, off + 12);
    const lo = this.u32(buf, off + 16);
    const cap = this.u32(buf, off + 20);
    const orig = this.u32(buf, off + 24);
    if (cap > this.maxCapLen || 28 + cap > blen - 4) {
      this.frameError('bad_caplen', `captured length ${cap} does not fit its block of ${blen} bytes`);
      return;
    }
    const iface = this.ifaces[ifId];
    if (iface === undefined) {
      this.frameError('unknown_interface', `packet names interface ${ifId}, which was not described`);
      return;
    }
    this.emitNg(iface, hi, lo, buf, off + 28, cap, orig);
  }

  /** ISB: interface id, timestamp, then options; the counters are cumulative per interface. */
  private readIsb(buf: Buffer, off: number, blen: number): void {
    const iface = blen >= 24 ? this.ifaces[this.u32(buf, off + 8)] : undefined;
    if (iface === undefined) {
      this.error('bad_statistics', 'pcapng interface statistics block for an undescribed interface');
      return;
    }
    let received = iface.received;
    let ifdrop = 0;
    let osdrop = 0;
    let o = off + 20;
    const end = off + blen - 4;
    while (o + 4 <= end) {
      const code = this.u16(buf, o);
      const olen = this.u16(buf, o + 2);
      if (code === OPT_END || o + 4 + olen > end) break;
      if (olen === 8) {
        const v = Number(this.le ? buf.readBigUInt64LE(o + 4) : buf.readBigUInt64BE(o + 4));
        if (code === OPT_ISB_IFRECV) received = v;
        else if (code === OPT_ISB_IFDROP) ifdrop = v;
        else if (code === OPT_ISB_OSDROP) osdrop = v;
      }
      o += 4 + ((olen + 3) & ~3);
    }
    const dropped = Math.max(iface.dropped, ifdrop + osdrop);
    const r = (this.stats.reported ??= { received: 0, dropped: 0 });
    r.received += Math.max(0, received - iface.received);
    r.dropped += dropped - iface.dropped;
    iface.received = Math.max(iface.received, received);
    iface.dropped = dropped;
  }

  private readSpb(buf: Buffer, off: number, blen: number): void {
    const iface = this.ifaces[0];
    if (iface === undefined) {
      this.frameError('unknown_interface', 'simple packet block without an interface');
      return;
    }
    const orig = this.u32(buf, off + 8);
    let cap = Math.min(orig, blen - 16);
    if (iface.snapLen > 0) cap = Math.min(cap, iface.snapLen);
    this.emitNg(iface, 0, 0, buf, off + 12, cap, orig);
  }

  private frameError(reason: string, message: string): void {
    // The block still counts as a frame (Wireshark numbers it), so later frame numbers stay aligned.
    this.error(reason, `frame ${this.stats.frames + 1}: ${message}`);
    this.stats.frames++;
  }

  private emitNg(
    iface: Iface,
    hi: number,
    lo: number,
    buf: Buffer,
    dataOff: number,
    cap: number,
    orig: number,
  ): void {
    // Split the 64-bit unit count into seconds and a remainder without leaving exact double range.
    const d = iface.unitsPerSec;
    const hq = Math.floor(hi / d);
    const hr = hi - hq * d;
    const t1 = hr * 65536 + (lo >>> 16);
    const q1 = Math.floor(t1 / d);
    const r1 = t1 - q1 * d;
    const t2 = r1 * 65536 + (lo & 0xffff);
    const q2 = Math.floor(t2 / d);
    const r2 = t2 - q2 * d;
    const pkt = this.pkt;
    pkt.frame = ++this.stats.frames;
    this.stats.bytes += cap;
    pkt.tsSec = hq * 4294967296 + q1 * 65536 + q2;
    pkt.tsNsec = Math.floor((r2 * 1e9) / d);
    pkt.linkType = iface.linkType;
    pkt.buf = buf;
    pkt.off = dataOff;
    pkt.capLen = cap;
    pkt.origLen = orig;
    if (cap === 0) this.error('zero_caplen', `frame ${pkt.frame}: captured length is 0`);
    this.opts.onPacket(pkt);
  }
}
