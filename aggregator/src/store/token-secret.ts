// API token secrets. The secret is shown once when created; the store keeps only its SHA-256. A 256-bit random
// secret needs no slow password hash: guessing it is as hard as guessing the hash input.
import { createHash, randomBytes } from 'node:crypto';

/** Prefix that makes a Vigil token recognisable (secret scanners, logs). */
export const TOKEN_PREFIX = 'vgl_';

export function generateTokenSecret(): string {
  return TOKEN_PREFIX + randomBytes(32).toString('base64url');
}

/** The stored form of a secret: lowercase hex SHA-256 of the whole secret, prefix included. */
export function hashTokenSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}
