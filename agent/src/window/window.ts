// A facility's 60-second context window: per-second counters in typed-array rings of 60 slots, a slot per second
// of packet time (the injected clock, never Date.now()). A packet for a second newer than the slot's resets the
// slot (evicting the second 60 s older); a packet older than the window is counted as late and dropped. Memory is
// fixed by design, whatever the packet rate: see memoryBytes() (~195 KB). Unique source/destination addresses are
// HyperLogLog estimates (UNIQUE_COUNT_STANDARD_ERROR = 3.25%; tested within 3 standard errors).
import { WINDOW_PROTOCOLS, type FacilitySecond, type WindowProtocol } from '@vigil/shared';
import { HLL_REGISTERS, hllAdd, hllEstimate } from './hll.js';

export const WINDOW_SECONDS = 60;
const S = WINDOW_SECONDS;
const NPROTO = WINDOW_PROTOCOLS.length;
const FC = 128;

/** Index of each protocol class in WINDOW_PROTOCOLS. */
export const ProtoClass = Object.fromEntries(WINDOW_PROTOCOLS.map((p, i) => [p, i])) as Record<
  WindowProtocol,
  number
>;

/** Modbus function codes that write (the rest of the public codes read): 1 at the code's index. */
const WRITE_FUNCTIONS = new Uint8Array(FC);
for (const fc of [5, 6, 15, 16, 21, 22, 23]) WRITE_FUNCTIONS[fc] = 1;

/**
 * Per-second counters, one row of R doubles per slot (a packet updates one row: a couple of cache lines instead of
 * one per counter array). Protocol-class counts are the NPROTO fields from PROTO.
 */
const PACKETS = 0;
const BYTES = 1;
const GAP_SUM = 2;
const GAP_COUNT = 3;
const FAILED = 4;
const MB_READS = 5;
const MB_WRITES = 6;
const MB_EXCEPTIONS = 7;
const MQ_CONNECTS = 8;
const MQ_PUBLISHES = 9;
const DNS_QUERIES = 10;
const DNS_NX = 11;
const HTTP_REQ = 12;
const PROTO = 13;
const R = PROTO + NPROTO;

export class FacilityWindow {
  private readonly secOf = new Float64Array(S).fill(-1);
  private readonly rowsOf = new Float64Array(S * R);
  private readonly mbReq = new Uint32Array(S * FC);
  private readonly mbExc = new Uint32Array(S * FC);
  private readonly hllSrc = new Uint8Array(S * HLL_REGISTERS);
  private readonly hllDst = new Uint8Array(S * HLL_REGISTERS);
  private latest = -1;
  /** The slot of the newest second (valid once latest >= 0). */
  private latestSlot = 0;
  /**
   * Clock time of the newest packet counted (-Infinity before the first): a double from the start, as the packet
   * times it takes are (from a small integer it would change representation at the first packet, and V8 would drop
   * code compiled for the windows made before).
   */
  private lastMs = -Infinity;
  /** Packets and events older than the window when they arrived (dropped). */
  late = 0;
  /**
   * The slot whose packet, byte and gap counts (the four every packet adds to) are these fields instead of its row
   * (-1: none): a field's add is a few instructions, a row's a dozen (index, overflow and bounds checks). The same
   * additions in the same order, so the same values; the row is brought up to date before it is read (sync).
   */
  private hotSlot = -1;
  private hotPackets = -0;
  private hotBytes = -0;
  private hotGapSum = -0;
  private hotGapCount = -0;

  /** Bytes held by the window (all of it is allocated up front). */
  memoryBytes(): number {
    return [this.secOf, this.rowsOf, this.mbReq, this.mbExc, this.hllSrc, this.hllDst].reduce(
      (n, a) => n + a.byteLength,
      0,
    );
  }

  /** The slot of second `sec`, reset if it held an older second; -1 when `sec` is older than the window. */
  private slot(sec: number): number {
    // Nearly every packet falls in the newest second, whose slot is current (it was claimed when it became newest).
    if (sec === this.latest && sec >= 0) return this.latestSlot;
    if (sec > this.latest) this.latest = sec;
    else if (sec <= this.latest - S) {
      this.late++;
      return -1;
    }
    const i = sec % S;
    if (this.secOf[i] !== sec) this.clear(i, sec);
    if (sec === this.latest) this.latestSlot = i;
    return i;
  }

  private clear(i: number, sec: number): void {
    this.secOf[i] = sec;
    if (i === this.hotSlot) {
      this.hotPackets = 0;
      this.hotBytes = 0;
      this.hotGapSum = 0;
      this.hotGapCount = 0;
    }
    this.rowsOf.fill(0, i * R, (i + 1) * R);
    this.mbReq.fill(0, i * FC, (i + 1) * FC);
    this.mbExc.fill(0, i * FC, (i + 1) * FC);
    this.hllSrc.fill(0, i * HLL_REGISTERS, (i + 1) * HLL_REGISTERS);
    this.hllDst.fill(0, i * HLL_REGISTERS, (i + 1) * HLL_REGISTERS);
  }

  /**
   * One packet at clock time `ms`: its wire size, address hashes, protocol class and whether it failed a
   * connection. (The analyzer calls countPacket and addAddresses itself: once per flow, direction and second.)
   */
  addPacket(
    ms: number,
    size: number,
    srcHash: number,
    dstHash: number,
    protoClass: number,
    failed: boolean,
  ): void {
    const i = this.countPacket(Math.floor(ms / 1000), ms, size, protoClass, failed);
    if (i >= 0) this.addAddresses(i, srcHash, dstHash);
  }

  /**
   * Counts one packet of second `sec` (Math.floor(ms / 1000)) at clock time `ms`, without its addresses; returns
   * the slot of the second for addAddresses, or -1 when the packet is older than the window (dropped).
   */
  countPacket(sec: number, ms: number, size: number, protoClass: number, failed: boolean): number {
    // Kept small (V8 inlines it into the analyzer's packet hook: no call, no boxed numbers per packet).
    const i = this.slot(sec);
    if (i < 0) return -1;
    if (i !== this.hotSlot) this.heat(i);
    this.hotPackets += 1;
    this.hotBytes += size;
    const last = this.lastMs;
    if (last >= 0 && ms >= last) {
      this.hotGapSum += ms - last;
      this.hotGapCount += 1;
    }
    if (ms > last) this.lastMs = ms;
    const row = this.rowsOf;
    const r = i * R;
    if (failed) row[r + FAILED] = row[r + FAILED]! + 1;
    row[r + PROTO + protoClass] = row[r + PROTO + protoClass]! + 1;
    return i;
  }

  /** Makes slot i the hot one (see hotSlot): the hot counts to their row, slot i's counts from its row. */
  private heat(i: number): void {
    this.sync();
    const row = this.rowsOf;
    const r = i * R;
    this.hotSlot = i;
    this.hotPackets = row[r + PACKETS]!;
    this.hotBytes = row[r + BYTES]!;
    this.hotGapSum = row[r + GAP_SUM]!;
    this.hotGapCount = row[r + GAP_COUNT]!;
  }

  /** Brings the hot slot's row up to date (before a row is read). */
  private sync(): void {
    const i = this.hotSlot;
    if (i < 0) return;
    const row = this.rowsOf;
    const r = i * R;
    row[r + PACKETS] = this.hotPackets;
    row[r + BYTES] = this.hotBytes;
    row[r + GAP_SUM] = this.hotGapSum;
    row[r + GAP_COUNT] = this.hotGapCount;
  }

  /**
   * Adds a packet's source and destination address hashes to the distinct counts of slot i (from countPacket).
   * Adding a hash a second time changes nothing: a caller that knows the pair is already in the slot may skip it.
   */
  addAddresses(i: number, srcHash: number, dstHash: number): void {
    hllAdd(this.hllSrc, i * HLL_REGISTERS, srcHash);
    hllAdd(this.hllDst, i * HLL_REGISTERS, dstHash);
  }

  /** Adds 1 to field `f` of slot i's row. */
  private count(i: number, f: number): void {
    const k = i * R + f;
    this.rowsOf[k] = (this.rowsOf[k] ?? 0) + 1;
  }

  // The PDUs of second `sec` of packet time (Math.floor(ms / 1000)).

  /** A Modbus PDU: requests count by function (reads/writes), exception responses by function. */
  addModbus(sec: number, funcCode: number, isResponse: boolean, exception: boolean): void {
    const i = this.slot(sec);
    if (i < 0) return;
    const fc = funcCode & (FC - 1);
    if (exception) {
      this.count(i, MB_EXCEPTIONS);
      this.mbExc[i * FC + fc] = (this.mbExc[i * FC + fc] ?? 0) + 1;
    } else if (!isResponse) {
      this.mbReq[i * FC + fc] = (this.mbReq[i * FC + fc] ?? 0) + 1;
      this.count(i, WRITE_FUNCTIONS[fc] === 1 ? MB_WRITES : MB_READS);
    }
  }

  addMqtt(sec: number, msgtype: number): void {
    if (msgtype !== 1 && msgtype !== 3) return;
    const i = this.slot(sec);
    if (i < 0) return;
    this.count(i, msgtype === 1 ? MQ_CONNECTS : MQ_PUBLISHES);
  }

  addDns(sec: number, isResponse: boolean, rcode: number): void {
    const i = this.slot(sec);
    if (i < 0) return;
    if (!isResponse) this.count(i, DNS_QUERIES);
    else if (rcode === 3) this.count(i, DNS_NX);
  }

  addHttpRequest(sec: number): void {
    const i = this.slot(sec);
    if (i >= 0) this.count(i, HTTP_REQ);
  }

  /** The newest second seen (-1 before the first packet). */
  get latestSecond(): number {
    return this.latest;
  }

  /** The row of one second inside the window (zeros for a second without traffic); undefined outside it. */
  row(sec: number): FacilitySecond | undefined {
    if (this.latest < 0 || sec > this.latest || sec <= this.latest - S) return undefined;
    this.sync();
    const i = sec % S;
    const time = new Date(sec * 1000).toISOString();
    if (this.secOf[i] !== sec) return emptyRow(time);
    const row = this.rowsOf;
    const r = i * R;
    const at = (f: number): number => row[r + f] ?? 0;
    const packets = at(PACKETS);
    const dist: Record<string, number> = {};
    WINDOW_PROTOCOLS.forEach((p, k) => {
      const n = at(PROTO + k);
      if (n > 0) dist[p] = n / packets;
    });
    const gaps = at(GAP_COUNT);
    return {
      time,
      packets_per_sec: packets,
      bytes_per_sec: at(BYTES),
      unique_src_ips: packets > 0 ? hllEstimate(this.hllSrc, i * HLL_REGISTERS) : 0,
      unique_dest_ips: packets > 0 ? hllEstimate(this.hllDst, i * HLL_REGISTERS) : 0,
      protocol_distribution: dist,
      failed_connections: at(FAILED),
      avg_packet_size: packets > 0 ? at(BYTES) / packets : 0,
      inter_arrival_time: gaps > 0 ? at(GAP_SUM) / gaps / 1000 : 0,
      modbus_reads: at(MB_READS),
      modbus_writes: at(MB_WRITES),
      modbus_exceptions: at(MB_EXCEPTIONS),
      modbus_requests_by_function: byFunction(this.mbReq, i),
      modbus_exceptions_by_function: byFunction(this.mbExc, i),
      mqtt_connects: at(MQ_CONNECTS),
      mqtt_publishes: at(MQ_PUBLISHES),
      dns_queries: at(DNS_QUERIES),
      dns_nxdomain: at(DNS_NX),
      http_requests: at(HTTP_REQ),
    };
  }

  /**
   * The alert's 60-s timeline: per second up to the newest, oldest first, only what an alert shows (rows() builds
   * every field, twice the sketches and the per-function maps: a millisecond an alert need not wait).
   */
  timeline(): {
    time: string;
    packets_per_sec: number;
    unique_dest_ips: number;
    protocol_distribution: Record<string, number>;
  }[] {
    const out = [];
    if (this.latest < 0) return [];
    this.sync();
    for (let sec = this.latest - S + 1; sec <= this.latest; sec++) {
      const i = sec % S;
      const time = new Date(sec * 1000).toISOString();
      const r = i * R;
      const packets = this.secOf[i] === sec ? (this.rowsOf[r + PACKETS] ?? 0) : 0;
      const dist: Record<string, number> = {};
      if (packets > 0) {
        for (let k = 0; k < NPROTO; k++) {
          const n = this.rowsOf[r + PROTO + k] ?? 0;
          if (n > 0) dist[WINDOW_PROTOCOLS[k]!] = n / packets;
        }
      }
      out.push({
        time,
        packets_per_sec: packets,
        unique_dest_ips: packets > 0 ? hllEstimate(this.hllDst, i * HLL_REGISTERS) : 0,
        protocol_distribution: dist,
      });
    }
    return out;
  }

  /** The rows of the last 60 seconds up to the newest, oldest first (empty before the first packet). */
  rows(): FacilitySecond[] {
    const out: FacilitySecond[] = [];
    if (this.latest < 0) return out;
    for (let s = this.latest - S + 1; s <= this.latest; s++) {
      const r = this.row(s);
      if (r !== undefined) out.push(r);
    }
    return out;
  }
}

function byFunction(a: Uint32Array, i: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (let fc = 0; fc < FC; fc++) {
    const n = a[i * FC + fc] ?? 0;
    if (n > 0) out[String(fc)] = n;
  }
  return out;
}

function emptyRow(time: string): FacilitySecond {
  return {
    time,
    packets_per_sec: 0,
    bytes_per_sec: 0,
    unique_src_ips: 0,
    unique_dest_ips: 0,
    protocol_distribution: {},
    failed_connections: 0,
    avg_packet_size: 0,
    inter_arrival_time: 0,
    modbus_reads: 0,
    modbus_writes: 0,
    modbus_exceptions: 0,
    modbus_requests_by_function: {},
    modbus_exceptions_by_function: {},
    mqtt_connects: 0,
    mqtt_publishes: 0,
    dns_queries: 0,
    dns_nxdomain: 0,
    http_requests: 0,
  };
}
