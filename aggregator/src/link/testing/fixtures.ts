// Test helpers for the link: a real SQLite store and CA in a temporary directory, enrollment tokens, and alerts.
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Alert } from '@vigil/shared';
import { formatEnrollToken, hashEnrollSecret } from '@vigil/proto/enroll-token';
import { openStore } from '../../store/open.js';
import type { Store } from '../../store/types.js';
import { CertificateAuthority } from '../ca.js';

export interface LinkFixture {
  dir: string;
  dbUrl: string;
  store: Store;
  ca: CertificateAuthority;
  cleanup(): Promise<void>;
}

export async function linkFixture(): Promise<LinkFixture> {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-link-'));
  const dbUrl = `sqlite:${join(dir, 'aggregator', 'vigil.db')}`;
  const store = await openStore(dbUrl);
  const ca = await CertificateAuthority.open(join(dir, 'aggregator'));
  return {
    dir,
    dbUrl,
    store,
    ca,
    cleanup: async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Creates an enrollment token for a facility (adding the facility when new), as `vigil enroll create` does. */
export async function issueToken(
  store: Store,
  ca: CertificateAuthority,
  facilityId: string,
  expiresInMs = 3_600_000,
): Promise<string> {
  if (!(await store.getFacility(facilityId))) await store.addFacility({ id: facilityId, name: facilityId });
  const secret = randomBytes(32).toString('base64url');
  const now = Date.now();
  await store.createEnrollmentToken({
    hash: hashEnrollSecret(secret),
    facility_id: facilityId,
    created_at: new Date(now).toISOString(),
    expires_at: new Date(now + expiresInMs).toISOString(),
  });
  return formatEnrollToken({ secret, caFingerprint: ca.fingerprint });
}

export function sampleAlert(i: number): Alert {
  return {
    id: randomUUID(),
    timestamp: new Date(Date.UTC(2026, 2, 1, 10, 0, 0) + i * 1000).toISOString(),
    facility_id: 'ignored-by-the-aggregator',
    severity: (['critical', 'high', 'medium', 'low'] as const)[i % 4] ?? 'low',
    title: `Modbus write burst ${i}`,
    description: 'Unusual write rate to holding registers from an engineering workstation',
    status: 'new',
    sources: [
      {
        layer: 1,
        model_name: 'l1-autoencoder',
        confidence: 0.9,
        detection_time: new Date(Date.UTC(2026, 2, 1, 10, 0, 0) + i * 1000).toISOString(),
        evidence: 'reconstruction error 4.2 sigma',
        context_evidence: 'write rate 40/s vs 2/s baseline',
      },
    ],
    correlation_confidence: 0.8,
    correlation_summary: 'L1 anomaly',
    attack_type: 'T0836',
    attack_name: 'Modify Parameter',
    context_analysis: {
      duration: '12 seconds',
      pattern: 'burst',
      behavior: 'writes',
      timeline: [
        {
          time: new Date(Date.UTC(2026, 2, 1, 10, 0, 0)).toISOString(),
          packets_per_sec: 120,
          unique_dest_ips: 2,
          protocol_distribution: { modbus: 0.9, other: 0.1 },
          status: 'attack',
        },
      ],
      evidence: { writes: '480 in 12 s' },
    },
  };
}

/** Polls `check` until it returns true or `timeoutMs` passes; returns whether it did. */
export async function waitFor(
  check: () => Promise<boolean> | boolean,
  timeoutMs: number,
  stepMs = 50,
): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, stepMs));
  }
  return check();
}
