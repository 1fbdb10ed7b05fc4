// The agent's part in federated rounds: a Flower SuperNode on the link (the aggregator's Fleet API inside the link's
// mTLS, the node being the enrolled facility) that trains the Layer 2 classifier and the Layer 1b autoencoder locally
// with DP-SGD, each in rounds of its own (the message's config "vigil-model" names the model). Its data is made at the
// plant: the plant's own simulated traffic with the simulator's attacks injected, labelled per packet, for Layer 2, and
// the same traffic's normal windows for Layer 1b (for a `--sim` agent: its topology and seed). Raw traffic, windows and
// examples never leave the agent; only the model arrays and metrics (num-examples, loss, accuracy, the DP-SGD
// parameters for the privacy accountant) do.
import { cryptoRng, meanSquaredError, softmaxCrossEntropy } from '@vigil/models';
import { NodeKey } from '@vigil/proto/flower/fleet-rpc';
import { ARTIFACTS_DIR, loadL1bModel, loadL2Model, readL1b } from '../detect/ml/artifacts.js';
import { reconstructionError } from '../detect/ml/models.js';
import { plantExamples } from '../detect/ml/train.js';
import type { AgentIdentityFiles } from '../link/identity.js';
import { LINK_CHUNK_SIZE, linkFleetRpc } from './connect.js';
import type { OperatorFeedback } from './feedback.js';
import { GLOBAL_L1B_NAME, GLOBAL_MODEL_NAME } from './global-model.js';
import { ModelTrainers, SequentialDpTrainer } from './local-trainer.js';
import { SuperNode } from './supernode.js';

/** DP-SGD of a round's local training: per-example clipping and Gaussian noise (sample rate from the batch size). */
export const LOCAL_DP = { clipNorm: 1, noiseMultiplier: 1.1, batchSize: 64 } as const;
/** Layer 1b's: fewer, longer examples (60-second windows), so smaller batches. */
export const LOCAL_DP_L1B = { clipNorm: 1, noiseMultiplier: 1.1, batchSize: 16 } as const;

export interface Participation {
  /** Runs until `signal` aborts. */
  run(signal: AbortSignal): Promise<void>;
  examples: number;
  /** Local Layer 1b training windows. */
  windows: number;
  /** For the heartbeat: the local data and the round messages answered so far. */
  status(): string;
}

/**
 * Why an agent with this source does not take part in federated rounds (for its log and heartbeat); null when it does.
 * Rounds train Layer 2 on labelled examples, which only a --sim agent makes (its own plant simulated with attacks
 * injected); a capture or a live interface carries no labels.
 */
export function notTakingPart(o: {
  sim?: string | undefined;
  pcap?: string | undefined;
  interface?: string | undefined;
  alerts_in?: string | undefined;
  federated: boolean;
}): string | null {
  if (o.alerts_in !== undefined)
    return 'not taking part: --alerts-in forwards recorded alerts and trains nothing';
  if (o.sim === undefined) {
    const source = o.pcap !== undefined ? '--pcap' : '--interface';
    return `not taking part: a ${source} agent has no labelled local data for Layer 2 (federated rounds train on the simulator's attacks injected into the plant's own traffic: run with --sim)`;
  }
  if (!o.federated) return 'not taking part: started with --no-federated';
  return null;
}

/**
 * Prepares the plant's local data and the SuperNode that trains on it: 2 to 9 s of CPU (water-a 2.2 s, factory-c 8.5 s
 * measured under load), since the plant simulates every attack PLANT_ATTACK_REPEATS times.
 */
export function prepareParticipation(o: {
  identity: AgentIdentityFiles;
  address: string;
  topology: string;
  seed: number;
  /** Operators' verdicts on this facility's alerts, trained on as Layer 2 examples in the next rounds. */
  feedback?: OperatorFeedback;
  log: (line: string) => void;
}): Participation {
  const rng = cryptoRng();
  const both = plantExamples({ topology: o.topology, seed: o.seed, rng });
  const data = both.l2;
  const l2 = new SequentialDpTrainer({
    model: loadL2Model(),
    loss: softmaxCrossEntropy,
    // the plant's examples and those operators' verdicts on its alerts made since (read at each round)
    data: o.feedback === undefined ? data.train : () => [...data.train, ...o.feedback!.examples()],
    validation: data.validation,
    dp: LOCAL_DP,
    rng,
    localEpochs: 1,
  });
  // Layer 1b: an output is "right" when its reconstruction error is within the shipped model's threshold
  const l1bThreshold = readL1b(ARTIFACTS_DIR).meta.threshold;
  const l1b = new SequentialDpTrainer({
    model: loadL1bModel(),
    loss: meanSquaredError,
    data: both.l1b.train,
    validation: both.l1b.validation,
    dp: LOCAL_DP_L1B,
    rng,
    localEpochs: 1,
    correct: (out, target) => reconstructionError(target, out) <= l1bThreshold,
  });
  const trainer = new ModelTrainers(
    new Map([
      [GLOBAL_MODEL_NAME, l2],
      [GLOBAL_L1B_NAME, l1b],
    ]),
    GLOBAL_MODEL_NAME,
  );
  const node = new SuperNode({
    rpc: linkFleetRpc({ address: o.address, identity: o.identity }),
    publicKey: NodeKey.generate().publicKeyPem,
    selfRegister: false,
    chunkSize: LINK_CHUNK_SIZE,
    trainer,
    log: o.log,
    onReply: (e) => {
      replies[e.messageType === 'train' ? 'train' : 'evaluate']++;
      if (e.error !== null) replies.failed++;
      o.log(`federated ${e.messageType}: ${e.error === null ? 'replied' : `failed: ${e.error}`}`);
    },
  });
  const replies = { train: 0, evaluate: 0, failed: 0 };
  return {
    run: (signal) => node.run(signal),
    examples: data.train.length,
    windows: both.l1b.train.length,
    status: () =>
      `taking part: ${data.train.length} local Layer 2 examples and ${both.l1b.train.length} Layer 1b windows${o.feedback === undefined ? '' : `, ${o.feedback.status()}`}; answered ${replies.train} train and ${replies.evaluate} evaluate messages (${replies.failed} failed)`,
  };
}
