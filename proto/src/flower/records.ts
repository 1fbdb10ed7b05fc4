// Flower's Message and its records (flwr 1.42 flwr.app: Message, RecordDict, ArrayRecord, MetricRecord,
// ConfigRecord, Array, ArrayChunk) and how they deflate into inflatable objects and back. The bytes, and so the
// object ids, are what Flower's own Python code computes (golden tests in records.golden.test.ts).
//
// Numbers: a JS `number` is a protobuf double, a `bigint` a sint64 (uint64 above 2^63 - 1), as Python's float and
// int. So an integer count such as "num-examples" must be a bigint to reach Flower as an int.
import {
  ObjectFormatError,
  deflateObject,
  isObjectId,
  objectId,
  parseObject,
  pythonJson,
  type ObjectType,
} from './inflatable.js';
import { fromNpy, toNpy } from './npy.js';
import { pbDecode, pbEncode, type PbMetadata, type PbObjectTree, type U64 } from './pb.js';

export type { U64 };

export interface FlArray {
  dtype: string;
  shape: number[];
  stype: string;
  data: Uint8Array;
}
export type MetricValue = number | bigint | number[] | bigint[];
export type ConfigValue =
  number | bigint | boolean | string | Uint8Array | number[] | bigint[] | boolean[] | string[] | Uint8Array[];

export type FlRecord =
  | { kind: 'array'; items: Map<string, FlArray> }
  | { kind: 'metric'; items: Map<string, MetricValue> }
  | { kind: 'config'; items: Map<string, ConfigValue> };
export type RecordDict = Map<string, FlRecord>;

export interface Metadata {
  runId: U64;
  /** The Message object's id; ignored when deflating (Flower leaves it out of the bytes it hashes). */
  messageId: string;
  srcNodeId: U64;
  dstNodeId: U64;
  replyToMessageId: string;
  groupId: string;
  /** Seconds. */
  ttl: number;
  messageType: string;
  /** Unix time, seconds. */
  createdAt: number;
  srcTaskId?: U64;
  dstTaskId?: U64;
}

export interface FlMessage {
  metadata: Metadata;
  content: RecordDict | null;
  error: { code: bigint; reason: string } | null;
}

/** Flower's default array chunk size (FLWR_PRIVATE_MAX_ARRAY_CHUNK_SIZE), 5 MiB. */
export const DEFAULT_CHUNK_SIZE = 5 * 1024 * 1024;
/** The stype of .npy array data. */
export const STYPE_NUMPY = 'numpy.ndarray';
const INT64_MAX = (1n << 63n) - 1n;
const UINT64_MAX = (1n << 64n) - 1n;

/** A float32 tensor as a Flower Array (.npy bytes). */
export function arrayFromTensor(shape: readonly number[], data: Float32Array): FlArray {
  return { dtype: 'float32', shape: [...shape], stype: STYPE_NUMPY, data: toNpy(shape, data) };
}

/** A Flower Array holding float32 .npy bytes, as shape and values. */
export function tensorFromArray(a: FlArray): { shape: number[]; data: Float32Array } {
  if (a.stype !== STYPE_NUMPY) throw new ObjectFormatError(`array stype "${a.stype}" is not ${STYPE_NUMPY}`);
  if (a.dtype !== 'float32') throw new ObjectFormatError(`array dtype "${a.dtype}" is not float32`);
  const t = fromNpy(a.data);
  if (t.shape.join(',') !== a.shape.join(',')) {
    throw new ObjectFormatError(
      `array shape [${a.shape.join(', ')}] does not match its data's [${t.shape.join(', ')}]`,
    );
  }
  return t;
}

/** A deflated object and its distinct children, in the order Flower lists them. */
export interface ObjectNode {
  id: string;
  bytes: Uint8Array;
  children: ObjectNode[];
}

export interface DeflatedMessage {
  /** The Message object's id, which is also its message_id. */
  messageId: string;
  tree: PbObjectTree;
  /** Every object of the message (post-order: children before parents). */
  objects: Map<string, Uint8Array>;
}

function node(type: ObjectType, children: ObjectNode[], body: Uint8Array): ObjectNode {
  const bytes = deflateObject(
    type,
    distinct(children).map((c) => c.id),
    body,
  );
  return { id: objectId(bytes), bytes, children: distinct(children) };
}

function distinct(nodes: ObjectNode[]): ObjectNode[] {
  const seen = new Set<string>();
  return nodes.filter((n) => (seen.has(n.id) ? false : (seen.add(n.id), true)));
}

const utf8 = (s: string) => Buffer.from(s, 'utf8');

function deflateArray(a: FlArray, chunkSize: number): ObjectNode {
  const chunks: ObjectNode[] = [];
  for (let start = 0; start < a.data.length; start += chunkSize) {
    chunks.push(node('ArrayChunk', [], a.data.subarray(start, Math.min(start + chunkSize, a.data.length))));
  }
  const unique = distinct(chunks).map((c) => c.id);
  const body = pythonJson({
    dtype: a.dtype,
    shape: a.shape,
    stype: a.stype,
    arraychunk_ids: chunks.map((c) => unique.indexOf(c.id)),
  });
  return node('Array', chunks, utf8(body));
}

function scalarPb(v: number | bigint | boolean | string | Uint8Array): Record<string, unknown> {
  if (typeof v === 'number') return { double: v };
  if (typeof v === 'bigint') {
    if (v < -INT64_MAX - 1n || v > UINT64_MAX) throw new RangeError(`integer ${v} does not fit 64 bits`);
    return v > INT64_MAX ? { uint64: v.toString() } : { sint64: v.toString() };
  }
  if (typeof v === 'boolean') return { bool: v };
  if (typeof v === 'string') return { string: v };
  return { bytes: v };
}

function listPb(v: readonly unknown[], metric: boolean): Record<string, unknown> {
  // As Flower: an empty list is a list of the first allowed type (float for metrics, bool for configs).
  if (v.length === 0) return metric ? { double_list: { vals: [] } } : { bool_list: { vals: [] } };
  const first = v[0];
  const same = (pred: (x: unknown) => boolean) => v.every(pred);
  if (typeof first === 'boolean' && !metric && same((x) => typeof x === 'boolean'))
    return { bool_list: { vals: v } };
  if (typeof first === 'number' && same((x) => typeof x === 'number')) return { double_list: { vals: v } };
  if (typeof first === 'bigint' && same((x) => typeof x === 'bigint')) {
    const ints = v as bigint[];
    for (const x of ints)
      if (x < -INT64_MAX - 1n || x > UINT64_MAX) throw new RangeError(`integer ${x} does not fit 64 bits`);
    const vals = ints.map(String);
    return ints.some((x) => x > INT64_MAX) ? { uint_list: { vals } } : { sint_list: { vals } };
  }
  if (!metric && typeof first === 'string' && same((x) => typeof x === 'string'))
    return { string_list: { vals: v } };
  if (!metric && first instanceof Uint8Array && same((x) => x instanceof Uint8Array))
    return { bytes_list: { vals: v } };
  throw new TypeError(`a ${metric ? 'metric' : 'config'} list must hold values of one allowed type`);
}

function valuePb(v: MetricValue | ConfigValue, metric: boolean): Record<string, unknown> {
  if (Array.isArray(v)) return listPb(v, metric);
  if (metric && typeof v !== 'number' && typeof v !== 'bigint')
    throw new TypeError('a metric must be a number or bigint');
  return scalarPb(v);
}

function deflateRecord(r: FlRecord, chunkSize: number): ObjectNode {
  if (r.kind === 'array') {
    const arrays = [...r.items].map(([k, a]) => [k, deflateArray(a, chunkSize)] as const);
    const body = pythonJson(new Map(arrays.map(([k, n]) => [k, n.id])));
    return node(
      'ArrayRecord',
      arrays.map(([, n]) => n),
      utf8(body),
    );
  }
  const metric = r.kind === 'metric';
  const items = [...(r.items as Map<string, MetricValue | ConfigValue>)].map(([key, v]) => ({
    key,
    value: valuePb(v, metric),
  }));
  const body = pbEncode(metric ? 'MetricRecord' : 'ConfigRecord', { items });
  return node(metric ? 'MetricRecord' : 'ConfigRecord', [], body);
}

function metadataPb(m: Metadata, withMessageId: boolean): Record<string, unknown> {
  // proto3 leaves fields at their default out of the bytes; so do we (protobufjs writes whatever is set).
  const out: Record<string, unknown> = {};
  const put = (k: string, v: string | number, dflt: string | number) => {
    if (v !== dflt) out[k] = v;
  };
  put('run_id', m.runId, '0');
  if (withMessageId) put('message_id', m.messageId, '');
  put('src_node_id', m.srcNodeId, '0');
  put('dst_node_id', m.dstNodeId, '0');
  put('reply_to_message_id', m.replyToMessageId, '');
  put('group_id', m.groupId, '');
  put('ttl', m.ttl, 0);
  put('message_type', m.messageType, '');
  put('created_at', m.createdAt, 0);
  if (m.srcTaskId !== undefined) out.src_task_id = m.srcTaskId;
  if (m.dstTaskId !== undefined) out.dst_task_id = m.dstTaskId;
  return out;
}

/** The Message as it travels in PullMessages/PushMessages (records go separately, as objects). */
export function messageToPb(m: FlMessage): Record<string, unknown> {
  const out: Record<string, unknown> = { metadata: metadataPb(m.metadata, true) };
  if (m.error) out.error = errorPb(m.error);
  else out.content = { items: [] };
  return out;
}

function errorPb(e: { code: bigint; reason: string }): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (e.code !== 0n) out.code = e.code.toString();
  if (e.reason !== '') out.reason = e.reason;
  return out;
}

export function metadataFromPb(p: PbMetadata): Metadata {
  const m: Metadata = {
    runId: p.run_id,
    messageId: p.message_id,
    srcNodeId: p.src_node_id,
    dstNodeId: p.dst_node_id,
    replyToMessageId: p.reply_to_message_id,
    groupId: p.group_id,
    ttl: p.ttl,
    messageType: p.message_type,
    createdAt: p.created_at,
  };
  if (p.src_task_id !== undefined && p.src_task_id !== null) m.srcTaskId = p.src_task_id;
  if (p.dst_task_id !== undefined && p.dst_task_id !== null) m.dstTaskId = p.dst_task_id;
  return m;
}

function messageNode(m: FlMessage, chunkSize: number): ObjectNode {
  const children: ObjectNode[] = [];
  if (!m.error && m.content) {
    const records = [...m.content].map(([k, r]) => [k, deflateRecord(r, chunkSize)] as const);
    const body = pythonJson(new Map(records.map(([k, n]) => [k, n.id])));
    children.push(
      node(
        'RecordDict',
        records.map(([, n]) => n),
        utf8(body),
      ),
    );
  }
  const bodyMsg: Record<string, unknown> = { metadata: metadataPb(m.metadata, false) };
  if (m.error) bodyMsg.error = errorPb(m.error);
  return node('Message', children, pbEncode('Message', bodyMsg));
}

/**
 * Deflates a message into its objects. `chunkSize` splits array data as Flower does (its default 5 MiB; ids depend
 * on it). The message's metadata.messageId is not used: the returned messageId is the one to send.
 */
export function deflateMessage(m: FlMessage, chunkSize = DEFAULT_CHUNK_SIZE): DeflatedMessage {
  if (!Number.isInteger(chunkSize) || chunkSize < 1)
    throw new RangeError('chunkSize must be a positive integer');
  const root = messageNode(m, chunkSize);
  const objects = new Map<string, Uint8Array>();
  const walk = (n: ObjectNode): PbObjectTree => {
    const children = n.children.map(walk);
    objects.set(n.id, n.bytes);
    return { object_id: n.id, children };
  };
  const tree = walk(root);
  return { messageId: root.id, tree, objects };
}

/** Ids of a tree's objects, children before parents (the order to push and pull them). */
export function treeIds(tree: PbObjectTree): string[] {
  const out: string[] = [];
  const walk = (t: PbObjectTree) => {
    t.children.forEach(walk);
    if (!out.includes(t.object_id)) out.push(t.object_id);
  };
  walk(tree);
  return out;
}

/** Checks that an object's bytes hash to the id it came under. */
export function verifyObject(id: string, bytes: Uint8Array): void {
  if (!isObjectId(id)) throw new ObjectFormatError(`"${id.slice(0, 80)}" is not an object id`);
  const got = objectId(bytes);
  if (got !== id) throw new ObjectFormatError(`object ${id} has content hashing to ${got}`);
}

/**
 * Rebuilds a message from its objects (every id checked against its content, every header against the tree).
 * `metadata` is the one that came with the message in PullMessages / PushMessages; its message_id must be the root.
 */
export function inflateMessage(metadata: Metadata, objects: ReadonlyMap<string, Uint8Array>): FlMessage {
  const get = (id: string, type: ObjectType): { children: string[]; body: Uint8Array } => {
    const bytes = objects.get(id);
    if (!bytes) throw new ObjectFormatError(`object ${id} is missing`);
    verifyObject(id, bytes);
    const p = parseObject(bytes);
    if (p.type !== type) throw new ObjectFormatError(`object ${id} is a ${p.type}, expected a ${type}`);
    return p;
  };
  const msg = get(metadata.messageId, 'Message');
  const body = pbDecode<{ metadata: PbMetadata | null; error: { code: string; reason: string } | null }>(
    'Message',
    msg.body,
  );
  if (body.error) {
    if (msg.children.length !== 0) throw new ObjectFormatError('a Message with an error has no content');
    return { metadata, content: null, error: { code: BigInt(body.error.code), reason: body.error.reason } };
  }
  if (msg.children.length !== 1)
    throw new ObjectFormatError('a Message without an error has exactly one RecordDict');
  const rd = get(msg.children[0]!, 'RecordDict');
  const refs = refsOf(rd.body, rd.children, 'RecordDict');
  const content: RecordDict = new Map();
  for (const [key, id] of refs) {
    const bytes = objects.get(id);
    if (!bytes) throw new ObjectFormatError(`object ${id} is missing`);
    verifyObject(id, bytes);
    const p = parseObject(bytes);
    content.set(key, inflateRecord(p.type, p, get, id));
  }
  return { metadata, content, error: null };
}

function refsOf(body: Uint8Array, children: string[], what: string): [string, string][] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(body).toString('utf8'));
  } catch {
    throw new ObjectFormatError(`${what} body is not JSON`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ObjectFormatError(`${what} body is not a JSON object`);
  }
  const entries = Object.entries(parsed as Record<string, unknown>);
  const ids = new Set<string>();
  for (const [k, v] of entries) {
    if (typeof v !== 'string' || !isObjectId(v))
      throw new ObjectFormatError(`${what} entry "${k.slice(0, 40)}" is not an object id`);
    ids.add(v);
  }
  if (ids.size !== children.length || children.some((c) => !ids.has(c))) {
    throw new ObjectFormatError(`${what} entries do not match its header's children`);
  }
  return entries as [string, string][];
}

type Getter = (id: string, type: ObjectType) => { children: string[]; body: Uint8Array };

function inflateRecord(
  type: ObjectType,
  p: { children: string[]; body: Uint8Array },
  get: Getter,
  id: string,
): FlRecord {
  if (type === 'ArrayRecord') {
    const items = new Map<string, FlArray>();
    for (const [key, arrayId] of refsOf(p.body, p.children, 'ArrayRecord'))
      items.set(key, inflateArray(get(arrayId, 'Array'), get));
    return { kind: 'array', items };
  }
  if (p.children.length !== 0) throw new ObjectFormatError(`${type} ${id} has children`);
  if (type === 'MetricRecord' || type === 'ConfigRecord') {
    const metric = type === 'MetricRecord';
    const pb = pbDecode<{ items: { key: string; value: Record<string, unknown> | null }[] }>(type, p.body);
    const items = new Map<string, MetricValue | ConfigValue>();
    for (const it of pb.items) items.set(it.key, valueFromPb(it.value));
    return metric
      ? { kind: 'metric', items: items as Map<string, MetricValue> }
      : { kind: 'config', items: items };
  }
  throw new ObjectFormatError(`a RecordDict entry is a ${type}`);
}

function valueFromPb(v: Record<string, unknown> | null): MetricValue | ConfigValue {
  const which = v?.value;
  if (!v || typeof which !== 'string') throw new ObjectFormatError('record value without a value');
  const x = v[which];
  switch (which) {
    case 'double':
      return x as number;
    case 'sint64':
    case 'uint64':
      return BigInt(x as string);
    case 'bool':
      return x as boolean;
    case 'string':
      return x as string;
    case 'bytes':
      return new Uint8Array(x as Uint8Array);
    case 'double_list':
      return (x as { vals: number[] }).vals;
    case 'sint_list':
    case 'uint_list':
      return (x as { vals: string[] }).vals.map((s) => BigInt(s));
    case 'bool_list':
      return (x as { vals: boolean[] }).vals;
    case 'string_list':
      return (x as { vals: string[] }).vals;
    case 'bytes_list':
      return (x as { vals: Uint8Array[] }).vals.map((b) => new Uint8Array(b));
    default:
      throw new ObjectFormatError(`unknown record value kind ${which}`);
  }
}

function inflateArray(a: { children: string[]; body: Uint8Array }, get: Getter): FlArray {
  let meta: unknown;
  try {
    meta = JSON.parse(Buffer.from(a.body).toString('utf8'));
  } catch {
    throw new ObjectFormatError('Array body is not JSON');
  }
  const m = meta as { dtype?: unknown; shape?: unknown; stype?: unknown; arraychunk_ids?: unknown };
  if (
    typeof m.dtype !== 'string' ||
    typeof m.stype !== 'string' ||
    !Array.isArray(m.shape) ||
    !m.shape.every((d) => Number.isInteger(d) && (d as number) >= 0) ||
    !Array.isArray(m.arraychunk_ids) ||
    !m.arraychunk_ids.every(
      (i) => Number.isInteger(i) && (i as number) >= 0 && (i as number) < a.children.length,
    )
  ) {
    throw new ObjectFormatError('Array body lacks dtype, shape, stype or valid arraychunk_ids');
  }
  const chunks = (m.arraychunk_ids as number[]).map((i) => get(a.children[i]!, 'ArrayChunk').body);
  const data = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let off = 0;
  for (const c of chunks) {
    data.set(c, off);
    off += c.length;
  }
  return { dtype: m.dtype, shape: m.shape as number[], stype: m.stype, data };
}

/** A float32 tensor (the aggregator's FleetTransport uses the same shape). */
export interface Tensor {
  shape: number[];
  data: Float32Array;
}
/** Named tensors in model order (a Map keeps insertion order). */
export type NamedTensors = Map<string, Tensor>;

export function arrayRecord(tensors: NamedTensors): FlRecord {
  return {
    kind: 'array',
    items: new Map([...tensors].map(([k, t]) => [k, arrayFromTensor(t.shape, t.data)])),
  };
}

export function tensorsOf(record: FlRecord): NamedTensors {
  if (record.kind !== 'array')
    throw new ObjectFormatError(`expected an ArrayRecord, got a ${record.kind} record`);
  return new Map([...record.items].map(([k, a]) => [k, tensorFromArray(a)]));
}

/** The record of `kind` under `key`, else the only record of that kind; null when there is none. */
export function findRecord<K extends FlRecord['kind']>(
  content: RecordDict,
  kind: K,
  key: string,
): Extract<FlRecord, { kind: K }> | null {
  const named = content.get(key);
  if (named?.kind === kind) return named as Extract<FlRecord, { kind: K }>;
  const all = [...content.values()].filter((r) => r.kind === kind);
  if (all.length > 1)
    throw new ObjectFormatError(`the message has ${all.length} ${kind} records and none is "${key}"`);
  return (all[0] as Extract<FlRecord, { kind: K }> | undefined) ?? null;
}
