// Issuing enrollment tokens: `vigil enroll create`. The token carries the CA fingerprint; the store keeps only the
// sha256 of its secret, with its facility and expiry.
import { randomBytes } from 'node:crypto';
import { isFacilityId, UsageError } from '@vigil/shared';
import { formatEnrollToken, hashEnrollSecret } from '@vigil/proto/enroll-token';
import type { Store } from '../store/types.js';
import type { CertificateAuthority } from './ca.js';

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses a lifetime like `90s`, `30m`, `24h`, `7d`; throws UsageError otherwise. */
export function parseLifetime(s: string): number {
  const m = /^(\d+)([smhd])$/.exec(s.trim());
  const n = Number(m?.[1]);
  const unit = UNIT_MS[m?.[2] ?? ''];
  if (!m || unit === undefined || !(n > 0) || n * unit > 30 * UNIT_MS.d!) {
    throw new UsageError(`--expires "${s}" is not a lifetime up to 30d like 30m, 24h or 7d`);
  }
  return n * unit;
}

/** Creates a one-time token for a facility, adding the facility when it is new. Returns the token text. */
export async function createEnrollmentToken(
  store: Store,
  ca: CertificateAuthority,
  o: { facilityId: string; lifetimeMs: number; now: number },
): Promise<{ token: string; expiresAt: string; facilityCreated: boolean }> {
  if (!isFacilityId(o.facilityId)) {
    throw new UsageError(
      `"${o.facilityId}" is not a facility id; use lowercase letters, digits and -, 1 to 63 characters, e.g. plant-a`,
    );
  }
  const existing = await store.getFacility(o.facilityId);
  if (existing?.revoked_at) {
    throw new UsageError(`facility ${o.facilityId} is revoked; its agents cannot enroll again`);
  }
  if (!existing) await store.addFacility({ id: o.facilityId, name: o.facilityId });
  const secret = randomBytes(32).toString('base64url');
  const expiresAt = new Date(o.now + o.lifetimeMs).toISOString();
  await store.createEnrollmentToken({
    hash: hashEnrollSecret(secret),
    facility_id: o.facilityId,
    created_at: new Date(o.now).toISOString(),
    expires_at: expiresAt,
  });
  return {
    token: formatEnrollToken({ secret, caFingerprint: ca.fingerprint }),
    expiresAt,
    facilityCreated: !existing,
  };
}
