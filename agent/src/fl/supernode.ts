// The agent as a Flower SuperNode: a Fleet API client that registers/activates its node, sends heartbeats, pulls
// instruction messages and their objects, runs "train" and "evaluate" with a LocalTrainer, and pushes the reply's
// objects and message back; as flower-supernode 1.42 does, minus the ClientApp process (the agent is the app).
//
// It speaks to the Vigil aggregator (GrpcFleetRpc inside the link's mTLS; the node is the enrolled facility) and
// to a plain flower-superlink (HttpFleetRpc with Flower's node auth) alike.
import { setMaxListeners } from 'node:events';
import type { FleetRpc } from '@vigil/proto/flower/fleet-rpc';
import type { PbMessage, PbNode, PbObjectTree } from '@vigil/proto/flower/pb';
import {
  arrayRecord,
  deflateMessage,
  findRecord,
  inflateMessage,
  messageToPb,
  metadataFromPb,
  tensorsOf,
  treeIds,
  verifyObject,
  type ConfigValue,
  type FlMessage,
  type FlRecord,
  type Metadata,
  type MetricValue,
  type RecordDict,
} from '@vigil/proto/flower/records';
import {
  PUBLIC_KEY_BYTES,
  SECAGG_KEYS,
  applyMasks,
  encodeFixedPoint,
  fixedPointFor,
  newRoundKeyPair,
  wordsToBytes,
  type RoundKeyPair,
} from '@vigil/proto/secagg';
import { TrainingRequestError, type LocalTrainer, type TrainConfig } from './local-trainer.js';

/**
 * Noise shares one party may know in a secure-aggregation round: its own (a plant sees the summed model and knows
 * what it added). Each plant adds sigma C / sqrt(n - 1), so every single party faces sigma C (see @vigil/models
 * distributedNoiseStd); a round needs at least 2 participants.
 */
export const SECAGG_KNOWN_SHARES = 1;
/** Key pairs kept for rounds whose masked stage has not come yet (older ones are forgotten: their round is over). */
const KEPT_ROUND_KEYS = 4;

/** Object pulls/pushes in flight at once (Flower runs several concurrently too). */
const CONCURRENT_OBJECT_CALLS = 8;

/** Runs `work` over `items` with at most `limit` in flight; rejects with the first failure. */
async function inParallel<T>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** Flower's error codes (flwr.app.error / ErrorCode). */
const CLIENT_APP_RAISED_EXCEPTION = 2n;
const SUPERLINK_NODE_ID = '1';

export interface SuperNodeOptions {
  rpc: FleetRpc;
  /** The node's public key (PEM bytes) sent with RegisterNode/ActivateNode. */
  publicKey: Uint8Array;
  /**
   * Register the node before activating it and unregister it at the end: what a SuperNode does against a
   * flower-superlink without --enable-supernode-auth. The Vigil aggregator knows its nodes (enrolled facilities).
   */
  selfRegister: boolean;
  trainer: LocalTrainer;
  /** Seconds between heartbeats (Flower: 30; the SuperLink accepts 10..1800). */
  heartbeatInterval?: number;
  /** Wait between PullMessages calls when there was nothing, ms (default 1000). */
  pollMs?: number;
  /** Array chunk size for replies (Flower's 5 MiB by default). */
  chunkSize?: number;
  /** How long an object may stay announced-but-not-yet-available before the pull gives up, ms (default 60 s). */
  objectWaitMs?: number;
  log?: (line: string) => void;
  /** Called after each handled message (tests, progress display). */
  onReply?: (event: ReplyEvent) => void;
}

export interface ReplyEvent {
  messageType: string;
  instructionId: string;
  replyId: string;
  /** The reply's content, or null when it is an error. */
  content: RecordDict | null;
  error: string | null;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });

export class SuperNode {
  private nodeId: string | null = null;
  /** This node's X25519 key pair per secure-aggregation round ("runId:round"), used once and then dropped. */
  private readonly roundKeys = new Map<string, RoundKeyPair>();
  private heartbeat: NodeJS.Timeout | null = null;
  private readonly log: (line: string) => void;

  constructor(private readonly o: SuperNodeOptions) {
    this.log = o.log ?? ((line) => process.stderr.write(`vigil fl: ${line}\n`));
  }

  /** The node id the SuperLink gave this node (decimal), once connected. */
  get id(): string | null {
    return this.nodeId;
  }

  /**
   * Connects, then serves instructions until `signal` aborts; then deactivates (and unregisters) the node.
   * Rejects when the node cannot register or activate; later failures are logged and retried with backoff.
   */
  async run(signal: AbortSignal): Promise<void> {
    const { rpc } = this.o;
    // Every call in flight listens to `signal` (object pulls and pushes run CONCURRENT_OBJECT_CALLS at once).
    setMaxListeners(4 * CONCURRENT_OBJECT_CALLS, signal);
    const interval = this.o.heartbeatInterval ?? 30;
    let node_id: string;
    try {
      if (this.o.selfRegister) await rpc.call('RegisterNode', { public_key: this.o.publicKey }, signal);
      ({ node_id } = await rpc.call(
        'ActivateNode',
        { public_key: this.o.publicKey, heartbeat_interval: interval },
        signal,
      ));
    } catch (err) {
      if (signal.aborted) return; // asked to stop while connecting: not a failure
      throw err;
    }
    this.nodeId = node_id;
    const node: PbNode = { node_id };
    this.heartbeat = setInterval(() => {
      rpc.call('SendNodeHeartbeat', { node, heartbeat_interval: interval }).then(
        (r) => {
          if (!r.success) this.log(`the SuperLink no longer recognises node ${node_id}`);
        },
        (err: unknown) => this.log(`heartbeat failed: ${(err as Error).message}`),
      );
    }, interval * 1000);
    let backoff = 0;
    try {
      while (!signal.aborted) {
        try {
          const res = await rpc.call('PullMessages', { node, message_ids: [] }, signal);
          const msg = res.messages_list[0];
          const tree = res.message_object_trees[0];
          if (!msg || !tree) {
            backoff = 0;
            await sleep(this.o.pollMs ?? 1000, signal);
            continue;
          }
          await this.handle(node, msg, tree, signal);
          backoff = 0;
        } catch (err) {
          // A lost connection or a refused call costs this message, not the node: wait, then pull again.
          if (signal.aborted) break;
          backoff = Math.min(30_000, Math.max(500, backoff * 2));
          this.log(`${(err as Error).message}; retrying in ${backoff} ms`);
          await sleep(backoff, signal);
        }
      }
    } finally {
      clearInterval(this.heartbeat);
      this.heartbeat = null;
      await rpc.call('DeactivateNode', { node_id }).catch(() => undefined);
      if (this.o.selfRegister) await rpc.call('UnregisterNode', { node_id }).catch(() => undefined);
    }
  }

  private async pullObjects(
    node: PbNode,
    runId: string,
    tree: PbObjectTree,
    signal: AbortSignal,
  ): Promise<Map<string, Uint8Array>> {
    const objects = new Map<string, Uint8Array>();
    const deadline = Date.now() + (this.o.objectWaitMs ?? 60_000);
    await inParallel(treeIds(tree), CONCURRENT_OBJECT_CALLS, async (id) => {
      for (;;) {
        const r = await this.o.rpc.call('PullObject', { node, run_id: runId, object_id: id }, signal);
        if (!r.object_found) throw new Error(`the SuperLink has no object ${id}`);
        if (r.object_available) {
          verifyObject(id, r.object_content);
          objects.set(id, r.object_content);
          return;
        }
        if (Date.now() > deadline || signal.aborted) throw new Error(`object ${id} did not become available`);
        await sleep(50, signal);
      }
    });
    return objects;
  }

  private async handle(node: PbNode, pb: PbMessage, tree: PbObjectTree, signal: AbortSignal): Promise<void> {
    const started = performance.now();
    if (!pb.metadata) throw new Error('PullMessages returned a message without metadata');
    const metadata = metadataFromPb(pb.metadata);
    if (tree.object_id !== metadata.messageId)
      throw new Error('the message tree does not start at the message');
    const objects = await this.pullObjects(node, metadata.runId, tree, signal);
    const instruction = inflateMessage(metadata, objects);
    await this.o.rpc.call(
      'ConfirmMessageReceived',
      { node, run_id: metadata.runId, message_object_id: metadata.messageId },
      signal,
    );

    let content: RecordDict | null = null;
    let error: string | null = null;
    try {
      content = await this.run1(instruction, signal);
    } catch (err) {
      error = err instanceof Error ? err.message : String(err);
      this.log(`${metadata.messageType} ${metadata.messageId.slice(0, 12)} failed: ${error}`);
    }
    const reply = replyTo(instruction.metadata, content, error);
    const deflated = deflateMessage(reply, this.o.chunkSize);
    reply.metadata.messageId = deflated.messageId;
    const res = await this.o.rpc.call(
      'PushMessages',
      {
        node,
        messages_list: [messageToPb(reply) as PbMessage],
        message_object_trees: [deflated.tree],
        clientapp_runtime_list: [(performance.now() - started) / 1000],
      },
      signal,
    );
    const wanted = new Set(res.objects_to_push);
    const toPush = [...deflated.objects].filter(([id]) => wanted.has(id));
    await inParallel(toPush, CONCURRENT_OBJECT_CALLS, async ([id, bytes]) => {
      await this.o.rpc.call(
        'PushObject',
        { node, run_id: metadata.runId, object_id: id, object_content: bytes, session_id: res.session_id },
        signal,
      );
    });
    this.o.onReply?.({
      messageType: metadata.messageType,
      instructionId: metadata.messageId,
      replyId: deflated.messageId,
      content,
      error,
    });
  }

  /** Runs one instruction; returns the reply's content. */
  private async run1(msg: FlMessage, signal: AbortSignal): Promise<RecordDict> {
    if (msg.error || !msg.content) throw new Error('the instruction carries an error, not content');
    const action = msg.metadata.messageType.split('.')[0];
    const arrays = findRecord(msg.content, 'array', 'arrays');
    const config = findRecord(msg.content, 'config', 'config');
    const cfg = config ? configOf(config.items) : {};
    const stage = cfg[SECAGG_KEYS.stage];
    if (action === 'query' && stage === 'keys') return this.secureKeys(msg.metadata.runId, cfg);
    if (!arrays) throw new Error(`a ${action} instruction needs an ArrayRecord`);
    if (action === 'train' && stage === 'masked-train')
      return this.maskedTrain(msg.metadata.runId, tensorsOf(arrays), cfg, config!.items, signal);
    if (action === 'train') {
      const r = await this.o.trainer.train(tensorsOf(arrays), cfg, signal);
      return new Map([
        ['arrays', arrayRecord(r.arrays)],
        ['metrics', metricRecord(r.numExamples, r.loss, r.accuracy, r.extra)],
      ]);
    }
    if (action === 'evaluate') {
      const r = await this.o.trainer.evaluate(tensorsOf(arrays), cfg, signal);
      return new Map([['metrics', metricRecord(r.numExamples, r.loss, r.accuracy)]]);
    }
    throw new Error(
      `message type "${msg.metadata.messageType}" is not supported (train, evaluate, secure-aggregation stages)`,
    );
  }

  private roundOf(cfg: TrainConfig): number {
    const round = cfg['server-round'];
    if (typeof round !== 'number' || !Number.isSafeInteger(round))
      throw new TrainingRequestError('a secure-aggregation message needs its "server-round"');
    return round;
  }

  /** Stage 1: a fresh X25519 key pair for the round; the public key goes back to the aggregator for relaying. */
  private secureKeys(runId: string, cfg: TrainConfig): RecordDict {
    if (this.o.trainer.secureStep === undefined)
      throw new TrainingRequestError('this node does not take part in secure-aggregation rounds');
    const pair = newRoundKeyPair();
    this.roundKeys.set(`${runId}:${this.roundOf(cfg)}`, pair);
    while (this.roundKeys.size > KEPT_ROUND_KEYS) this.roundKeys.delete(this.roundKeys.keys().next().value!);
    return new Map([
      ['secagg', { kind: 'config' as const, items: new Map([[SECAGG_KEYS.publicKey, pair.publicKey]]) }],
    ]);
  }

  /**
   * Stage 2: one DP-SGD step with this node's share of the noise, fixed-point encoded and masked with every other
   * participant's pairwise mask. The relayed list must hold this node with the very key it sent (an aggregator that
   * swapped keys would be caught here); the round's key pair is used once and forgotten.
   */
  private async maskedTrain(
    runId: string,
    arrays: ReturnType<typeof tensorsOf>,
    cfg: TrainConfig,
    items: Map<string, ConfigValue>,
    signal: AbortSignal,
  ): Promise<RecordDict> {
    const round = this.roundOf(cfg);
    const slot = `${runId}:${round}`;
    const pair = this.roundKeys.get(slot);
    this.roundKeys.delete(slot);
    if (pair === undefined)
      throw new TrainingRequestError(`no key of this node for secure-aggregation round ${round}`);
    const ids = items.get(SECAGG_KEYS.peerIds);
    const keys = items.get(SECAGG_KEYS.peerKeys);
    const bound = cfg[SECAGG_KEYS.bound];
    const self = this.nodeId;
    if (
      !Array.isArray(ids) ||
      !Array.isArray(keys) ||
      ids.length !== keys.length ||
      !ids.every((x): x is string => typeof x === 'string') ||
      !keys.every((k): k is Uint8Array => k instanceof Uint8Array && k.length === PUBLIC_KEY_BYTES)
    )
      throw new TrainingRequestError('the participants of a secure-aggregation round are malformed');
    if (typeof bound !== 'number' || !(bound > 0))
      throw new TrainingRequestError(`${SECAGG_KEYS.bound} must be a number > 0`);
    const participants = ids.map((nodeId, i) => ({ nodeId, publicKey: keys[i]! }));
    const mine = participants.find((p) => p.nodeId === self);
    if (self === null || mine === undefined || !Buffer.from(mine.publicKey).equals(pair.publicKey))
      throw new TrainingRequestError('the relayed participants do not hold this node with its own key');
    const out = await this.o.trainer.secureStep!(
      arrays,
      cfg,
      { participants: participants.length, known: SECAGG_KNOWN_SHARES },
      signal,
    );
    const fp = fixedPointFor(participants.length, bound);
    const masked = applyMasks(
      encodeFixedPoint(out.sum, fp),
      { nodeId: self, privateKey: pair.privateKey },
      participants,
      { runId, round },
    );
    return new Map<string, FlRecord>([
      ['secagg', { kind: 'config', items: new Map([[SECAGG_KEYS.masked, wordsToBytes(masked)]]) }],
      ['metrics', metricRecord(out.numExamples, out.loss, NaN, out.extra)],
    ]);
  }
}

function metricRecord(
  numExamples: number,
  loss: number,
  accuracy: number,
  extra: Record<string, number> = {},
) {
  const items = new Map<string, MetricValue>([
    ['num-examples', BigInt(numExamples)],
    ['loss', loss],
    ['accuracy', accuracy],
  ]);
  for (const [k, v] of Object.entries(extra)) items.set(k, v);
  return { kind: 'metric' as const, items };
}

/** ConfigRecord scalars as plain values (integers as numbers; lists and bytes are not round settings). */
function configOf(items: Map<string, ConfigValue>): TrainConfig {
  const out: TrainConfig = {};
  for (const [k, v] of items) {
    if (typeof v === 'bigint') out[k] = Number(v);
    else if (typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean') out[k] = v;
  }
  return out;
}

/** A reply to `to` as Flower builds one (Message(content, reply_to=...)): swapped nodes and tasks, remaining TTL. */
export function replyTo(
  to: Metadata,
  content: RecordDict | null,
  error: string | null,
  now = Date.now() / 1000,
): FlMessage {
  const metadata: Metadata = {
    runId: to.runId,
    messageId: '',
    srcNodeId: to.dstNodeId,
    dstNodeId: to.srcNodeId === '0' ? SUPERLINK_NODE_ID : to.srcNodeId,
    replyToMessageId: to.messageId,
    groupId: to.groupId,
    createdAt: now,
    ttl: Math.max(1e-3, to.createdAt + to.ttl - now),
    messageType: to.messageType,
  };
  if (to.dstTaskId !== undefined) metadata.srcTaskId = to.dstTaskId;
  if (to.srcTaskId !== undefined) metadata.dstTaskId = to.srcTaskId;
  if (error !== null || !content) {
    return {
      metadata,
      content: null,
      error: { code: CLIENT_APP_RAISED_EXCEPTION, reason: error ?? 'no reply' },
    };
  }
  return { metadata, content, error: null };
}
