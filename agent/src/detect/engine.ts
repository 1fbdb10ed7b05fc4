// The agent's detection pipeline for one facility: analyzer (decode -> window -> inventory) -> baseline learning ->
// rules and detectors -> correlation -> alerts. Everything runs on the injected clock (packet time in replay): the
// learning period ends `learnMs` after the first packet, alerts are decided at packet time.
import type { Clock } from '@vigil/shared';
import type { RawPacket } from '../capture/types.js';
import type { DecodedEvent, Decoder, PacketView } from '../decode/types.js';
import { Analyzer } from '../features/analyzer.js';
import { Baseline } from './baseline.js';
import { Correlator, type AgentAlert, type Suppression } from './correlate.js';
import { AppRules, ModbusProtocolRules, PolicyRules, ScanRule } from './rules.js';
import type { Detector, StreamDetector, WindowView } from './types.js';

export interface DetectionEngineOptions {
  facility: string;
  clock: Clock;
  /** A baseline learnt before (e.g. from another capture); learning continues in it only while it is not frozen. */
  baseline?: Baseline | undefined;
  /** Learning period from the first packet (ms of packet time); 0 with a fresh baseline freezes it at once. */
  learnMs: number;
  suppress?: readonly Suppression[] | undefined;
  /** Extra detectors (models) asked once per second of packet time. */
  detectors?: readonly Detector[] | undefined;
  onAlert: (a: AgentAlert) => void;
  /** The decoders (default: every protocol's, decode/registry.ts). */
  decoders?: readonly Decoder[] | undefined;
}

export class DetectionEngine {
  readonly analyzer: Analyzer;
  readonly baseline: Baseline;
  readonly correlator: Correlator;
  readonly rules: StreamDetector[];
  // The same rule sets by class: every packet and event is handed to them by direct calls (one call site per class,
  // not one site that sees four classes).
  private readonly protocolRules: ModbusProtocolRules;
  private readonly policyRules: PolicyRules;
  private readonly scanRule: ScanRule;
  private readonly appRules: AppRules;
  private readonly detectors: readonly Detector[];
  private readonly opts: DetectionEngineOptions;
  private firstMs = -1;
  private sec = -1;
  private inflight: Promise<void>[] = [];
  /** Detectors that watch traffic as it passes (models aggregating flows). */
  private readonly hooked: readonly Detector[];
  private wireLength = 0;

  constructor(opts: DetectionEngineOptions) {
    this.opts = opts;
    this.baseline = opts.baseline ?? new Baseline();
    this.detectors = opts.detectors ?? [];
    this.hooked = this.detectors.filter((d) => d.onEvent !== undefined || d.onPacket !== undefined);
    this.analyzer = new Analyzer({
      clock: opts.clock,
      onEvent: (e) => this.event(e),
      onPacket: (p, ms, failed) => this.packet(p, ms, failed),
      ...(opts.decoders !== undefined ? { pipeline: { decoders: opts.decoders } } : {}),
    });
    const modbus = this.analyzer.pipeline.decoders.find((d) => d.protocol === 'modbus');
    this.protocolRules = new ModbusProtocolRules(() => modbus?.counters.get('modbus.bad_framing') ?? 0);
    this.policyRules = new PolicyRules(this.baseline);
    this.scanRule = new ScanRule(this.baseline);
    this.appRules = new AppRules(this.baseline);
    this.rules = [this.protocolRules, this.policyRules, this.scanRule, this.appRules];
    this.correlator = new Correlator({
      facility: opts.facility,
      window: this.analyzer.window,
      suppress: opts.suppress,
      onAlert: opts.onAlert,
      rewrite: (d) => this.scanRule.withinFlood(d),
    });
  }

  private event(e: DecodedEvent): void {
    const pkt = this.analyzer.pipeline.packet;
    const ms = this.opts.clock.now();
    if (this.baseline.learning) this.baseline.onEvent(e, pkt, ms);
    this.protocolRules.onEvent(e, pkt, ms);
    this.policyRules.onEvent(e, pkt, ms);
    this.appRules.onEvent(e, pkt, ms);
    for (const d of this.hooked) d.onEvent?.(e, pkt, ms);
  }

  private packet(pkt: PacketView, ms: number, failed: boolean): void {
    if (this.baseline.learning) this.baseline.onPacket(pkt, ms);
    this.protocolRules.onPacket(pkt, ms);
    this.policyRules.onPacket(pkt, ms);
    this.scanRule.onPacket(pkt, ms, failed);
    for (const d of this.hooked) d.onPacket?.(pkt, ms, failed, this.wireLength);
  }

  /** Clock time since the first frame (0 before it): how much of the learning period has run. */
  learningElapsedMs(): number {
    return this.firstMs < 0 ? 0 : this.opts.clock.now() - this.firstMs;
  }

  private view(nowMs: number): WindowView {
    return { facility: this.opts.facility, nowMs, window: this.analyzer.window, baseline: this.baseline };
  }

  /** One frame (the clock was moved to its time). */
  handle(raw: RawPacket): void {
    const now = this.opts.clock.now();
    if (this.firstMs < 0) this.firstMs = now;
    if (this.baseline.learning && now - this.firstMs >= this.opts.learnMs) this.baseline.freeze();
    this.wireLength = raw.origLen;
    this.analyzer.handle(raw);
    // Asked per frame by direct calls; mostly no rule set holds anything. The rare branches read the clock again
    // rather than take `now`: V8 turns a fractional number into a heap object to pass it to a call, and placed that
    // allocation where every frame ran it when several branches passed the same number.
    if (
      this.protocolRules.pending() ||
      this.policyRules.pending() ||
      this.scanRule.pending() ||
      this.appRules.pending()
    )
      this.detectRules(this.opts.clock.now());
    const sec = Math.floor(now / 1000);
    if (sec !== this.sec) {
      this.sec = sec;
      this.askDetectors();
    }
    this.correlator.tick(now);
  }

  /** A new second of packet time: every detector is asked (the models score the seconds before it). */
  private askDetectors(): void {
    const now = this.opts.clock.now();
    for (const d of this.detectors) {
      const found = d.detect(this.view(now));
      if (Array.isArray(found)) for (const x of found) this.correlator.add(x);
      else this.inflight.push(found.then((xs) => xs.forEach((x) => this.correlator.add(x))));
    }
  }

  private detectRules(now: number): void {
    for (const r of this.rules) {
      if (r.pending()) for (const d of r.detect(this.view(now))) this.correlator.add(d);
    }
  }

  /**
   * Moves detection on without a frame, at the clock's time: a live source's quiet network still has incidents to
   * decide (the daemon calls this about once a second of wall time; replay never needs it).
   */
  tick(): void {
    const now = this.opts.clock.now();
    this.detectRules(now);
    this.correlator.tick(now);
  }

  /**
   * Ends every incident (the demo's reset: the injected activity was stopped on purpose): open incidents are decided
   * now, and neither the rules nor the correlator hold what comes next back as the stopped attack continuing.
   */
  endIncidents(): void {
    const now = this.opts.clock.now();
    this.detectRules(now);
    for (const r of this.rules) r.endIncidents();
    this.correlator.endIncidents(now);
  }

  /** True while a detector's answer is outstanding (feed later frames only after settle(): see FrameFeeder). */
  get busy(): boolean {
    return this.inflight.length > 0;
  }

  /** Waits for the detectors that answer asynchronously (models); call between chunks of frames. */
  async settle(): Promise<void> {
    if (this.inflight.length === 0) return;
    const all = this.inflight;
    this.inflight = [];
    await Promise.all(all);
  }

  /** End of input: decides every open incident. */
  async finish(): Promise<void> {
    await this.settle();
    const now = this.opts.clock.now();
    for (const r of this.rules) {
      r.end();
      for (const d of r.detect(this.view(now))) this.correlator.add(d);
    }
    this.correlator.tick(now, true);
  }

  /** Counts for the run's summary. */
  stats(): Record<string, unknown> {
    return {
      baseline: this.baseline.summary(),
      detections: this.correlator.detections,
      folded: this.correlator.folded,
      remembered: this.correlator.remembered,
      scan_tracked: this.scanRule.held,
      scan_untracked: this.scanRule.skipped,
      below_threshold: this.correlator.belowThreshold,
      decided: { ...this.correlator.decided },
      suppressed: Object.fromEntries(this.correlator.suppressed),
      ...(this.detectors.length > 0
        ? {
            detectors: Object.fromEntries(
              this.detectors.map((d) => [d.name, (d as { stats?: unknown }).stats ?? null]),
            ),
          }
        : {}),
    };
  }
}
