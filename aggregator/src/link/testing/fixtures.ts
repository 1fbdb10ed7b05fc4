// Test helpers for the link: a real SQLite store and CA in a temporary directory, enrollment tokens, and alerts.
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { timeOrderedUuid, type Alert } from '@vigil/shared';
import { formatEnrollToken, hashEnrollSecret } from '@vigil/proto/enroll-token';
import { openStore, type OpenStoreOptions } from '../../store/open.js';
import type { Store } from '../../store/types.js';
import { CertificateAuthority } from '../ca.js';

export interface LinkFixture {
  dir: string;
  dbUrl: string;
  store: Store;
  ca: CertificateAuthority;
  cleanup(): Promise<void>;
}

/**
 * `dbUrl`: the store to use (e.g. a fresh Postgres database); by default a SQLite file in the fixture's directory.
 * `storeOptions`: how openStore opens it.
 */
export async function linkFixture(
  o: { dbUrl?: string; storeOptions?: OpenStoreOptions } = {},
): Promise<LinkFixture> {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-link-'));
  const dbUrl = o.dbUrl ?? `sqlite:${join(dir, 'aggregator', 'vigil.db')}`;
  const store = await openStore(dbUrl, o.storeOptions);
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

/**
 * A valid alert. By default small (~0.9 kB of JSON: one source, a 1-point timeline); `timelinePoints: 60` gives the
 * size of what the agent's correlator sends (three sources, a 60-s timeline with a few protocols per second, 20
 * evidence lines: ~8 kB of JSON). Its id is time-ordered like an agent's (timeOrderedUuid); `randomIds`: a random
 * (version-4) id, as agents made them before session 9. Its title has the agent's form, `<what> from <source
 * address>` (the source cycling through 65,536 addresses); `numberedTitles`: `Modbus write burst <i>`, a search word
 * of its own in every alert (the worst case for the search index's term dictionary).
 */
export function sampleAlert(
  i: number,
  o: { timelinePoints?: number; randomIds?: boolean; numberedTitles?: boolean } = {},
): Alert {
  const t0 = sampleAlertMs(i);
  const points = o.timelinePoints ?? 1;
  const full = points > 1;
  const source = (layer: 1 | 2 | 3, k: number): Alert['sources'][number] => ({
    layer,
    model_name: ['l1-autoencoder', 'l2-classifier', 'rules'][layer - 1] ?? 'rules',
    confidence: 0.9 - k * 0.07,
    detection_time: new Date(t0 - k * 137).toISOString(),
    evidence: 'reconstruction error 4.2 sigma',
    context_evidence: full
      ? `frame ${1000 + k}, 10.0.1.${20 + k} -> 10.0.2.5; features: pkts=412, bytes=39211, writes=480, fc16=0.875, iat_ms=2.4271844660194173`
      : 'write rate 40/s vs 2/s baseline',
  });
  const timeline = Array.from({ length: points }, (_, s) => {
    const packets = 100 + ((s * 37 + i) % 400);
    const protocols: Record<string, number> = full
      ? {
          modbus: packets / (packets + 7),
          tcp: 7 / (packets + 7),
        }
      : { modbus: 0.9, other: 0.1 };
    return {
      time: new Date(t0 - (points - 1 - s) * 1000).toISOString(),
      packets_per_sec: packets,
      unique_dest_ips: 2 + (s % 5),
      protocol_distribution: protocols,
      status: s >= points - 12 ? ('attack' as const) : ('normal' as const),
    };
  });
  const evidence: Record<string, string> = full
    ? Object.fromEntries(
        Array.from({ length: 20 }, (_, k) => [
          `${k + 1}. rules/modbus-write-burst`,
          `function 16 to unit ${k % 4} from 10.0.1.${20 + k}: ${24 + k} writes in 1 s`,
        ]),
      )
    : { writes: '480 in 12 s' };
  return {
    id: o.randomIds === true ? randomUUID() : timeOrderedUuid(),
    timestamp: new Date(t0).toISOString(),
    facility_id: 'ignored-by-the-aggregator',
    severity: (['critical', 'high', 'medium', 'low'] as const)[i % 4] ?? 'low',
    title:
      o.numberedTitles === true
        ? `Modbus write burst ${i}`
        : `Modbus write burst from 10.1.${(i >> 8) & 255}.${i & 255}`,
    description: 'Unusual write rate to holding registers from an engineering workstation',
    status: 'new',
    sources: full ? [source(1, 0), source(2, 1), source(3, 2)] : [source(1, 0)],
    correlation_confidence: 0.8,
    correlation_summary: 'L1 anomaly',
    attack_type: 'T0836',
    attack_name: 'Modify Parameter',
    context_analysis: {
      duration: '12 seconds',
      pattern: 'burst',
      behavior: 'writes',
      timeline,
      evidence,
    },
  };
}

/** The time of sampleAlert(i), in ms: one alert a second from 2026-03-01 10:00 UTC. */
export function sampleAlertMs(i: number): number {
  return Date.UTC(2026, 2, 1, 10, 0, 0) + i * 1000;
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
