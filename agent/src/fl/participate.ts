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
    onReply: (e) =>
      o.log(`federated ${e.messageType}: ${e.error === null ? 'replied' : `failed: ${e.error}`}`),
  });
  return { run: (signal) => node.run(signal), examples: data.train.length };
}
