// The three models in the product, as one Detector of the DetectionEngine, run in onnxruntime-node with batching:
// once per second of packet time it scores every flow-second of the second that just ended with the facility's
// Isolation Forest (Layer 1a, one ORT run for all rows) and the window's 60 one-second steps with the LSTM
// autoencoder (Layer 1b); the flows Layer 1 flags (every flow above the L1a threshold, and the three most unusual
// ones of a second above the L1b threshold) go to the Layer 2 classifier in one ORT run, which names the attack
// class -> ATT&CK for ICS technique. So does every flow-second that acted on the process (a Modbus write or a
// program transfer, actsOnProcess): one command on a polling connection barely moves a whole row's anomaly score
// (the simulated plants' coil and setpoint writes scored 0.45-0.63 against a threshold of 0.79), and such rows are
// rare, so classifying them all costs little. Such a row alone raises nothing: a legitimate engineering change is
// one write in a normal-looking flow too (Layer 2 called one T0836, p=0.986, in water-b's normal hour); Layer 2's
// attack class is a finding when the same pair's process-acting flow-second of the same class repeats it within
// PROCESS_REPEAT_S. A flagged flow that Layer 2 calls normal raises nothing (counted).
// Layer 2's class must fit what the flow carried (implausibleFor: a scan needs probes without application requests,
// recon a Modbus request, Unauthorized Command Message a coil write,
// Modify Parameter a register write, Program Download program-transfer requests, Spoof Reporting Message a PUBLISH
// on a topic new to its client, the other MQTT, DNS and HTTP classes their protocol's messages): otherwise the most probable class that fits is taken when it passes its floor, else
// the finding is demoted to a hint
// (DEMOTED_RULE, confidence at most DEMOTED_CONFIDENCE: evidence in an incident, never an alert on its own), and
// Layer 1's detections of that flow are not raised, as for a flow Layer 2 calls normal. Both are counted.
//
// The facility's own Layer 1a and scaler are either loaded (its data dir, `vigil-agent models train`) or learnt
// from the engine's learning period: when the baseline freezes, the forest is fitted on 70% of the learnt seconds
// and its threshold calibrated on the other 30% (interleaved by second) for the target false-alarm rate; the L1b
// threshold is recalibrated on the facility's own learning windows (the shared L1b never saw this facility).
import {
  IsolationForest,
  SCORE_NAME,
  INPUT_NAME,
  OUTPUT_NAME,
  SwappableSession,
  exportIsolationForest,
  seededRng,
} from '@vigil/models';
import type { DecodedEvent, PacketView } from '../../decode/types.js';
import { DEMOTED_RULE, type Detection, type Detector, type WindowView } from '../types.js';
import {
  calibrate,
  l1bThreshold as l1bThresholdOf,
  readL1b,
  readL2,
  tryReadLocal,
  ARTIFACTS_DIR,
  L1B_FILE,
  LOCAL_DIR,
  LOCAL_FILE,
  writeModel,
  type L1bMeta,
  type L2Meta,
  type LocalMeta,
  type ModelFile,
} from './artifacts.js';
import {
  FLOW_FEATURE_FIELDS,
  FlowSeconds,
  MODEL_FEATURE_SCHEMAS,
  NF,
  NW,
  WINDOW_STEPS,
  WINDOW_STEP_FIELDS,
  fitScaler,
  isFitSecond,
  l2Input,
  windowSummary,
  writeL2Input,
  standardise,
  type FlowRow,
  type Scaler,
} from './features.js';
import { StepHistory, paddedWindow } from './history.js';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

/**
 * ONNX Runtime options of the serving sessions: the intra-op threads sleep between runs instead of spinning. The
 * detector runs a few small batches per second of packet time, and spinning burnt about 0.4 s of CPU per 2M-packet
 * bench run (a tenth of the whole pipeline) on threads that then had nothing to do. The same thread count and so the
 * same arithmetic: only the waiting changes.
 */
const SERVING_SESSION_OPTIONS = { extra: { session: { intra_op: { allow_spinning: '0' } } } } as const;

/** The `source` of a local baseline the detector learnt in a learning period (not given by `models train`). */
export const LEARNT_SOURCE = 'learning period';
/** Default target false-alarm rate per scored flow-second (L1a) and per window-second (L1b). */
export const DEFAULT_TARGET_FAR = 0.001;
/** Most flagged flows sent to Layer 2 per second. */
const MAX_TRIGGERS = 32;
/** Learning rows kept (reservoir) for the forest and its calibration. */
const MAX_FIT_ROWS = 20_000;
const MAX_HELD_ROWS = 10_000;
/** The forest's size (Liu et al.: 100 trees of 256). */
const TREES = 100;
const SAMPLE = 256;

export interface ModelDetectorOptions {
  facility: string;
  l1b: ModelFile<L1bMeta>;
  l2: ModelFile<L2Meta>;
  /** The facility's baseline learnt before (its data dir); without it, learnt when the engine's baseline freezes. */
  local?: ModelFile<LocalMeta> | undefined;
  targetFalseAlarmRate?: number | undefined;
  seed?: number | undefined;
}

/** What the detector did, for the run's summary. */
export interface ModelStats {
  ready: boolean;
  reason: string;
  flowSeconds: number;
  windows: number;
  l1aFlagged: number;
  l1bFlagged: number;
  /** Flow-seconds Layer 1 did not flag that went to Layer 2 for acting on the process (actsOnProcess). */
  processRows: number;
  /** ... of which Layer 2 named an attack class once, not repeated by the pair within PROCESS_REPEAT_S (no finding). */
  processSingles: number;
  classified: number;
  l2Normal: number;
  /** Layer 2's class did not fit what the flow carried (implausibleFor). */
  l2Implausible: number;
  /** ... of which another class that fits passed its floor and was taken instead. */
  l2Relabelled: number;
  /** ... of which none did: demoted to an l2-implausible hint. */
  l2Demoted: number;
  detections: number;
  l1aThreshold: number;
  l1bThreshold: number;
}

/** A learning flow-second kept for the forest and the calibrations. */
interface Kept {
  x: Float32Array;
  sec: number;
  program: number;
}

interface Reservoir {
  rows: Kept[];
  seen: number;
}

function reservoirAdd(r: Reservoir, x: Kept, cap: number, rng: () => number): void {
  r.seen++;
  if (r.rows.length < cap) r.rows.push(x);
  else {
    const j = Math.floor(rng() * r.seen);
    if (j < cap) r.rows[j] = x;
  }
}

/** Learning flow-seconds kept in one reservoir, laid end to end (a learning checkpoint's form). */
export interface KeptRows {
  /** The rows' features, NF values each. */
  x: Float32Array;
  /** Each row's second (unix s) and program-transfer count. */
  sec: Float64Array;
  program: Float64Array;
  /** Rows the reservoir was offered (its sampling goes on from there). */
  seen: number;
}

/**
 * What a detector has learnt so far in a learning period, for a checkpoint (detect/models-checkpoint.ts): the
 * learning flow-seconds kept for the forest and its calibration (both reservoirs, at most MAX_FIT_ROWS +
 * MAX_HELD_ROWS rows), the window steps of the period (the scaler's and the L1b threshold's data, at most the
 * history's 86,400 + 1,024 seconds) and every set the flow-seconds learnt (each Set of FlowSeconds by its field name:
 * knownPairs, knownServices and any set a feature adds travel without a change here).
 */
export interface ModelLearningState {
  fit: KeptRows;
  held: KeptRows;
  /** Window steps, NW values a second, oldest first, of the seconds ending before stepsEndSec. */
  steps: Float32Array;
  stepsEndSec: number;
  sets: Record<string, string[]>;
}

function keptRows(r: Reservoir): KeptRows {
  const n = r.rows.length;
  const out: KeptRows = {
    x: new Float32Array(n * NF),
    sec: new Float64Array(n),
    program: new Float64Array(n),
    seen: r.seen,
  };
  r.rows.forEach((k, i) => {
    out.x.set(k.x, i * NF);
    out.sec[i] = k.sec;
    out.program[i] = k.program;
  });
  return out;
}

function reservoirOf(k: KeptRows): Reservoir {
  const rows: Kept[] = [];
  for (let i = 0; i < k.sec.length; i++)
    rows.push({ x: k.x.slice(i * NF, (i + 1) * NF), sec: k.sec[i]!, program: k.program[i]! });
  return { rows, seen: k.seen };
}

/** The sets FlowSeconds learns while learning: each of its own fields holding a Set, by name. */
function learntSets(flows: FlowSeconds): Map<string, Set<unknown>> {
  const out = new Map<string, Set<unknown>>();
  for (const [k, v] of Object.entries(flows)) if (v instanceof Set) out.set(k, v as Set<unknown>);
  return out;
}

/** The MQTT topics each client published on while learning (a map of sets), as `client|topic` strings. */
const KNOWN_TOPICS = 'knownTopics';

/** Everything FlowSeconds learns while learning, as string lists by name (a checkpoint's `sets`). */
function learntLists(flows: FlowSeconds): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [k, v] of learntSets(flows)) out[k] = [...v].map(String);
  out[KNOWN_TOPICS] = flows.knownTopicList();
  return out;
}

/** The names of learntLists, sorted. */
function learntNames(flows: FlowSeconds): string[] {
  return [...learntSets(flows).keys(), KNOWN_TOPICS].sort();
}

/** The facility's own Layer 1a forest, scaler and thresholds, learnt from its normal traffic. */
export interface LearntLocal {
  forest: IsolationForest;
  meta: LocalMeta;
  /**
   * At most `keepWindows` of the learning period's standardised normal windows (the L1b threshold's calibration
   * data), evenly strided from the first.
   */
  windows: Float32Array[];
}

/** Windows per ORT run of l1bErrorsOf. */
const L1B_BATCH = 256;
/**
 * Windows learnLocal builds and has scored at a time (about 3.7 MB of them): the end of a 1-day learning period
 * scores about 86,000 windows, which held at once were 311 MB of arrays. A multiple of L1B_BATCH, so ORT runs the
 * same batches as on all the windows at once, and the errors (and the threshold) are the same.
 */
const L1B_CHUNK = 4 * L1B_BATCH;

/**
 * Fits the facility's forest on `fit`, calibrates it on `held`, fits the scaler on `steps` and calibrates L1b on
 * the facility's windows (scored by `l1bErrors`, L1B_CHUNK windows a call: memory does not grow with the period).
 * Used at the end of a learning period and by `models train`.
 */
export async function learnLocal(o: {
  facility: string;
  source: string;
  fit: readonly Float32Array[];
  held: readonly Float32Array[];
  steps: Float32Array;
  knownPairs: Iterable<string>;
  knownServices: Iterable<string>;
  /** `client|topic` strings (FlowSeconds.knownTopicList). */
  knownTopics: Iterable<string>;
  far: number;
  seed: number;
  /** Each window's reconstruction error (called once per L1B_CHUNK windows, in order). */
  l1bErrors: (windows: Float32Array[]) => Promise<number[]>;
  fallbackL1bThreshold: number;
  /** Windows returned for a later recalibration (LearntLocal.windows; default none). */
  keepWindows?: number | undefined;
}): Promise<LearntLocal> {
  if (o.fit.length < 32 || o.held.length < 8) {
    throw new Error(`too little normal traffic to learn from (${o.fit.length + o.held.length} flow-seconds)`);
  }
  const flat = new Float32Array(o.fit.length * NF);
  o.fit.forEach((x, i) => flat.set(x, i * NF));
  const forest = IsolationForest.fit(flat, NF, { trees: TREES, sampleSize: SAMPLE, rng: seededRng(o.seed) });
  const l1aThreshold = calibrate(Array.from(scoreAll(forest, o.held)), o.far);
  const flowScaler = fitScaler(flat, NF);
  const scaler = fitScaler(o.steps, NW);
  // window i is the standardised steps i .. i + WINDOW_STEPS - 1
  const nWindows = Math.max(0, Math.floor(o.steps.length / NW) - WINDOW_STEPS + 1);
  const keep = o.keepWindows ?? 0;
  const stride = keep > 0 ? Math.max(1, Math.ceil(nWindows / keep)) : 0;
  const kept: Float32Array[] = [];
  const errors: number[] = [];
  for (let first = 0; first < nWindows; first += L1B_CHUNK) {
    const chunk: Float32Array[] = [];
    for (let i = first; i < Math.min(nWindows, first + L1B_CHUNK); i++) {
      const w = standardise(o.steps.slice(i * NW, (i + WINDOW_STEPS) * NW), scaler);
      chunk.push(w);
      if (stride > 0 && i % stride === 0) kept.push(w);
    }
    for (const e of await o.l1bErrors(chunk)) errors.push(e);
  }
  let l1bThreshold = o.fallbackL1bThreshold;
  if (nWindows > 0) {
    const local = l1bThresholdOf(errors, o.far);
    l1bThreshold = nWindows >= 200 ? local : Math.max(local, o.fallbackL1bThreshold);
  }
  return {
    forest,
    windows: kept,
    meta: {
      kind: 'local-baseline',
      schemas: { ...MODEL_FEATURE_SCHEMAS },
      facility: o.facility,
      l1aThreshold,
      l1bThreshold,
      targetFalseAlarmRate: o.far,
      scaler,
      flowMean: flowScaler.mean,
      flowStd: flowScaler.std,
      knownPairs: [...o.knownPairs],
      knownServices: [...o.knownServices],
      knownTopics: [...o.knownTopics],
      trainedAt: new Date().toISOString(),
      source: o.source,
      flowRows: o.fit.length + o.held.length,
      windows: nWindows,
    },
  };
}

/** The forest's score of each row (IsolationForest.scoreRows over the rows laid end to end). */
function scoreAll(forest: IsolationForest, xs: readonly Float32Array[]): Float64Array {
  const flat = new Float32Array(xs.length * NF);
  xs.forEach((x, i) => flat.set(x, i * NF));
  return forest.scoreRows(flat);
}

/** Rows of the learning period Layer 2 is asked about when calibrating (the most unusual by Layer 1a). */
const L2_CALIBRATION_ROWS = 2000;
/** Learning windows kept to recalibrate the L1b threshold when a new Layer 1b is swapped in. */
const MAX_CALIBRATION_WINDOWS = 1200;
/** Recent flow-seconds kept for operator feedback (their rows and L1a scores, about 12 MB). */
const MAX_RECENT_ROWS = 50_000;

/**
 * Layer 2's per-class probability floor for one facility, from its own normal traffic: Layer 2 is asked about the
 * learning period's most unusual flow-seconds (by the facility's forest) and every one that acted on the process
 * (the rows it will be asked about when serving); a class it names there with probability p
 * needs more than p (+0.01, at least the model's minProbability) from then on. Normal operation that resembles an
 * attack class (a plant whose master writes coils as routine) so stops raising it; an attack class never seen on
 * normal traffic keeps the model's floor.
 */
export async function calibrateL2(o: {
  rows: readonly Kept[];
  forest: IsolationForest;
  windowAt: (endSec: number) => Float32Array;
  session: SwappableSession;
  meta: L2Meta;
}): Promise<Record<string, number>> {
  return l2Floors(o.session, l2CalibrationInputs(o), o.meta);
}

/**
 * Layer 2's inputs for the floors (calibrateL2): the learning period's most unusual flow-seconds and every one that
 * acted on the process, [n * inputs].
 */
export function l2CalibrationInputs(o: {
  rows: readonly { x: Float32Array; sec: number; program: number }[];
  forest: IsolationForest;
  windowAt: (endSec: number) => Float32Array;
  meta: L2Meta;
}): Float32Array {
  const scores = scoreAll(
    o.forest,
    o.rows.map((r) => r.x),
  );
  const scored = o.rows.map((r, i) => ({ ...r, s: scores[i]! }));
  scored.sort((a, b) => b.s - a.s);
  const pick = [
    ...scored.slice(0, L2_CALIBRATION_ROWS),
    ...scored.slice(L2_CALIBRATION_ROWS).filter(actsOnProcess),
  ];
  // one window (and its summary) per second, however many of the second's rows are picked
  const wins = new Map<number, Float32Array>();
  const data = new Float32Array(pick.length * o.meta.inputs);
  pick.forEach((r, i) => {
    let w = wins.get(r.sec + 1);
    if (w === undefined) wins.set(r.sec + 1, (w = windowSummary(o.windowAt(r.sec + 1))));
    writeL2Input(w, r.x, r.s, data, i * o.meta.inputs);
  });
  return data;
}

/** The per-class floors a Layer 2 session gives on the calibration inputs (see calibrateL2). */
export async function l2Floors(
  session: SwappableSession,
  data: Float32Array,
  meta: L2Meta,
): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  const n = data.length / meta.inputs;
  if (n === 0) return out;
  const [probs] = (await session.runRows(INPUT_NAME, data, [meta.inputs], [OUTPUT_NAME])).outputs;
  const C = meta.classes.length;
  for (let i = 0; i < n; i++) {
    for (let c = 1; c < C; c++) {
      const p = probs![i * C + c]!;
      const name = meta.classes[c]!;
      if (p >= meta.minProbability) out[name] = Math.min(0.999, Math.max(out[name] ?? 0, p + 0.01));
    }
  }
  return out;
}

/** Mean squared error per window of `inputs` and `outputs` ([n, steps, features] flat). */
export function windowErrors(inputs: Float32Array, outputs: Float32Array, per: number): number[] {
  const out: number[] = [];
  for (let i = 0; i * per < inputs.length; i++) {
    let s = 0;
    for (let k = i * per; k < (i + 1) * per; k++) {
      const d = inputs[k]! - outputs[k]!;
      s += d * d;
    }
    out.push(s / per);
  }
  return out;
}

/** Runs the L1b session over windows in batches of L1B_BATCH; returns each window's reconstruction error. */
export async function l1bErrorsOf(
  session: SwappableSession,
  windows: readonly Float32Array[],
): Promise<number[]> {
  const per = WINDOW_STEPS * NW;
  const out: number[] = [];
  for (let i = 0; i < windows.length; i += L1B_BATCH) {
    const part = windows.slice(i, i + L1B_BATCH);
    const data = new Float32Array(part.length * per);
    part.forEach((w, k) => data.set(w, k * per));
    const r = await session.runRows(INPUT_NAME, data, [WINDOW_STEPS, NW], [OUTPUT_NAME]);
    out.push(...windowErrors(data, r.outputs[0]!, per));
  }
  return out;
}

function topFeatures(
  x: Float32Array,
  mean: readonly number[],
  std: readonly number[],
  names: readonly string[],
  prefix: string,
  n = 3,
): Record<string, number> {
  const z = names.map((_, i) => Math.abs((x[i]! - (mean[i] ?? 0)) / (std[i] || 1)));
  const idx = z.map((_, i) => i).sort((a, b) => z[b]! - z[a]!);
  const out: Record<string, number> = {};
  for (const i of idx.slice(0, n)) out[`${prefix}${names[i]}`] = Math.round(x[i]! * 1000) / 1000;
  return out;
}

const FLOW_NAMES = FLOW_FEATURE_FIELDS.map((f) => f.name);
const at = (name: string): number => FLOW_NAMES.indexOf(name);
const WRITES = at('modbus_writes');
const NEW_TOPICS = at('mqtt_new_topics');
const READS = at('modbus_reads');
const APP_REQUESTS = [
  'modbus_reads',
  'modbus_writes',
  'mqtt_connects',
  'mqtt_publishes',
  'dns_queries',
  'http_requests',
].map(at);

/**
 * True when the flow-second sent a Modbus write, a program transfer or an MQTT PUBLISH on a topic its client never
 * published on while learning: Layer 2 classifies it whatever Layer 1 says. (mqtt_new_topics is 0 in every learning
 * row, so the facility's forest cannot split on it: Layer 1a would never flag a spoofed reading for its topic.)
 */
export function actsOnProcess(r: { x: Float32Array; program: number }): boolean {
  return r.x[WRITES]! > 0 || r.program > 0 || r.x[NEW_TOPICS]! > 0;
}

/**
 * What a flow-second must carry for Layer 2's class to fit it (the protocol fact beats the model), with the reason
 * told when it did not. Classes not listed (scan, recon, flood) can show in any traffic.
 */
const NEEDS: Record<string, { fits: (r: FlowRow) => boolean; lacks: string }> = {
  // as the rules map functions to techniques: a coil write commands, a register write modifies a parameter
  T0855: { fits: (r) => r.coilWrites > 0, lacks: 'no Modbus coil write' },
  T0836: { fits: (r) => r.registerWrites > 0, lacks: 'no Modbus register write' },
  // UMAS (fc 90) reservation, stop/start and download blocks as Schneider's engineering software sends them, or
  // Write File Record (fc 21); a device identification (fc 43) or a UMAS read is not a program transfer
  T0843: {
    fits: (r) => r.program > 0,
    lacks: 'no program transfer (UMAS reservation/download/stop/start, fc 21)',
  },
  // a scan's probes carry no application request and end reset, refused or unanswered (half-open, closed port,
  // filtered); a completed handshake not reset is a connection being opened (its request follows)
  T0846: {
    fits: (r) =>
      APP_REQUESTS.every((k) => r.x[k] === 0) &&
      (r.x[at('rst')]! > 0 || r.x[at('failed')]! > 0 || r.x[at('to_server_share')] === 1),
    lacks: 'no probe (an application request, or a handshake not reset)',
  },
  // recon as the class was learnt (device identification, function-code sweeps, register-map probes) asks a PLC
  // over Modbus; Layer 2 also named seconds of an HTTP login brute force T0888 (p=0.87-0.98)
  T0888: {
    fits: (r) => r.x[READS]! + r.x[WRITES]! + r.x[at('modbus_exceptions')]! > 0,
    lacks: 'no Modbus request',
  },
  T0812: {
    fits: (r) => r.x[at('mqtt_connects')]! > 0 || r.x[at('mqtt_refused')]! > 0,
    lacks: 'no MQTT CONNECT',
  },
  // a spoofed reading is a PUBLISH on a topic its client never published on (a sensor's own topic is what it sends
  // every few seconds; the broker's delivery of the reading to a subscriber is on the subscriber's usual topics)
  T0856: {
    fits: (r) => r.x[NEW_TOPICS]! > 0,
    lacks: 'no MQTT PUBLISH on a topic new to its client',
  },
  T0869: { fits: (r) => r.x[at('dns_queries')]! > 0, lacks: 'no DNS query' },
  T0859: { fits: (r) => r.x[at('http_requests')]! > 0, lacks: 'no HTTP request' },
};

/** Undefined when the class fits the flow-second, else what the flow lacked for it. */
export function implausibleFor(technique: string, r: FlowRow): string | undefined {
  const n = NEEDS[technique];
  return n === undefined || n.fits(r) ? undefined : n.lacks;
}

/** How close (s) a pair's second process-acting flow-second of the same class must follow the first to be a finding. */
export const PROCESS_REPEAT_S = 30;

/** The most a demoted Layer 2 finding (l2-implausible) counts: below MIN_ALERT_CONFIDENCE with any weak hint. */
export const DEMOTED_CONFIDENCE = 0.2;
const STEP_NAMES = WINDOW_STEP_FIELDS.map((f) => f.name);

export class ModelDetector implements Detector {
  readonly name = 'models';
  readonly layer = 1 as const;
  private opts: ModelDetectorOptions;
  private readonly far: number;
  private readonly flows = new FlowSeconds();
  private readonly history = new StepHistory(86_400);
  private fitRows: Reservoir = { rows: [], seen: 0 };
  private heldRows: Reservoir = { rows: [], seen: 0 };
  private rng: () => number;
  /** A resumed checkpoint's window steps, joined to the history at the next second (resumeLearning). */
  private resumedSteps: { steps: Float32Array; endSec: number } | undefined;
  private l1b: SwappableSession | undefined;
  private l2: SwappableSession | undefined;
  private l1a: SwappableSession | undefined;
  private local: LocalMeta | undefined;
  private preparing: Promise<void> | undefined;
  private sawLearning = false;
  /** Client>server -> the last flow-second Layer 2 named an attack class for acting on the process alone. */
  private readonly processFindings = new Map<string, { sec: number; technique: string }>();
  readonly stats: ModelStats = {
    ready: false,
    reason: 'not started',
    flowSeconds: 0,
    windows: 0,
    l1aFlagged: 0,
    l1bFlagged: 0,
    processRows: 0,
    processSingles: 0,
    classified: 0,
    l2Normal: 0,
    l2Implausible: 0,
    l2Relabelled: 0,
    l2Demoted: 0,
    detections: 0,
    l1aThreshold: 0,
    l1bThreshold: 0,
  };

  constructor(opts: ModelDetectorOptions) {
    this.opts = { ...opts };
    this.far = opts.targetFalseAlarmRate ?? DEFAULT_TARGET_FAR;
    const r = seededRng(opts.seed ?? 7);
    this.rng = () => r.next();
    if (opts.local !== undefined) {
      for (const p of opts.local.meta.knownPairs) this.flows.knownPairs.add(p);
      for (const s of opts.local.meta.knownServices) this.flows.knownServices.add(s);
      this.flows.addKnownTopics(opts.local.meta.knownTopics);
      this.flows.learning = false;
    }
  }

  onPacket(pkt: PacketView, ms: number, failed: boolean, wireLength: number): void {
    this.flows.onPacket(pkt, ms, failed, wireLength);
  }

  onEvent(e: DecodedEvent, pkt: PacketView, ms: number): void {
    this.flows.onEvent(e, pkt, ms);
  }

  /** A local baseline given at construction serves (from the data dir): the detector learns nothing. */
  get servesLocal(): boolean {
    return this.opts.local !== undefined;
  }

  /** The learnt Layer 1a forest's ONNX and description (after the learning period), to save in a data dir. */
  learnt: { onnx: Uint8Array; meta: LocalMeta } | undefined;

  /**
   * Takes the second's flow rows: learnt from while learning (answered at once: the engine need not hold later
   * frames back for an answer that asks no model), scored by the models after it (answered when ORT has run).
   */
  detect(w: WindowView): Detection[] | Promise<Detection[]> {
    const sec = Math.floor(w.nowMs / 1000);
    const learning = w.baseline.learning && this.opts.local === undefined;
    const rows = this.flows.take(sec);
    if (this.resumedSteps !== undefined) this.joinResumed(sec);
    this.history.advance(w.window, sec);
    if (learning) {
      this.flows.learning = true;
      if (!this.sawLearning) {
        this.sawLearning = true;
        this.stats.reason = 'learning';
      }
      for (const r of rows) {
        const row = { x: r.x, sec: r.sec, program: r.program };
        if (isFitSecond(r.sec)) reservoirAdd(this.fitRows, row, MAX_FIT_ROWS, this.rng);
        else reservoirAdd(this.heldRows, row, MAX_HELD_ROWS, this.rng);
      }
      return [];
    }
    this.flows.learning = false;
    return this.serve(rows, sec);
  }

  /**
   * What this detector has learnt so far in the learning period (a checkpoint's content), or undefined when it is
   * not learning: it serves a baseline given at construction, or its learning is over.
   */
  learningState(): ModelLearningState | undefined {
    if (this.opts.local !== undefined || this.preparing !== undefined || this.stats.ready) return undefined;
    const r = this.resumedSteps;
    return {
      fit: keptRows(this.fitRows),
      held: keptRows(this.heldRows),
      steps: r?.steps ?? this.history.steps(this.history.startSec, this.history.endSec),
      stepsEndSec: r?.endSec ?? this.history.endSec,
      sets: learntLists(this.flows),
    };
  }

  /**
   * Why `s` cannot be resumed by this detector (undefined: it can): it must still be learning, and the checkpoint's
   * learnt sets must be this code's (FlowSeconds' sets by name).
   */
  refusesLearning(s: ModelLearningState): string | undefined {
    if (this.opts.local !== undefined) return 'the models serve a local baseline given before';
    if (this.sawLearning) return 'the detector has learnt already';
    const have = learntNames(this.flows);
    const got = Object.keys(s.sets).sort();
    if (have.join(',') !== got.join(','))
      return `its learnt sets are ${got.join(', ') || 'none'}, this agent learns ${have.join(', ')}`;
    return undefined;
  }

  /**
   * Resumes a learning period from a checkpoint (learningState of an earlier run): the kept flow-seconds, the window
   * steps and the learnt sets. The steps join the seconds after the restart (the downtime adds no empty seconds)
   * and the kept rows' seconds move with them. Throws when refusesLearning gives a reason.
   */
  resumeLearning(s: ModelLearningState): void {
    const why = this.refusesLearning(s);
    if (why !== undefined) throw new Error(why);
    this.fitRows = reservoirOf(s.fit);
    this.heldRows = reservoirOf(s.held);
    const r = seededRng(((this.opts.seed ?? 7) + s.fit.seen * 31 + s.held.seen) >>> 0);
    this.rng = () => r.next();
    const sets = learntSets(this.flows);
    for (const [k, v] of Object.entries(s.sets)) {
      if (k === KNOWN_TOPICS) this.flows.addKnownTopics(v);
      else for (const x of v) sets.get(k)!.add(x);
    }
    this.resumedSteps = { steps: s.steps, endSec: s.stepsEndSec };
    this.sawLearning = true;
    this.stats.reason = 'learning';
  }

  /** The first second after a resume: the checkpoint's steps end where this run's begin (see resumeLearning). */
  private joinResumed(sec: number): void {
    const r = this.resumedSteps!;
    this.resumedSteps = undefined;
    this.history.restore(r.steps, sec);
    const shift = sec - r.endSec;
    for (const k of this.fitRows.rows) k.sec += shift;
    for (const k of this.heldRows.rows) k.sec += shift;
  }

  private async serve(rows: FlowRow[], sec: number): Promise<Detection[]> {
    this.preparing ??= this.prepare(sec);
    await this.preparing;
    if (!this.stats.ready) return [];
    return this.score(rows, sec);
  }

  private async prepare(sec: number): Promise<void> {
    try {
      this.l1b = await SwappableSession.create(this.opts.l1b.onnx, SERVING_SESSION_OPTIONS);
      this.l2 = await SwappableSession.create(this.opts.l2.onnx, SERVING_SESSION_OPTIONS);
      if (this.opts.local !== undefined) {
        this.l1a = await SwappableSession.create(this.opts.local.onnx, SERVING_SESSION_OPTIONS);
        this.local = this.opts.local.meta;
      } else {
        if (!this.sawLearning) {
          this.stats.reason = 'no learning period and no local baseline: models inactive';
          return;
        }
        const l1b = this.l1b;
        const learnt = await learnLocal({
          facility: this.opts.facility,
          source: LEARNT_SOURCE,
          fit: this.fitRows.rows.map((r) => r.x),
          held: this.heldRows.rows.map((r) => r.x),
          steps: this.history.steps(this.history.startSec, sec),
          knownPairs: this.flows.knownPairs,
          knownServices: this.flows.knownServices,
          knownTopics: this.flows.knownTopicList(),
          far: this.far,
          seed: this.opts.seed ?? 7,
          l1bErrors: (ws) => l1bErrorsOf(l1b, ws),
          fallbackL1bThreshold: this.opts.l1b.meta.threshold,
          keepWindows: MAX_CALIBRATION_WINDOWS,
        });
        const scaler = learnt.meta.scaler;
        const l2Inputs = l2CalibrationInputs({
          rows: [...this.fitRows.rows, ...this.heldRows.rows],
          forest: learnt.forest,
          windowAt: (s) => this.windowAt(s, scaler),
          meta: this.opts.l2.meta,
        });
        learnt.meta.l2ClassMin = await l2Floors(this.l2, l2Inputs, this.opts.l2.meta);
        this.calibration = { windows: learnt.windows, l2Inputs };
        const onnx = exportIsolationForest(learnt.forest, { metadata: { facility: this.opts.facility } });
        this.l1a = await SwappableSession.create(onnx, SERVING_SESSION_OPTIONS);
        this.local = learnt.meta;
        this.learnt = { onnx, meta: learnt.meta };
        this.fitRows.rows = [];
        this.heldRows.rows = [];
      }
      this.stats.ready = true;
      this.stats.reason = 'ready';
      this.stats.l1aThreshold = this.local.l1aThreshold;
      this.stats.l1bThreshold = this.local.l1bThreshold;
    } catch (e) {
      this.stats.reason = `models inactive: ${e instanceof Error ? e.message : String(e)}`;
    }
  }

  private windowAt(sec: number, scaler: Scaler): Float32Array {
    return paddedWindow(this.history, sec, scaler);
  }

  private async score(rows: FlowRow[], sec: number): Promise<Detection[]> {
    const local = this.local!;
    const l1a = this.l1a!;
    const l1b = this.l1b!;
    const l2 = this.l2!;
    const meta2 = this.opts.l2.meta;
    const win = this.windowAt(sec, local.scaler);
    const [recon] = (await l1b.runRows(INPUT_NAME, win, [WINDOW_STEPS, NW], [OUTPUT_NAME])).outputs;
    const err = windowErrors(win, recon!, win.length)[0]!;
    const ratio = err / local.l1bThreshold;
    this.stats.windows++;
    if (ratio > 1) this.stats.l1bFlagged++;
    if (rows.length === 0) return [];
    this.stats.flowSeconds += rows.length;
    const data = new Float32Array(rows.length * NF);
    rows.forEach((r, i) => data.set(r.x, i * NF));
    const [scores] = (await l1a.runRows(INPUT_NAME, data, [NF], [SCORE_NAME])).outputs;
    rows.forEach((r, i) => this.remember(r, scores![i]!));
    const order = rows.map((_, i) => i).sort((a, b) => scores![b]! - scores![a]!);
    const triggers = new Set<number>();
    for (const i of order) {
      if (scores![i]! > local.l1aThreshold) {
        triggers.add(i);
        this.stats.l1aFlagged++;
      }
    }
    if (ratio > 1) for (const i of order.slice(0, 3)) triggers.add(i);
    const processOnly = new Set<number>();
    for (const i of order) if (!triggers.has(i) && actsOnProcess(rows[i]!)) processOnly.add(i);
    this.stats.processRows += processOnly.size;
    for (const i of processOnly) triggers.add(i);
    const chosen = [...triggers].slice(0, MAX_TRIGGERS);
    if (chosen.length === 0) return [];
    const input = new Float32Array(chosen.length * meta2.inputs);
    const summary = windowSummary(win);
    chosen.forEach((i, k) => writeL2Input(summary, rows[i]!.x, scores![i]!, input, k * meta2.inputs));
    const [probs] = (await l2.runRows(INPUT_NAME, input, [meta2.inputs], [OUTPUT_NAME])).outputs;
    const C = meta2.classes.length;
    const out: Detection[] = [];
    const tail = win.subarray((WINDOW_STEPS - 5) * NW);
    const recTail = recon!.subarray((WINDOW_STEPS - 5) * NW);
    const stepErr = STEP_NAMES.map((_, k) => {
      let s = 0;
      for (let t = 0; t < 5; t++) s += (tail[t * NW + k]! - recTail[t * NW + k]!) ** 2;
      return s / 5;
    });
    let l1bDone = false;
    const floor = (c: number): number => local.l2ClassMin?.[meta2.classes[c]!] ?? meta2.minProbability;
    chosen.forEach((i, k) => {
      this.stats.classified++;
      const r = rows[i]!;
      const prob = (c: number): number => probs![k * C + c]!;
      let best = 0;
      for (let c = 1; c < C; c++) if (prob(c) > prob(best)) best = c;
      if (best === 0 || prob(best) < floor(best)) {
        this.stats.l2Normal++;
        return;
      }
      const s = scores![i]!;
      const drove = topFeatures(r.x, local.flowMean, local.flowStd, FLOW_NAMES, 'flow.');
      const second = new Date(r.sec * 1000).toISOString();
      const lacks = implausibleFor(meta2.classes[best]!, r);
      let demotedFrom = '';
      if (lacks !== undefined) {
        this.stats.l2Implausible++;
        const first = meta2.classes[best]!;
        const firstP = prob(best);
        let fit = 0;
        for (let c = 1; c < C; c++) {
          if (implausibleFor(meta2.classes[c]!, r) === undefined && prob(c) > prob(fit)) fit = c;
        }
        if (fit === 0 || prob(fit) < floor(fit)) {
          // no class that fits is sure enough: a hint (evidence for an incident), not a finding
          this.stats.l2Demoted++;
          out.push({
            technique: first,
            timeMs: r.ms,
            frame: r.frame,
            src: r.client,
            dst: r.server,
            detector: 'models',
            layer: 2,
            rule: DEMOTED_RULE,
            confidence: Math.min(firstP, DEMOTED_CONFIDENCE),
            evidence: `Layer 2 classifier named ${first} (p=${firstP.toFixed(3)}) for ${r.client} -> ${r.server} in second ${second}, but the flow carried ${lacks}: demoted to a hint`,
            features: { probability: round(firstP), l1a_score: round(s), l1b_ratio: round(ratio), ...drove },
          });
          return;
        }
        this.stats.l2Relabelled++;
        demotedFrom = `; its first choice ${first} (p=${firstP.toFixed(3)}) does not fit: ${lacks}`;
        best = fit;
      }
      const p = prob(best);
      const technique = meta2.classes[best]!;
      if (processOnly.has(i)) {
        const repeated = this.repeatedOnProcess(r, technique);
        if (repeated === undefined) return;
        demotedFrom += `; Layer 1 did not flag it, and the pair's flow-second ${repeated.toFixed(0)} s earlier was ${technique} too`;
      }
      const base = { technique, timeMs: r.ms, frame: r.frame, src: r.client, dst: r.server };
      out.push({
        ...base,
        detector: 'models',
        layer: 2,
        rule: 'l2-classifier',
        confidence: p,
        evidence: `Layer 2 classifier: ${technique} (p=${p.toFixed(3)}) for ${r.client} -> ${r.server} in second ${second}${demotedFrom}`,
        features: {
          probability: Math.round(p * 1000) / 1000,
          l1a_score: round(s),
          l1b_ratio: round(ratio),
          ...drove,
        },
      });
      if (s > local.l1aThreshold) {
        out.push({
          ...base,
          detector: 'models',
          layer: 1,
          rule: 'l1a-iforest',
          confidence: confidence(s / local.l1aThreshold),
          evidence: `Layer 1a Isolation Forest: flow-second score ${s.toFixed(3)} above ${local.l1aThreshold.toFixed(3)}`,
          features: { score: round(s), threshold: round(local.l1aThreshold), ...drove },
        });
      }
      if (ratio > 1 && !l1bDone) {
        l1bDone = true;
        const ix = stepErr.map((_, j) => j).sort((a, b) => stepErr[b]! - stepErr[a]!);
        const f: Record<string, number> = { error: round(err), threshold: round(local.l1bThreshold) };
        for (const j of ix.slice(0, 3)) f[`window.${STEP_NAMES[j]}`] = round(stepErr[j]!);
        out.push({
          ...base,
          detector: 'models',
          layer: 1,
          rule: 'l1b-lstm-ae',
          confidence: confidence(ratio),
          evidence: `Layer 1b LSTM autoencoder: window reconstruction error ${err.toFixed(3)} above ${local.l1bThreshold.toFixed(3)}`,
          features: f,
        });
      }
    });
    this.stats.detections += out.length;
    return out;
  }

  /**
   * For a flow-second that acted on the process without Layer 1 flagging it: the seconds since the pair's last such
   * flow-second that Layer 2 named `technique` too (within PROCESS_REPEAT_S), else undefined (counted in
   * processSingles). One write in a normal-looking flow is what an operator's engineering change looks like as well;
   * an attack repeats its commands.
   */
  private repeatedOnProcess(r: FlowRow, technique: string): number | undefined {
    const key = `${r.client}>${r.server}`;
    const prev = this.processFindings.get(key);
    this.processFindings.set(key, { sec: r.sec, technique });
    if (this.processFindings.size > 10_000) {
      for (const [k, v] of this.processFindings)
        if (r.sec - v.sec > PROCESS_REPEAT_S) this.processFindings.delete(k);
    }
    if (prev === undefined || prev.technique !== technique || r.sec - prev.sec > PROCESS_REPEAT_S) {
      this.stats.processSingles++;
      return undefined;
    }
    return r.sec - prev.sec;
  }

  /**
   * Writes the baseline learnt in the learning period to `dataDir`/models/ (as `vigil-agent models train` would), so
   * the next start loads it instead of learning again; false when nothing was learnt (yet).
   */
  saveLearnt(dataDir: string): boolean {
    if (this.learnt === undefined) return false;
    writeModel(join(dataDir, LOCAL_DIR), LOCAL_FILE, this.learnt.onnx, this.learnt.meta);
    return true;
  }

  /**
   * What a swap recalibrates on (kept from the learning period): the facility's normal windows (Layer 1b threshold)
   * and the Layer 2 inputs of its most unusual normal flow-seconds (per-class floors). Undefined when the baseline
   * was loaded from a data dir.
   */
  private calibration: { windows: Float32Array[]; l2Inputs: Float32Array } | undefined;

  /** How the last swap recalibrated the facility's threshold or floors (for the agent's log). */
  swapNote = '';

  /** Recent scored flow-seconds (row and L1a score) by "second|client|server", oldest first. */
  private readonly recentRows = new Map<string, { x: Float32Array; score: number }>();

  private remember(r: FlowRow, score: number): void {
    this.recentRows.set(`${r.sec}|${r.client}|${r.server}`, { x: r.x, score });
    if (this.recentRows.size > MAX_RECENT_ROWS) this.recentRows.delete(this.recentRows.keys().next().value!);
  }

  /**
   * The Layer 2 input of the flow `client` -> `server` in second `sec` (unix seconds), as Layer 2 saw or would have
   * seen it, while the detector still holds that flow-second (the last MAX_RECENT_ROWS scored): what an operator's
   * verdict on an alert about that flow turns into a labelled example.
   */
  l2InputOf(sec: number, client: string, server: string): Float32Array | undefined {
    const r = this.recentRows.get(`${sec}|${client}|${server}`);
    if (r === undefined || this.local === undefined) return undefined;
    return l2Input(this.windowAt(sec + 1, this.local.scaler), r.x, r.score);
  }

  /** Layer 2's per-class probability floors at this facility now (empty before it is ready or without floors). */
  classFloors(): Record<string, number> {
    return { ...(this.local?.l2ClassMin ?? {}) };
  }

  /**
   * Replaces the shared Layer 1b or Layer 2 model while serving (new weights after a federated round; export them
   * with exportSequential): runs in flight finish on the old one. Returns the session's version (1 = the first).
   * `label` names what it serves now (e.g. "fl-global v3"); a model that does not load leaves the old one serving.
   * A detector already serving recalibrates first, with the new model, on this facility's own learning-period data:
   * the L1b threshold for the target false-alarm rate on its normal windows (without them it throws and the old
   * Layer 1b keeps serving: a threshold of another model would be meaningless) and the Layer 2 per-class floors
   * (without the calibration inputs the floors are dropped to the model's minProbability, and swapNote says so).
   * Before the detector is ready the new model just replaces the shipped one, and the learning period calibrates it.
   */
  async swapModel(kind: 'l1b' | 'l2', onnx: Uint8Array, label = 'swapped'): Promise<number> {
    const session = kind === 'l1b' ? this.l1b : this.l2;
    let version = 1;
    this.swapNote = '';
    if (session === undefined) {
      if (kind === 'l1b') this.opts.l1b = { ...this.opts.l1b, onnx };
      else this.opts.l2 = { ...this.opts.l2, onnx };
    } else if (this.local === undefined) {
      version = await session.swap(onnx);
    } else {
      const cal = this.calibration;
      if (kind === 'l1b' && cal === undefined)
        throw new Error(
          'no normal windows of this facility to recalibrate the Layer 1b threshold on (its baseline was loaded from the data dir, not learnt in this run)',
        );
      const fresh = await SwappableSession.create(onnx, SERVING_SESSION_OPTIONS);
      let patch: Partial<LocalMeta>;
      try {
        if (kind === 'l1b') {
          const windows = cal!.windows;
          patch = { l1bThreshold: l1bThresholdOf(await l1bErrorsOf(fresh, windows), this.far) };
          this.swapNote = `L1b threshold ${round(this.local.l1bThreshold)} -> ${round(patch.l1bThreshold!)} on ${windows.length} normal windows`;
        } else if (cal !== undefined) {
          patch = { l2ClassMin: await l2Floors(fresh, cal.l2Inputs, this.opts.l2.meta) };
          this.swapNote = `Layer 2 floors recalibrated on ${cal.l2Inputs.length / this.opts.l2.meta.inputs} normal rows`;
        } else {
          patch = { l2ClassMin: undefined };
          this.swapNote = `Layer 2 floors reset to the model's ${this.opts.l2.meta.minProbability} (no calibration rows: the baseline was loaded from the data dir)`;
        }
      } finally {
        await fresh.close();
      }
      version = await session.swap(onnx);
      this.local = { ...this.local, ...patch };
      this.stats.l1bThreshold = this.local.l1bThreshold;
    }
    this.serving[kind] = label;
    return version;
  }

  /** What each shared model serves: "shipped" (the installed artifact) or the label of the last swap. */
  readonly serving: Record<'l1b' | 'l2', string> = { l1b: 'shipped', l2: 'shipped' };

  async close(): Promise<void> {
    await Promise.all([this.l1a?.close(), this.l1b?.close(), this.l2?.close()]);
  }
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/** Layer 1's confidence from how far above its threshold a score is (ratio 1 -> 0.3, ratio 2 or more -> 0.6). */
function confidence(ratio: number): number {
  return 0.3 + 0.3 * Math.min(1, Math.max(0, ratio - 1));
}

export interface LoadModelOptions {
  facility: string;
  /** The agent's data dir: its own baseline (models/local-baseline.*) is used when present. */
  dataDir?: string | undefined;
  /** Where the shared L1b and L2 models are (default: the committed models/artifacts). */
  artifactsDir?: string | undefined;
  targetFalseAlarmRate?: number | undefined;
  /** The data dir's local baseline could not be read (another feature schema, damaged): why. It is learnt again. */
  onLocalRefused?: ((reason: string) => void) | undefined;
}

/**
 * The detectors the run and replay paths plug into the DetectionEngine: the shared Layer 1b/2 models and the
 * facility's Layer 1a (from `dataDir` if it has one, else learnt during the engine's learning period).
 */
export function loadModelDetectors(o: LoadModelOptions): ModelDetector[] {
  const dir = o.artifactsDir ?? ARTIFACTS_DIR;
  const localDir = o.dataDir !== undefined ? join(o.dataDir, LOCAL_DIR) : undefined;
  let local: ModelFile<LocalMeta> | undefined;
  if (o.dataDir !== undefined) {
    // A stale or damaged local baseline is refused (said) and learnt again, never a failed start.
    const read = tryReadLocal(o.dataDir);
    if (read.ok) local = read.local;
    else if (!read.absent) o.onLocalRefused?.(read.reason);
  }
  // a plant's fine-tuned Layer 1b (models train) replaces the shared one
  const l1bDir = localDir !== undefined && existsSync(join(localDir, `${L1B_FILE}.json`)) ? localDir : dir;
  return [
    new ModelDetector({
      facility: o.facility,
      l1b: readL1b(l1bDir),
      l2: readL2(dir),
      local,
      targetFalseAlarmRate: o.targetFalseAlarmRate,
    }),
  ];
}
