// The asset inventory: hosts seen on the wire (IP, MAC, first/last seen by packet time, packet and byte counters)
// and the roles their traffic shows - Modbus client/server with the unit ids served, MQTT broker/client with client
// ids, DNS and HTTP servers and clients. Bounded: at most maxHosts hosts (more are counted, not kept) and at most
// MAX_IDS ids per role.
import type { DecodedEvent } from '../decode/types.js';

export const DEFAULT_MAX_HOSTS = 65_536;
const MAX_IDS = 256;

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

interface Host {
  ip: string;
  mac: string | undefined;
  firstMs: number;
  lastMs: number;
  packetsSent: number;
  packetsReceived: number;
  bytesSent: number;
  bytesReceived: number;
  unitIds?: Set<number>;
  modbusClient?: boolean;
  mqttBroker?: boolean;
  clientIds?: Set<string>;
  dnsServer?: boolean;
  dnsClient?: boolean;
  httpHosts?: Set<string>;
  userAgents?: Set<string>;
}

function addBounded<T>(set: Set<T>, v: T): void {
  if (set.size < MAX_IDS) set.add(v);
}

/** The packet's addresses and MACs as the inventory needs them. */
export interface HostPacket {
  /** Cheap key per address: the IPv4 number, or the IPv6 text. */
  srcKey: number | string;
  dstKey: number | string;
  src: () => string;
  dst: () => string;
  srcMac: () => string | undefined;
  dstMac: () => string | undefined;
  size: number;
}

export class AssetInventory {
  private readonly hosts = new Map<number | string, Host>();
  /** Hosts not kept because the inventory was full. */
  dropped = 0;

  constructor(private readonly maxHosts = DEFAULT_MAX_HOSTS) {}

  get size(): number {
    return this.hosts.size;
  }

  // The last two hosts looked up: a conversation's packets alternate between the same two addresses.
  private keyA: number | string = -1;
  private hostA: Host | undefined;
  private keyB: number | string = -1;
  private hostB: Host | undefined;

  private host(
    key: number | string,
    ip: () => string,
    mac: () => string | undefined,
    ms: number,
  ): Host | undefined {
    let h: Host | undefined;
    if (key === this.keyA) h = this.hostA;
    else if (key === this.keyB) h = this.hostB;
    else {
      h = this.hosts.get(key);
      if (h !== undefined) {
        this.keyB = this.keyA;
        this.hostB = this.hostA;
        this.keyA = key;
        this.hostA = h;
      }
    }
    if (h === undefined) {
      if (this.hosts.size >= this.maxHosts) {
        this.dropped++;
        return undefined;
      }
      h = {
        ip: ip(),
        mac: mac(),
        firstMs: ms,
        lastMs: ms,
        packetsSent: 0,
        packetsReceived: 0,
        bytesSent: 0,
        bytesReceived: 0,
      };
      this.hosts.set(key, h);
    } else if (h.mac === undefined) {
      h.mac = mac();
    }
    if (ms > h.lastMs) h.lastMs = ms;
    return h;
  }

  private src: Host | undefined;
  private dst: Host | undefined;

  /** Counts a packet for its two hosts (created on first sight). */
  onPacket(p: HostPacket, ms: number): void {
    const s = (this.src = this.host(p.srcKey, p.src, p.srcMac, ms));
    if (s !== undefined) {
      s.packetsSent++;
      s.bytesSent += p.size;
    }
    const d = (this.dst = this.host(p.dstKey, p.dst, p.dstMac, ms));
    if (d !== undefined) {
      d.packetsReceived++;
      d.bytesReceived += p.size;
    }
  }

  /**
   * Learns roles from a PDU of the packet last given to onPacket; `toServer` says whether the packet's source is
   * the client.
   */
  onEvent(e: DecodedEvent, toServer: boolean): void {
    const src = this.src;
    const dst = this.dst;
    const client = toServer ? src : dst;
    const server = toServer ? dst : src;
    if (client === undefined || server === undefined) return;
    switch (e.protocol) {
      case 'modbus':
        client.modbusClient = true;
        addBounded((server.unitIds ??= new Set()), e.unit_id);
        return;
      case 'mqtt':
        server.mqttBroker = true;
        client.clientIds ??= new Set();
        if (e.msgtype === 1 && e.client_id !== undefined) addBounded(client.clientIds, e.client_id);
        return;
      case 'dns':
        server.dnsServer = true;
        client.dnsClient = true;
        return;
      case 'http':
        server.httpHosts ??= new Set();
        client.userAgents ??= new Set();
        if (e.host !== undefined) addBounded(server.httpHosts, e.host);
        if (e.user_agent !== undefined) addBounded(client.userAgents, e.user_agent);
        return;
    }
  }

  /** The inventory as JSON, hosts sorted by address text. */
  toJson(): { hosts: HostJson[]; dropped_hosts: number } {
    const hosts = [...this.hosts.values()].map((h): HostJson => {
      const roles: HostRoles = {};
      if (h.unitIds) roles.modbus_server = { unit_ids: [...h.unitIds].sort((a, b) => a - b) };
      if (h.modbusClient) roles.modbus_client = true;
      if (h.mqttBroker) roles.mqtt_broker = true;
      if (h.clientIds) roles.mqtt_client = { client_ids: [...h.clientIds].sort() };
      if (h.dnsServer) roles.dns_server = true;
      if (h.dnsClient) roles.dns_client = true;
      if (h.httpHosts) roles.http_server = { hosts: [...h.httpHosts].sort() };
      if (h.userAgents) roles.http_client = { user_agents: [...h.userAgents].sort() };
      const j: HostJson = {
        ip: h.ip,
        ...(h.mac !== undefined ? { mac: h.mac } : {}),
        first_seen: new Date(h.firstMs).toISOString(),
        last_seen: new Date(h.lastMs).toISOString(),
        packets_sent: h.packetsSent,
        packets_received: h.packetsReceived,
        bytes_sent: h.bytesSent,
        bytes_received: h.bytesReceived,
        roles,
      };
      return j;
    });
    hosts.sort((a, b) => a.ip.localeCompare(b.ip, 'en', { numeric: true }));
    return { hosts, dropped_hosts: this.dropped };
  }
}
