// The aggregator's certificate authority: created on first start under the data directory, it signs the
// aggregator's own TLS certificate and every agent's client certificate. An agent certificate names its facility
// and agent in URI subject alternative names; the server reads the facility from there and nowhere else.
import { createHash, randomBytes, randomUUID, webcrypto } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import { AGGREGATOR_TLS_NAME } from '@vigil/proto/link';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

type CryptoKey = webcrypto.CryptoKey;

const ALG: webcrypto.EcKeyGenParams & webcrypto.EcdsaParams = {
  name: 'ECDSA',
  namedCurve: 'P-256',
  hash: 'SHA-256',
};
const DAY_MS = 86_400_000;
const CA_VALIDITY_DAYS = 3650;
const SERVER_VALIDITY_DAYS = 825;
/** Agent certificates outlive any sensible maintenance window; revocation is per facility, checked on every call. */
export const AGENT_VALIDITY_DAYS = 825;
const FACILITY_URI = 'urn:vigil:facility:';
const AGENT_URI = 'urn:vigil:agent:';
const OID_SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const OID_CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

export interface AgentIdentity {
  facilityId: string;
  agentId: string;
  /** sha256 of the certificate DER, hex. */
  fingerprint: string;
}

/** Thrown when a presented client certificate is not one this CA issued for an agent (or is outside its validity). */
export class UntrustedCertificateError extends Error {
  override readonly name = 'UntrustedCertificateError';
}

function serial(): string {
  const b = randomBytes(16);
  b[0] = (b[0] ?? 0) & 0x7f; // positive INTEGER
  return b.toString('hex');
}

function keyToPem(der: ArrayBuffer): string {
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

async function importKey(pem: string): Promise<CryptoKey> {
  return webcrypto.subtle.importKey('pkcs8', x509.PemConverter.decodeFirst(pem), ALG, false, ['sign']);
}

/** sha256 over the certificate's DER, base64url: what an enrollment token carries to pin the CA. */
export function caFingerprint(certDer: ArrayBuffer | Buffer): string {
  return createHash('sha256')
    .update(Buffer.from(certDer as ArrayBuffer))
    .digest('base64url');
}

function writeSecret(path: string, data: string): void {
  writeFileSync(path, data, { mode: 0o600, flag: 'wx' });
  chmodSync(path, 0o600); // a umask cannot widen it, but be explicit about what the file must be
}

export class CertificateAuthority {
  private readonly verified = new Map<string, AgentIdentity>();

  private constructor(
    readonly cert: x509.X509Certificate,
    private readonly key: CryptoKey,
    /** PEM of the aggregator's TLS certificate followed by the CA certificate (the chain it presents). */
    readonly serverChainPem: string,
    readonly serverKeyPem: string,
  ) {}

  get certPem(): string {
    return this.cert.toString('pem');
  }

  get fingerprint(): string {
    return caFingerprint(this.cert.rawData);
  }

  /** Loads the CA under `<dataDir>/ca`, creating it (and the aggregator's TLS certificate) on first use. */
  static async open(dataDir: string, now = new Date()): Promise<CertificateAuthority> {
    const dir = join(dataDir, 'ca');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const caKeyPath = join(dir, 'ca.key');
    const caCertPath = join(dir, 'ca.crt');
    if (!existsSync(caKeyPath)) {
      const keys = await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']);
      const cert = await x509.X509CertificateGenerator.createSelfSigned({
        serialNumber: serial(),
        name: `CN=Vigil aggregator CA ${randomUUID().slice(0, 8)}`,
        notBefore: new Date(now.getTime() - 60_000),
        notAfter: new Date(now.getTime() + CA_VALIDITY_DAYS * DAY_MS),
        keys,
        signingAlgorithm: ALG,
        extensions: [
          new x509.BasicConstraintsExtension(true, 0, true),
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
          await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
        ],
      });
      const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
      writeSecret(caKeyPath, keyToPem(pkcs8));
      writeFileSync(caCertPath, cert.toString('pem'));
    }
    const cert = new x509.X509Certificate(readFileSync(caCertPath, 'utf8'));
    const key = await importKey(readFileSync(caKeyPath, 'utf8'));
    const server = await ensureServerCert(dir, cert, key, now);
    return new CertificateAuthority(
      cert,
      key,
      `${server.certPem.trim()}\n${cert.toString('pem').trim()}\n`,
      server.keyPem,
    );
  }

  /** Parses a CSR (DER) and checks its self-signature; throws UntrustedCertificateError otherwise. */
  async checkCsr(csrDer: Buffer): Promise<x509.Pkcs10CertificateRequest> {
    let csr: x509.Pkcs10CertificateRequest;
    try {
      csr = new x509.Pkcs10CertificateRequest(csrDer);
    } catch {
      throw new UntrustedCertificateError('the CSR is not a DER-encoded PKCS#10 request');
    }
    if (!(await csr.verify())) throw new UntrustedCertificateError('the CSR signature does not verify');
    return csr;
  }

  /**
   * Signs an agent's CSR (DER) for a facility. The CSR's own signature is checked (the agent holds the key); the
   * subject it asked for is ignored: identity comes from the token, recorded in URI SANs.
   */
  async signAgent(csrDer: Buffer, facilityId: string, agentId: string, now = new Date()): Promise<string> {
    const csr = await this.checkCsr(csrDer);
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: serial(),
      subject: `CN=${agentId}, OU=${facilityId}, O=Vigil agent`,
      issuer: this.cert.subject,
      notBefore: new Date(now.getTime() - 60_000),
      notAfter: new Date(now.getTime() + AGENT_VALIDITY_DAYS * DAY_MS),
      publicKey: csr.publicKey,
      signingKey: this.key,
      signingAlgorithm: ALG,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([OID_CLIENT_AUTH], false),
        new x509.SubjectAlternativeNameExtension([
          { type: 'url', value: `${FACILITY_URI}${facilityId}` },
          { type: 'url', value: `${AGENT_URI}${agentId}` },
        ]),
      ],
    });
    return cert.toString('pem');
  }

  /**
   * The facility and agent of a client certificate (DER) presented on a call, after checking that this CA signed it,
   * that it is an agent (clientAuth) certificate and that `now` is within its validity. Results are cached by
   * fingerprint; the validity window is checked every time.
   */
  async identify(certDer: Buffer, now = new Date()): Promise<AgentIdentity> {
    const fingerprint = createHash('sha256').update(certDer).digest('hex');
    let cert: x509.X509Certificate | undefined;
    let identity = this.verified.get(fingerprint);
    if (!identity) {
      try {
        cert = new x509.X509Certificate(certDer);
      } catch {
        throw new UntrustedCertificateError('the client certificate does not parse');
      }
      const signed = await cert.verify({ publicKey: this.cert.publicKey, signatureOnly: true });
      if (!signed || cert.issuer !== this.cert.subject) {
        throw new UntrustedCertificateError('the client certificate was not issued by this aggregator');
      }
      const eku = cert.getExtension(x509.ExtendedKeyUsageExtension);
      if (!eku?.usages.includes(OID_CLIENT_AUTH)) {
        throw new UntrustedCertificateError('the client certificate is not an agent certificate');
      }
      const urls = (cert.getExtension(x509.SubjectAlternativeNameExtension)?.names.items ?? [])
        .filter((n) => n.type === 'url')
        .map((n) => n.value);
      const facilityId = urls.find((u) => u.startsWith(FACILITY_URI))?.slice(FACILITY_URI.length);
      const agentId = urls.find((u) => u.startsWith(AGENT_URI))?.slice(AGENT_URI.length);
      if (!facilityId || !agentId) {
        throw new UntrustedCertificateError('the client certificate names no facility or agent');
      }
      identity = { facilityId, agentId, fingerprint };
      if (this.verified.size > 10_000) this.verified.clear();
      this.verified.set(fingerprint, identity);
    }
    cert ??= new x509.X509Certificate(certDer);
    if (now < cert.notBefore || now > cert.notAfter) {
      throw new UntrustedCertificateError('the client certificate is outside its validity period');
    }
    return identity;
  }
}

async function ensureServerCert(
  dir: string,
  ca: x509.X509Certificate,
  caKey: CryptoKey,
  now: Date,
): Promise<{ certPem: string; keyPem: string }> {
  const certPath = join(dir, 'server.crt');
  const keyPath = join(dir, 'server.key');
  if (existsSync(certPath) && existsSync(keyPath)) {
    const certPem = readFileSync(certPath, 'utf8');
    const cert = new x509.X509Certificate(certPem);
    // Renew 30 days before expiry (on the next start); a CA rotation invalidates it too.
    if (cert.notAfter.getTime() - now.getTime() > 30 * DAY_MS && cert.issuer === ca.subject) {
      return { certPem, keyPem: readFileSync(keyPath, 'utf8') };
    }
  }
  const keys = await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${AGGREGATOR_TLS_NAME}`,
    issuer: ca.subject,
    notBefore: new Date(now.getTime() - 60_000),
    notAfter: new Date(now.getTime() + SERVER_VALIDITY_DAYS * DAY_MS),
    publicKey: keys.publicKey,
    signingKey: caKey,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([OID_SERVER_AUTH], false),
      new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: AGGREGATOR_TLS_NAME }]),
    ],
  });
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  const keyPem = keyToPem(pkcs8);
  writeFileSync(keyPath, keyPem, { mode: 0o600 });
  chmodSync(keyPath, 0o600);
  const certPem = cert.toString('pem');
  writeFileSync(certPath, certPem);
  return { certPem, keyPem };
}
