// What the link refuses, and that refusing leaves the server serving: used, expired and forged tokens; a token for
// another aggregator; a client without a certificate or with one from another CA; malformed, invalid and oversized
// messages (drills 3 and 4, in process).
import { randomBytes, webcrypto } from 'node:crypto';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as x509 from '@peculiar/x509';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { enroll } from '@vigil/agent/link/identity';
import { formatEnrollToken } from '@vigil/proto/enroll-token';
import { CLIENT_OPTIONS, SERVER_MAX_RECEIVE_BYTES, loadLink } from '@vigil/proto/link';
import { alertToPb } from '@vigil/proto/codec';
import { CertificateAuthority } from './ca.js';
import type { LinkServer } from './server.js';
import { issueToken, sampleAlert } from './testing/fixtures.js';
import { servedLink, type ServedLink } from './testing/served.js';

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };

interface Outcome {
  code: grpc.status;
  details: string;
  acks: number;
}

/**
 * Opens Link.Connect with raw (already serialized) messages and reports how the call ended: the client ends it once
 * `acks` acknowledgements came (not after a fixed time: the first alert batch also starts the store's writer thread,
 * which took over 500 ms on a loaded machine), or after 500 ms when none is expected.
 */
function rawConnect(
  port: number,
  creds: grpc.ChannelCredentials,
  frames: Buffer[],
  expectAcks = 0,
): Promise<Outcome> {
  const client = new grpc.Client(`127.0.0.1:${port}`, creds, CLIENT_OPTIONS);
  return new Promise<Outcome>((resolve) => {
    let acks = 0;
    const call = client.makeBidiStreamRequest(
      '/vigil.v1.Link/Connect',
      (b: Buffer) => b,
      (b: Buffer) => b,
    );
    call.on('data', () => {
      if (++acks === expectAcks) call.end();
    });
    call.on('error', (e: grpc.ServiceError) => {
      client.close();
      resolve({ code: e.code, details: e.details, acks });
    });
    call.on('status', (s: grpc.StatusObject) => {
      if (s.code === grpc.status.OK) {
        client.close();
        resolve({ code: s.code, details: s.details, acks });
      }
    });
    for (const f of frames) call.write(f);
    if (expectAcks === 0) setTimeout(() => call.end(), 500);
  });
}

function encodeAgentMessage(m: object): Buffer {
  const { link } = loadLink();
  const def = link.Connect!;
  return def.requestSerialize(m);
}

describe('link refusals', () => {
  let fx: ServedLink;
  let server: LinkServer;
  let addr: string;

  beforeEach(async () => {
    fx = await servedLink();
    server = fx.server;
    addr = fx.address;
  });
  afterEach(() => fx.cleanup());

  async function agentCreds(facility: string, name: string): Promise<grpc.ChannelCredentials> {
    const id = await enroll({
      aggregator: addr,
      token: await issueToken(fx.store, fx.ca, facility),
      dataDir: join(fx.dir, name),
    });
    return grpc.credentials.createSsl(id.caPem, id.keyPem, id.certPem);
  }

  it('refuses a used token, an expired token and a forged one', async () => {
    const token = await issueToken(fx.store, fx.ca, 'plant-a');
    await enroll({ aggregator: addr, token, dataDir: join(fx.dir, 'first') });
    const expired = await issueToken(fx.store, fx.ca, 'plant-a', -1000);
    const forged = formatEnrollToken({
      secret: randomBytes(32).toString('base64url'),
      caFingerprint: fx.ca.fingerprint,
    });

    await expect(enroll({ aggregator: addr, token, dataDir: join(fx.dir, 'again') })).rejects.toThrow(
      /already used/,
    );
    await expect(enroll({ aggregator: addr, token: expired, dataDir: join(fx.dir, 'late') })).rejects.toThrow(
      /expired/,
    );
    await expect(
      enroll({ aggregator: addr, token: forged, dataDir: join(fx.dir, 'forged') }),
    ).rejects.toThrow(/not known/);
    expect(await fx.store.listAgents('plant-a')).toHaveLength(1);
  });

  it('does not talk to a server whose CA is not the one the token names', async () => {
    const other = await CertificateAuthority.open(join(fx.dir, 'other-aggregator'));
    const token = await issueToken(fx.store, other, 'plant-a');

    await expect(enroll({ aggregator: addr, token, dataDir: join(fx.dir, 'agent') })).rejects.toThrow(
      /does not present the CA named in the token/,
    );
  });

  it('refuses a stream without a client certificate, and one with a certificate from another CA', async () => {
    const noCert = grpc.credentials.createSsl(Buffer.from(fx.ca.certPem));
    const other = await CertificateAuthority.open(join(fx.dir, 'other-aggregator'));
    const keys = await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']);
    const csr = await x509.Pkcs10CertificateRequestGenerator.create({
      name: 'CN=x',
      keys,
      signingAlgorithm: ALG,
    });
    const forgedCert = await other.signAgent(Buffer.from(csr.rawData), 'plant-a', 'mallory');
    const keyPem = x509.PemConverter.encode(
      await webcrypto.subtle.exportKey('pkcs8', keys.privateKey),
      'PRIVATE KEY',
    );
    const forged = grpc.credentials.createSsl(
      Buffer.from(fx.ca.certPem),
      Buffer.from(keyPem),
      Buffer.from(forgedCert),
    );
    const hello = encodeAgentMessage({
      seq: 1,
      heartbeat: { sent_at: new Date().toISOString(), health: {} },
    });

    const a = await rawConnect(server.port, noCert, [hello]);
    const b = await rawConnect(server.port, forged, [hello]);

    expect(a.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(a.details).toMatch(/client certificate issued by this aggregator is required/);
    // TLS verifies the chain against our CA: a certificate from another CA is never taken as an identity.
    expect(b.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(b.details).toMatch(/client certificate issued by this aggregator is required/);
    expect(a.acks + b.acks).toBe(0);
  });

  it('answers malformed, invalid and oversized messages with status codes and keeps serving', async () => {
    const creds = await agentCreds('plant-a', 'agent');
    const bad = { ...alertToPb(sampleAlert(1)), id: 'not-a-uuid' };
    const good = alertToPb(sampleAlert(2));

    const garbage = await rawConnect(server.port, creds, [
      Buffer.from([0x12, 0x64, 0x01, 0x02]) /* alerts: 100 bytes announced, 2 sent */,
    ]);
    const bodiless = await rawConnect(server.port, creds, [encodeAgentMessage({ seq: 1 })]);
    const invalid = await rawConnect(server.port, creds, [
      encodeAgentMessage({ seq: 1, alerts: { alerts: [bad] } }),
    ]);
    const huge = await rawConnect(server.port, creds, [
      encodeAgentMessage({
        seq: 1,
        alerts: { alerts: [{ ...good, description: 'x'.repeat(SERVER_MAX_RECEIVE_BYTES) }] },
      }),
    ]);
    const fine = await rawConnect(
      server.port,
      creds,
      [encodeAgentMessage({ seq: 1, alerts: { alerts: [good] } })],
      1,
    );

    expect(garbage.code).toBe(grpc.status.INTERNAL);
    expect(bodiless).toMatchObject({
      code: grpc.status.INVALID_ARGUMENT,
      details: 'message 1: carries no body',
    });
    expect(invalid.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(invalid.details).toMatch(/alerts\[0\]\.id: must be a UUID/);
    expect(huge.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(fine).toEqual({ code: grpc.status.OK, details: 'OK', acks: 1 });
    expect(await fx.store.getAlert(good.id)).not.toBeNull();
    expect((await fx.store.queryAlerts({ page: 1, limit: 1 })).total).toBe(1);
  });
});
