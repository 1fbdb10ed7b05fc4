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
  type Metadata,
  type MetricValue,
  type RecordDict,
} from '@vigil/proto/flower/records';
import type { LocalTrainer, TrainConfig } from './local-trainer.js';

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
    if (!arrays) throw new Error(`a ${action} instruction needs an ArrayRecord`);
    const cfg = config ? configOf(config.items) : {};
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
    throw new Error(`message type "${msg.metadata.messageType}" is not supported (train, evaluate)`);
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
