// A facility's learned baseline: which hosts talk, who polls whom over Modbus with which function codes, who writes
// where, which services (transport + server port) each host pair uses, and the busiest second seen per Modbus pair
// and per source. Learnt during the learning period (packet time), then frozen; the policy rules compare against it.
import { FunctionCode } from '../decode/modbus.js';
import { IpProto, type DecodedEvent, type NumberList, type PacketView } from '../decode/types.js';
import { TcpFlag } from '../decode/tcp.js';

export const WRITE_FUNCTIONS: ReadonlySet<number> = new Set([5, 6, 15, 16, 21, 22, 23]);
const WRITE_TABLE = new Uint8Array(256);
for (const fc of WRITE_FUNCTIONS) WRITE_TABLE[fc] = 1;

/** WRITE_FUNCTIONS.has(fc), as a table lookup (asked for every Modbus request). */
export function isWriteFunction(fc: number): boolean {
  return WRITE_TABLE[fc] === 1;
}
export const COIL_WRITES: ReadonlySet<number> = new Set([
  FunctionCode.WRITE_SINGLE_COIL,
  FunctionCode.WRITE_MULTIPLE_COILS,
]);

export interface ModbusPair {
  functions: Set<number>;
  /** `fc:address` of every write seen. */
  writes: Set<string>;
  /** Requests in the busiest second. */
  peakPerSecond: number;
  /** Most writes within any WRITE_WINDOW_MS, and the times of the recent ones (learning only). */
  peakWrites: number;
  recentWrites: number[];
  /** Lowest and highest register/coil address read per function (`fc` -> [lo, hi]). */
  readRange: Map<number, [number, number]>;
  /** Learning only: the function of the pair's last request (most repeat it: no Set operation then). */
  lastFunction: number;
  /** Learning only: the read function whose range was looked up last, and that range (as in readRange): a read
   * within it changes nothing. */
  lastRangeFunction: number;
  lastLo: number;
  lastHi: number;
  /** Learning only: requests in second `sec`. */
  sec: number;
  n: number;
}

/** Registers per page of RegisterRanges. */
const PAGE_BITS = 8;
const PAGE = 1 << PAGE_BITS;
/** Pages for every register a PDU can name: an address (0..65535) plus the index of one of its up to 2000 values. */
const PAGES = (65536 + 2048) >> PAGE_BITS;
const MAX_REGISTER = PAGES * PAGE - 1;

/**
 * Per register (address + value index), its lowest and highest value seen, in pages of typed arrays allocated when
 * one of their registers is first seen (-1: not seen; values are 16-bit). A plain array indexed by address went
 * sparse (a slave's masters read blocks far apart) and V8 then keeps it as a hash table: a lookup per register.
 * A page holds each register's lowest and highest value side by side (2k, 2k + 1): one memory line per register.
 */
interface RegisterRanges {
  pages: (Int32Array | undefined)[];
  /** Registers seen. */
  count: number;
}

/**
 * Memo per flow of what a consumer keeps for a Modbus request's `master>slave` pair, so that the pair's key is not
 * rebuilt and looked up for every request. Flow ids are reused, so a memo holds only while the flow's IPv4
 * addresses match; other flows are looked up each time.
 */
export class FlowPairs<T> {
  private readonly src4: number[] = [];
  private readonly dst4: number[] = [];
  private readonly vals: (T | undefined)[] = [];

  constructor(private readonly lookup: (key: string, master: string, slave: string) => T) {}

  get(pkt: PacketView, flow: number): T {
    const v4 = pkt.ipVersion === 4;
    if (v4) {
      const v = this.vals[flow];
      if (v !== undefined && this.src4[flow] === pkt.src4 && this.dst4[flow] === pkt.dst4) return v;
    }
    const master = pkt.srcAddr();
    const slave = pkt.dstAddr();
    const v = this.lookup(`${master}>${slave}`, master, slave);
    if (v4) {
      this.src4[flow] = pkt.src4;
      this.dst4[flow] = pkt.dst4;
      this.vals[flow] = v;
    }
    return v;
  }

  /** Forgets every memo (the consumer dropped what they pointed to). */
  clear(): void {
    this.vals.length = 0;
  }
}

/** The service key of a packet: `client>server tcp/port` from a SYN, `a<>b udp/port` (lower port) for UDP. */
export function serviceKey(pkt: PacketView): string | undefined {
  if (pkt.ipProto === IpProto.TCP) {
    if ((pkt.tcpFlags & (TcpFlag.SYN | TcpFlag.ACK)) !== TcpFlag.SYN) return undefined;
    return `${pkt.srcAddr()}>${pkt.dstAddr()} tcp/${pkt.dport}`;
  }
  if (pkt.ipProto === IpProto.UDP) {
    const a = pkt.srcAddr();
    const b = pkt.dstAddr();
    const port = Math.min(pkt.sport, pkt.dport);
    return a < b ? `${a}<>${b} udp/${port}` : `${b}<>${a} udp/${port}`;
  }
  return undefined;
}

/** Write Single Register and Write Multiple Registers: holding-register values in `values` from `address`. */
export function isRegisterWrite(fc: number): boolean {
  return fc === 6 || fc === 16;
}

/** Span over which a pair's writes are counted (write-burst rule). */
export const WRITE_WINDOW_MS = 30_000;

/** Keeps the times within WRITE_WINDOW_MS of `ms` (list sorted), appends `ms`, returns the count. */
export function slideWrites(list: number[], ms: number): number {
  let i = 0;
  while (i < list.length && (list[i] ?? 0) <= ms - WRITE_WINDOW_MS) i++;
  if (i > 0) list.splice(0, i);
  list.push(ms);
  return list.length;
}

export class Baseline {
  readonly hosts = new Set<string>();
  /** The IPv4 hosts of `hosts`, as numbers (`| 0`: small integers to V8). */
  private readonly hosts4 = new Set<number>();
  /** Hosts that sent Modbus requests. */
  readonly masters = new Set<string>();
  /** `master>slave` -> what the pair did. */
  readonly modbus = new Map<string, ModbusPair>();
  readonly services = new Set<string>();
  /** slave -> lowest and highest holding-register value seen per register (read responses and writes). */
  private readonly registerRanges = new Map<string, RegisterRanges>();
  /** The same objects by IPv4 number (`| 0`), so that a read response builds no address text to find them. */
  private readonly registerRanges4 = new Map<number, RegisterRanges>();
  /** `host|topic` of every MQTT PUBLISH sent. */
  readonly mqttPublishes = new Set<string>();
  /** Longest DNS query name per querying host. */
  readonly dnsLongestName = new Map<string, number>();
  /** Packets learnt from, and the learning span (ms of packet time). */
  packets = 0;
  firstMs = -1;
  lastMs = -1;
  private frozen = false;
  private readonly pairs = new FlowPairs((key, master) => {
    let p = this.modbus.get(key);
    if (p === undefined) {
      p = {
        functions: new Set(),
        writes: new Set(),
        peakPerSecond: 0,
        peakWrites: 0,
        recentWrites: [],
        readRange: new Map(),
        lastFunction: -1,
        lastRangeFunction: -1,
        lastLo: 0,
        lastHi: 0,
        sec: -1,
        n: 0,
      };
      this.modbus.set(key, p);
      this.masters.add(master);
    }
    return p;
  });

  get learning(): boolean {
    return !this.frozen;
  }

  freeze(): void {
    for (const p of this.modbus.values()) {
      if (p.n > p.peakPerSecond) p.peakPerSecond = p.n;
      p.n = 0;
    }
    this.pairs.clear();
    this.frozen = true;
  }

  pair(master: string, slave: string): ModbusPair | undefined {
    return this.modbus.get(`${master}>${slave}`);
  }

  /** [lowest, highest] value a holding register of `slave` held or was given while learning. */
  registerRange(slave: string, register: number): readonly [number, number] | undefined {
    const r = this.registerRanges.get(slave);
    if (r === undefined || !Number.isInteger(register) || register < 0 || register > MAX_REGISTER)
      return undefined;
    const page = register >> PAGE_BITS;
    const i = register & (PAGE - 1);
    const lo = r.pages[page]?.[2 * i] ?? -1;
    const hi = r.pages[page]?.[2 * i + 1] ?? -1;
    return lo < 0 || hi < 0 ? undefined : [lo, hi];
  }

  onPacket(pkt: PacketView, ms: number): void {
    if (this.frozen) return;
    this.packets++;
    if (this.firstMs < 0) this.firstMs = ms;
    this.lastMs = ms;
    if (pkt.ipVersion === 4) {
      // The address text only for a host not seen yet (a numeric lookup per packet instead of two texts).
      if (!this.hosts4.has(pkt.src4 | 0)) {
        this.hosts4.add(pkt.src4 | 0);
        this.hosts.add(pkt.srcAddr());
      }
      if (!this.hosts4.has(pkt.dst4 | 0)) {
        this.hosts4.add(pkt.dst4 | 0);
        this.hosts.add(pkt.dstAddr());
      }
    } else {
      this.hosts.add(pkt.srcAddr());
      this.hosts.add(pkt.dstAddr());
    }
    const k = serviceKey(pkt);
    if (k !== undefined) this.services.add(k);
  }

  onEvent(e: DecodedEvent, pkt: PacketView, ms: number): void {
    if (this.frozen) return;
    if (e.protocol === 'mqtt' && e.msgtype === 3 && e.topic !== undefined) {
      this.mqttPublishes.add(`${pkt.srcAddr()}|${e.topic}`);
    } else if (e.protocol === 'dns' && !e.is_response && e.qry_name !== undefined) {
      const src = pkt.srcAddr();
      this.dnsLongestName.set(src, Math.max(this.dnsLongestName.get(src) ?? 0, e.qry_name.length));
    }
    if (e.protocol !== 'modbus') return;
    if (e.is_response) {
      if (e.func_code === 3 && e.address !== undefined && e.values !== undefined) {
        this.registers(this.rangesOf(pkt, true), e.address, e.values);
      }
      return;
    }
    if (isRegisterWrite(e.func_code) && e.address !== undefined && e.values !== undefined) {
      this.registers(this.rangesOf(pkt, false), e.address, e.values);
    }
    const p = this.pairs.get(pkt, e.flow);
    if (e.func_code !== p.lastFunction) {
      p.lastFunction = e.func_code;
      p.functions.add(e.func_code);
    }
    if (isWriteFunction(e.func_code)) {
      p.writes.add(`${e.func_code}:${e.address ?? -1}`);
      p.peakWrites = Math.max(p.peakWrites, slideWrites(p.recentWrites, ms));
    } else if (e.address !== undefined) {
      const end = e.address + Math.max(1, e.quantity ?? 1) - 1;
      if (e.func_code !== p.lastRangeFunction || e.address < p.lastLo || end > p.lastHi) {
        let r = p.readRange.get(e.func_code);
        if (r === undefined) {
          r = [e.address, end];
          p.readRange.set(e.func_code, r);
        } else {
          if (e.address < r[0]) r[0] = e.address;
          if (end > r[1]) r[1] = end;
        }
        p.lastRangeFunction = e.func_code;
        p.lastLo = r[0];
        p.lastHi = r[1];
      }
    }
    const sec = Math.floor(ms / 1000);
    if (sec !== p.sec) {
      if (p.n > p.peakPerSecond) p.peakPerSecond = p.n;
      p.sec = sec;
      p.n = 0;
    }
    p.n++;
  }

  /** The register ranges of the packet's source (`src`) or destination, found by IPv4 number when it has one. */
  private rangesOf(pkt: PacketView, src: boolean): RegisterRanges {
    const v4 = pkt.ipVersion === 4;
    const n = v4 ? (src ? pkt.src4 : pkt.dst4) | 0 : 0;
    if (v4) {
      const known = this.registerRanges4.get(n);
      if (known !== undefined) return known;
    }
    const slave = src ? pkt.srcAddr() : pkt.dstAddr();
    let ranges = this.registerRanges.get(slave);
    if (ranges === undefined) {
      ranges = {
        pages: new Array<Int32Array | undefined>(PAGES).fill(undefined),
        count: 0,
      };
      this.registerRanges.set(slave, ranges);
    }
    if (v4) this.registerRanges4.set(n, ranges);
    return ranges;
  }

  private registers(ranges: RegisterRanges, address: number, values: NumberList): void {
    let pageNo = -1;
    let page: Int32Array | undefined;
    for (let i = 0; i < values.length; i++) {
      const v = values.at(i) ?? 0;
      const a = address + i;
      if (a > MAX_REGISTER) break;
      if (a >> PAGE_BITS !== pageNo) {
        pageNo = a >> PAGE_BITS;
        page = ranges.pages[pageNo];
        if (page === undefined) {
          page = new Int32Array(2 * PAGE).fill(-1);
          ranges.pages[pageNo] = page;
        }
      }
      if (page === undefined) break;
      const k = 2 * (a & (PAGE - 1));
      const l = page[k] ?? -1;
      if (l < 0) {
        page[k] = v;
        page[k + 1] = v;
        ranges.count++;
      } else if (v < l) page[k] = v;
      else if (v > (page[k + 1] ?? v)) page[k + 1] = v;
    }
  }

  /** A summary for logs and the model card: counts only. */
  summary(): Record<string, number> {
    return {
      hosts: this.hosts.size,
      masters: this.masters.size,
      modbus_pairs: this.modbus.size,
      services: this.services.size,
      registers: [...this.registerRanges.values()].reduce((n, r) => n + r.count, 0),
      mqtt_publishers_topics: this.mqttPublishes.size,
      packets: this.packets,
      seconds: this.firstMs < 0 ? 0 : Math.round((this.lastMs - this.firstMs) / 1000),
    };
  }
}
