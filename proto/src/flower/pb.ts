// Protobuf encoding of the Flower Fleet API subset in proto/flwr/proto/*.proto (our own .proto files, with Flower's
// package, names and field numbers). One codec serves the gRPC service (aggregator) and the protobuf-over-HTTP
// client (flower-superlink 1.42), and encodes the protobuf bodies of inflatable objects.
//
// Decoded objects use the .proto field names; 64-bit integers are decimal strings (Flower's node and run ids are
// random uint64s, far above 2^53), bytes are Uint8Array.
import protobuf from 'protobufjs';
import path from 'node:path';
import { PROTO_ROOT } from '../index.js';

export type U64 = string;

export interface PbNode {
  node_id: U64;
}
export interface PbError {
  code: U64;
  reason: string;
}
export interface PbMetadata {
  run_id: U64;
  message_id: string;
  src_node_id: U64;
  dst_node_id: U64;
  reply_to_message_id: string;
  group_id: string;
  ttl: number;
  message_type: string;
  created_at: number;
  src_task_id?: U64 | null;
  dst_task_id?: U64 | null;
}
/** A Message as it travels in Pull/PushMessages: metadata, and content or error (the records go as objects). */
export interface PbMessage {
  metadata?: PbMetadata | null;
  content?: { items: unknown[] } | null;
  error?: PbError | null;
}
export interface PbObjectTree {
  object_id: string;
  children: PbObjectTree[];
}

export interface FleetCalls {
  RegisterNode: [{ public_key: Uint8Array }, { node_id: U64 }];
  ActivateNode: [{ public_key: Uint8Array; heartbeat_interval: number }, { node_id: U64 }];
  DeactivateNode: [{ node_id: U64 }, Record<string, never>];
  UnregisterNode: [{ node_id: U64 }, Record<string, never>];
  SendNodeHeartbeat: [{ node: PbNode; heartbeat_interval: number }, { success: boolean }];
  PullMessages: [
    { node: PbNode; message_ids: string[] },
    {
      reconnect?: { reconnect: U64 } | null;
      messages_list: PbMessage[];
      message_object_trees: PbObjectTree[];
    },
  ];
  PushMessages: [
    {
      node: PbNode;
      messages_list: PbMessage[];
      message_object_trees: PbObjectTree[];
      clientapp_runtime_list: number[];
    },
    {
      reconnect?: { reconnect: U64 } | null;
      results: Record<string, number>;
      objects_to_push: string[];
      session_id: string;
    },
  ];
  PushObject: [
    { node: PbNode; run_id: U64; object_id: string; object_content: Uint8Array; session_id: string },
    { stored: boolean },
  ];
  PullObject: [
    { node: PbNode; run_id: U64; object_id: string },
    { object_found: boolean; object_available: boolean; object_content: Uint8Array },
  ];
  ConfirmMessageReceived: [{ node: PbNode; run_id: U64; message_object_id: string }, Record<string, never>];
}
export type FleetMethod = keyof FleetCalls;
export type FleetRequest<M extends FleetMethod> = FleetCalls[M][0];
export type FleetResponse<M extends FleetMethod> = FleetCalls[M][1];

/** Request and response message names of each Fleet call (flwr.proto package). */
export const FLEET_METHODS: Record<FleetMethod, { request: string; response: string; httpPath: string }> = {
  RegisterNode: method('RegisterNodeFleetRequest', 'RegisterNodeFleetResponse', 'register-node'),
  ActivateNode: method('ActivateNodeRequest', 'ActivateNodeResponse', 'activate-node'),
  DeactivateNode: method('DeactivateNodeRequest', 'DeactivateNodeResponse', 'deactivate-node'),
  UnregisterNode: method('UnregisterNodeFleetRequest', 'UnregisterNodeFleetResponse', 'unregister-node'),
  SendNodeHeartbeat: method('SendNodeHeartbeatRequest', 'SendNodeHeartbeatResponse', 'send-node-heartbeat'),
  PullMessages: method('PullMessagesRequest', 'PullMessagesResponse', 'pull-messages'),
  PushMessages: method('PushMessagesRequest', 'PushMessagesResponse', 'push-messages'),
  PushObject: method('PushObjectRequest', 'PushObjectResponse', 'push-object'),
  PullObject: method('PullObjectRequest', 'PullObjectResponse', 'pull-object'),
  ConfirmMessageReceived: method(
    'ConfirmMessageReceivedRequest',
    'ConfirmMessageReceivedResponse',
    'confirm-message-received',
  ),
};

function method(request: string, response: string, kebab: string) {
  return { request, response, httpPath: `/v1/fleet/${kebab}` };
}

let root: protobuf.Root | null = null;

function loadRoot(): protobuf.Root {
  if (root) return root;
  const r = new protobuf.Root();
  r.resolvePath = (_origin, target) => path.join(PROTO_ROOT, target);
  r.loadSync('flwr/proto/fleet.proto', { keepCase: true });
  r.resolveAll();
  root = r;
  return r;
}

const types = new Map<string, protobuf.Type>();

export function pbType(name: string): protobuf.Type {
  let t = types.get(name);
  if (!t) {
    t = loadRoot().lookupType(`flwr.proto.${name}`);
    types.set(name, t);
  }
  return t;
}

const TO_OBJECT: protobuf.IConversionOptions = {
  longs: String,
  defaults: true,
  arrays: true,
  objects: true,
  oneofs: true,
};

/** Encodes a plain object (field names as in the .proto). Fields left out are not written. */
export function pbEncode(name: string, value: object): Uint8Array {
  const t = pbType(name);
  return t.encode(t.fromObject(value)).finish();
}

/** Decodes bytes into a plain object with every field present (defaults filled in, 64-bit ints as strings). */
export function pbDecode<T>(name: string, bytes: Uint8Array): T {
  const t = pbType(name);
  return t.toObject(t.decode(bytes), TO_OBJECT) as T;
}
