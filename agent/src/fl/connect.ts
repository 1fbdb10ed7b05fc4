// How the agent reaches a SuperLink: the Vigil aggregator's Fleet service on the link port (gRPC inside the link's
// mTLS, with the enrollment identity), or a plain Flower SuperLink (protobuf over HTTP with Flower's node auth).
import * as grpc from '@grpc/grpc-js';
import { GrpcFleetRpc, HttpFleetRpc, NodeKey } from '@vigil/proto/flower/fleet-rpc';
import { CLIENT_OPTIONS, SERVER_MAX_RECEIVE_BYTES } from '@vigil/proto/link';
import type { AgentIdentityFiles } from '../link/identity.js';

/**
 * Array chunk size for replies over the link: the aggregator takes messages up to SERVER_MAX_RECEIVE_BYTES (4 MiB),
 * so objects go in 1 MiB chunks instead of Flower's 5 MiB (the ids change with it; the server checks each against
 * its content either way).
 */
export const LINK_CHUNK_SIZE = Math.min(1024 * 1024, SERVER_MAX_RECEIVE_BYTES / 4);

/** The aggregator's Fleet API, identified by the agent's enrollment certificate. */
export function linkFleetRpc(o: {
  address: string;
  identity: AgentIdentityFiles;
  timeoutMs?: number;
}): GrpcFleetRpc {
  return new GrpcFleetRpc({
    address: o.address,
    credentials: grpc.credentials.createSsl(o.identity.caPem, o.identity.keyPem, o.identity.certPem),
    channelOptions: CLIENT_OPTIONS,
    timeoutMs: o.timeoutMs,
  });
}

/** A Flower SuperLink's Fleet API (e.g. http://127.0.0.1:8000, where `flower-superlink --insecure` serves it by default). */
export function superlinkFleetRpc(o: { url: string; key?: NodeKey; timeoutMs?: number }): {
  rpc: HttpFleetRpc;
  key: NodeKey;
} {
  const key = o.key ?? NodeKey.generate();
  return { rpc: new HttpFleetRpc({ baseUrl: o.url, key, timeoutMs: o.timeoutMs }), key };
}
