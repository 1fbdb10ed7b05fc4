import { createServer, type Server } from 'node:http';
import { verify } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { FleetRpcError, HttpFleetRpc, NodeKey } from './fleet-rpc.js';
import { pbDecode, pbEncode } from './pb.js';

describe('node key (Flower node auth)', () => {
  it('signs a Python-style ISO timestamp with ECDSA P-384 over SHA-256, verifiable with the sent PEM key', () => {
    const key = NodeKey.generate();
    const h = key.authHeaders(new Date('2026-11-22T08:30:00.123Z'));
    expect(h['flwr-timestamp']).toBe('2026-11-22T08:30:00.123000+00:00');
    const pem = Buffer.from(h['flwr-public-key']!, 'base64').toString();
    expect(pem).toMatch(/^-----BEGIN PUBLIC KEY-----\n/);
    expect(pem).toBe(Buffer.from(key.publicKeyPem).toString());
    const ok = verify(
      'sha256',
      Buffer.from(h['flwr-timestamp']!),
      pem,
      Buffer.from(h['flwr-signature']!, 'base64'),
    );
    expect(ok).toBe(true);
    expect(NodeKey.fromPrivatePem(key.privatePem()).publicKeyPem).toEqual(key.publicKeyPem);
  });
});

describe('Fleet over HTTP', () => {
  let server: Server | null = null;
  afterEach(() => new Promise<void>((r) => (server ? server.close(() => r()) : r())));

  async function serve(handler: Parameters<typeof createServer>[1]): Promise<string> {
    server = createServer(handler);
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    const addr = server.address();
    if (typeof addr !== 'object' || !addr) throw new Error('no address');
    return `http://127.0.0.1:${addr.port}`;
  }

  it('posts the protobuf request to /v1/fleet/<call> with the auth headers and decodes the reply', async () => {
    const seen: { url?: string; type?: string; auth?: boolean; body?: unknown } = {};
    const base = await serve((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        seen.url = req.url;
        seen.type = req.headers['content-type'];
        seen.auth = typeof req.headers['flwr-signature'] === 'string';
        seen.body = pbDecode('ActivateNodeRequest', Buffer.concat(chunks));
        res.setHeader('content-type', 'application/protobuf');
        res.end(Buffer.from(pbEncode('ActivateNodeResponse', { node_id: '18446744073709551557' })));
      });
    });
    const key = NodeKey.generate();
    const rpc = new HttpFleetRpc({ baseUrl: base, key });
    const res = await rpc.call('ActivateNode', { public_key: key.publicKeyPem, heartbeat_interval: 30 });
    expect(res.node_id).toBe('18446744073709551557');
    expect(seen).toMatchObject({ url: '/v1/fleet/activate-node', type: 'application/protobuf', auth: true });
    expect(seen.body).toMatchObject({ heartbeat_interval: 30 });
  });

  it('turns an HTTP error into a FleetRpcError with the status and the server text', async () => {
    const base = await serve((_req, res) => {
      res.statusCode = 401;
      res.end('{"detail":"Invalid SuperNode authentication"}');
    });
    const rpc = new HttpFleetRpc({ baseUrl: base, key: NodeKey.generate() });
    const call = rpc.call('PullMessages', { node: { node_id: '5' }, message_ids: [] });
    await expect(call).rejects.toBeInstanceOf(FleetRpcError);
    await expect(call).rejects.toMatchObject({ code: 401, message: /Invalid SuperNode authentication/ });
  });
});
