// The detection pipeline's contracts (ARCHITECTURE.md): a Detector looks at the facility's window view and returns
// Detections; rules additionally watch decoded events and packets as they pass. Times are packet time (the injected
// clock), milliseconds since the epoch.
import type { DecodedEvent, PacketView } from '../decode/types.js';
import type { FacilityWindow } from '../window/window.js';
import type { Baseline } from './baseline.js';

/** One detector's finding: what, who, when, how sure, and the features that drove it. */
export interface Detection {
  /** Detector (model or rule set) that found it, e.g. `modbus-policy`. */
  detector: string;
  layer: 1 | 2;
  /** The rule or model output inside the detector, e.g. `new-master`. */
  rule: string;
  /** ATT&CK for ICS technique id, e.g. T0855. */
  technique: string;
  /** 0..1 */
  confidence: number;
  /** Packet time of the evidence (ms). */
  timeMs: number;
  /** Frame of the evidence. */
  frame: number;
  src: string;
  dst: string;
  /** One line a person reads: what was seen. */
  evidence: string;
  /** The features that drove the decision (name -> value). */
  features: Record<string, number | string>;
}

/**
 * The rule of a model's finding that did not fit the traffic it was about (Layer 2 naming Program Download for a
 * flow without program transfer, see ModelDetector): a hint that adds its (capped) confidence to an incident opened
 * by other evidence, but never opens one, decides one or names its alert.
 */
export const DEMOTED_RULE = 'l2-implausible';

/**
 * The rule of a Read Device Identification request (Modbus function 43, MEI 14) from a host the baseline knows
 * (PolicyRules): an asset inventory read, routine engineering work; noted as evidence, like DEMOTED_RULE, never an
 * alert on its own.
 */
export const INVENTORY_RULE = 'device-identification-read';

/** True for a detection that is evidence only: it joins an open incident but never opens, decides or names one. */
export function isEvidenceOnly(d: Detection): boolean {
  return d.rule === DEMOTED_RULE || d.rule === INVENTORY_RULE;
}

/** What a detector sees each time it is asked: the facility, its window, the baseline, the clock. */
export interface WindowView {
  facility: string;
  nowMs: number;
  window: FacilityWindow;
  baseline: Baseline;
}

export interface Detector {
  readonly name: string;
  readonly layer: 1 | 2;
  detect(w: WindowView): Detection[] | Promise<Detection[]>;
  /** Optional: every decoded event as it passes (models aggregate flows from them). */
  onEvent?(e: DecodedEvent, pkt: PacketView, ms: number): void;
  /** Optional: every packet whose transport header decoded, with its wire length. */
  onPacket?(pkt: PacketView, ms: number, failed: boolean, wireLength: number): void;
}

/** A detector that also watches traffic as it passes (rules); it reports what it found at the next detect(). */
export interface StreamDetector extends Detector {
  /** Rules answer at once. */
  detect(w: WindowView): Detection[];
  /** True when detect() has something to return now (checked after every frame, so rules alert at once). */
  pending(): boolean;
  /** Forgets the attacks reported so far (see DetectionEngine.endIncidents). */
  endIncidents(): void;
  /** End of input: report what is held back (the next detect() returns it). */
  end(): void;
}
