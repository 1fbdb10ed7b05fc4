// Test helpers for tests that need the link running: a real LinkServer on loopback (mTLS, a free port) over the
// link fixture's SQLite store and CA, and enrolled agents with a real outbox and LinkClient that reconnect quickly.
// Everything a test opens through them is closed by cleanup(), in reverse order, before the server and the store.
import { join } from 'node:path';
import { LINK_CHUNK_SIZE, linkFleetRpc } from '@vigil/agent/fl/connect';
import type { LocalTrainer } from '@vigil/agent/fl/local-trainer';
import { SuperNode } from '@vigil/agent/fl/supernode';
import { LinkClient, type LinkClientOptions } from '@vigil/agent/link/client';
import { enroll, type AgentIdentityFiles } from '@vigil/agent/link/identity';
import { Outbox } from '@vigil/agent/outbox/outbox';
import { NodeKey } from '@vigil/proto/flower/fleet-rpc';
import type { OpenStoreOptions } from '../../store/open.js';
import { LinkServer, type LinkService } from '../server.js';
import { issueToken, linkFixture, type LinkFixture } from './fixtures.js';

export interface ServedLink extends LinkFixture {
  server: LinkServer;
  /** 127.0.0.1:PORT of the running server. */
  address: string;
  /** Registers something to stop at cleanup (run in reverse order of registration, before the server stops). */
  defer(stop: () => Promise<void> | void): void;
}

/** `dbUrl`, `storeOptions`: the store and how it is opened (default: a SQLite file, see linkFixture). */
export async function servedLink(
  o: { services?: LinkService[]; dbUrl?: string; storeOptions?: OpenStoreOptions } = {},
): Promise<ServedLink> {
  const fx = await linkFixture({
    ...(o.dbUrl !== undefined ? { dbUrl: o.dbUrl } : {}),
    ...(o.storeOptions !== undefined ? { storeOptions: o.storeOptions } : {}),
  });
  const server = new LinkServer({
    store: fx.store,
    ca: fx.ca,
    host: '127.0.0.1',
    port: 0,
    log: () => undefined,
    ...(o.services ? { services: o.services } : {}),
  });
  await server.start();
  const stops: (() => Promise<void> | void)[] = [];
  return {
    ...fx,
    server,
    address: `127.0.0.1:${server.port}`,
    defer: (stop) => void stops.push(stop),
    cleanup: async () => {
      for (const stop of stops.splice(0).reverse()) await stop();
      await server.shutdown();
      await fx.cleanup();
    },
  };
}

export interface LinkAgent {
  dataDir: string;
  identity: AgentIdentityFiles;
  outbox: Outbox;
  client: LinkClient;
}

/**
 * Enrolls an agent for `facility` (data dir `name`, by default the facility) and gives it an 8 MiB outbox and a
 * LinkClient with a 200 ms heartbeat and 50-200 ms reconnects; the client is not started. `client` takes the
 * client's other options (what it does with pushes, its health); `beforeOutbox` runs on the outbox file's path
 * before the outbox opens it (e.g. to leave there what an older agent wrote).
 */
export async function linkAgent(
  link: ServedLink,
  facility: string,
  o: {
    name?: string;
    client?: Pick<LinkClientOptions, 'onPush' | 'health' | 'batchAlerts' | 'maxInFlight'>;
    beforeOutbox?: (path: string) => void;
  } = {},
): Promise<LinkAgent> {
  const dataDir = join(link.dir, o.name ?? facility);
  const token = await issueToken(link.store, link.ca, facility);
  const identity = await enroll({ aggregator: link.address, token, dataDir });
  const outboxPath = join(dataDir, 'outbox.db');
  o.beforeOutbox?.(outboxPath);
  const outbox = new Outbox({ path: outboxPath, maxBytes: 8 << 20 });
  link.defer(() => outbox.close());
  const client = new LinkClient({
    address: link.address,
    identity,
    outbox,
    heartbeatMs: 200,
    backoff: { initialMs: 50, maxMs: 200 },
    log: () => undefined,
    ...o.client,
  });
  link.defer(() => client.shutdown());
  return { dataDir, identity, outbox, client };
}

export interface FleetNode {
  node: SuperNode;
  /** Stops the node early (cleanup stops it otherwise); `running` settles once it has. */
  stop: AbortController;
  running: Promise<void>;
}

/**
 * Runs an agent's federated node (a SuperNode over the link's Fleet API, inside its mTLS, as `vigil-agent run` does)
 * with `trainer`, until cleanup. `identity` is an enrolled agent's (linkAgent's); without it the facility is
 * enrolled here. Polls every `pollMs` (default 50) so that rounds in tests start at once.
 */
export async function fleetNode(
  link: ServedLink,
  facility: string,
  o: { trainer: LocalTrainer; identity?: AgentIdentityFiles; pollMs?: number; log?: (line: string) => void },
): Promise<FleetNode> {
  const identity =
    o.identity ??
    (await enroll({
      aggregator: link.address,
      token: await issueToken(link.store, link.ca, facility),
      dataDir: join(link.dir, facility),
    }));
  const rpc = linkFleetRpc({ address: link.address, identity });
  link.defer(() => rpc.close());
  const node = new SuperNode({
    rpc,
    publicKey: NodeKey.generate().publicKeyPem,
    selfRegister: false,
    pollMs: o.pollMs ?? 50,
    heartbeatInterval: 10,
    chunkSize: LINK_CHUNK_SIZE,
    trainer: o.trainer,
    log: o.log ?? (() => undefined),
  });
  const stop = new AbortController();
  const running = node.run(stop.signal);
  link.defer(async () => {
    stop.abort();
    await running;
  });
  return { node, stop, running };
}
