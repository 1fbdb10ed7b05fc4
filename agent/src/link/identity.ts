// The agent's identity: enrollment (token + locally made key pair -> client certificate) and the files it leaves in
// the data directory (identity/agent.key mode 0600, agent.crt, ca.crt, identity.json).
//
// Before enrollment the agent trusts nothing but the CA fingerprint inside the token: it reads the certificate chain
// the aggregator presents, finds the CA whose sha256 matches, checks that the CA signed the aggregator's certificate,
// and from then on uses that CA as its only trust root (first for the Enroll call itself).
import { createHash, webcrypto } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { connect, type DetailedPeerCertificate } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import * as x509 from '@peculiar/x509';
import { UsageError } from '@vigil/shared';
import { parseEnrollToken } from '@vigil/proto/enroll-token';
import {
  AGGREGATOR_TLS_NAME,
  CLIENT_OPTIONS,
  ENROLL_DEADLINE_MS,
  loadLink,
  type EnrollRequest,
  type EnrollResponse,
} from '@vigil/proto/link';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const ALG: webcrypto.EcKeyGenParams & webcrypto.EcdsaParams = {
  name: 'ECDSA',
  namedCurve: 'P-256',
  hash: 'SHA-256',
};

export interface AgentIdentityFiles {
  facilityId: string;
  agentId: string;
  /** Where it enrolled (the default for `run --aggregator`). */
  aggregator: string;
  keyPem: Buffer;
  certPem: Buffer;
  caPem: Buffer;
}

interface IdentityJson {
  facility_id: string;
  agent_id: string;
  aggregator: string;
  enrolled_at: string;
}

function identityDir(dataDir: string): string {
  return join(dataDir, 'identity');
}

/** Splits HOST:PORT (IPv6 in brackets); throws UsageError when it is not one. */
export function parseAddress(s: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(s.trim());
  const port = Number(m?.[3]);
  if (!m || !(port > 0 && port < 65536)) {
    throw new UsageError(`--aggregator "${s}" is not HOST:PORT (e.g. aggregator.example:8443 or [::1]:8443)`);
  }
  return { host: m[1] ?? m[2] ?? '', port };
}

/** Reads the CA certificate the aggregator presents and checks it against the token's fingerprint. */
async function fetchPinnedCa(
  host: string,
  port: number,
  fingerprint: string,
  timeoutMs: number,
): Promise<string> {
  const chain = await new Promise<DetailedPeerCertificate>((resolve, reject) => {
    const socket = connect({
      host,
      port,
      servername: AGGREGATOR_TLS_NAME,
      ALPNProtocols: ['h2'],
      // Nothing is trusted yet: the chain is checked below against the fingerprint, and nothing is sent.
      rejectUnauthorized: false,
    });
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`no TLS answer within ${timeoutMs} ms`)));
    socket.once('secureConnect', () => {
      const peer = socket.getPeerCertificate(true);
      socket.end();
      resolve(peer);
    });
    socket.once('error', reject);
  }).catch((err: unknown) => {
    throw new UsageError(`cannot reach the aggregator at ${host}:${port}: ${(err as Error).message}`);
  });
  const seen = new Set<string>();
  const certs: DetailedPeerCertificate[] = [];
  for (let c: DetailedPeerCertificate | undefined = chain; c?.raw && !seen.has(c.fingerprint256);) {
    seen.add(c.fingerprint256);
    certs.push(c);
    c = c.issuerCertificate;
  }
  const leaf = certs[0];
  const ca = certs.find((c) => createHash('sha256').update(c.raw).digest('base64url') === fingerprint);
  if (!leaf || !ca) {
    throw new UsageError(
      `the server at ${host}:${port} does not present the CA named in the token (wrong address, or not this aggregator)`,
    );
  }
  const caCert = new x509.X509Certificate(ca.raw);
  const leafCert = new x509.X509Certificate(leaf.raw);
  if (!(await leafCert.verify({ publicKey: caCert.publicKey, signatureOnly: true }))) {
    throw new UsageError(`the server at ${host}:${port} presents a certificate its CA did not sign`);
  }
  return caCert.toString('pem');
}

/**
 * Enrolls this agent: makes a key pair, sends a CSR with the token, and writes the identity files. Refuses to
 * overwrite an existing identity (remove <data-dir>/identity to enroll again).
 */
export async function enroll(o: {
  aggregator: string;
  token: string;
  dataDir: string;
}): Promise<AgentIdentityFiles> {
  const { host, port } = parseAddress(o.aggregator);
  const token = parseEnrollToken(o.token);
  if (!token) throw new UsageError('--token is not an enrollment token (vigil1.<secret>.<fingerprint>)');
  const dir = identityDir(o.dataDir);
  if (existsSync(join(dir, 'identity.json'))) {
    throw new UsageError(`${dir} already holds an identity; remove it to enroll this agent again`);
  }
  const caPem = await fetchPinnedCa(host, port, token.caFingerprint, 10_000);

  const keys = await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: 'CN=vigil-agent',
    keys,
    signingAlgorithm: ALG,
  });
  const { EnrollmentClient } = loadLink();
  const client = new EnrollmentClient(
    `${host.includes(':') ? `[${host}]` : host}:${port}`,
    grpc.credentials.createSsl(Buffer.from(caPem)),
    CLIENT_OPTIONS,
  );
  const req: EnrollRequest = {
    token: o.token.trim(),
    csr_der: Buffer.from(csr.rawData),
    hostname: hostname(),
  };
  let res: EnrollResponse;
  try {
    res = await new Promise<EnrollResponse>((resolve, reject) => {
      const call = client.Enroll as (
        r: EnrollRequest,
        opts: grpc.CallOptions,
        cb: (err: grpc.ServiceError | null, res?: EnrollResponse) => void,
      ) => void;
      call.call(client, req, { deadline: Date.now() + ENROLL_DEADLINE_MS }, (err, r) =>
        err || !r ? reject(err ?? new Error('empty answer')) : resolve(r),
      );
    });
  } catch (err) {
    const e = err as grpc.ServiceError;
    throw new UsageError(`enrollment refused: ${e.details || e.message}`);
  } finally {
    client.close();
  }
  if (res.ca_certificate_pem.trim() !== caPem.trim()) {
    throw new UsageError('the aggregator answered with a CA other than the one the token names');
  }
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  const keyPem = x509.PemConverter.encode(pkcs8, 'PRIVATE KEY');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileSync(join(dir, 'agent.key'), keyPem, { mode: 0o600 });
  chmodSync(join(dir, 'agent.key'), 0o600);
  writeFileSync(join(dir, 'agent.crt'), res.certificate_pem);
  writeFileSync(join(dir, 'ca.crt'), caPem);
  const json: IdentityJson = {
    facility_id: res.facility_id,
    agent_id: res.agent_id,
    aggregator: o.aggregator,
    enrolled_at: new Date().toISOString(),
  };
  writeFileSync(join(dir, 'identity.json'), `${JSON.stringify(json, null, 2)}\n`);
  return loadIdentity(o.dataDir);
}

/** The identity written by enroll(); throws UsageError when the agent has not enrolled. */
export function loadIdentity(dataDir: string): AgentIdentityFiles {
  const dir = identityDir(dataDir);
  let json: IdentityJson;
  try {
    json = JSON.parse(readFileSync(join(dir, 'identity.json'), 'utf8')) as IdentityJson;
    return {
      facilityId: json.facility_id,
      agentId: json.agent_id,
      aggregator: json.aggregator,
      keyPem: readFileSync(join(dir, 'agent.key')),
      certPem: readFileSync(join(dir, 'agent.crt')),
      caPem: readFileSync(join(dir, 'ca.crt')),
    };
  } catch (err) {
    throw new UsageError(
      `no agent identity in ${dir} (${(err as Error).message}); run vigil-agent enroll --aggregator HOST:PORT --token T --data-dir ${dataDir}`,
    );
  }
}
