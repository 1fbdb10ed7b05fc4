// The asset inventory: hosts seen on the wire (IP, MAC, first/last seen by packet time, packet and byte counters)
// and the roles their traffic shows - Modbus client/server with the unit ids served, MQTT broker/client with client
// ids, DNS and HTTP servers and clients. Bounded: at most maxHosts hosts (more are counted, not kept) and at most
// MAX_IDS ids per role.
// On the per-packet path: a host is an id, its times, counters, IPv4 address and role flags one 64-byte record in a
// Float64Array (a packet touches one cache line per host), IPv4 hosts are found in an open-addressing table keyed
// by the address number, and nothing is allocated or formatted per packet; address and MAC text is made by
// toJson(). IPv6 hosts are keyed by their text in a Map (rare on plant networks).
import { objectArray } from '../decode/bytes.js';
import type { DecodedEvent, PacketView } from '../decode/types.js';
import { formatIpv4 } from '../decode/types.js';
import { mix32 } from '../window/hll.js';

export const DEFAULT_MAX_HOSTS = 65_536;
const MAX_IDS = 256;
/** Hosts the arrays hold before they first grow (they double up to maxHosts). */
const INITIAL_CAPACITY = 1024;
const NONE = -1;

/** Fields of a host record (H doubles per host). */
const FIRST_MS = 0;
const LAST_MS = 1;
const PACKETS_SENT = 2;
const PACKETS_RECEIVED = 3;
const BYTES_SENT = 4;
const BYTES_RECEIVED = 5;
const IP4 = 6;
const FLAGS = 7;
const H = 8;

/** Role flags per host (a role with a list has its flag from its first PDU, its list only once it holds a value). */
const Role = {
  MAC: 1,
  MODBUS_CLIENT: 2,
  MQTT_BROKER: 4,
  DNS_SERVER: 8,
  DNS_CLIENT: 16,
  MQTT_CLIENT: 32,
  HTTP_SERVER: 64,
  HTTP_CLIENT: 128,
} as const;

export interface HostRoles {
  modbus_server?: { unit_ids: number[] };
  modbus_client?: true;
  mqtt_broker?: true;
  mqtt_client?: { client_ids: string[] };
  dns_server?: true;
  dns_client?: true;
  http_server?: { hosts: string[] };
  http_client?: { user_agents: string[] };
}

export interface HostJson {
  ip: string;
  mac?: string;
  first_seen: string;
  last_seen: string;
  packets_sent: number;
  packets_received: number;
  bytes_sent: number;
  bytes_received: number;
  roles: HostRoles;
}

/**
 * Distinct texts of a role's list: none, one (the string itself: most hosts name one client id or user agent, and
 * two Sets per client host were 16 MB a run of the mixed bench capture, session 9), or a Set of at most MAX_IDS.
 */
type Texts = string | Set<string> | undefined;

function addText(texts: Texts, v: string): string | Set<string> {
  if (texts === undefined || texts === v) return v;
  if (typeof texts === 'string') return new Set([texts, v]);
  if (texts.size < MAX_IDS) texts.add(v);
  return texts;
}

function textList(texts: Texts): string[] {
  if (texts === undefined) return [];
  return typeof texts === 'string' ? [texts] : [...texts].sort();
}

/** The lists of a host's roles (made on the first value of any; one shape for all hosts). */
class HostLists {
  /** Modbus unit ids answered for, one bit per id (0-255). */
  unitIds: Uint32Array | undefined = undefined;
  clientIds: Texts = undefined;
  httpHosts: Texts = undefined;
  userAgents: Texts = undefined;
}

function macText(b: Uint8Array, o: number): string {
  let s = '';
  for (let i = 0; i < 6; i++) s += (i > 0 ? ':' : '') + (b[o + i] ?? 0).toString(16).padStart(2, '0');
  return s;
}

export class AssetInventory {
  /** Hosts not kept because the inventory was full (counted per packet that named one). */
  dropped = 0;
  private count = 0;
  private capacity = 0;
  /** Host records: id * H + field. */
  private rec = new Float64Array(0);
  /** IPv6 hosts: the address text (undefined for IPv4 hosts). */
  // Object arrays from the start (see objectArray): an empty literal starts as a small-integer array and changes kind
  // at its first element.
  private readonly ip6 = objectArray<string | undefined>();
  private mac = new Uint8Array(0);
  private readonly lists = objectArray<HostLists | undefined>();
  // IPv4 address -> id + 1 (0: empty), linear probing; hosts are never removed.
  private index4 = new Int32Array(0);
  private mask4 = 0;
  private readonly index6 = new Map<string, number>();
  /** The hosts of the packet last given to onPacket (NONE when not kept). */
  private src = NONE;
  private dst = NONE;
  /**
   * The two IPv4 hosts found last (address -> id; ids never change, hosts are never removed): a conversation's
   * packets name the same two, and then need no hash and no probe. `memoB` is the older one.
   */
  // NaN (equal to no address) and -0: doubles from the start, as addresses above 2^31 and packet times are; from a
  // small integer the fields would change representation at the first packet, and V8 would drop code compiled for
  // the inventories made before.
  private memoAddrA = NaN;
  private memoIdA = NONE;
  private memoAddrB = NaN;
  private memoIdB = NONE;
  /** Packet time of the packet given to onPacket (ms). */
  private nowMs = -0;

  constructor(private readonly maxHosts = DEFAULT_MAX_HOSTS) {
    this.grow(Math.min(INITIAL_CAPACITY, Math.max(1, maxHosts)));
  }

  get size(): number {
    return this.count;
  }

  private grow(capacity: number): void {
    const rec = new Float64Array(capacity * H);
    rec.set(this.rec);
    this.rec = rec;
    const mac = new Uint8Array(capacity * 6);
    mac.set(this.mac);
    this.mac = mac;
    this.capacity = capacity;
    // The IPv4 index stays at most half full.
    let cap = 1;
    while (cap < capacity * 2) cap <<= 1;
    this.index4 = new Int32Array(cap);
    this.mask4 = cap - 1;
    for (let id = 0; id < this.count; id++) {
      if (this.ip6[id] !== undefined) continue;
      let slot = mix32(rec[id * H + IP4] ?? 0) & this.mask4;
      while ((this.index4[slot] ?? 0) !== 0) slot = (slot + 1) & this.mask4;
      this.index4[slot] = id + 1;
    }
  }

  /** A new host id, or NONE when the inventory is full (counted by countPacket). */
  private add(ms: number): number {
    if (this.count >= this.maxHosts) return NONE;
    if (this.count === this.capacity) this.grow(Math.min(this.maxHosts, this.capacity * 2));
    const id = this.count++;
    this.rec[id * H + FIRST_MS] = ms;
    this.rec[id * H + LAST_MS] = ms;
    this.ip6[id] = undefined;
    this.lists[id] = undefined;
    return id;
  }

  private host4(addr: number): number {
    if (addr === this.memoAddrA) return this.memoIdA;
    if (addr === this.memoAddrB) {
      const id = this.memoIdB;
      this.memoAddrB = this.memoAddrA;
      this.memoIdB = this.memoIdA;
      this.memoAddrA = addr;
      this.memoIdA = id;
      return id;
    }
    let id = this.find4(addr);
    if (id === NONE) id = this.insert4(addr);
    // A host the full inventory could not keep is looked up again next time.
    if (id !== NONE) {
      this.memoAddrB = this.memoAddrA;
      this.memoIdB = this.memoIdA;
      this.memoAddrA = addr;
      this.memoIdA = id;
    }
    return id;
  }

  /**
   * The id of IPv4 host `addr`, NONE when not kept. Small, so that V8 inlines it into the packet path: a call
   * would box the address (and the packet time) per packet of a new conversation.
   */
  private find4(addr: number): number {
    const index = this.index4;
    const mask = this.mask4;
    const rec = this.rec;
    let slot = mix32(addr) & mask;
    for (;;) {
      const e = index[slot]!;
      if (e === 0) return NONE;
      if (rec[(e - 1) * H + IP4] === addr) return e - 1;
      slot = (slot + 1) & mask;
    }
  }

  /** Adds IPv4 host `addr` (not kept yet), first seen now; NONE when the inventory is full. */
  private insert4(addr: number): number {
    const id = this.add(this.nowMs);
    if (id === NONE) return NONE;
    this.rec[id * H + IP4] = addr;
    // After add(): the arrays may have grown, and the index was then rebuilt without the new host.
    let s = mix32(addr) & this.mask4;
    while ((this.index4[s] ?? 0) !== 0) s = (s + 1) & this.mask4;
    this.index4[s] = id + 1;
    return id;
  }

  private host6(text: string, ms: number): number {
    const known = this.index6.get(text);
    if (known !== undefined) return known;
    const id = this.add(ms);
    if (id === NONE) return NONE;
    this.ip6[id] = text;
    this.index6.set(text, id);
    return id;
  }

  /** Time, MAC (first one seen) of a host of the current packet. */
  private seen(h: number, id: number, ms: number, macBuf: Buffer | undefined, macOff: number): void {
    const rec = this.rec;
    if (ms > (rec[h + LAST_MS] ?? 0)) rec[h + LAST_MS] = ms;
    const flags = rec[h + FLAGS] ?? 0;
    if (macBuf !== undefined && (flags & Role.MAC) === 0) {
      rec[h + FLAGS] = flags | Role.MAC;
      const m = this.mac;
      const o = id * 6;
      for (let i = 0; i < 6; i++) m[o + i] = macBuf[macOff + i] ?? 0;
    }
  }

  /**
   * Counts a packet of `size` wire bytes for its two hosts (created on first sight). `frame`: the Ethernet frame
   * starting at frame[frameOff] (destination MAC, then source MAC), undefined when the link has no MACs.
   */
  onPacket(pkt: PacketView, frame: Buffer | undefined, frameOff: number, size: number, ms: number): void {
    this.lookupHosts(pkt, ms);
    this.countPacket(this.src, this.dst, frame, frameOff, size, ms);
  }

  /**
   * Finds the two hosts of a packet at clock time `ms`, creating those not seen before, without counting the
   * packet: then `source` and `destination` are their ids (NONE when the full inventory could not keep one). A
   * caller that keeps the ids (per flow: a flow's packets name the same two hosts, and hosts are never removed or
   * renumbered) gives them to countPacket for every packet.
   */
  lookupHosts(pkt: PacketView, ms: number): void {
    if (pkt.ipVersion === 4) {
      // The time goes by a field, not as an argument: V8 boxes a fractional number passed to a call it does not
      // inline (insert4 is rare).
      this.nowMs = ms;
      this.src = this.host4(pkt.src4);
      this.dst = this.host4(pkt.dst4);
    } else {
      this.src = this.host6(pkt.srcAddr(), ms);
      this.dst = this.host6(pkt.dstAddr(), ms);
    }
  }

  /** The source host found by the last lookupHosts (NONE: not kept). */
  get source(): number {
    return this.src;
  }

  /** The destination host found by the last lookupHosts (NONE: not kept). */
  get destination(): number {
    return this.dst;
  }

  /**
   * Counts a packet of `size` wire bytes at clock time `ms` from host `s` to host `d` (ids from lookupHosts; NONE
   * counts as a dropped host); the roles of its PDUs then go to these two. `frame`: as for onPacket.
   */
  countPacket(
    s: number,
    d: number,
    frame: Buffer | undefined,
    frameOff: number,
    size: number,
    ms: number,
  ): void {
    this.src = s;
    this.dst = d;
    const rec = this.rec;
    if (s !== NONE) {
      const h = s * H;
      this.seen(h, s, ms, frame, frameOff + 6);
      rec[h + PACKETS_SENT] = (rec[h + PACKETS_SENT] ?? 0) + 1;
      rec[h + BYTES_SENT] = (rec[h + BYTES_SENT] ?? 0) + size;
    } else this.dropped++;
    if (d !== NONE) {
      const h = d * H;
      this.seen(h, d, ms, frame, frameOff);
      rec[h + PACKETS_RECEIVED] = (rec[h + PACKETS_RECEIVED] ?? 0) + 1;
      rec[h + BYTES_RECEIVED] = (rec[h + BYTES_RECEIVED] ?? 0) + size;
    } else this.dropped++;
  }

  /**
   * Adds counts kept elsewhere (per flow) to hosts `s` and `d`: `packets` packets of `bytes` wire bytes from `s`
   * to `d`, the last at clock time `lastMs` (NONE counts as a dropped host per packet, as countPacket does). Gives
   * the same counters, times and drops as countPacket per packet: sums and a maximum, in any order.
   */
  addCounts(s: number, d: number, packets: number, bytes: number, lastMs: number): void {
    const rec = this.rec;
    if (s !== NONE) {
      const h = s * H;
      if (lastMs > rec[h + LAST_MS]!) rec[h + LAST_MS] = lastMs;
      rec[h + PACKETS_SENT] = rec[h + PACKETS_SENT]! + packets;
      rec[h + BYTES_SENT] = rec[h + BYTES_SENT]! + bytes;
    } else this.dropped += packets;
    if (d !== NONE) {
      const h = d * H;
      if (lastMs > rec[h + LAST_MS]!) rec[h + LAST_MS] = lastMs;
      rec[h + PACKETS_RECEIVED] = rec[h + PACKETS_RECEIVED]! + packets;
      rec[h + BYTES_RECEIVED] = rec[h + BYTES_RECEIVED]! + bytes;
    } else this.dropped += packets;
  }

  /**
   * Gives host `id` (not NONE) the MAC at frame[off] unless it has one. With addCounts, what countPacket does per
   * packet for a packet's host.
   */
  learnMac(id: number, frame: Buffer, off: number): void {
    this.seen(id * H, id, -Infinity, frame, off);
  }

  /** Whether host `id` has a MAC (NONE: true, a host not kept takes none). */
  hasMac(id: number): boolean {
    return id === NONE || ((this.rec[id * H + FLAGS] ?? 0) & Role.MAC) !== 0;
  }

  /** The hosts the roles of the next PDUs go to (from lookupHosts; as countPacket sets them). */
  setHosts(s: number, d: number): void {
    this.src = s;
    this.dst = d;
  }

  /**
   * Called before the inventory is read (toJson): whoever keeps counts for it elsewhere (addCounts) hands them
   * over then.
   */
  beforeRead: (() => void) | undefined;

  private listsOf(id: number): HostLists {
    let l = this.lists[id];
    if (l === undefined) {
      l = new HostLists();
      this.lists[id] = l;
    }
    return l;
  }

  private flag(id: number, role: number): void {
    const i = id * H + FLAGS;
    this.rec[i] = (this.rec[i] ?? 0) | role;
  }

  /**
   * Learns roles from a PDU of the packet last given to onPacket; `toServer` says whether the packet's source is
   * the client. (Reads the event during the call only: see DecodedEvent.)
   */
  onEvent(e: DecodedEvent, toServer: boolean): void {
    switch (e.protocol) {
      case 'modbus':
        return this.onModbus(e.unit_id, toServer);
      case 'mqtt':
        return this.onMqtt(e.msgtype, e.client_id, toServer);
      case 'dns':
        return this.onDns(toServer);
      case 'http':
        return this.onHttp(e.host, e.user_agent, toServer);
    }
  }

  /** The client, server and unit id of the last Modbus PDU that taught roles. */
  private mbClient = NONE;
  private mbServer = NONE;
  private mbUnit = -1;

  /** A Modbus PDU of the packet last given to onPacket (see onEvent). */
  onModbus(unitId: number, toServer: boolean): void {
    const client = toServer ? this.src : this.dst;
    const server = toServer ? this.dst : this.src;
    if (client === NONE || server === NONE) return;
    const u = unitId & 255;
    // A poll and its answer repeat what the last PDU taught (host ids are never reused).
    if (client === this.mbClient && server === this.mbServer && u === this.mbUnit) return;
    this.mbClient = client;
    this.mbServer = server;
    this.mbUnit = u;
    this.flag(client, Role.MODBUS_CLIENT);
    const l = this.listsOf(server);
    const bits = (l.unitIds ??= new Uint32Array(8));
    bits[u >> 5] = (bits[u >> 5] ?? 0) | (1 << (u & 31));
  }

  /** An MQTT packet (`clientId`: a CONNECT's) of the packet last given to onPacket. */
  onMqtt(msgtype: number, clientId: string | undefined, toServer: boolean): void {
    const client = toServer ? this.src : this.dst;
    const server = toServer ? this.dst : this.src;
    if (client === NONE || server === NONE) return;
    this.flag(server, Role.MQTT_BROKER);
    this.flag(client, Role.MQTT_CLIENT);
    if (msgtype === 1 && clientId !== undefined) {
      const l = this.listsOf(client);
      l.clientIds = addText(l.clientIds, clientId);
    }
  }

  /** A DNS message of the packet last given to onPacket. */
  onDns(toServer: boolean): void {
    const client = toServer ? this.src : this.dst;
    const server = toServer ? this.dst : this.src;
    if (client === NONE || server === NONE) return;
    this.flag(server, Role.DNS_SERVER);
    this.flag(client, Role.DNS_CLIENT);
  }

  /** An HTTP message (its Host and User-Agent headers) of the packet last given to onPacket. */
  onHttp(host: string | undefined, userAgent: string | undefined, toServer: boolean): void {
    const client = toServer ? this.src : this.dst;
    const server = toServer ? this.dst : this.src;
    if (client === NONE || server === NONE) return;
    this.flag(server, Role.HTTP_SERVER);
    this.flag(client, Role.HTTP_CLIENT);
    if (host !== undefined) {
      const s = this.listsOf(server);
      s.httpHosts = addText(s.httpHosts, host);
    }
    if (userAgent !== undefined) {
      const c = this.listsOf(client);
      c.userAgents = addText(c.userAgents, userAgent);
    }
  }

  /** The inventory as JSON, hosts sorted by address text. */
  toJson(): { hosts: HostJson[]; dropped_hosts: number } {
    this.beforeRead?.();
    const hosts: HostJson[] = [];
    for (let id = 0; id < this.count; id++) {
      const h = id * H;
      const rec = this.rec;
      const f = rec[h + FLAGS] ?? 0;
      const l = this.lists[id];
      const roles: HostRoles = {};
      if (l?.unitIds) roles.modbus_server = { unit_ids: unitIds(l.unitIds) };
      if (f & Role.MODBUS_CLIENT) roles.modbus_client = true;
      if (f & Role.MQTT_BROKER) roles.mqtt_broker = true;
      if (f & Role.MQTT_CLIENT) roles.mqtt_client = { client_ids: textList(l?.clientIds) };
      if (f & Role.DNS_SERVER) roles.dns_server = true;
      if (f & Role.DNS_CLIENT) roles.dns_client = true;
      if (f & Role.HTTP_SERVER) roles.http_server = { hosts: textList(l?.httpHosts) };
      if (f & Role.HTTP_CLIENT) roles.http_client = { user_agents: textList(l?.userAgents) };
      hosts.push({
        ip: this.ip6[id] ?? formatIpv4(rec[h + IP4] ?? 0),
        ...(f & Role.MAC ? { mac: macText(this.mac, id * 6) } : {}),
        first_seen: new Date(rec[h + FIRST_MS] ?? 0).toISOString(),
        last_seen: new Date(rec[h + LAST_MS] ?? 0).toISOString(),
        packets_sent: rec[h + PACKETS_SENT] ?? 0,
        packets_received: rec[h + PACKETS_RECEIVED] ?? 0,
        bytes_sent: rec[h + BYTES_SENT] ?? 0,
        bytes_received: rec[h + BYTES_RECEIVED] ?? 0,
        roles,
      });
    }
    hosts.sort((a, b) => a.ip.localeCompare(b.ip, 'en', { numeric: true }));
    return { hosts, dropped_hosts: this.dropped };
  }
}

/** The unit ids of a bit set, ascending. */
function unitIds(bits: Uint32Array): number[] {
  const out: number[] = [];
  for (let u = 0; u < 256; u++) if (((bits[u >> 5] ?? 0) >>> (u & 31)) & 1) out.push(u);
  return out;
}
