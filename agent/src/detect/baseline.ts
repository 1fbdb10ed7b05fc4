// A facility's learned baseline: which hosts talk, who polls whom over Modbus with which function codes, who writes
// where, which services (transport + server port) each host pair uses, and the busiest second seen per Modbus pair
// and per source. Learnt during the learning period (packet time), then frozen; the policy rules compare against it.
import { FunctionCode } from '../decode/modbus.js';
import { IpProto, type DecodedEvent, type PacketView } from '../decode/types.js';
import { TcpFlag } from '../decode/tcp.js';

export const WRITE_FUNCTIONS: ReadonlySet<number> = new Set([5, 6, 15, 16, 21, 22, 23]);
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
  /** Hosts that sent Modbus requests. */
  readonly masters = new Set<string>();
  /** `master>slave` -> what the pair did. */
  readonly modbus = new Map<string, ModbusPair>();
  readonly services = new Set<string>();
  /** `slave|register` -> [lowest, highest] holding-register value seen (read responses and writes). */
  readonly registerRange = new Map<string, [number, number]>();
  /** `host|topic` of every MQTT PUBLISH sent. */
  readonly mqttPublishes = new Set<string>();
  /** Longest DNS query name per querying host. */
  readonly dnsLongestName = new Map<string, number>();
  /** Packets learnt from, and the learning span (ms of packet time). */
  packets = 0;
  firstMs = -1;
  lastMs = -1;
  private frozen = false;
  private curSec = -1;
  private readonly perSecond = new Map<string, number>();

  get learning(): boolean {
    return !this.frozen;
  }

  freeze(): void {
    this.flushSecond();
    this.frozen = true;
  }

  pair(master: string, slave: string): ModbusPair | undefined {
    return this.modbus.get(`${master}>${slave}`);
  }

  onPacket(pkt: PacketView, ms: number): void {
    if (this.frozen) return;
    this.packets++;
    if (this.firstMs < 0) this.firstMs = ms;
    this.lastMs = ms;
    this.hosts.add(pkt.srcAddr());
    this.hosts.add(pkt.dstAddr());
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
        this.registers(pkt.srcAddr(), e.address, e.values);
      }
      return;
    }
    if (isRegisterWrite(e.func_code) && e.address !== undefined && e.values !== undefined) {
      this.registers(pkt.dstAddr(), e.address, e.values);
    }
    const master = pkt.srcAddr();
    const key = `${master}>${pkt.dstAddr()}`;
    this.masters.add(master);
    let p = this.modbus.get(key);
    if (p === undefined) {
      p = {
        functions: new Set(),
        writes: new Set(),
        peakPerSecond: 0,
        peakWrites: 0,
        recentWrites: [],
        readRange: new Map(),
      };
      this.modbus.set(key, p);
    }
    p.functions.add(e.func_code);
    if (WRITE_FUNCTIONS.has(e.func_code)) {
      p.writes.add(`${e.func_code}:${e.address ?? -1}`);
      p.peakWrites = Math.max(p.peakWrites, slideWrites(p.recentWrites, ms));
    } else if (e.address !== undefined) {
      const end = e.address + Math.max(1, e.quantity ?? 1) - 1;
      const r = p.readRange.get(e.func_code);
      if (r === undefined) p.readRange.set(e.func_code, [e.address, end]);
      else p.readRange.set(e.func_code, [Math.min(r[0], e.address), Math.max(r[1], end)]);
    }
    const sec = Math.floor(ms / 1000);
    if (sec !== this.curSec) {
      this.flushSecond();
      this.curSec = sec;
    }
    this.perSecond.set(key, (this.perSecond.get(key) ?? 0) + 1);
  }

  private registers(slave: string, address: number, values: readonly number[]): void {
    values.forEach((v, i) => {
      const k = `${slave}|${address + i}`;
      const r = this.registerRange.get(k);
      if (r === undefined) this.registerRange.set(k, [v, v]);
      else if (v < r[0]) r[0] = v;
      else if (v > r[1]) r[1] = v;
    });
  }

  private flushSecond(): void {
    for (const [key, n] of this.perSecond) {
      const p = this.modbus.get(key);
      if (p !== undefined && n > p.peakPerSecond) p.peakPerSecond = n;
    }
    this.perSecond.clear();
  }

  /** A summary for logs and the model card: counts only. */
  summary(): Record<string, number> {
    return {
      hosts: this.hosts.size,
      masters: this.masters.size,
      modbus_pairs: this.modbus.size,
      services: this.services.size,
      registers: this.registerRange.size,
      mqtt_publishers_topics: this.mqttPublishes.size,
      packets: this.packets,
      seconds: this.firstMs < 0 ? 0 : Math.round((this.lastMs - this.firstMs) / 1000),
    };
  }
}
