// The enrollment token: `vigil1.<secret>.<ca fingerprint>`, both parts base64url. The secret is 32 random bytes
// (the aggregator keeps only its sha256); the fingerprint is the sha256 of the aggregator CA's certificate, which the
// agent uses to recognise the aggregator before it has any certificate of its own.
import { createHash } from 'node:crypto';

const PREFIX = 'vigil1';
const PART = /^[A-Za-z0-9_-]{43}$/;

export interface EnrollToken {
  secret: string;
  caFingerprint: string;
}

export function formatEnrollToken(t: EnrollToken): string {
  return `${PREFIX}.${t.secret}.${t.caFingerprint}`;
}

/** Parses a token; returns null when it is not one (the caller says what to do about it). */
export function parseEnrollToken(s: string): EnrollToken | null {
  const parts = s.trim().split('.');
  if (parts.length !== 3 || parts[0] !== PREFIX) return null;
  const [, secret, caFingerprint] = parts as [string, string, string];
  if (!PART.test(secret) || !PART.test(caFingerprint)) return null;
  return { secret, caFingerprint };
}

/** What the aggregator stores and looks tokens up by: sha256 of the secret, hex. */
export function hashEnrollSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}
