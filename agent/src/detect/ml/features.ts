// The models' inputs, derived from the decoded traffic and the 60-s window. No feature identifies a host by its
// address: a flow-second row describes what one client did to one server in one second (counts, sizes, protocol
// mix, whether the pair and service were seen while learning), the window steps describe the whole facility.
// Addresses are kept beside the rows (for the alert's src/dst), never inside them.
//
// - Layer 1a (Isolation Forest) scores FLOW_FEATURE_FIELDS rows, one per client -> server (and IP protocol) per
//   second of packet time (per-packet scoring is too dear at line rate).
// - Layer 1b (LSTM autoencoder) reads WINDOW_STEP_FIELDS for the window's 60 one-second steps, standardised with the
//   facility's own mean and deviation (learnt with its baseline).
// - Layer 2 (classifier) reads L2_FEATURE_FIELDS: a summary of the standardised window, the trigger flow's row and
//   its Layer 1a score. Not the Layer 1b score: trained where L1b rarely fires on normal traffic, the classifier
//   learnt "L1b fired = attack" and repeated every false L1b alarm of an unseen plant.
// Each list is versioned by schemaHash (@vigil/shared) like the per-packet schema; model cards record both.
import { FEATURE_SCHEMA_VERSION, schemaHash, type FacilitySecond, type FeatureField } from '@vigil/shared';
import type { DecodedEvent, PacketView } from '../../decode/types.js';
import { TcpFlag } from '../../decode/tcp.js';
import { IpProto } from '../../decode/types.js';
import { hashBytes16 } from '../../window/hll.js';
import { isUmasProgram } from '../rules.js';

const f = (name: string, description: string): FeatureField => ({ name, description });

export const FLOW_FEATURE_FIELDS: readonly FeatureField[] = [
  f('packets', 'ln(1 + packets of the flow in the second), both directions'),
  f('bytes', 'ln(1 + wire bytes), both directions'),
  f('mean_size', 'mean wire size / 1000'),
  f('to_server_share', 'share of packets from the client to the server'),
  f('syn', 'ln(1 + TCP SYN without ACK)'),
  f('rst', 'ln(1 + TCP RST)'),
  f('fin', 'ln(1 + TCP FIN)'),
  f('failed', 'ln(1 + refused or unreachable connection attempts)'),
  f('server_ports', 'ln(1 + distinct server ports)'),
  f('client_ports', 'ln(1 + distinct client ports)'),
  f('service', 'protocol class of the server port: 0 other, 1 modbus, 2 mqtt, 3 dns, 4 http'),
  f('ip_proto', 'IP protocol number / 17'),
  f('modbus_reads', 'ln(1 + Modbus read requests)'),
  f('modbus_writes', 'ln(1 + Modbus write requests)'),
  f('modbus_exceptions', 'ln(1 + Modbus exception responses)'),
  f('modbus_functions', 'distinct Modbus request function codes'),
  f('modbus_other_functions', 'ln(1 + requests of function codes other than 1-6, 15, 16, 23)'),
  f('mqtt_connects', 'ln(1 + MQTT CONNECT)'),
  f('mqtt_refused', 'ln(1 + MQTT CONNACK with a non-zero code)'),
  f('mqtt_publishes', 'ln(1 + MQTT PUBLISH)'),
  f('dns_queries', 'ln(1 + DNS queries)'),
  f('dns_name_length', 'mean DNS query name length / 64'),
  f('dns_nxdomain', 'ln(1 + NXDOMAIN responses)'),
  f('http_requests', 'ln(1 + HTTP requests)'),
  f('http_errors', 'ln(1 + HTTP responses with status >= 400)'),
  f('payload_size', 'mean transport payload / 1000'),
  f('pair_known', '1 when the client talked to this server while the baseline was learnt'),
  f('service_known', '1 when the client used this server port while the baseline was learnt'),
  f(
    'mqtt_new_topics',
    'ln(1 + MQTT PUBLISH from the client on a topic it never published on while the baseline was learnt)',
  ),
];

export const WINDOW_STEP_FIELDS: readonly FeatureField[] = [
  f('packets', 'ln(1 + packets_per_sec)'),
  f('bytes', 'ln(1 + bytes_per_sec)'),
  f('avg_size', 'avg_packet_size / 1000'),
  f('unique_src', 'ln(1 + unique_src_ips)'),
  f('unique_dst', 'ln(1 + unique_dest_ips)'),
  f('failed', 'ln(1 + failed_connections)'),
  f('modbus_reads', 'ln(1 + modbus_reads)'),
  f('modbus_writes', 'ln(1 + modbus_writes)'),
  f('modbus_exceptions', 'ln(1 + modbus_exceptions)'),
  f('modbus_functions', 'distinct Modbus request function codes'),
  f('mqtt_connects', 'ln(1 + mqtt_connects)'),
  f('mqtt_publishes', 'ln(1 + mqtt_publishes)'),
  f('dns_queries', 'ln(1 + dns_queries)'),
  f('dns_nxdomain', 'ln(1 + dns_nxdomain)'),
  f('http_requests', 'ln(1 + http_requests)'),
];

export const WINDOW_STEPS = 60;
/** Seconds of the window's end summarised as "recent" for Layer 2. */
export const RECENT_STEPS = 5;
export const NF = FLOW_FEATURE_FIELDS.length;
export const NW = WINDOW_STEP_FIELDS.length;

export const L2_FEATURE_FIELDS: readonly FeatureField[] = [
  ...WINDOW_STEP_FIELDS.map((x) =>
    f(`recent_mean.${x.name}`, `mean of the last 5 standardised steps: ${x.name}`),
  ),
  ...WINDOW_STEP_FIELDS.map((x) =>
    f(`recent_max.${x.name}`, `max of the last 5 standardised steps: ${x.name}`),
  ),
  ...WINDOW_STEP_FIELDS.map((x) =>
    f(`window_mean.${x.name}`, `mean of the 60 standardised steps: ${x.name}`),
  ),
  ...FLOW_FEATURE_FIELDS.map((x) => f(`trigger.${x.name}`, `the trigger flow-second: ${x.description}`)),
  f('l1a_score', 'Isolation Forest score of the trigger flow-second (0..1)'),
];
export const NL2 = L2_FEATURE_FIELDS.length;

/** Hashes of the feature lists the models read (recorded in every model card and artifact). */
export const MODEL_FEATURE_SCHEMAS = {
  packet: FEATURE_SCHEMA_VERSION,
  flow: schemaHash(FLOW_FEATURE_FIELDS),
  window: schemaHash(WINDOW_STEP_FIELDS),
  l2: schemaHash(L2_FEATURE_FIELDS),
} as const;

/** Per function code (0-255): 1 when it is in the list (asked per Modbus request: a table, not a Set). */
function fcTable(codes: readonly number[]): Uint8Array {
  const t = new Uint8Array(256);
  for (const c of codes) t[c] = 1;
  return t;
}
const MODBUS_COMMON = fcTable([1, 2, 3, 4, 5, 6, 15, 16, 23]);
const MODBUS_WRITES = fcTable([5, 6, 15, 16, 21, 22, 23]);
const WRITE_FILE_RECORD = 21;
const COIL_WRITE_FUNCTIONS = fcTable([5, 15]);
const SERVICE: Record<number, number> = { 502: 1, 1883: 2, 8883: 2, 53: 3, 80: 4, 8080: 4 };

// Field order is memory order: what every packet reads or counts comes first (one cache line of the object), the
// rare protocol counters after.
interface Acc {
  sec: number;
  /** hostKey of the client and the server (the open map's keys). */
  c: number;
  s: number;
  proto: number;
  /** False once taken out of the open map (a cache slot may still point at it). */
  open: boolean;
  packets: number;
  toServer: number;
  bytes: number;
  payload: number;
  /** The ports and Modbus function of the last packet (most repeat them: no Set operation then). */
  lastServerPort: number;
  lastClientPort: number;
  lastFunction: number;
  syn: number;
  rst: number;
  fin: number;
  failed: number;
  mbReads: number;
  mbWrites: number;
  mbExc: number;
  mbOther: number;
  client: string;
  server: string;
  pairKey: string;
  firstFrame: number;
  firstMs: number;
  serverPorts: Set<number>;
  clientPorts: Set<number>;
  service: number;
  mbFcs: Set<number>;
  mbProgram: number;
  mbCoilWrites: number;
  mbRegisterWrites: number;
  mqConnects: number;
  mqRefused: number;
  mqPublishes: number;
  /** PUBLISHes from the client on a topic it did not publish on while learning (0 while learning). */
  mqNewTopics: number;
  dnsQueries: number;
  dnsNameLen: number;
  dnsNx: number;
  httpReq: number;
  httpErr: number;
  /** Labelled packets by label (training only). */
  labels: Map<string, number> | undefined;
  /** The pair's flow-second of another IP protocol. */
  next: Acc | undefined;
}

/**
 * Client|topic pairs learnt at most (about 10 MB): a learning period flooded with topics stops learning more, and
 * a pair it did not keep counts as new afterwards (sent to Layer 2, which the 30-s repeat rule bounds).
 */
export const MAX_KNOWN_TOPICS = 65_536;

/** Flow-seconds kept for reuse at most (a flood's many short flows are not kept). */
const MAX_SPARE = 4096;

/** Makes a taken flow-second a new, empty one (as FlowSeconds.find creates them). */
function reopen(
  a: Acc,
  sec: number,
  c: number,
  s: number,
  proto: number,
  client: string,
  server: string,
  frame: number,
  ms: number,
  next: Acc | undefined,
): void {
  a.sec = sec;
  a.c = c;
  a.s = s;
  a.proto = proto;
  a.open = true;
  a.packets = 0;
  a.toServer = 0;
  a.bytes = 0;
  a.payload = 0;
  a.lastServerPort = -1;
  a.lastClientPort = -1;
  a.lastFunction = -1;
  a.syn = 0;
  a.rst = 0;
  a.fin = 0;
  a.failed = 0;
  a.mbReads = 0;
  a.mbWrites = 0;
  a.mbExc = 0;
  a.mbOther = 0;
  a.client = client;
  a.server = server;
  a.pairKey = `${client}>${server}`;
  a.firstFrame = frame;
  a.firstMs = ms;
  a.serverPorts.clear();
  a.clientPorts.clear();
  a.service = 0;
  a.mbFcs.clear();
  a.mbProgram = 0;
  a.mbCoilWrites = 0;
  a.mbRegisterWrites = 0;
  a.mqConnects = 0;
  a.mqRefused = 0;
  a.mqPublishes = 0;
  a.mqNewTopics = 0;
  a.dnsQueries = 0;
  a.dnsNameLen = 0;
  a.dnsNx = 0;
  a.httpReq = 0;
  a.httpErr = 0;
  a.labels = undefined;
  a.next = next;
}

/** Removes `a` from the chain of server `s` in `m`. */
function unlink(m: Map<number, Acc>, s: number, a: Acc): void {
  a.open = false;
  const head = m.get(s);
  if (head === a) {
    if (a.next === undefined) m.delete(s);
    else m.set(s, a.next);
    return;
  }
  let p = head;
  while (p !== undefined && p.next !== a) p = p.next;
  if (p !== undefined) p.next = a.next;
}

/** One flow-second: the feature row plus who it was about (for the alert, never a feature). */
export interface FlowRow {
  sec: number;
  client: string;
  server: string;
  /** First frame of the flow in that second (evidence) and its packet time (ms). */
  frame: number;
  ms: number;
  x: Float32Array;
  /**
   * Program-transfer requests of the flow in the second: UMAS (fc 90) reservation, download, stop or start, and Write
   * File Record (fc 21). Not a feature (the models never read it; the feature schema is unchanged): the fact the
   * detector checks Layer 2's Program Download (T0843) against, which the feature row cannot tell from other
   * uncommon function codes (a fc 43 device identification counts the same in modbus_other_functions).
   */
  program: number;
  /** Coil writes (fc 5, 15) and register writes (fc 6, 16, 22, 23) of the flow in the second: facts, not features. */
  coilWrites: number;
  registerWrites: number;
  /** Majority label of the flow's packets in that second (training data only). */
  label?: string | undefined;
}

/** Slots of FlowSeconds' cache of open flow-seconds (a power of two). */
const CACHE_SLOTS = 8192;

function cacheSlot(c: number, s: number, proto: number): number {
  let h = Math.imul(c | 0, 0x9e3779b1) ^ (s | 0);
  h = Math.imul(h ^ (h >>> 15), 0x85ebca6b) ^ proto;
  return (h ^ (h >>> 13)) & (CACHE_SLOTS - 1);
}

function hostKey(pkt: PacketView, src: boolean): number {
  // `| 0`: a small integer to V8 (Map keys hash fast, no boxed number per packet).
  if (pkt.ipVersion === 4) return (src ? pkt.src4 : pkt.dst4) | 0;
  return 2 ** 32 + hashBytes16(pkt.buf, src ? pkt.src6Off : pkt.dst6Off);
}

/**
 * Aggregates packets and decoded events into flow-second rows. Memory holds only the flows active in the seconds
 * not yet taken (each take() drops them), plus the sets of pairs and services seen while learning.
 */
export class FlowSeconds {
  /** Client -> server -> the open flow-seconds of the pair, one per IP protocol (chained by `next`). */
  private readonly open = new Map<number, Map<number, Acc>>();
  private done: FlowRow[] = [];
  /** Client>server pairs and pair:port/proto services seen while learning (local state, never a feature). */
  readonly knownPairs = new Set<string>();
  readonly knownServices = new Set<string>();
  /**
   * Client -> the MQTT topics it published on while learning (local state like knownPairs, never a feature): a
   * PUBLISH on another topic counts in mqtt_new_topics. At most MAX_KNOWN_TOPICS pairs; see knownTopicList.
   */
  readonly knownTopics = new Map<string, Set<string>>();
  private knownTopicCount = 0;
  /** While true, pairs and services are remembered as known (the learning period). */
  learning = true;
  /** Label of the frame being added (training: the simulator's label), counted per flow. */
  label: string | undefined;

  // The flow-second of the last packet: a flow's packets come in runs (request, response, ack), so most packets
  // find theirs here without the two Map lookups.
  private lastC = -1;
  private lastS = -1;
  private lastAcc: Acc | undefined;
  /** The frame (its pipeline's view, number and packet time) whose flow-second lastAcc is. */
  private lastView: PacketView | undefined;
  private lastFrame = -1;
  private lastFrameMs = -1;
  /**
   * Open flow-seconds by a hash of client, server and IP protocol, one per slot (direct-mapped, the last one wins):
   * packets of many interleaved flows find theirs with one array read instead of two Map lookups. A slot is only a
   * hint, checked against the flow-second it points at; a miss takes the maps.
   */
  private readonly cache: (Acc | undefined)[] = new Array<Acc | undefined>(CACHE_SLOTS).fill(undefined);
  /**
   * Flow-seconds taken (their row made), kept to hold the next seconds' flows: each second's flows reuse the same
   * objects in place (the last second's memory, no garbage to collect) instead of new ones.
   */
  private readonly spare: Acc[] = [];

  /** Keeps a flow-second that was taken and unlinked for reuse (it must not be reachable any more). */
  private recycle(a: Acc): void {
    if (this.spare.length >= MAX_SPARE) return;
    a.next = undefined;
    a.labels = undefined;
    this.spare.push(a);
  }

  private acc(pkt: PacketView, ms: number): Acc | undefined {
    // A frame's events and then the frame itself are added: the frame's flow-second is found once.
    const known = this.lastAcc;
    if (
      known !== undefined &&
      pkt === this.lastView &&
      pkt.frame === this.lastFrame &&
      ms === this.lastFrameMs
    )
      return known;
    const a = this.find(pkt, ms);
    if (a !== undefined) {
      this.lastView = pkt;
      this.lastFrame = pkt.frame;
      this.lastFrameMs = ms;
    }
    return a;
  }

  private find(pkt: PacketView, ms: number): Acc | undefined {
    if (pkt.ipVersion === 0) return undefined;
    const toServer = pkt.dport < pkt.sport || (pkt.dport === pkt.sport && pkt.ipProto === IpProto.ICMP);
    const c = hostKey(pkt, toServer);
    const s = hostKey(pkt, !toServer);
    const proto = pkt.ipProto;
    const sec = Math.floor(ms / 1000);
    const last = this.lastAcc;
    if (
      last !== undefined &&
      last.sec === sec &&
      c === this.lastC &&
      s === this.lastS &&
      proto === last.proto
    ) {
      return last;
    }
    const slot = cacheSlot(c, s, proto);
    const hit = this.cache[slot];
    if (
      hit !== undefined &&
      hit.open &&
      hit.c === c &&
      hit.s === s &&
      hit.proto === proto &&
      hit.sec === sec
    ) {
      this.lastC = c;
      this.lastS = s;
      this.lastAcc = hit;
      return hit;
    }
    let m = this.open.get(c);
    if (m === undefined) {
      m = new Map();
      this.open.set(c, m);
    }
    const head = m.get(s);
    let a = head;
    while (a !== undefined && a.proto !== proto) a = a.next;
    if (a !== undefined && a.sec !== sec) {
      this.done.push(this.row(a));
      unlink(m, s, a);
      this.recycle(a);
      a = undefined;
    }
    if (a === undefined) {
      const client = toServer ? pkt.srcAddr() : pkt.dstAddr();
      const server = toServer ? pkt.dstAddr() : pkt.srcAddr();
      a = this.spare.pop();
      if (a === undefined) {
        a = {
          sec,
          c,
          s,
          proto,
          open: true,
          packets: 0,
          toServer: 0,
          bytes: 0,
          payload: 0,
          lastServerPort: -1,
          lastClientPort: -1,
          lastFunction: -1,
          syn: 0,
          rst: 0,
          fin: 0,
          failed: 0,
          mbReads: 0,
          mbWrites: 0,
          mbExc: 0,
          mbOther: 0,
          client,
          server,
          pairKey: `${client}>${server}`,
          firstFrame: pkt.frame,
          firstMs: ms,
          serverPorts: new Set(),
          clientPorts: new Set(),
          service: 0,
          mbFcs: new Set(),
          mbProgram: 0,
          mbCoilWrites: 0,
          mbRegisterWrites: 0,
          mqConnects: 0,
          mqRefused: 0,
          mqPublishes: 0,
          mqNewTopics: 0,
          dnsQueries: 0,
          dnsNameLen: 0,
          dnsNx: 0,
          httpReq: 0,
          httpErr: 0,
          labels: undefined,
          next: m.get(s),
        };
      } else reopen(a, sec, c, s, proto, client, server, pkt.frame, ms, m.get(s));
      m.set(s, a);
    }
    this.cache[slot] = a;
    this.lastC = c;
    this.lastS = s;
    this.lastAcc = a;
    return a;
  }

  onPacket(pkt: PacketView, ms: number, failed: boolean, wireLength: number): void {
    const a = this.acc(pkt, ms);
    if (a === undefined) return;
    const toServer = pkt.dport < pkt.sport || (pkt.dport === pkt.sport && pkt.ipProto === IpProto.ICMP);
    a.packets++;
    a.bytes += wireLength;
    a.payload += pkt.payloadLen;
    if (toServer) a.toServer++;
    const sport = toServer ? pkt.dport : pkt.sport;
    const cport = toServer ? pkt.sport : pkt.dport;
    // Learning only ever ends, so a pair or service is learnt on its first packet of the flow-second or never.
    let newService = false;
    if (sport !== a.lastServerPort) {
      a.lastServerPort = sport;
      newService = !a.serverPorts.has(sport);
      a.serverPorts.add(sport);
      a.service = SERVICE[sport] ?? a.service;
    }
    if (cport !== a.lastClientPort) {
      a.lastClientPort = cport;
      a.clientPorts.add(cport);
    }
    if (pkt.ipProto === IpProto.TCP) {
      const fl = pkt.tcpFlags;
      if ((fl & TcpFlag.SYN) !== 0 && (fl & TcpFlag.ACK) === 0) a.syn++;
      if ((fl & TcpFlag.RST) !== 0) a.rst++;
      if ((fl & TcpFlag.FIN) !== 0) a.fin++;
    }
    if (failed) a.failed++;
    if (this.label !== undefined) {
      a.labels ??= new Map();
      a.labels.set(this.label, (a.labels.get(this.label) ?? 0) + 1);
    }
    if (this.learning) {
      if (a.packets === 1) this.knownPairs.add(a.pairKey);
      if (newService) this.knownServices.add(`${a.pairKey}:${sport}/${pkt.ipProto}`);
    }
  }

  onEvent(e: DecodedEvent, pkt: PacketView, ms: number): void {
    const a = this.acc(pkt, ms);
    if (a === undefined) return;
    switch (e.protocol) {
      case 'modbus':
        if (e.exception_code !== undefined) a.mbExc++;
        else if (!e.is_response) {
          if (e.func_code !== a.lastFunction) {
            a.lastFunction = e.func_code;
            a.mbFcs.add(e.func_code);
          }
          if (MODBUS_WRITES[e.func_code] === 1) {
            a.mbWrites++;
            if (COIL_WRITE_FUNCTIONS[e.func_code] === 1) a.mbCoilWrites++;
            else if (e.func_code !== WRITE_FILE_RECORD) a.mbRegisterWrites++;
          } else a.mbReads++;
          if (MODBUS_COMMON[e.func_code] !== 1) {
            a.mbOther++;
            if (e.func_code === WRITE_FILE_RECORD || isUmasProgram(e, pkt)) a.mbProgram++;
          }
        }
        return;
      case 'mqtt':
        if (e.msgtype === 1) a.mqConnects++;
        else if (e.msgtype === 2 && (e.reason_code ?? 0) !== 0) a.mqRefused++;
        else if (e.msgtype === 3) {
          a.mqPublishes++;
          // the client's own publishes (a broker forwarding to a subscriber publishes in the other direction)
          if (e.topic !== undefined && pkt.dport < pkt.sport) this.topic(a, e.topic);
        }
        return;
      case 'dns':
        if (!e.is_response) {
          a.dnsQueries++;
          a.dnsNameLen += e.qry_name?.length ?? 0;
        } else if (e.rcode === 3) a.dnsNx++;
        return;
      case 'http':
        if (!e.is_response) a.httpReq++;
        else if ((e.status ?? 0) >= 400) a.httpErr++;
        return;
    }
  }

  private row(a: Acc): FlowRow {
    const x = new Float32Array(NF);
    const l = Math.log1p;
    const n = Math.max(1, a.packets);
    // FLOW_FEATURE_FIELDS in order
    x[0] = l(a.packets);
    x[1] = l(a.bytes);
    x[2] = a.bytes / n / 1000;
    x[3] = a.toServer / n;
    x[4] = l(a.syn);
    x[5] = l(a.rst);
    x[6] = l(a.fin);
    x[7] = l(a.failed);
    x[8] = l(a.serverPorts.size);
    x[9] = l(a.clientPorts.size);
    x[10] = a.service;
    x[11] = a.proto / 17;
    x[12] = l(a.mbReads);
    x[13] = l(a.mbWrites);
    x[14] = l(a.mbExc);
    x[15] = a.mbFcs.size;
    x[16] = l(a.mbOther);
    x[17] = l(a.mqConnects);
    x[18] = l(a.mqRefused);
    x[19] = l(a.mqPublishes);
    x[20] = l(a.dnsQueries);
    x[21] = a.dnsQueries > 0 ? a.dnsNameLen / a.dnsQueries / 64 : 0;
    x[22] = l(a.dnsNx);
    x[23] = l(a.httpReq);
    x[24] = l(a.httpErr);
    x[25] = a.payload / n / 1000;
    x[26] = this.knownPairs.has(a.pairKey) ? 1 : 0;
    x[27] = this.servicesKnown(a) ? 1 : 0;
    x[28] = l(a.mqNewTopics);
    let label: string | undefined;
    if (a.labels !== undefined) {
      let best = 0;
      for (const [k, c] of a.labels) {
        if (c > best) {
          best = c;
          label = k;
        }
      }
      if (best * 2 < a.packets) label = undefined;
    }
    return {
      sec: a.sec,
      client: a.client,
      server: a.server,
      frame: a.firstFrame,
      ms: a.firstMs,
      x,
      program: a.mbProgram,
      coilWrites: a.mbCoilWrites,
      registerWrites: a.mbRegisterWrites,
      label,
    };
  }

  /** Learns the client's topic while learning; after it, counts a topic the client never published on. */
  private topic(a: Acc, topic: string): void {
    const known = this.knownTopics.get(a.client);
    if (known?.has(topic) === true) return;
    if (!this.learning) {
      a.mqNewTopics++;
      return;
    }
    this.learnTopic(a.client, topic);
  }

  /** Adds client|topic to the known pairs (false when the bound is reached and it was not kept). */
  learnTopic(client: string, topic: string): boolean {
    let known = this.knownTopics.get(client);
    if (known?.has(topic) === true) return true;
    if (this.knownTopicCount >= MAX_KNOWN_TOPICS) return false;
    if (known === undefined) this.knownTopics.set(client, (known = new Set()));
    known.add(topic);
    this.knownTopicCount++;
    return true;
  }

  /** The learnt topics as `client|topic` strings (how they are stored; an address holds no `|`). */
  knownTopicList(): string[] {
    const out: string[] = [];
    for (const [client, topics] of this.knownTopics) for (const t of topics) out.push(`${client}|${t}`);
    return out;
  }

  /** Adds stored `client|topic` strings (knownTopicList) to the known topics. */
  addKnownTopics(list: Iterable<string>): void {
    for (const k of list) {
      const bar = k.indexOf('|');
      if (bar > 0) this.learnTopic(k.slice(0, bar), k.slice(bar + 1));
    }
  }

  /** True when every server port of the flow-second was a known service of its pair while learning. */
  private servicesKnown(a: Acc): boolean {
    for (const p of a.serverPorts) if (!this.knownServices.has(`${a.pairKey}:${p}/${a.proto}`)) return false;
    return true;
  }

  /** The rows of every second before `sec` (the flows of `sec` itself stay open). */
  take(sec: number): FlowRow[] {
    if (this.lastAcc !== undefined && this.lastAcc.sec < sec) this.lastAcc = undefined;
    for (const [c, m] of this.open) {
      for (const [k, head] of m) {
        for (let a: Acc | undefined = head, next: Acc | undefined; a !== undefined; a = next) {
          next = a.next;
          if (a.sec < sec) {
            this.done.push(this.row(a));
            unlink(m, k, a);
            // a cache slot must not point at a taken flow-second (it is reused for another flow)
            const slot = cacheSlot(a.c, a.s, a.proto);
            if (this.cache[slot] === a) this.cache[slot] = undefined;
            this.recycle(a);
          }
        }
      }
      if (m.size === 0) this.open.delete(c);
    }
    const out = this.done;
    this.done = [];
    return out;
  }
}

/** One window second as WINDOW_STEP_FIELDS (before standardisation). */
export function windowStep(r: FacilitySecond, out: Float32Array, off: number): void {
  const l = Math.log1p;
  out[off] = l(r.packets_per_sec);
  out[off + 1] = l(r.bytes_per_sec);
  out[off + 2] = r.avg_packet_size / 1000;
  out[off + 3] = l(r.unique_src_ips);
  out[off + 4] = l(r.unique_dest_ips);
  out[off + 5] = l(r.failed_connections);
  out[off + 6] = l(r.modbus_reads);
  out[off + 7] = l(r.modbus_writes);
  out[off + 8] = l(r.modbus_exceptions);
  out[off + 9] = Object.keys(r.modbus_requests_by_function).length;
  out[off + 10] = l(r.mqtt_connects);
  out[off + 11] = l(r.mqtt_publishes);
  out[off + 12] = l(r.dns_queries);
  out[off + 13] = l(r.dns_nxdomain);
  out[off + 14] = l(r.http_requests);
}

/** Per-feature mean and deviation of a facility's window steps (its own normal traffic). */
export interface Scaler {
  mean: number[];
  std: number[];
}

/** Deviation floor: a feature that never moved while learning (no DNS at all) still scales sanely. */
const MIN_STD = 0.5;

export function fitScaler(steps: Float32Array, width: number): Scaler {
  const n = steps.length / width;
  const mean = new Array<number>(width).fill(0);
  const sq = new Array<number>(width).fill(0);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < width; k++) {
      const v = steps[i * width + k]!;
      mean[k]! += v;
      sq[k]! += v * v;
    }
  }
  const std = mean.map((s, k) => {
    const m = s / Math.max(1, n);
    return Math.max(MIN_STD, Math.sqrt(Math.max(0, sq[k]! / Math.max(1, n) - m * m)));
  });
  return { mean: mean.map((s) => s / Math.max(1, n)), std };
}

/** Standardises in place; values are clipped to +-20 deviations (one wild second must not blow up the LSTM). */
export function standardise(x: Float32Array, s: Scaler): Float32Array {
  const w = s.mean.length;
  for (let i = 0; i < x.length; i++) {
    const k = i % w;
    const v = (x[i]! - s.mean[k]!) / s.std[k]!;
    x[i] = v > 20 ? 20 : v < -20 ? -20 : v;
  }
  return x;
}

/**
 * Layer 2's input: summary of the standardised window (60 x NW, oldest first), the trigger flow row and its
 * Layer 1a score.
 */
export function l2Input(win: Float32Array, flow: Float32Array, l1a: number): Float32Array {
  const x = new Float32Array(NL2);
  writeL2Input(windowSummary(win), flow, l1a, x, 0);
  return x;
}

/** The window part of Layer 2's input (the first 3 * NW values of l2Input): the same for every flow of a second. */
export function windowSummary(win: Float32Array): Float32Array {
  const x = new Float32Array(3 * NW);
  for (let k = 0; k < NW; k++) {
    let rs = 0;
    let rm = -Infinity;
    let all = 0;
    for (let t = 0; t < WINDOW_STEPS; t++) {
      const v = win[t * NW + k]!;
      all += v;
      if (t >= WINDOW_STEPS - RECENT_STEPS) {
        rs += v;
        if (v > rm) rm = v;
      }
    }
    x[k] = rs / RECENT_STEPS;
    x[NW + k] = rm;
    x[2 * NW + k] = all / WINDOW_STEPS;
  }
  return x;
}

/** Writes l2Input(win, flow, l1a) into `out` at `off`, from windowSummary(win). */
export function writeL2Input(
  summary: Float32Array,
  flow: Float32Array,
  l1a: number,
  out: Float32Array,
  off: number,
): void {
  out.set(summary, off);
  out.set(flow, off + 3 * NW);
  out[off + 3 * NW + NF] = l1a;
}

/**
 * Whether a second's rows fit a model (7 in 10) or calibrate it (3 in 10). The choice is a hash of the second, not
 * `sec % 10`: polling every 5 or 10 s puts every poll on the same residue, and the calibration set came out empty.
 */
export function isFitSecond(sec: number): boolean {
  return (Math.imul(sec, 0x9e3779b1) >>> 0) % 10 < 7;
}
