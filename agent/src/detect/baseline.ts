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

function emptyPair(): ModbusPair {
  return {
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
}

/**
 * Facts an operator declares in the agent's config (agent/src/config.ts): hosts that act as Modbus masters (e.g. the
 * engineering workstation) and Modbus pairs with the function codes they use. They are baseline facts, not an
 * allow-list: a declared master is judged as a learnt master is (a device it never addressed, a function the pair
 * never used, a write address never written, a value outside a register's learnt range, a flood are still
 * detections). They are kept apart from what was learnt, so the stored baseline holds only what was learnt and a
 * fact removed from the config is gone at the next start.
 */
export interface DeclaredFacts {
  masters: readonly string[];
  pairs: readonly { master: string; slave: string; functions: readonly number[] }[];
}

/** A frozen baseline's learnt content as plain data (baseline-file.ts keeps it in the agent's data dir). */
export interface BaselineData {
  hosts: string[];
  masters: string[];
  modbus: {
    pair: string;
    functions: number[];
    writes: string[];
    peak_per_second: number;
    peak_writes: number;
    /** [function, lowest, highest] address read. */
    read_range: [number, number, number][];
  }[];
  services: string[];
  /** Per slave, [register, lowest, highest] value as flat triples. */
  registers: { slave: string; ranges: number[] }[];
  mqtt_publishes: string[];
  dns_longest_name: [string, number][];
  packets: number;
  first_ms: number;
  last_ms: number;
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
      p = emptyPair();
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
    const key = `${master}>${slave}`;
    const learnt = this.modbus.get(key);
    if (this.declaredPairs.size === 0) return learnt;
    const declared = this.declaredPairs.get(key);
    if (declared === undefined) return learnt;
    if (learnt === undefined) return declared;
    // Both: what was learnt, with the declared functions too (a new object; the learnt pair stays as learnt).
    return { ...learnt, functions: new Set([...learnt.functions, ...declared.functions]) };
  }

  /** A host that acted as a Modbus master while learning, or was declared one. */
  isMaster(host: string): boolean {
    return this.masters.has(host) || this.declaredMasters.has(host);
  }

  /** A host seen while learning, or named in a declared fact. */
  isHost(host: string): boolean {
    return this.hosts.has(host) || this.declaredHosts.has(host);
  }

  private readonly declaredMasters = new Set<string>();
  private readonly declaredHosts = new Set<string>();
  private readonly declaredPairs = new Map<string, ModbusPair>();

  /** Adds the operator's declared facts (kept apart from what is learnt: see DeclaredFacts). */
  declare(facts: DeclaredFacts): void {
    for (const m of facts.masters) {
      this.declaredMasters.add(m);
      this.declaredHosts.add(m);
    }
    for (const d of facts.pairs) {
      this.declaredMasters.add(d.master);
      this.declaredHosts.add(d.master);
      this.declaredHosts.add(d.slave);
      const key = `${d.master}>${d.slave}`;
      const p = this.declaredPairs.get(key) ?? emptyPair();
      for (const fc of d.functions) p.functions.add(fc);
      this.declaredPairs.set(key, p);
    }
  }

  /** The declared facts (for `vigil-agent baseline show` and the logs). */
  declared(): DeclaredFacts {
    return {
      masters: [...this.declaredMasters].filter(
        (m) => ![...this.declaredPairs.keys()].some((k) => k.startsWith(`${m}>`)),
      ),
      pairs: [...this.declaredPairs].map(([key, p]) => {
        const [master = '', slave = ''] = key.split('>');
        return { master, slave, functions: [...p.functions].sort((a, b) => a - b) };
      }),
    };
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

  /** What was learnt, as plain data (declared facts left out); the baseline must be frozen. */
  toData(): BaselineData {
    if (!this.frozen) throw new Error('the baseline is still learning');
    return this.data();
  }

  /**
   * What was learnt so far, frozen or not (a learning period's checkpoint): as toData, with the current second's
   * requests counted in each pair's busiest second. Learning goes on unchanged.
   */
  checkpoint(): BaselineData {
    return this.data();
  }

  private data(): BaselineData {
    const registers: BaselineData['registers'] = [];
    for (const [slave, r] of this.registerRanges) {
      const ranges: number[] = [];
      r.pages.forEach((page, pageNo) => {
        if (page === undefined) return;
        for (let i = 0; i < PAGE; i++) {
          const lo = page[2 * i] ?? -1;
          if (lo >= 0) ranges.push((pageNo << PAGE_BITS) + i, lo, page[2 * i + 1] ?? lo);
        }
      });
      registers.push({ slave, ranges });
    }
    return {
      hosts: [...this.hosts],
      masters: [...this.masters],
      modbus: [...this.modbus].map(([pair, p]) => ({
        pair,
        functions: [...p.functions],
        writes: [...p.writes],
        peak_per_second: Math.max(p.peakPerSecond, p.n),
        peak_writes: p.peakWrites,
        read_range: [...p.readRange].map(([fc, [lo, hi]]) => [fc, lo, hi]),
      })),
      services: [...this.services],
      registers,
      mqtt_publishes: [...this.mqttPublishes],
      dns_longest_name: [...this.dnsLongestName],
      packets: this.packets,
      first_ms: this.firstMs,
      last_ms: this.lastMs,
    };
  }

  /**
   * A frozen baseline holding `data` (what toData gave); with `learning`, one that goes on learning from it (a
   * checkpoint resumed: the address-number indexes fill again as its hosts and slaves are seen).
   */
  static fromData(data: BaselineData, o: { learning?: boolean } = {}): Baseline {
    const b = new Baseline();
    for (const h of data.hosts) b.hosts.add(h);
    for (const m of data.masters) b.masters.add(m);
    for (const d of data.modbus) {
      const p = emptyPair();
      for (const fc of d.functions) p.functions.add(fc);
      for (const w of d.writes) p.writes.add(w);
      p.peakPerSecond = d.peak_per_second;
      p.peakWrites = d.peak_writes;
      for (const [fc, lo, hi] of d.read_range) p.readRange.set(fc, [lo, hi]);
      b.modbus.set(d.pair, p);
    }
    for (const s of data.services) b.services.add(s);
    for (const { slave, ranges } of data.registers) {
      const r: RegisterRanges = { pages: new Array<Int32Array | undefined>(PAGES).fill(undefined), count: 0 };
      for (let i = 0; i + 2 < ranges.length; i += 3) {
        const reg = ranges[i] ?? -1;
        if (reg < 0 || reg > MAX_REGISTER) continue;
        let page = r.pages[reg >> PAGE_BITS];
        if (page === undefined) {
          page = new Int32Array(2 * PAGE).fill(-1);
          r.pages[reg >> PAGE_BITS] = page;
        }
        const k = 2 * (reg & (PAGE - 1));
        if ((page[k] ?? -1) < 0) r.count++;
        page[k] = ranges[i + 1] ?? 0;
        page[k + 1] = ranges[i + 2] ?? 0;
      }
      b.registerRanges.set(slave, r);
    }
    for (const p of data.mqtt_publishes) b.mqttPublishes.add(p);
    for (const [h, n] of data.dns_longest_name) b.dnsLongestName.set(h, n);
    b.packets = data.packets;
    b.firstMs = data.first_ms;
    b.lastMs = data.last_ms;
    b.frozen = o.learning !== true;
    return b;
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
