// The SuperLink side of Flower's Fleet API (flwr 1.42 semantics, our proto/flwr/proto/fleet.proto), served as gRPC
// on the link's port inside its mTLS. It implements FleetTransport for the round engine: train()/evaluate() put an
// instruction message for a node, and resolve when the node has pushed its reply and every object of it.
//
// Identity: the node is the enrolled facility named by the call's client certificate, never by a message. A
// facility's node id is fixed (derived from its id); a node id in a request that is not the caller's is refused.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { systemClock, type Clock } from '@vigil/shared';
import { fleetServiceDefinition } from '@vigil/proto/flower/fleet-rpc';
import type {
  FleetMethod,
  FleetRequest,
  FleetResponse,
  PbMessage,
  PbObjectTree,
} from '@vigil/proto/flower/pb';
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
  type RecordDict,
} from '@vigil/proto/flower/records';
import { PUBLIC_KEY_BYTES, SECAGG_KEYS } from '@vigil/proto/secagg';
import type { AgentIdentity } from '../link/ca.js';
import type { AuthenticatedCall, LinkService } from '../link/server.js';
import type {
  Arrays,
  ConfigValue as TransportConfigValue,
  EvaluateIns,
  EvaluateRes,
  FitIns,
  FitRes,
  FleetTransport,
  FlNode,
  Progress,
  SecureKeysIns,
  SecureTrainIns,
  SecureTrainRes,
} from './transport.js';

/** Flower's node id of the SuperLink itself (src of instructions, dst of replies). */
const SUPERLINK_NODE_ID = '1';
/** Most objects a reply may consist of, and most bytes of one object (a 5 MiB chunk plus header). */
const MAX_REPLY_OBJECTS = 4096;
const MAX_OBJECT_BYTES = 6 * 1024 * 1024;

export interface FleetServerOptions {
  clock?: Clock;
  /** Seconds an instruction stays valid (Flower's TTL; default 1 h). */
  messageTtl?: number;
  /** A node is online while its last call is at most this many heartbeat intervals old (default 2.5). */
  heartbeatPatience?: number;
  log?: (line: string) => void;
}

/** A call that breaks the protocol (wrong node, unknown message, bad object): refused with `code`. */
class FleetRefusal extends Error {
  constructor(
    readonly code: grpc.status,
    message: string,
  ) {
    super(message);
  }
}

interface NodeState {
  nodeId: string;
  facilityId: string;
  active: boolean;
  lastSeen: number;
  heartbeatInterval: number;
  pending: Pending[];
}

interface Pending {
  kind: 'train' | 'evaluate' | 'query';
  round: number;
  message: FlMessage;
  messageId: string;
  tree: PbObjectTree;
  objects: Map<string, Uint8Array>;
  delivered: boolean;
  reply: {
    message: FlMessage;
    sessionId: string;
    expected: Set<string>;
    received: Map<string, Uint8Array>;
  } | null;
  resolve: (content: RecordDict) => void;
  reject: (err: Error) => void;
}

/** Flower node id (decimal uint64) of a facility: the first 8 bytes of a hash of its id, never 0 or 1. */
export function nodeIdOf(facilityId: string): string {
  const h = createHash('sha256').update(`vigil-fl-node:${facilityId}`).digest();
  const v = h.readBigUInt64BE(0);
  return (v < 2n ? v + 2n : v).toString();
}

export class FleetServer implements FleetTransport, LinkService {
  private readonly byNode = new Map<string, NodeState>();
  private readonly listeners = new Set<(p: Progress) => void>();
  private readonly clock: Clock;
  private readonly log: (line: string) => void;
  /** One Flower run id for this server's lifetime (Flower scopes objects and messages by run). */
  readonly runId = randomBytes(8).readBigUInt64BE(0).toString();

  constructor(private readonly o: FleetServerOptions = {}) {
    this.clock = o.clock ?? systemClock;
    this.log = o.log ?? ((line) => process.stderr.write(`vigil fleet: ${line}\n`));
  }

  register(server: grpc.Server, identify: (call: AuthenticatedCall) => Promise<AgentIdentity>): void {
    const impl: grpc.UntypedServiceImplementation = {};
    const methods: { [M in FleetMethod]: (req: FleetRequest<M>, facilityId: string) => FleetResponse<M> } = {
      RegisterNode: (_r, f) => ({ node_id: this.nodeFor(f).nodeId }),
      ActivateNode: (r, f) => this.activate(f, r.heartbeat_interval),
      DeactivateNode: (r, f) => this.deactivate(this.caller(f, r.node_id)),
      UnregisterNode: (r, f) => this.deactivate(this.caller(f, r.node_id)),
      SendNodeHeartbeat: (r, f) => this.heartbeat(this.caller(f, r.node?.node_id), r.heartbeat_interval),
      PullMessages: (r, f) => this.pullMessages(this.caller(f, r.node?.node_id)),
      PushMessages: (r, f) =>
        this.pushMessages(this.caller(f, r.node?.node_id), r.messages_list, r.message_object_trees),
      PullObject: (r, f) => this.pullObject(this.caller(f, r.node?.node_id), r.run_id, r.object_id),
      PushObject: (r, f) =>
        this.pushObject(
          this.caller(f, r.node?.node_id),
          r.run_id,
          r.object_id,
          r.object_content,
          r.session_id,
        ),
      ConfirmMessageReceived: (r, f) => {
        this.caller(f, r.node?.node_id);
        return {};
      },
    };
    for (const [name, fn] of Object.entries(methods) as [FleetMethod, (req: object, f: string) => object][]) {
      impl[name] = (call: grpc.ServerUnaryCall<object, object>, done: grpc.sendUnaryData<object>) => {
        identify(call).then(
          (id) => {
            let res: object;
            try {
              res = fn(call.request, id.facilityId);
            } catch (err) {
              done(this.toStatus(err, name));
              return;
            }
            done(null, res);
          },
          (err: unknown) => done(this.toStatus(err, name)),
        );
      };
    }
    server.addService(fleetServiceDefinition(), impl);
  }

  nodes(): FlNode[] {
    return [...this.byNode.values()].map((n) => ({
      nodeId: n.nodeId,
      facilityId: n.facilityId,
      online: this.online(n),
    }));
  }

  onProgress(listener: (p: Progress) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async train(nodeId: string, ins: FitIns, signal: AbortSignal): Promise<FitRes> {
    const content = await this.instruct(
      nodeId,
      'train',
      ins.round,
      ins.arrays,
      configRecord(ins.config),
      signal,
    );
    const arrays = findRecord(content, 'array', 'arrays');
    if (!arrays) throw new Error(`node ${nodeId} replied to train without an ArrayRecord`);
    return { arrays: tensorsOf(arrays), metrics: metricsOf(content, nodeId) };
  }

  async evaluate(nodeId: string, ins: EvaluateIns, signal: AbortSignal): Promise<EvaluateRes> {
    const content = await this.instruct(
      nodeId,
      'evaluate',
      ins.round,
      ins.arrays,
      configRecord(ins.config),
      signal,
    );
    return { metrics: metricsOf(content, nodeId) };
  }

  /** A Flower "query" message with config secagg-stage = keys; the reply's config carries the node's public key. */
  async secureKeys(nodeId: string, ins: SecureKeysIns, signal: AbortSignal): Promise<Uint8Array> {
    const config = configRecord({ ...ins.config, [SECAGG_KEYS.stage]: 'keys' });
    const content = await this.instruct(nodeId, 'query', ins.round, null, config, signal);
    const key = findRecord(content, 'config', 'secagg')?.items.get(SECAGG_KEYS.publicKey);
    if (!(key instanceof Uint8Array) || key.length !== PUBLIC_KEY_BYTES)
      throw new Error(
        `node ${nodeId} replied to the key stage without a ${PUBLIC_KEY_BYTES}-byte public key`,
      );
    return key;
  }

  /**
   * A Flower "train" message with config secagg-stage = masked-train, the participants' ids and public keys and the
   * encoding bound; the reply's config carries the masked vector.
   */
  async secureTrain(nodeId: string, ins: SecureTrainIns, signal: AbortSignal): Promise<SecureTrainRes> {
    const config = configRecord({
      ...ins.config,
      [SECAGG_KEYS.stage]: 'masked-train',
      [SECAGG_KEYS.bound]: ins.bound,
    });
    config.set(
      SECAGG_KEYS.peerIds,
      ins.participants.map((p) => p.nodeId),
    );
    config.set(
      SECAGG_KEYS.peerKeys,
      ins.participants.map((p) => p.publicKey),
    );
    const content = await this.instruct(nodeId, 'train', ins.round, ins.arrays, config, signal);
    const masked = findRecord(content, 'config', 'secagg')?.items.get(SECAGG_KEYS.masked);
    if (!(masked instanceof Uint8Array))
      throw new Error(`node ${nodeId} replied to masked training without a masked vector`);
    return { masked, metrics: metricsOf(content, nodeId) };
  }

  private emit(p: Progress): void {
    for (const l of this.listeners) {
      try {
        l(p);
      } catch (err) {
        this.log(`a progress listener failed: ${(err as Error).message}`);
      }
    }
  }

  private online(n: NodeState): boolean {
    const patience = (this.o.heartbeatPatience ?? 2.5) * n.heartbeatInterval * 1000;
    return n.active && this.clock.now() - n.lastSeen <= patience;
  }

  private nodeFor(facilityId: string): NodeState {
    const nodeId = nodeIdOf(facilityId);
    let n = this.byNode.get(nodeId);
    if (!n) {
      n = {
        nodeId,
        facilityId,
        active: false,
        lastSeen: this.clock.now(),
        heartbeatInterval: 30,
        pending: [],
      };
      this.byNode.set(nodeId, n);
    }
    return n;
  }

  /** The caller's node, checking that the node id the request names is the caller's own. */
  private caller(facilityId: string, claimed: string | undefined): NodeState {
    const n = this.nodeFor(facilityId);
    if (claimed !== n.nodeId) {
      throw new FleetRefusal(
        grpc.status.PERMISSION_DENIED,
        `node ${claimed ?? '(none)'} is not facility ${facilityId}'s node`,
      );
    }
    n.lastSeen = this.clock.now();
    return n;
  }

  private activate(facilityId: string, interval: number): FleetResponse<'ActivateNode'> {
    if (!(interval >= 10 && interval <= 1800)) {
      throw new FleetRefusal(
        grpc.status.INVALID_ARGUMENT,
        `heartbeat interval ${interval} is outside [10, 1800] s`,
      );
    }
    const n = this.nodeFor(facilityId);
    n.active = true;
    n.heartbeatInterval = interval;
    n.lastSeen = this.clock.now();
    this.log(`facility ${facilityId} is FL node ${n.nodeId}`);
    return { node_id: n.nodeId };
  }

  private deactivate(n: NodeState): Record<string, never> {
    n.active = false;
    for (const p of n.pending.splice(0)) p.reject(new Error(`node ${n.nodeId} (${n.facilityId}) left`));
    return {};
  }

  private heartbeat(n: NodeState, interval: number): FleetResponse<'SendNodeHeartbeat'> {
    if (!(interval >= 10 && interval <= 1800)) {
      throw new FleetRefusal(
        grpc.status.INVALID_ARGUMENT,
        `heartbeat interval ${interval} is outside [10, 1800] s`,
      );
    }
    n.heartbeatInterval = interval;
    return { success: n.active };
  }

  private pullMessages(n: NodeState): FleetResponse<'PullMessages'> {
    const p = n.active ? n.pending.find((x) => !x.delivered) : undefined;
    if (!p) return { messages_list: [], message_object_trees: [] };
    p.delivered = true;
    this.emit({ nodeId: n.nodeId, round: p.round, phase: 'sent' });
    return { messages_list: [messageToPb(p.message)], message_object_trees: [p.tree] };
  }

  private pullObject(n: NodeState, runId: string, objectId: string): FleetResponse<'PullObject'> {
    const empty = new Uint8Array(0);
    if (runId !== this.runId) return { object_found: false, object_available: false, object_content: empty };
    // A node may read only the objects of instructions addressed to it.
    for (const p of n.pending) {
      const bytes = p.delivered ? p.objects.get(objectId) : undefined;
      if (bytes) return { object_found: true, object_available: true, object_content: bytes };
    }
    return { object_found: false, object_available: false, object_content: empty };
  }

  private pushMessages(
    n: NodeState,
    messages: PbMessage[],
    trees: PbObjectTree[],
  ): FleetResponse<'PushMessages'> {
    const pb = messages[0];
    const tree = trees[0];
    if (messages.length !== 1 || trees.length !== 1 || !pb?.metadata || !tree) {
      throw new FleetRefusal(
        grpc.status.INVALID_ARGUMENT,
        'PushMessages carries exactly one message and its object tree',
      );
    }
    const meta = metadataFromPb(pb.metadata);
    const p = n.pending.find((x) => x.delivered && x.messageId === meta.replyToMessageId);
    if (!p)
      throw new FleetRefusal(
        grpc.status.NOT_FOUND,
        `no instruction ${meta.replyToMessageId.slice(0, 64)} awaits a reply from this node`,
      );
    if (meta.srcNodeId !== n.nodeId || meta.dstNodeId !== SUPERLINK_NODE_ID || meta.runId !== this.runId) {
      throw new FleetRefusal(grpc.status.INVALID_ARGUMENT, 'the reply names the wrong nodes or run');
    }
    if (tree.object_id !== meta.messageId)
      throw new FleetRefusal(grpc.status.INVALID_ARGUMENT, 'the object tree does not start at the message');
    const ids = treeIds(tree);
    if (ids.length > MAX_REPLY_OBJECTS)
      throw new FleetRefusal(grpc.status.RESOURCE_EXHAUSTED, `a reply of ${ids.length} objects is too large`);
    const sessionId = randomUUID();
    p.reply = {
      message: { metadata: meta, content: null, error: null },
      sessionId,
      expected: new Set(ids),
      received: new Map(),
    };
    return { results: { [meta.messageId]: 0 }, objects_to_push: ids, session_id: sessionId };
  }

  private pushObject(
    n: NodeState,
    runId: string,
    objectId: string,
    content: Uint8Array,
    sessionId: string,
  ): FleetResponse<'PushObject'> {
    const p = n.pending.find((x) => x.reply?.sessionId === sessionId);
    if (!p?.reply || runId !== this.runId)
      throw new FleetRefusal(grpc.status.NOT_FOUND, 'no reply of this node is being pushed in this session');
    const r = p.reply;
    if (!r.expected.has(objectId))
      throw new FleetRefusal(
        grpc.status.INVALID_ARGUMENT,
        `object ${objectId.slice(0, 64)} is not part of the reply`,
      );
    if (content.length > MAX_OBJECT_BYTES)
      throw new FleetRefusal(grpc.status.RESOURCE_EXHAUSTED, 'object too large');
    try {
      verifyObject(objectId, content);
    } catch (err) {
      throw new FleetRefusal(grpc.status.INVALID_ARGUMENT, (err as Error).message);
    }
    r.received.set(objectId, content);
    if (r.received.size === r.expected.size) this.complete(n, p);
    return { stored: true };
  }

  /** Every object of a reply is in: rebuild it and hand it to the waiting train()/evaluate(). */
  private complete(n: NodeState, p: Pending): void {
    n.pending.splice(n.pending.indexOf(p), 1);
    let reply: FlMessage;
    try {
      reply = inflateMessage(p.reply!.message.metadata, p.reply!.received);
    } catch (err) {
      p.reject(new Error(`node ${n.nodeId} sent a malformed reply: ${(err as Error).message}`));
      return;
    }
    if (reply.error || !reply.content) {
      p.reject(
        new Error(`node ${n.nodeId} (${n.facilityId}) failed: ${reply.error?.reason ?? 'no content'}`),
      );
      return;
    }
    const metrics = findRecord(reply.content, 'metric', 'metrics');
    const num = (k: string) => {
      const v = metrics?.items.get(k);
      return typeof v === 'number' || typeof v === 'bigint' ? Number(v) : undefined;
    };
    this.emit({
      nodeId: n.nodeId,
      round: p.round,
      phase: 'submitted',
      loss: num('loss'),
      accuracy: num('accuracy'),
    });
    p.resolve(reply.content);
  }

  private instruct(
    nodeId: string,
    kind: Pending['kind'],
    round: number,
    arrays: Arrays | null,
    config: Map<string, ConfigValue>,
    signal: AbortSignal,
  ): Promise<RecordDict> {
    const n = this.byNode.get(nodeId);
    if (!n || !this.online(n)) return Promise.reject(new Error(`node ${nodeId} is not online`));
    if (signal.aborted) return Promise.reject(abortError(signal));
    const now = this.clock.now() / 1000;
    const message: FlMessage = {
      metadata: {
        runId: this.runId,
        messageId: '',
        srcNodeId: SUPERLINK_NODE_ID,
        dstNodeId: nodeId,
        replyToMessageId: '',
        groupId: String(round),
        ttl: this.o.messageTtl ?? 3600,
        messageType: kind,
        createdAt: now,
      },
      content: new Map([
        ...(arrays === null ? [] : ([['arrays', arrayRecord(arrays)]] as const)),
        ['config', { kind: 'config', items: config.set('server-round', BigInt(round)) }],
      ]),
      error: null,
    };
    const d = deflateMessage(message);
    message.metadata.messageId = d.messageId;
    return new Promise<RecordDict>((resolve, reject) => {
      const onAbort = () => {
        const i = n.pending.indexOf(p);
        if (i >= 0) n.pending.splice(i, 1);
        reject(abortError(signal));
      };
      const p: Pending = {
        kind,
        round,
        message,
        messageId: d.messageId,
        tree: d.tree,
        objects: d.objects,
        delivered: false,
        reply: null,
        resolve: (c) => {
          signal.removeEventListener('abort', onAbort);
          resolve(c);
        },
        reject: (e) => {
          signal.removeEventListener('abort', onAbort);
          reject(e);
        },
      };
      signal.addEventListener('abort', onAbort, { once: true });
      n.pending.push(p);
    });
  }

  private toStatus(err: unknown, where: string): Partial<grpc.StatusObject> {
    const e = err as { code?: unknown; message?: unknown };
    if (typeof e?.code === 'number' && typeof e.message === 'string') {
      this.log(`Fleet.${where} refused: ${e.message}`);
      return { code: e.code, details: e.message };
    }
    this.log(`Fleet.${where} failed: ${err instanceof Error ? err.message : String(err)}`);
    return { code: grpc.status.INTERNAL, details: 'the aggregator could not handle this call' };
  }
}

function abortError(signal: AbortSignal): Error {
  const r: unknown = signal.reason;
  return r instanceof Error ? r : new Error('the round was aborted');
}

/** Transport config values as a Flower ConfigRecord: integers go as ints (sint64), as Flower's FedAvg sends them. */
function configRecord(config: Record<string, TransportConfigValue>): Map<string, ConfigValue> {
  return new Map(
    Object.entries(config).map(([k, v]) => [
      k,
      typeof v === 'number' && Number.isSafeInteger(v) ? BigInt(v) : v,
    ]),
  );
}

function metricsOf(content: RecordDict, nodeId: string): Record<string, number> {
  const m = findRecord(content, 'metric', 'metrics');
  if (!m) throw new Error(`node ${nodeId} replied without a MetricRecord`);
  const out: Record<string, number> = {};
  for (const [k, v] of m.items) if (typeof v === 'number' || typeof v === 'bigint') out[k] = Number(v);
  if (!(Number.isFinite(out['num-examples']) && out['num-examples']! >= 0)) {
    throw new Error(`node ${nodeId} replied without a valid "num-examples"`);
  }
  return out;
}
