// A facility's 60-second context window: per-second counters in typed-array rings of 60 slots, a slot per second
// of packet time (the injected clock, never Date.now()). A packet for a second newer than the slot's resets the
// slot (evicting the second 60 s older); a packet older than the window is counted as late and dropped. Memory is
// fixed by design, whatever the packet rate: see memoryBytes() (~190 KB). Unique source/destination addresses are
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

export class FacilityWindow {
  private readonly secOf = new Float64Array(S).fill(-1);
  private readonly packets = new Float64Array(S);
  private readonly bytes = new Float64Array(S);
  private readonly gapSum = new Float64Array(S);
  private readonly gapCount = new Float64Array(S);
  private readonly failed = new Uint32Array(S);
  private readonly proto = new Uint32Array(S * NPROTO);
  private readonly mbReq = new Uint32Array(S * FC);
  private readonly mbExc = new Uint32Array(S * FC);
  private readonly mbReads = new Uint32Array(S);
  private readonly mbWrites = new Uint32Array(S);
  private readonly mbExceptions = new Uint32Array(S);
  private readonly mqConnects = new Uint32Array(S);
  private readonly mqPublishes = new Uint32Array(S);
  private readonly dnsQueries = new Uint32Array(S);
  private readonly dnsNx = new Uint32Array(S);
  private readonly httpReq = new Uint32Array(S);
  private readonly hllSrc = new Uint8Array(S * HLL_REGISTERS);
  private readonly hllDst = new Uint8Array(S * HLL_REGISTERS);
  private latest = -1;
  /** The slot of the newest second (valid once latest >= 0). */
  private latestSlot = 0;
  private lastMs = -1;
  /** Packets and events older than the window when they arrived (dropped). */
  late = 0;

  /** Bytes held by the window (all of it is allocated up front). */
  memoryBytes(): number {
    return [
      this.secOf,
      this.packets,
      this.bytes,
      this.gapSum,
      this.gapCount,
      this.failed,
      this.proto,
      this.mbReq,
      this.mbExc,
      this.mbReads,
      this.mbWrites,
      this.mbExceptions,
      this.mqConnects,
      this.mqPublishes,
      this.dnsQueries,
      this.dnsNx,
      this.httpReq,
      this.hllSrc,
      this.hllDst,
    ].reduce((n, a) => n + a.byteLength, 0);
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
    this.packets[i] = this.bytes[i] = this.gapSum[i] = this.gapCount[i] = 0;
    this.failed[i] = this.mbReads[i] = this.mbWrites[i] = this.mbExceptions[i] = 0;
    this.mqConnects[i] = this.mqPublishes[i] = this.dnsQueries[i] = this.dnsNx[i] = this.httpReq[i] = 0;
    this.proto.fill(0, i * NPROTO, (i + 1) * NPROTO);
    this.mbReq.fill(0, i * FC, (i + 1) * FC);
    this.mbExc.fill(0, i * FC, (i + 1) * FC);
    this.hllSrc.fill(0, i * HLL_REGISTERS, (i + 1) * HLL_REGISTERS);
    this.hllDst.fill(0, i * HLL_REGISTERS, (i + 1) * HLL_REGISTERS);
  }

  /** One packet at clock time `ms`: its wire size, address hashes, protocol class and whether it failed a connection. */
  addPacket(
    ms: number,
    size: number,
    srcHash: number,
    dstHash: number,
    protoClass: number,
    failed: boolean,
  ): void {
    const i = this.slot(Math.floor(ms / 1000));
    if (i < 0) return;
    this.packets[i] = (this.packets[i] ?? 0) + 1;
    this.bytes[i] = (this.bytes[i] ?? 0) + size;
    if (this.lastMs >= 0 && ms >= this.lastMs) {
      this.gapSum[i] = (this.gapSum[i] ?? 0) + (ms - this.lastMs);
      this.gapCount[i] = (this.gapCount[i] ?? 0) + 1;
    }
    if (ms > this.lastMs) this.lastMs = ms;
    if (failed) this.failed[i] = (this.failed[i] ?? 0) + 1;
    this.proto[i * NPROTO + protoClass] = (this.proto[i * NPROTO + protoClass] ?? 0) + 1;
    hllAdd(this.hllSrc, i * HLL_REGISTERS, srcHash);
    hllAdd(this.hllDst, i * HLL_REGISTERS, dstHash);
  }

  /** A Modbus PDU: requests count by function (reads/writes), exception responses by function. */
  addModbus(ms: number, funcCode: number, isResponse: boolean, exception: boolean): void {
    const i = this.slot(Math.floor(ms / 1000));
    if (i < 0) return;
    const fc = funcCode & (FC - 1);
    if (exception) {
      this.mbExceptions[i] = (this.mbExceptions[i] ?? 0) + 1;
      this.mbExc[i * FC + fc] = (this.mbExc[i * FC + fc] ?? 0) + 1;
    } else if (!isResponse) {
      this.mbReq[i * FC + fc] = (this.mbReq[i * FC + fc] ?? 0) + 1;
      if (WRITE_FUNCTIONS[fc] === 1) this.mbWrites[i] = (this.mbWrites[i] ?? 0) + 1;
      else this.mbReads[i] = (this.mbReads[i] ?? 0) + 1;
    }
  }

  addMqtt(ms: number, msgtype: number): void {
    if (msgtype !== 1 && msgtype !== 3) return;
    const i = this.slot(Math.floor(ms / 1000));
    if (i < 0) return;
    const a = msgtype === 1 ? this.mqConnects : this.mqPublishes;
    a[i] = (a[i] ?? 0) + 1;
  }

  addDns(ms: number, isResponse: boolean, rcode: number): void {
    const i = this.slot(Math.floor(ms / 1000));
    if (i < 0) return;
    if (!isResponse) this.dnsQueries[i] = (this.dnsQueries[i] ?? 0) + 1;
    else if (rcode === 3) this.dnsNx[i] = (this.dnsNx[i] ?? 0) + 1;
  }

  addHttpRequest(ms: number): void {
    const i = this.slot(Math.floor(ms / 1000));
    if (i >= 0) this.httpReq[i] = (this.httpReq[i] ?? 0) + 1;
  }

  /** The newest second seen (-1 before the first packet). */
  get latestSecond(): number {
    return this.latest;
  }

  /** The row of one second inside the window (zeros for a second without traffic); undefined outside it. */
  row(sec: number): FacilitySecond | undefined {
    if (this.latest < 0 || sec > this.latest || sec <= this.latest - S) return undefined;
    const i = sec % S;
    const time = new Date(sec * 1000).toISOString();
    if (this.secOf[i] !== sec) return emptyRow(time);
    const packets = this.packets[i] ?? 0;
    const dist: Record<string, number> = {};
    WINDOW_PROTOCOLS.forEach((p, k) => {
      const n = this.proto[i * NPROTO + k] ?? 0;
      if (n > 0) dist[p] = n / packets;
    });
    const gaps = this.gapCount[i] ?? 0;
    return {
      time,
      packets_per_sec: packets,
      bytes_per_sec: this.bytes[i] ?? 0,
      unique_src_ips: packets > 0 ? hllEstimate(this.hllSrc, i * HLL_REGISTERS) : 0,
      unique_dest_ips: packets > 0 ? hllEstimate(this.hllDst, i * HLL_REGISTERS) : 0,
      protocol_distribution: dist,
      failed_connections: this.failed[i] ?? 0,
      avg_packet_size: packets > 0 ? (this.bytes[i] ?? 0) / packets : 0,
      inter_arrival_time: gaps > 0 ? (this.gapSum[i] ?? 0) / gaps / 1000 : 0,
      modbus_reads: this.mbReads[i] ?? 0,
      modbus_writes: this.mbWrites[i] ?? 0,
      modbus_exceptions: this.mbExceptions[i] ?? 0,
      modbus_requests_by_function: byFunction(this.mbReq, i),
      modbus_exceptions_by_function: byFunction(this.mbExc, i),
      mqtt_connects: this.mqConnects[i] ?? 0,
      mqtt_publishes: this.mqPublishes[i] ?? 0,
      dns_queries: this.dnsQueries[i] ?? 0,
      dns_nxdomain: this.dnsNx[i] ?? 0,
      http_requests: this.httpReq[i] ?? 0,
    };
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
