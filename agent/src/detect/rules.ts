// Rules where a rule beats a model, as OT users expect them:
// - Modbus protocol violations: broken MBAP framing (protocol id not 0, length out of 2..254), a function code
//   outside the public set, exception responses "illegal function" (a function-code sweep), an unsolicited response;
// - policy violations against the facility's baseline: a new master, a master polling a new slave, a host writing
//   that never wrote, a write to an address never written, a function code the pair never used, reads outside the
//   learnt address range, a new service (transport/port) between two hosts, a Modbus request rate far above the
//   pair's busiest learnt second. A Read Device Identification request (function 43, MEI 14) from a host the
//   baseline knows is an asset inventory read, routine engineering work: it is noted (INVENTORY_RULE, evidence only:
//   it never alerts alone) and the host's next request of any other kind is judged as always (a recon's sweep, a
//   new master's polling or writes). From a host the baseline never saw it is judged as any request;
// - a scan rule: one source reaching many distinct new host/port pairs, or refused by many, within 10 s; and its
//   mirror, a connection flood: many sources the baseline never saw opening connections to one service within 10 s
//   (a spoofed-source SYN flood of a PLC, where each source alone is one weak new-service hint), or sooner a rate
//   of hosts never seen at all (FAST_FLOOD_SOURCES within FAST_FLOOD_MS).
// Every rule names its ATT&CK for ICS technique. A rule reports a key (rule, hosts, what) at most once per
// REPEAT_MS so that a flood of evidence is one detection per key and period, not one per packet.
import {
  MBAP_MAX_LENGTH,
  MBAP_MIN_LENGTH,
  MODBUS_PORT,
  MeiType,
  type ModbusEvent,
} from '../decode/modbus.js';
import { IpProto, type DecodedEvent, type PacketView } from '../decode/types.js';
import { TcpFlag } from '../decode/tcp.js';
import {
  COIL_WRITES,
  FlowPairs,
  WRITE_FUNCTIONS,
  isWriteFunction,
  WRITE_WINDOW_MS,
  isRegisterWrite,
  serviceKey,
  slideWrites,
  type Baseline,
  type ModbusPair,
} from './baseline.js';
import { INVENTORY_RULE, type Detection, type StreamDetector, type WindowView } from './types.js';

/** A key is reported again only after this long (ms of packet time). */
export const REPEAT_MS = 30_000;
/** Scan rule: sliding window, distinct new targets and failed connections that make a scan. */
export const SCAN_WINDOW_MS = 10_000;
export const SCAN_TARGETS = 8;
export const SCAN_FAILURES = 5;
/** Connection-flood rule: distinct new sources opening TCP connections to one service within SCAN_WINDOW_MS. */
export const FLOOD_SOURCES = 20;
/**
 * Connection-flood rule, its fast side: FAST_FLOOD_SOURCES sources within FAST_FLOOD_MS that are hosts never seen at
 * all while learning (not only new to the service) decide before FLOOD_SOURCES new sources are reached, when they
 * are also more than the service's clients learnt in the whole period. Plant services have few clients, all known
 * hosts: a rate of unknown hosts like this (1.6 a second) is a spoofed flood, not clients reconnecting. A low-rate
 * spoofed flood (3-4 SYNs a second) needed 5-9 s to bring FLOOD_SOURCES.
 */
export const FAST_FLOOD_SOURCES = 8;
export const FAST_FLOOD_MS = 5_000;
/**
 * Sources the scan rule tracks at once at most (as probers, and as refused), and sources the flood rule tracks (all
 * services together; and per service): a spoofed-source storm fills them, it cannot grow memory beyond them (what is
 * not tracked is counted as skipped).
 */
export const TRACKED_MAX = 65_536;
export const TRACKED_SOURCES_PER_SERVICE = 4_096;
/**
 * Targets kept per source by the scan rule (its distinct-target check is a linear search: a fast scan of every port
 * within the window must not make it quadratic); a scan is still reported, with at least this many targets.
 */
export const TRACKED_TARGETS_PER_SOURCE = 256;
/** The source a connection flood's detection names: many, the same for every flood, so its detections fold. */
export const FLOOD_SOURCE = 'many new sources';
/**
 * New sources of one service within the window from which another detection of one of them against that host is
 * taken as part of a connection flood (see ScanRule.withinFlood): a spoofed source's lone SYN looks like a scan
 * probe to the models, one "scan" per spoofed address.
 */
export const FLOOD_PART_SOURCES = 5;
/** Flood rule: a pair's requests in one second above max(FLOOD_FACTOR x learnt peak, peak + FLOOD_MARGIN). */
export const FLOOD_FACTOR = 3;
export const FLOOD_MARGIN = 20;
/** Write-burst rule: a known writer's writes within WRITE_WINDOW_MS above BURST_FACTOR x learnt peak + BURST_MARGIN. */
export const BURST_FACTOR = 2;
export const BURST_MARGIN = 2;
/** A known pair with more requests in the current second than BUSY_FACTOR x its busiest learnt second + 1 is busy:
 * while it floods, a busy second keeps it flooding (see PolicyRules). */
export const BUSY_FACTOR = 2;
/** A known pair's policy detections wait this long (ms of packet time) for the pair's flood rule (see PolicyRules). */
export const FLOOD_HOLD_MS = 1_000;
/** A pair stays flooding this long after its last busy second's requests (ms of packet time). */
export const FLOOD_LINGER_MS = 2_000;
/** Setpoint rule: a written value beyond the learnt range by more than RANGE_SLACK x its width or half that of the
 * largest magnitude, at least 10 (operators move setpoints; an attacker drives them far off). */
export const RANGE_SLACK = 0.5;

/** How far outside the learnt [lo, hi] a value may go before it is out of range. */
export function rangeSlack(lo: number, hi: number): number {
  return Math.max(RANGE_SLACK * (hi - lo), (RANGE_SLACK / 2) * Math.max(Math.abs(lo), Math.abs(hi)), 10);
}

/** Public Modbus function codes (Modbus Application Protocol v1.1b3) plus 90 (Schneider UMAS) handled apart. */
/** The public Modbus function codes, as a table (1: public) indexed by function code. */
const PUBLIC_FUNCTIONS = new Uint8Array(256);
for (const fc of [1, 2, 3, 4, 5, 6, 7, 8, 11, 12, 15, 16, 17, 20, 21, 22, 23, 24, 43])
  PUBLIC_FUNCTIONS[fc] = 1;
/** UMAS sub-functions that change the PLC: reservation, download, stop/start. */
const UMAS_PROGRAM = new Set([0x10, 0x30, 0x31, 0x32, 0x40, 0x41]);
const UMAS = 90;
/** Modbus function 43 (encapsulated interface); with MEI 14 it reads the device identification. */
const DEVICE_ID_FUNCTION = 43;

/** The technique of a request with a function the pair never used. */
function functionTechnique(e: ModbusEvent, pkt: PacketView): string {
  if (e.func_code === UMAS) return isUmasProgram(e, pkt) ? 'T0843' : 'T0888';
  if (WRITE_FUNCTIONS.has(e.func_code)) return COIL_WRITES.has(e.func_code) ? 'T0855' : 'T0836';
  if (e.func_code === 20 || e.func_code === 24) return 'T0861';
  return 'T0888';
}

/**
 * A UMAS request that reserves, stops/starts or downloads to the PLC. The decoder keeps no data of a non-public
 * function, so the sub-function (the byte after the session) is read from the frame when the PDU starts it.
 */
export function isUmasProgram(e: ModbusEvent, pkt: PacketView): boolean {
  const o = pkt.payloadOff;
  return (
    e.func_code === UMAS &&
    pkt.payloadLen >= 10 &&
    pkt.buf[o + 7] === UMAS &&
    UMAS_PROGRAM.has(pkt.buf[o + 9] ?? -1)
  );
}

abstract class RuleSet implements StreamDetector {
  abstract readonly name: string;
  readonly layer = 1 as const;
  private out: Detection[] = [];
  private readonly lastReported = new Map<string, number>();
  /** Packet time of the next sweep of lastReported's expired keys. */
  private nextSweepMs = Number.NEGATIVE_INFINITY;

  pending(): boolean {
    return this.out.length > 0;
  }

  detect(_w: WindowView): Detection[] {
    const d = this.out;
    this.out = [];
    return d;
  }

  /**
   * Forgets what was reported (and any per-source counts an attack built up): the activity was stopped on purpose,
   * so what comes next is reported as a new attack at once, not held back as a repeat for REPEAT_MS.
   */
  endIncidents(): void {
    this.lastReported.clear();
  }

  /** Reports what `make` builds unless `key` was reported within REPEAT_MS before `timeMs` (then nothing is built:
   * a flood of evidence costs a key lookup per packet, not a detection). */
  protected report(key: string, timeMs: number, make: () => Omit<Detection, 'detector' | 'layer'>): void {
    if (timeMs >= this.nextSweepMs) {
      // keys of sources gone quiet are forgotten once a REPEAT_MS, so that memory follows the active sources
      this.nextSweepMs = timeMs + REPEAT_MS;
      for (const [k, t] of this.lastReported) if (timeMs - t >= REPEAT_MS) this.lastReported.delete(k);
    }
    const last = this.lastReported.get(key);
    if (last !== undefined && timeMs - last < REPEAT_MS) return;
    this.lastReported.set(key, timeMs);
    this.accept({ detector: this.name, layer: this.layer, ...make() });
  }

  /** Where a reported detection goes: out at the next detect() (a rule set may hold it back to judge it). */
  protected accept(d: Detection): void {
    this.out.push(d);
  }

  /** End of input: whatever a rule set holds back is reported now. */
  end(): void {}
}

/** Protocol violations: need no baseline. */
export class ModbusProtocolRules extends RuleSet {
  readonly name = 'modbus-protocol';

  private badFraming = 0;
  /** Per flow id, 1 once a response of the flow was matched to its request (grown as flow ids appear). */
  private flowsMatched = new Uint8Array(1024);

  /** `framingErrors`: the Modbus decoder's count of broken MBAP headers (the decoder is the one judge of framing). */
  constructor(private readonly framingErrors: () => number) {
    super();
  }

  onPacket(pkt: PacketView, ms: number): void {
    const n = this.framingErrors();
    if (n === this.badFraming) return;
    this.badFraming = n;
    const src = pkt.srcAddr();
    const dst = pkt.dstAddr();
    const head =
      pkt.payloadLen >= 6
        ? `protocol id ${pkt.buf.readUInt16BE(pkt.payloadOff + 2)}, length ${pkt.buf.readUInt16BE(pkt.payloadOff + 4)}`
        : `${pkt.payloadLen} payload bytes`;
    this.report(`mbap:${src}>${dst}`, ms, () => ({
      rule: 'bad-mbap-header',
      technique: 'T0814',
      confidence: 0.8,
      timeMs: ms,
      frame: pkt.frame,
      src,
      dst,
      evidence: `broken Modbus/TCP framing (${head}; protocol id must be 0 and length ${MBAP_MIN_LENGTH}..${MBAP_MAX_LENGTH})`,
      features: { bad_framing_total: n, payload_len: pkt.payloadLen },
    }));
  }

  private matched(flow: number): void {
    if (flow >= this.flowsMatched.length) {
      const grown = new Uint8Array(Math.max(flow + 1, this.flowsMatched.length * 2));
      grown.set(this.flowsMatched);
      this.flowsMatched = grown;
    }
    this.flowsMatched[flow] = 1;
  }

  onEvent(e: DecodedEvent, pkt: PacketView, ms: number): void {
    if (e.protocol !== 'modbus') return;
    if (!e.is_response) {
      if (PUBLIC_FUNCTIONS[e.func_code] !== 1 && e.func_code !== UMAS) {
        const src = pkt.srcAddr();
        const dst = pkt.dstAddr();
        this.report(`fc:${src}>${dst}`, ms, () => ({
          timeMs: ms,
          frame: e.frame,
          src,
          dst,
          rule: 'illegal-function-code',
          technique: 'T0888',
          confidence: 0.85,
          evidence: `request with function code ${e.func_code}, not a public Modbus function`,
          features: { func_code: e.func_code },
        }));
      }
      return;
    }
    if (e.request_frame !== undefined && e.exception_code === undefined) {
      // The common case: a matched normal response.
      this.matched(e.flow);
      return;
    }
    const src = pkt.srcAddr();
    const dst = pkt.dstAddr();
    const base = { timeMs: ms, frame: e.frame, src, dst };
    if (e.exception_code === 1) {
      this.report(`exc:${dst}>${src}`, base.timeMs, () => ({
        ...base,
        src: dst,
        dst: src,
        rule: 'illegal-function-exception',
        technique: 'T0888',
        confidence: 0.7,
        evidence: `${src} answered function ${e.func_code} with exception 1 (illegal function)`,
        features: { func_code: e.func_code, exception_code: 1 },
      }));
    } else if (e.request_frame !== undefined) {
      this.matched(e.flow);
    } else if (this.flowsMatched[e.flow] === 1) {
      // Only once the flow's responses were matched: a response to a request sent before the capture began is not
      // unsolicited.
      this.report(`unsolicited:${src}>${dst}`, base.timeMs, () => ({
        ...base,
        rule: 'unsolicited-response',
        technique: 'T0856',
        confidence: 0.75,
        evidence: `response (function ${e.func_code}, transaction ${e.trans_id}) that answers no request`,
        features: { func_code: e.func_code, trans_id: e.trans_id },
      }));
    }
  }
}

/**
 * Policy violations against the frozen baseline (silent while it learns).
 *
 * A flood's requests carry policy facts of their own (a function the pair never used, a write of a random value) that
 * would each name another technique although they are the flood. So a known pair's policy detections are held back
 * for FLOOD_HOLD_MS: if the flood rule fires for the pair meanwhile, or the pair flooded within FLOOD_LINGER_MS, they
 * are reported as part of the flood (T0814, evidence kept); otherwise as they were, that much later. (Holding only
 * while the pair is busy let a flood's first requests, sent before the second's count showed it, through as their
 * own techniques.)
 */
export class PolicyRules extends RuleSet {
  readonly name = 'modbus-policy';
  /** `master>slave` -> its state, for the pairs seen since learning (bounded: cleared when PAIR_STATES_MAX). */
  private readonly states = new Map<string, PairState>();
  private readonly pairs = new FlowPairs((key, master, slave) => {
    let st = this.states.get(key);
    if (st === undefined) {
      if (this.states.size >= PAIR_STATES_MAX) {
        this.states.clear();
        this.pairs.clear();
      }
      const pair = this.baseline.pair(master, slave);
      st = {
        key,
        master,
        slave,
        pair,
        peak: pair?.peakPerSecond ?? 0,
        readFc: -1,
        readLo: 0,
        readHi: 0,
        knownMaster: this.baseline.isMaster(master),
        sec: -1,
        n: 0,
        floodingAt: Number.NEGATIVE_INFINITY,
        writeTimes: [],
      };
      this.states.set(key, st);
    }
    return st;
  });
  /** Detections of known pairs held back for FLOOD_HOLD_MS, oldest first. */
  private held: Detection[] = [];
  /** How the request being judged is reported: held (a known pair), as flood (its pair floods), or at once. */
  private judging: 'hold' | 'flood' | undefined;

  constructor(private readonly baseline: Baseline) {
    super();
  }

  override pending(): boolean {
    return super.pending() || this.held.length > 0;
  }

  override detect(w: WindowView): Detection[] {
    if (this.held.length > 0) this.release(w.nowMs - FLOOD_HOLD_MS);
    return super.detect(w);
  }

  override end(): void {
    this.release(Number.POSITIVE_INFINITY);
  }

  protected override accept(d: Detection): void {
    if (this.judging === undefined || d.rule === 'request-flood') super.accept(d);
    else if (this.judging === 'flood') super.accept(asFlood(d));
    else this.held.push(d);
  }

  /** The detections held since `upTo` or before, as they were (no flood of their pair came meanwhile). */
  private release(upTo: number): void {
    let n = 0;
    while (n < this.held.length && (this.held[n]?.timeMs ?? upTo) <= upTo) n++;
    if (n === 0) return;
    for (const d of this.held.splice(0, n)) super.accept(d);
  }

  onPacket(pkt: PacketView, ms: number): void {
    if (this.baseline.learning || isGroupAddress(pkt)) return;
    const key = serviceKey(pkt);
    if (key === undefined || this.baseline.services.has(key)) return;
    const src = pkt.srcAddr();
    const dst = pkt.dstAddr();
    // Modbus from a known master is judged by the Modbus rules (pair, functions, writes), not as a new service.
    if (pkt.ipProto === IpProto.TCP && pkt.dport === MODBUS_PORT && this.baseline.isMaster(src)) return;
    const port = pkt.ipProto === IpProto.UDP ? Math.min(pkt.sport, pkt.dport) : pkt.dport;
    const transport = pkt.ipProto === IpProto.UDP ? 'udp' : 'tcp';
    this.report(`svc:${key}`, ms, () => ({
      rule: 'new-service',
      technique: 'T0886',
      confidence: 0.45,
      timeMs: ms,
      frame: pkt.frame,
      src,
      dst,
      evidence: `${transport}/${port} between ${src} and ${dst}, never seen while learning`,
      features: { transport, port, known_host_src: this.baseline.isHost(src) ? 1 : 0 },
    }));
  }

  onEvent(e: DecodedEvent, pkt: PacketView, ms: number): void {
    if (this.baseline.learning || e.protocol !== 'modbus' || e.is_response) return;
    const st = this.pairs.get(pkt, e.flow);
    const pair = st.pair;
    const n = this.rate(st, ms, e.frame);
    this.judging = undefined;
    if (pair !== undefined) {
      if (ms - st.floodingAt < FLOOD_LINGER_MS) {
        if (n > BUSY_FACTOR * pair.peakPerSecond + 1) st.floodingAt = ms;
        this.judging = 'flood';
      } else this.judging = 'hold';
    }
    this.judge(e, pkt, ms, st);
    this.judging = undefined;
  }

  private judge(e: ModbusEvent, pkt: PacketView, ms: number, st: PairState): void {
    const { master, slave, pair, key: pairKey } = st;
    const fc = e.func_code;
    // The common case first, with nothing allocated: a known pair reading with a learnt function within its range,
    // from the pair's state when the function is the one it last read with (no baseline lookup then).
    if (fc === st.readFc) {
      const address = e.address;
      if (address === undefined) return;
      if (address >= st.readLo && address + Math.max(1, e.quantity ?? 1) - 1 <= st.readHi) return;
    }
    const isWrite = isWriteFunction(fc);
    if (!isWrite && pair !== undefined && pair.functions.has(fc)) {
      const range = pair.readRange.get(fc);
      st.readFc = fc;
      st.readLo = range?.[0] ?? Number.NEGATIVE_INFINITY;
      st.readHi = range?.[1] ?? Number.POSITIVE_INFINITY;
      if (range === undefined || e.address === undefined) return;
      const end = e.address + Math.max(1, e.quantity ?? 1) - 1;
      if (e.address >= range[0] && end <= range[1]) return;
    }
    const base = { timeMs: ms, frame: e.frame, src: master, dst: slave };
    if (fc === DEVICE_ID_FUNCTION && e.mei_type === MeiType.READ_DEVICE_IDENTIFICATION) {
      if (this.baseline.isHost(master)) {
        // An asset inventory read by a plant host: noted (evidence only), judged by what the host does next.
        this.report(`id:${pairKey}`, base.timeMs, () => ({
          ...base,
          rule: INVENTORY_RULE,
          technique: 'T0888',
          confidence: 0.35,
          evidence: `${master} read the device identification of ${slave} (function 43/14, read-only); a host known from learning, as an asset inventory read is`,
          features: {
            func_code: fc,
            read_device_id: e.read_device_id ?? -1,
            known_master: st.knownMaster ? 1 : 0,
            known_pair: pair === undefined ? 0 : 1,
          },
        }));
        return;
      }
    }
    const writeTech = COIL_WRITES.has(fc) ? 'T0855' : 'T0836';
    const what = (): string => `function ${fc}${e.address !== undefined ? ` at address ${e.address}` : ''}`;
    if (isRegisterWrite(fc)) this.setpoints(e, base);
    if (!st.knownMaster) {
      this.report(`master:${pairKey}:${isWrite ? fc : 'r'}`, base.timeMs, () => ({
        ...base,
        rule: isWrite ? 'new-master-write' : 'new-master',
        technique: isWrite ? writeTech : functionTechnique(e, pkt),
        confidence: isWrite ? 0.95 : 0.8,
        evidence: `${master} sent Modbus ${what()} to ${slave}; it never acted as a Modbus master while learning`,
        features: { func_code: fc, known_master: 0, known_host: this.baseline.isHost(master) ? 1 : 0 },
      }));
      return;
    }
    if (pair === undefined) {
      const tech = isWrite ? writeTech : functionTechnique(e, pkt);
      this.report(`pair:${pairKey}:${isWrite ? fc : tech}`, base.timeMs, () => ({
        ...base,
        rule: 'new-modbus-pair',
        technique: tech,
        // A known master polling one more device is common (slow schedules), and so is an operator's occasional
        // read-then-write from an HMI or workstation (seen in the simulated plants even after 60 min of learning):
        // alone these are weak hints, the setpoint range judges the values. Program changes are not.
        confidence: isWrite ? 0.45 : tech === 'T0843' ? 0.95 : 0.35,
        evidence: `master ${master} sent ${what()} to ${slave}, a device it never addressed while learning`,
        features: { func_code: fc, known_pair: 0 },
      }));
      return;
    }
    if (!pair.functions.has(fc)) {
      this.report(`fc:${pairKey}:${fc}`, base.timeMs, () => ({
        ...base,
        rule: isWrite && pair.writes.size === 0 ? 'first-write' : 'new-function-code',
        technique: functionTechnique(e, pkt),
        confidence: isWrite ? 0.9 : 0.8,
        evidence: `${master} sent ${what()} to ${slave}; the pair never used function ${fc} while learning`,
        features: { func_code: fc, functions_learnt: [...pair.functions].sort((a, b) => a - b).join(',') },
      }));
      return;
    }
    if (isWrite) {
      const n = slideWrites(st.writeTimes, ms);
      if (n > BURST_FACTOR * pair.peakWrites + BURST_MARGIN) {
        this.report(`burst:${pairKey}`, base.timeMs, () => ({
          ...base,
          rule: 'write-burst',
          technique: writeTech,
          confidence: 0.8,
          evidence: `${n} Modbus writes from ${master} to ${slave} within ${WRITE_WINDOW_MS / 1000} s; learnt at most ${pair.peakWrites}`,
          features: { writes_in_window: n, learnt_peak_writes: pair.peakWrites, func_code: fc },
        }));
      }
    }
    if (isWrite && !pair.writes.has(`${fc}:${e.address ?? -1}`)) {
      this.report(`wa:${pairKey}:${fc}:${e.address ?? -1}`, base.timeMs, () => ({
        ...base,
        rule: 'new-write-address',
        technique: writeTech,
        confidence: 0.45,
        evidence: `${master} wrote ${what()} on ${slave}; it never wrote there while learning`,
        features: { func_code: fc, address: e.address ?? -1, writes_learnt: pair.writes.size },
      }));
      return;
    }
    const range = pair.readRange.get(fc);
    const address = e.address;
    if (!isWrite && range !== undefined && address !== undefined) {
      const end = address + Math.max(1, e.quantity ?? 1) - 1;
      if (address < range[0] || end > range[1]) {
        this.report(`range:${pairKey}:${fc}`, base.timeMs, () => ({
          ...base,
          rule: 'read-outside-range',
          technique: 'T0861',
          confidence: 0.6,
          evidence: `${master} read ${slave} addresses ${address}..${end} with function ${fc}; learnt ${range[0]}..${range[1]}`,
          features: { func_code: fc, address, learnt_lo: range[0], learnt_hi: range[1] },
        }));
      }
    }
  }

  /** Register writes whose value lies far outside what the register held or was given while learning. */
  private setpoints(e: ModbusEvent, base: { timeMs: number; frame: number; src: string; dst: string }): void {
    const address = e.address;
    const values = e.values;
    if (address === undefined || values === undefined) return;
    // `values` may read the frame (valid during onEvent only): each value is taken now, as a number.
    for (let i = 0; i < values.length; i++) {
      const v = values.at(i) ?? 0;
      const r = this.baseline.registerRange(base.dst, address + i);
      if (r === undefined) continue;
      const slack = rangeSlack(r[0], r[1]);
      if (v >= r[0] - slack && v <= r[1] + slack) continue;
      this.report(`setpoint:${base.src}>${base.dst}:${address + i}`, base.timeMs, () => ({
        ...base,
        rule: 'setpoint-out-of-range',
        technique: 'T0836',
        confidence: 0.9,
        evidence: `${base.src} wrote ${v} to register ${address + i} of ${base.dst}; learnt values ${r[0]}..${r[1]}`,
        features: {
          register: address + i,
          value: v,
          learnt_lo: r[0],
          learnt_hi: r[1],
          func_code: e.func_code,
        },
      }));
    }
  }

  /** Counts the pair's request in its second; fires the flood rule. Returns the second's requests so far. */
  private rate(st: PairState, ms: number, frame: number): number {
    const sec = Math.floor(ms / 1000);
    if (st.sec !== sec) {
      st.sec = sec;
      st.n = 0;
    }
    const n = ++st.n;
    const peak = st.peak;
    if (n === Math.max(FLOOD_FACTOR * peak, peak + FLOOD_MARGIN) + 1) {
      st.floodingAt = ms;
      const held = this.held;
      this.held = [];
      for (const d of held) {
        if (d.src === st.master && d.dst === st.slave) super.accept(asFlood(d));
        else this.held.push(d);
      }
      this.report(`flood:${st.key}`, ms, () => ({
        timeMs: ms,
        frame,
        src: st.master,
        dst: st.slave,
        rule: 'request-flood',
        technique: 'T0814',
        confidence: 0.85,
        evidence: `${n} Modbus requests from ${st.master} to ${st.slave} within one second; busiest learnt second: ${peak}`,
        features: { requests_per_sec: n, learnt_peak_per_sec: peak },
      }));
    }
    return n;
  }
}

/** What PolicyRules keeps per Modbus pair seen since learning. */
interface PairState {
  key: string;
  master: string;
  slave: string;
  /** What the frozen baseline learnt of the pair (undefined: a pair never seen). */
  pair: ModbusPair | undefined;
  /** Its busiest learnt second (pair.peakPerSecond, 0 for a new pair; the baseline is frozen). */
  peak: number;
  /**
   * A read function the pair learnt (-1: none yet) and its learnt address range (infinite when it learnt none):
   * what the common case, a known pair polling as it did, is checked against without the baseline's Set and Map.
   */
  readFc: number;
  readLo: number;
  readHi: number;
  /** The master acted as one while learning. */
  knownMaster: boolean;
  /** Requests in second `sec`. */
  sec: number;
  n: number;
  /** Packet time of the pair's last request in a busy second after its flood fired. */
  floodingAt: number;
  /** Times of its recent writes (write-burst rule). */
  writeTimes: number[];
}

/** PolicyRules forgets its pair states when it holds this many (a spoofed-source storm must not grow memory). */
const PAIR_STATES_MAX = 65_536;

/** A policy detection of a request sent in a flood: part of the flood (T0814), its own evidence kept. */
function asFlood(d: Detection): Detection {
  return {
    ...d,
    technique: 'T0814',
    evidence: `${d.evidence} (sent within a request flood of the pair)`,
    features: { ...d.features, within_flood: 1, technique_alone: d.technique },
  };
}

/**
 * Scan rule: per source, distinct new targets (host:port) and failed connections in a sliding 10-s window; per
 * service, distinct new sources opening connections (the connection flood).
 */
export class ScanRule extends RuleSet {
  readonly name = 'network-scan';
  private readonly probes = new Map<string, { t: number; target: string }[]>();
  private readonly failures = new Map<string, { t: number; target: string }[]>();
  /** Service (host:port) -> its new sources -> packet time of their last SYN, oldest first. */
  private readonly openers = new Map<string, Map<string, number>>();
  /** Sources held in openers, all services together (at most TRACKED_MAX). */
  private openerCount = 0;
  /** Packet time of the next sweep of sources and services quiet for SCAN_WINDOW_MS. */
  private nextForgetMs = Number.NEGATIVE_INFINITY;
  /** Sources and services not tracked because TRACKED_MAX or TRACKED_SOURCES_PER_SERVICE was reached. */
  skipped = 0;

  constructor(private readonly baseline: Baseline) {
    super();
  }

  override endIncidents(): void {
    super.endIncidents();
    this.probes.clear();
    this.failures.clear();
    this.openers.clear();
    this.openerCount = 0;
  }

  onPacket(pkt: PacketView, ms: number, failed: boolean): void {
    if (ms >= this.nextForgetMs) this.forget(ms);
    if (failed) {
      // A reset without ACK ends a handshake the sender did not want (a half-open probe's abort, or a host whose
      // address a flood spoofed resetting the SYN/ACK it never asked for): not a refusal, and its receiver no prober.
      if (pkt.ipProto === IpProto.TCP && (pkt.tcpFlags & TcpFlag.ACK) === 0) return;
      // The refusal (RST/ACK answering a SYN) travels back to the prober.
      // Retries of one refused service are not a scan: count distinct refused targets.
      const prober = pkt.dstAddr();
      const target = `${pkt.srcAddr()}:${pkt.sport}`;
      const list = this.tracked(this.failures, prober, ms);
      if (list === undefined) return;
      if (!list.some((x) => x.target === target)) {
        if (list.length >= TRACKED_TARGETS_PER_SOURCE) list.shift();
        list.push({ t: ms, target });
      }
      this.failures.set(prober, list);
      if (list.length >= SCAN_FAILURES) this.fire(prober, pkt, ms, 'failed-connections', list.length);
      return;
    }
    // While the baseline learns, every connection is new: only failures count then.
    if (this.baseline.learning) return;
    const key = serviceKey(pkt);
    if (key === undefined || this.baseline.services.has(key)) return;
    if (pkt.ipProto === IpProto.UDP && pkt.sport < pkt.dport) return;
    const src = pkt.srcAddr();
    const target = `${pkt.dstAddr()}:${pkt.dport}`;
    if (pkt.ipProto === IpProto.TCP) this.opened(src, target, pkt, ms);
    const list = this.tracked(this.probes, src, ms);
    if (list === undefined) return;
    if (!list.some((x) => x.target === target)) {
      if (list.length >= TRACKED_TARGETS_PER_SOURCE) list.shift();
      list.push({ t: ms, target });
    }
    this.probes.set(src, list);
    if (list.length >= SCAN_TARGETS) this.fire(src, pkt, ms, 'distinct-targets', list.length);
  }

  /** Entries held: sources as probers and as refused, and each service's new sources. */
  get held(): number {
    return this.probes.size + this.failures.size + this.openerCount;
  }

  /** `key`'s list pruned to the window; undefined when a new key would pass TRACKED_MAX (counted in skipped). */
  private tracked<T extends { t: number }>(m: Map<string, T[]>, key: string, ms: number): T[] | undefined {
    const list = m.get(key);
    if (list !== undefined) return prune(list, ms, (x) => x.t);
    if (m.size < TRACKED_MAX) return [];
    this.skipped++;
    return undefined;
  }

  /** Forgets the sources and services with nothing in the window (once a window of packet time). */
  private forget(ms: number): void {
    this.nextForgetMs = ms + SCAN_WINDOW_MS;
    const old = ms - SCAN_WINDOW_MS;
    for (const m of [this.probes, this.failures]) {
      for (const [k, list] of m) if ((list.at(-1)?.t ?? old) <= old) m.delete(k);
    }
    for (const [k, srcs] of this.openers) {
      let last = old;
      for (const t of srcs.values()) last = t;
      if (last > old) continue;
      this.openers.delete(k);
      this.openerCount -= srcs.size;
    }
  }

  /**
   * `d` as part of a connection flood when its source is one of FLOOD_PART_SOURCES or more new sources that opened
   * connections to a service of its target within the window (T0814, from FLOOD_SOURCE, so that it folds into the
   * flood's one alert, its own finding kept as evidence); else `d` itself. Asked for every detection the correlator
   * takes (not per packet).
   */
  withinFlood(d: Detection): Detection {
    if (d.src === FLOOD_SOURCE || this.openers.size === 0) return d;
    for (const [target, srcs] of this.openers) {
      if (srcs.size < FLOOD_PART_SOURCES || !srcs.has(d.src)) continue;
      const host = target.slice(0, target.lastIndexOf(':'));
      if (host !== d.dst) continue;
      // the models name a spoofed source's lone SYN T0814 too (trained on the spoofed flood): one flood, one alert
      if (d.technique === 'T0814') {
        return {
          ...d,
          src: FLOOD_SOURCE,
          evidence: `${d.evidence} (${d.src} is one of ${srcs.size} sources never seen in learning that opened connections to ${target} within ${SCAN_WINDOW_MS / 1000} s)`,
          features: { ...d.features, within_flood: 1 },
        };
      }
      return {
        ...d,
        src: FLOOD_SOURCE,
        technique: 'T0814',
        evidence: `${d.evidence} (${d.src} is one of ${srcs.size} sources never seen in learning that opened connections to ${target} within ${SCAN_WINDOW_MS / 1000} s: a connection flood)`,
        features: { ...d.features, within_flood: 1, technique_alone: d.technique },
      };
    }
    return d;
  }

  /** A new source's SYN to `target`: many of them within the window is a connection flood (T0814). */
  private opened(src: string, target: string, pkt: PacketView, ms: number): void {
    let srcs = this.openers.get(target);
    if (srcs === undefined) {
      if (this.openers.size >= TRACKED_MAX) {
        this.skipped++;
        return;
      }
      srcs = new Map();
      this.openers.set(target, srcs);
    }
    if (srcs.delete(src)) this.openerCount--;
    for (const [s, t] of srcs) {
      if (t > ms - SCAN_WINDOW_MS && srcs.size < TRACKED_SOURCES_PER_SERVICE) break;
      srcs.delete(s);
      this.openerCount--;
      if (t > ms - SCAN_WINDOW_MS) this.skipped++;
    }
    if (this.openerCount >= TRACKED_MAX) {
      this.skipped++;
      return;
    }
    srcs.set(src, ms);
    this.openerCount++;
    const n = srcs.size;
    const fast = n < FLOOD_SOURCES && n >= FAST_FLOOD_SOURCES ? this.fastSources(srcs, target, ms) : 0;
    if (n < FLOOD_SOURCES && fast === 0) return;
    const host = target.slice(0, target.lastIndexOf(':'));
    const evidence =
      fast > 0
        ? `${fast} hosts never seen in learning opened connections to ${target} within ${FAST_FLOOD_MS / 1000} s (the service had ${this.learntClients.get(target) ?? 0} client(s) in the whole learning period; latest ${src})`
        : `${n} sources never seen in learning opened connections to ${target} within ${SCAN_WINDOW_MS / 1000} s (latest ${src})`;
    this.report(`flood-sources:${target}`, ms, () => ({
      rule: 'connection-flood',
      technique: 'T0814',
      // A PLC's service has a handful of clients: FLOOD_SOURCES never-seen ones within the window is decided at
      // once (DECIDE_AT_ONCE), not after the correlator's hold (a low-rate flood needs 2-3 s to reach the count).
      confidence: Math.min(0.99, 0.85 + (Math.max(n, FLOOD_SOURCES) - FLOOD_SOURCES) / 100),
      timeMs: ms,
      frame: pkt.frame,
      src: FLOOD_SOURCE,
      dst: host,
      evidence,
      features: { distinct_new_sources: n, ...(fast > 0 ? { never_seen_hosts_5s: fast } : {}) },
    }));
  }

  /** Learnt clients (TCP) per service host:port, counted once each (the baseline is frozen while this rule acts). */
  private readonly learntClients = new Map<string, number>();

  /**
   * The new sources of `target` (fewer than FLOOD_SOURCES) within FAST_FLOOD_MS that are hosts never seen while
   * learning, when they are at least FAST_FLOOD_SOURCES and more than the service's learnt clients; else 0.
   */
  private fastSources(srcs: Map<string, number>, target: string, ms: number): number {
    let n = 0;
    for (const [src, t] of srcs) if (t > ms - FAST_FLOOD_MS && !this.baseline.isHost(src)) n++;
    if (n < FAST_FLOOD_SOURCES) return 0;
    let clients = this.learntClients.get(target);
    if (clients === undefined) {
      const colon = target.lastIndexOf(':');
      const tail = `>${target.slice(0, colon)} tcp/${target.slice(colon + 1)}`;
      clients = 0;
      for (const k of this.baseline.services) if (k.endsWith(tail)) clients++;
      this.learntClients.set(target, clients);
    }
    return n > clients ? n : 0;
  }

  private fire(src: string, pkt: PacketView, ms: number, why: string, n: number): void {
    const targets = this.probes.get(src) ?? [];
    const hosts = new Set(targets.map((x) => x.target.slice(0, x.target.lastIndexOf(':'))));
    this.report(`scan:${src}`, ms, () => ({
      rule: 'scan',
      technique: 'T0846',
      confidence: Math.min(0.99, 0.6 + n / 40),
      timeMs: ms,
      frame: pkt.frame,
      src,
      dst: [...hosts].slice(0, 5).join(',') || pkt.srcAddr(),
      evidence:
        why === 'failed-connections'
          ? `${n} distinct targets refused connections of ${src} within ${SCAN_WINDOW_MS / 1000} s`
          : `${src} probed ${n} new host/port pairs on ${hosts.size} hosts within ${SCAN_WINDOW_MS / 1000} s`,
      features: {
        distinct_targets: targets.length,
        distinct_hosts: hosts.size,
        failed_connections: this.failures.get(src)?.length ?? 0,
      },
    }));
  }
}

/** Broadcast or multicast destination: announcements, not a service between two hosts. */
export function isGroupAddress(pkt: PacketView): boolean {
  if (pkt.ipVersion === 4) return (pkt.dst4 & 0xff) === 0xff || pkt.dst4 >>> 28 === 14;
  return pkt.ipVersion === 6 && pkt.buf[pkt.dst6Off] === 0xff;
}

function prune<T>(list: T[], ms: number, t: (x: T) => number, spanMs = SCAN_WINDOW_MS): T[] {
  let i = 0;
  while (i < list.length && t(list[i] as T) < ms - spanMs) i++;
  return i === 0 ? list : list.slice(i);
}

/** Application rules: MQTT refused logins and publishes on topics a host never used, DNS names far longer than the
 * host ever asked (tunnels), HTTP logins refused again and again. */
export const APP_WINDOW_MS = 60_000;
export const APP_FAILURES = 3;
/** DNS: a name longer than max(learnt longest + DNS_MARGIN, DNS_MIN_SUSPICIOUS) characters. */
export const DNS_MARGIN = 10;
export const DNS_MIN_SUSPICIOUS = 50;

export class AppRules extends RuleSet {
  readonly name = 'app-policy';
  private readonly refused = new Map<string, number[]>();

  constructor(private readonly baseline: Baseline) {
    super();
  }

  private failure(kind: string, client: string, ms: number): number {
    const k = `${kind}:${client}`;
    const list = prune(this.refused.get(k) ?? [], ms, (x) => x, APP_WINDOW_MS);
    list.push(ms);
    this.refused.set(k, list);
    return list.length;
  }

  onEvent(e: DecodedEvent, pkt: PacketView, ms: number): void {
    if (e.protocol !== 'mqtt' && e.protocol !== 'dns' && e.protocol !== 'http') return;
    const src = pkt.srcAddr();
    const dst = pkt.dstAddr();
    const base = { timeMs: ms, frame: e.frame, src, dst };
    if (e.protocol === 'mqtt') {
      if (e.msgtype === 2 && (e.reason_code ?? 0) !== 0) {
        const n = this.failure('mqtt', dst, ms);
        if (n >= APP_FAILURES) {
          this.report(`mqtt-auth:${dst}`, base.timeMs, () => ({
            ...base,
            src: dst,
            dst: src,
            rule: 'mqtt-refused-logins',
            technique: 'T0812',
            confidence: 0.85,
            evidence: `${n} MQTT connections of ${dst} refused by the broker ${src} within ${APP_WINDOW_MS / 1000} s (CONNACK ${e.reason_code})`,
            features: { refused_connects: n, connack_code: e.reason_code ?? -1 },
          }));
        }
      } else if (e.msgtype === 3 && e.topic !== undefined && !this.baseline.learning) {
        const topic = e.topic;
        if (!this.baseline.mqttPublishes.has(`${src}|${topic}`)) {
          this.report(`mqtt-pub:${src}|${topic}`, base.timeMs, () => ({
            ...base,
            rule: 'mqtt-new-topic-publish',
            technique: 'T0856',
            confidence: 0.85,
            evidence: `${src} published on ${topic}, a topic it never published on while learning`,
            features: { topic, payload_size: e.payload_size ?? -1 },
          }));
        }
      }
    } else if (e.protocol === 'dns') {
      const name = e.qry_name;
      if (e.is_response || name === undefined || this.baseline.learning) return;
      const learnt = this.baseline.dnsLongestName.get(src) ?? 0;
      const limit = Math.max(learnt + DNS_MARGIN, DNS_MIN_SUSPICIOUS);
      if (name.length > limit) {
        this.report(`dns-long:${src}`, base.timeMs, () => ({
          ...base,
          rule: 'dns-long-name',
          technique: 'T0869',
          confidence: 0.8,
          evidence: `${src} asked for a ${name.length}-character name (${name.slice(0, 60)}...); longest learnt ${learnt}`,
          features: { name_length: name.length, learnt_longest: learnt, qry_type: e.qry_type ?? -1 },
        }));
      }
    } else if (e.protocol === 'http') {
      const status = e.status;
      if (!e.is_response || (status !== 401 && status !== 403)) return;
      const n = this.failure('http', dst, ms);
      if (n >= APP_FAILURES) {
        this.report(`http-auth:${dst}>${src}`, base.timeMs, () => ({
          ...base,
          src: dst,
          dst: src,
          rule: 'http-refused-logins',
          technique: 'T0859',
          confidence: 0.85,
          evidence: `${n} HTTP requests of ${dst} refused by ${src} (status ${status}) within ${APP_WINDOW_MS / 1000} s`,
          features: { refused_requests: n, status },
        }));
      }
    }
  }
}
