// One alert the aggregator cannot store or refuses must not block an agent's link: over the real link (loopback,
// mTLS) into a real SQLite and a real Postgres store, which refuses NUL in text. Packet-derived text with NUL and
// control characters is escaped where the alert is built and delivered; an alert that fails validation is set aside
// at the agent (kept, counted in health) and the alerts after it flow; an alert an older agent queued without the
// check is refused by name and set aside, not resent forever.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { safeAlert } from '@vigil/agent/detect/safe-text';
import { writeLegacyOutbox } from '@vigil/agent/testing/outbox';
import type { Alert } from '@vigil/shared';
import { needComponent } from '@vigil/shared/testing';
import {
  PG_INSTALL_HINT,
  postgresAvailable,
  startTestPostgres,
  type TestPostgres,
} from '../store/testing/postgres.js';
import { sampleAlert, waitFor } from './testing/fixtures.js';
import { linkAgent, servedLink, type ServedLink } from './testing/served.js';

/** Evidence as an attacker's MQTT client id / HTTP header would put it into an alert. */
const HOSTILE = 'client id "plc\u0000\u001b[2J\u0007x"';

function hostile(i: number): Alert {
  const a = sampleAlert(i);
  return {
    ...a,
    title: `MQTT connect from ${HOSTILE}`,
    sources: a.sources.map((s) => ({ ...s, evidence: HOSTILE })),
    context_analysis: { ...a.context_analysis, evidence: { '1. rules/mqtt': HOSTILE } },
  };
}

async function allStored(link: ServedLink, alerts: readonly Alert[]): Promise<boolean> {
  for (const a of alerts) if ((await link.store.getAlert(a.id)) === null) return false;
  return true;
}

let pg: TestPostgres | undefined;
const backends: { name: string; available: () => boolean; url: () => Promise<string | undefined> }[] = [
  { name: 'sqlite', available: () => true, url: () => Promise.resolve(undefined) },
  {
    name: 'postgres',
    available: () => needComponent('PostgreSQL server', postgresAvailable(), PG_INSTALL_HINT),
    url: async () => {
      pg ??= await startTestPostgres();
      return pg.createDatabase();
    },
  },
];

afterAll(async () => {
  await pg?.close();
});

describe.each(backends)('alerts the aggregator refuses, on $name', (backend) => {
  let link: ServedLink;
  beforeAll(async () => {
    if (!backend.available()) return;
    const dbUrl = await backend.url();
    link = await servedLink(dbUrl !== undefined ? { dbUrl } : {});
  }, 60_000);
  afterAll(async () => {
    await link?.cleanup();
  });

  it.runIf(backend.available())(
    'delivers packet text with NUL and control characters escaped, and every alert after it',
    async () => {
      const { outbox, client } = await linkAgent(link, 'plant-a');
      const before = [sampleAlert(1), sampleAlert(2)];
      const escaped = safeAlert(hostile(3));
      const after = Array.from({ length: 50 }, (_, i) => sampleAlert(10 + i));
      outbox.enqueue([...before, escaped, ...after]);

      await client.start();
      const stored = await waitFor(() => allStored(link, [...before, escaped, ...after]), 20_000);

      expect(stored).toBe(true);
      const got = await link.store.getAlert(escaped.id);
      expect(got?.title).toBe('MQTT connect from client id "plc\\x00\\x1b[2J\\x07x"');
      expect(got?.sources[0]?.evidence).toBe('client id "plc\\x00\\x1b[2J\\x07x"');
      expect(got?.context_analysis.evidence).toEqual({
        '1. rules/mqtt': 'client id "plc\\x00\\x1b[2J\\x07x"',
      });
      expect(outbox.setAside).toBe(0);
      expect(client.stats.refused_invalid).toBe(0);
    },
  );

  it.runIf(backend.available())(
    'sets aside at the agent an alert that fails validation, counts it in health, and the later alerts flow',
    async () => {
      const { outbox, client, identity } = await linkAgent(link, 'plant-b');
      const invalid = hostile(100); // not made safe: a NUL in its title and evidence
      const earlier = sampleAlert(99);
      const later = Array.from({ length: 50 }, (_, i) => sampleAlert(101 + i));
      outbox.enqueue([earlier, invalid, ...later]);

      await client.start();
      const stored = await waitFor(() => allStored(link, [earlier, ...later]), 20_000);
      const reported = await waitFor(
        async () => (await link.store.listAgents('plant-b'))[0]?.health.alerts_set_aside_invalid === 1,
        5000,
      );

      expect(stored && reported).toBe(true);
      expect(await link.store.getAlert(invalid.id)).toBeNull();
      expect(outbox.setAside).toBe(1);
      expect(outbox.depth().count).toBe(0);
      expect((await link.store.listAgents('plant-b'))[0]?.id).toBe(identity.agentId);
    },
  );

  it.runIf(backend.available())(
    'sets aside an alert an older agent queued unchecked once the aggregator refuses it by name, and resends the rest',
    async () => {
      const first = Array.from({ length: 20 }, (_, i) => sampleAlert(200 + i));
      const old = hostile(220);
      const rest = Array.from({ length: 20 }, (_, i) => sampleAlert(221 + i));
      const { outbox, client } = await linkAgent(link, 'plant-c', {
        beforeOutbox: (path) => writeLegacyOutbox(path, [...first, old, ...rest]),
      });
      const fresh = Array.from({ length: 20 }, (_, i) => sampleAlert(300 + i));
      outbox.enqueue(fresh);

      await client.start();
      const stored = await waitFor(() => allStored(link, [...first, ...rest, ...fresh]), 20_000);
      // The aggregator stores an alert before the agent reads its ack: the outbox empties just after.
      const drained = await waitFor(() => outbox.depth().count === 0, 5000);

      expect(stored && drained).toBe(true);
      expect(await link.store.getAlert(old.id)).toBeNull();
      expect(outbox.setAside).toBe(1);
      expect(outbox.depth().count).toBe(0);
      expect(client.stats.refused_invalid).toBe(1);
    },
  );
});
