// The agent's part in federated rounds: a Flower SuperNode on the link (the aggregator's Fleet API inside the link's
// mTLS, the node being the enrolled facility) that trains the Layer 2 classifier locally with DP-SGD. Its data is made
// at the plant: the plant's own simulated traffic with the simulator's attacks injected, labelled per packet (for a
// `--sim` agent: its topology and seed). Raw traffic and examples never leave the agent; only the model arrays and
// metrics (num-examples, loss, accuracy, the DP-SGD parameters for the privacy accountant) do.
import { cryptoRng, softmaxCrossEntropy } from '@vigil/models';
import { NodeKey } from '@vigil/proto/flower/fleet-rpc';
import { loadL2Model } from '../detect/ml/artifacts.js';
import { plantL2Examples } from '../detect/ml/train.js';
import type { AgentIdentityFiles } from '../link/identity.js';
import { LINK_CHUNK_SIZE, linkFleetRpc } from './connect.js';
import { SequentialDpTrainer } from './local-trainer.js';
import { SuperNode } from './supernode.js';

/** DP-SGD of a round's local training: per-example clipping and Gaussian noise (sample rate from the batch size). */
export const LOCAL_DP = { clipNorm: 1, noiseMultiplier: 1.1, batchSize: 64 } as const;

export interface Participation {
  /** Runs until `signal` aborts. */
  run(signal: AbortSignal): Promise<void>;
  examples: number;
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

/** Prepares the plant's Layer 2 data (a few seconds of CPU) and the SuperNode that trains on it. */
export function prepareParticipation(o: {
  identity: AgentIdentityFiles;
  address: string;
  topology: string;
  seed: number;
  log: (line: string) => void;
}): Participation {
  const rng = cryptoRng();
  const data = plantL2Examples({ topology: o.topology, seed: o.seed, rng });
  const trainer = new SequentialDpTrainer({
    model: loadL2Model(),
    loss: softmaxCrossEntropy,
    data: data.train,
    validation: data.validation,
    dp: {
      clipNorm: LOCAL_DP.clipNorm,
      noiseMultiplier: LOCAL_DP.noiseMultiplier,
      sampleRate: Math.min(1, LOCAL_DP.batchSize / Math.max(1, data.train.length)),
    },
    rng,
    localEpochs: 1,
  });
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
    status: () =>
      `taking part: ${data.train.length} local Layer 2 examples; answered ${replies.train} train and ${replies.evaluate} evaluate messages (${replies.failed} failed)`,
  };
}
