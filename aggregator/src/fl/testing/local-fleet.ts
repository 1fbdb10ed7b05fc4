// An in-process FleetTransport whose clients really train: each holds its own seeded, facility-specific data set,
// trains a small learning-core Sequential with DP-SGD for the epochs the config asks, reports the DP parameters it
// used, and evaluates a global model on its own validation split. For tests of the round engine, the API and the
// scheduler without a network; a client can be made to stay silent (a straggler) or fail.
import {
  Activation,
  Dense,
  DpSgd,
  Sequential,
  Sgd,
  Trainer,
  seededRng,
  softmaxCrossEntropy,
  type Example,
  type Rng,
} from '@vigil/models';
import { DP_METRICS } from '../privacy.js';
import type {
  Arrays,
  EvaluateIns,
  EvaluateRes,
  FitIns,
  FitRes,
  FleetTransport,
  FlNode,
  Progress,
} from '../transport.js';

export const FEATURES = 4;
export const CLASSES = 2;

/** The model every local client trains: 4 -> 8 (relu) -> 2 logits. */
export function localModel(seed: number): Sequential {
  const rng = seededRng(seed);
  return new Sequential([
    new Dense({ inputSize: FEATURES, outputSize: 8, rng }),
    new Activation('relu'),
    new Dense({ inputSize: 8, outputSize: CLASSES, rng }),
  ]);
}

/** The model's parameters as named arrays (layer index + parameter name, so the two Dense layers differ). */
export function modelArrays(model: Sequential): Arrays {
  const out: Arrays = new Map();
  let layer = 0;
  for (const l of model.layers) {
    for (const p of l.params) out.set(`${layer}.${p.name}`, { shape: [...p.shape], data: p.value.slice() });
    layer++;
  }
  return out;
}

/**
 * Two Gaussian classes in 4 dimensions; `shift` moves both class centres (each facility's traffic differs). Class 1
 * is centred at +1.2 on every feature, class 0 at -1.2, plus the shift, unit variance.
 */
export function blobs(n: number, shift: number, rng: Rng): Example[] {
  return Array.from({ length: n }, (_, i) => {
    const k = i % CLASSES;
    const c = (k === 1 ? 1.2 : -1.2) + shift;
    const x = Float32Array.from({ length: FEATURES }, () => c + rng.normal());
    const y = new Float32Array(CLASSES);
    y[k] = 1;
    return { x, y };
  });
}

export function accuracy(model: Sequential, data: readonly Example[]): number {
  let right = 0;
  for (const ex of data) {
    const z = model.forward(ex.x);
    const pred = z[1]! > z[0]! ? 1 : 0;
    if (ex.y[pred] === 1) right++;
  }
  return data.length === 0 ? 0 : right / data.length;
}

/** train: answers properly; silent: never answers; error: fails; bad-layout / no-dp: answers with an unusable reply. */
export type Behaviour = 'train' | 'silent' | 'error' | 'bad-layout' | 'no-dp';

export interface LocalClientOptions {
  nodeId: string;
  facilityId: string;
  seed: number;
  trainExamples: number;
  validationExamples: number;
  shift: number;
  behaviour?: Behaviour;
  /** DP-SGD settings of this client. */
  noiseMultiplier?: number;
  clipNorm?: number;
  batchSize?: number;
  learningRate?: number;
}

interface LocalClient {
  o: LocalClientOptions;
  node: FlNode;
  model: Sequential;
  train: Example[];
  validation: Example[];
  rng: Rng;
}

function tick(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}

function aborted(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error('aborted');
}

export class LocalFleet implements FleetTransport {
  private readonly clients = new Map<string, LocalClient>();
  private readonly listeners = new Set<(p: Progress) => void>();
  /** Train instructions received, in order (node id, round, config). */
  readonly received: { nodeId: string; round: number; config: FitIns['config'] }[] = [];
  /** Train replies sent, in order. */
  readonly replies: { nodeId: string; round: number; res: FitRes }[] = [];

  constructor(clients: readonly LocalClientOptions[]) {
    for (const o of clients) {
      const rng = seededRng(o.seed);
      this.clients.set(o.nodeId, {
        o,
        node: { nodeId: o.nodeId, facilityId: o.facilityId, online: true },
        model: localModel(o.seed),
        train: blobs(o.trainExamples, o.shift, rng),
        validation: blobs(o.validationExamples, o.shift, rng),
        rng,
      });
    }
  }

  nodes(): FlNode[] {
    return [...this.clients.values()].map((c) => ({ ...c.node }));
  }

  setOnline(nodeId: string, online: boolean): void {
    const c = this.clients.get(nodeId);
    if (c) c.node.online = online;
  }

  onProgress(listener: (p: Progress) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(p: Progress): void {
    for (const l of this.listeners) l(p);
  }

  private client(nodeId: string): LocalClient {
    const c = this.clients.get(nodeId);
    if (c === undefined) throw new Error(`unknown node ${nodeId}`);
    return c;
  }

  private setArrays(c: LocalClient, arrays: Arrays): void {
    c.model.setWeights([...arrays.values()].map((t) => t.data));
  }

  /** A silent client answers only with the abort; a failing one throws. */
  private async misbehave(c: LocalClient, signal: AbortSignal): Promise<void> {
    if (c.o.behaviour === 'silent') {
      await new Promise<never>((_, reject) => {
        if (signal.aborted) reject(aborted(signal));
        signal.addEventListener('abort', () => reject(aborted(signal)), { once: true });
      });
    }
    await tick();
    if (c.o.behaviour === 'error') throw new Error(`node ${c.o.nodeId}: local training failed (test)`);
  }

  async train(nodeId: string, ins: FitIns, signal: AbortSignal): Promise<FitRes> {
    const c = this.client(nodeId);
    this.received.push({ nodeId, round: ins.round, config: ins.config });
    this.emit({ nodeId, round: ins.round, phase: 'sent' });
    await this.misbehave(c, signal);
    this.setArrays(c, ins.arrays);
    const epochs = Number(ins.config['local-epochs'] ?? 1);
    const mu = Number(ins.config['proximal-mu'] ?? 0);
    const global = c.model.flatValues.slice();
    const batch = c.o.batchSize ?? 16;
    const sampleRate = Math.min(1, batch / c.train.length);
    const trainer = new Trainer({
      model: c.model,
      loss: softmaxCrossEntropy,
      optimizer: new Sgd({ learningRate: c.o.learningRate ?? 0.2 }),
    });
    const sigma = c.o.noiseMultiplier ?? 0.8;
    const dp = new DpSgd({
      trainer,
      clipNorm: c.o.clipNorm ?? 1,
      noiseMultiplier: sigma,
      sampleRate,
      rng: c.rng,
    });
    const stepsPerEpoch = Math.max(1, Math.round(1 / sampleRate));
    let loss = NaN;
    for (let e = 1; e <= epochs; e++) {
      let sum = 0;
      let n = 0;
      for (let s = 0; s < stepsPerEpoch; s++) {
        const r = dp.step(c.train);
        if (mu > 0) {
          // FedProx's proximal term: a step towards the global model, mu * (w - w_global) scaled by the rate.
          const w = c.model.flatValues;
          const lr = c.o.learningRate ?? 0.2;
          for (let k = 0; k < w.length; k++) w[k]! -= lr * mu * (w[k]! - global[k]!);
        }
        if (!Number.isNaN(r.meanLoss)) {
          sum += r.meanLoss;
          n++;
        }
      }
      loss = n === 0 ? NaN : sum / n;
      this.emit({ nodeId, round: ins.round, phase: 'training', epoch: e, loss });
      await tick();
      if (signal.aborted) throw aborted(signal);
    }
    const acc = accuracy(c.model, c.train);
    this.emit({ nodeId, round: ins.round, phase: 'submitted', epoch: epochs, loss, accuracy: acc });
    const res: FitRes = {
      arrays: modelArrays(c.model),
      metrics: {
        'num-examples': c.train.length,
        loss,
        accuracy: acc,
        [DP_METRICS.noiseMultiplier]: sigma,
        [DP_METRICS.sampleRate]: sampleRate,
        [DP_METRICS.steps]: dp.steps,
      },
    };
    if (c.o.behaviour === 'bad-layout') res.arrays.set('extra', { shape: [1], data: new Float32Array(1) });
    if (c.o.behaviour === 'no-dp') for (const k of Object.values(DP_METRICS)) delete res.metrics[k];
    this.replies.push({ nodeId, round: ins.round, res });
    return res;
  }

  async evaluate(nodeId: string, ins: EvaluateIns, signal: AbortSignal): Promise<EvaluateRes> {
    const c = this.client(nodeId);
    await this.misbehave(c, signal);
    this.setArrays(c, ins.arrays);
    const loss = new Trainer({
      model: c.model,
      loss: softmaxCrossEntropy,
      optimizer: new Sgd({ learningRate: 0 }),
    }).evaluate(c.validation);
    return {
      metrics: { 'num-examples': c.validation.length, loss, accuracy: accuracy(c.model, c.validation) },
    };
  }

  /** The accuracy of `arrays` on this client's validation split (an independent check of the engine's figure). */
  validationAccuracy(nodeId: string, arrays: Arrays): { accuracy: number; examples: number } {
    const c = this.client(nodeId);
    const m = localModel(c.o.seed);
    m.setWeights([...arrays.values()].map((t) => t.data));
    return { accuracy: accuracy(m, c.validation), examples: c.validation.length };
  }
}
