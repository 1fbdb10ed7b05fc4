// The seam between the federated round engine (which rounds, which clients, how updates are aggregated) and the
// Fleet API server (how messages reach the SuperNodes, i.e. the enrolled agents). Arrays travel as named float32
// tensors with shapes; a Map keeps the model's parameter order.
export interface Tensor {
  shape: number[];
  data: Float32Array;
}
export type Arrays = Map<string, Tensor>;
export type ConfigValue = number | string | boolean;

export interface FlNode {
  /** Flower node id (decimal string of the uint64). */
  nodeId: string;
  facilityId: string;
  online: boolean;
}

export interface FitIns {
  round: number;
  arrays: Arrays;
  config: Record<string, ConfigValue>;
}
/** metrics['num-examples'] is required (the client's real example count); 'loss' and 'accuracy' when known. */
export interface FitRes {
  arrays: Arrays;
  metrics: Record<string, number>;
}
export interface EvaluateIns {
  round: number;
  arrays: Arrays;
  config: Record<string, ConfigValue>;
}
/** metrics['num-examples'] is required; 'loss' and 'accuracy' when known. */
export interface EvaluateRes {
  metrics: Record<string, number>;
}

export interface Progress {
  nodeId: string;
  round: number;
  /** e.g. 'sent' (node pulled the instruction), 'submitted' (node pushed its reply). */
  phase: string;
  epoch?: number;
  loss?: number;
  accuracy?: number;
}

/** Secure aggregation, first stage: a node makes a fresh key pair for the round and sends its public key. */
export interface SecureKeysIns {
  round: number;
  config: Record<string, ConfigValue>;
}

/**
 * Secure aggregation, second stage: a DP-SGD step at `arrays`, masked with the pairwise masks of `participants` (all
 * of the round's nodes with the public keys they sent, the addressee included) and encoded for sums within `bound`.
 */
export interface SecureTrainIns extends FitIns {
  participants: readonly { nodeId: string; publicKey: Uint8Array }[];
  bound: number;
}

/** The node's masked vector (little-endian uint32 words) and its metrics ('num-examples', the DP accounting). */
export interface SecureTrainRes {
  masked: Uint8Array;
  metrics: Record<string, number>;
}

export interface FleetTransport {
  nodes(): FlNode[];
  /** Sends a train instruction; resolves with the node's reply; rejects on abort (round timeout) or node error. */
  train(nodeId: string, ins: FitIns, signal: AbortSignal): Promise<FitRes>;
  evaluate(nodeId: string, ins: EvaluateIns, signal: AbortSignal): Promise<EvaluateRes>;
  /** Absent when the transport cannot run secure-aggregation rounds. */
  secureKeys?(nodeId: string, ins: SecureKeysIns, signal: AbortSignal): Promise<Uint8Array>;
  secureTrain?(nodeId: string, ins: SecureTrainIns, signal: AbortSignal): Promise<SecureTrainRes>;
  /** Returns an unsubscribe function. */
  onProgress(listener: (p: Progress) => void): () => void;
}
