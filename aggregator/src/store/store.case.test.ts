// The Store contract: every implementation (SQLite, Postgres) passes this same suite against a real database.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { AlertStats, FLClient, Prediction, Severity } from '@vigil/shared';
import { ALERT_STATUSES, ManualClock, SEVERITIES } from '@vigil/shared';
import { needComponent } from '@vigil/shared/testing';
import { MIGRATIONS } from './migrations/index.js';
import { openStore } from './open.js';
import {
  PG_INSTALL_HINT,
  postgresAvailable,
  startTestPostgres,
  type TestPostgres,
} from './testing/postgres.js';
import {
  SEARCH_COUNT_CAP,
  StoreConflictError,
  type AlertQuery,
  type Store,
  type StoredAlert,
} from './types.js';

interface Backend {
  name: 'sqlite' | 'postgres';
  available: () => boolean;
  setup(): Promise<void>;
  /** A URL naming a new, empty database. */
  freshUrl(): Promise<string>;
  teardown(): Promise<void>;
}

let tmp = '';
let n = 0;
const sqlite: Backend = {
  name: 'sqlite',
  available: () => true,
  setup: () => {
    tmp = mkdtempSync(join(tmpdir(), 'vigil-store-'));
    return Promise.resolve();
  },
  freshUrl: () => Promise.resolve(`sqlite:${join(tmp, `store-${++n}.db`)}`),
  teardown: () => {
    rmSync(tmp, { recursive: true, force: true });
    return Promise.resolve();
  },
};

let server: TestPostgres | undefined;
const postgres: Backend = {
  name: 'postgres',
  available: () => needComponent('PostgreSQL server', postgresAvailable(), PG_INSTALL_HINT),
  setup: async () => {
    server = await startTestPostgres();
  },
  freshUrl: () => {
    if (server === undefined) throw new Error('Postgres not started');
    return server.createDatabase();
  },
  teardown: async () => {
    await server?.close();
  },
};

const T0 = Date.parse('2026-03-01T12:00:00.000Z');
const FACILITIES = ['plant-a', 'plant-b', 'plant-c'] as const;

/** Alert i of a fixture: facility, severity and status cycle; one minute apart, newest last. */
function alert(i: number, over: Partial<StoredAlert> = {}): StoredAlert {
  const ts = new Date(T0 + i * 60_000).toISOString();
  return {
    id: `00000000-0000-4000-8000-${i.toString().padStart(12, '0')}`,
    timestamp: ts,
    facility_id: FACILITIES[i % 3] ?? 'plant-a',
    severity: SEVERITIES[i % 4] ?? 'low',
    title: i % 2 === 0 ? `Modbus write burst ${i}` : `Port scan from 10.0.${i}.5`,
    description: i % 5 === 0 ? 'Unauthorized coil writes to PLC-7' : 'Many connection attempts',
    status: ALERT_STATUSES[i % 4] ?? 'new',
    sources: [
      {
        layer: 1,
        model_name: 'isolation-forest',
        confidence: 0.91,
        detection_time: ts,
        evidence: 'packets_per_sec 5x baseline',
        context_evidence: 'rise over 20 s',
      },
      {
        layer: 2,
        model_name: 'lstm-classifier',
        confidence: 0.77,
        detection_time: ts,
        evidence: 'class T0855',
        context_evidence: 'sequence of writes',
      },
    ],
    correlation_confidence: 0.85,
    correlation_summary: 'two layers agree',
    attack_type: i % 2 === 0 ? 'T0855' : 'T0846',
    attack_name: i % 2 === 0 ? 'Unauthorized Command Message' : 'Remote System Discovery',
    context_analysis: {
      duration: '60 seconds',
      pattern: 'burst',
      behavior: 'writes',
      timeline: [
        {
          time: ts,
          packets_per_sec: 120.5,
          unique_dest_ips: 3,
          protocol_distribution: { modbus: 0.8, other: 0.2 },
          status: 'attack',
        },
      ],
      evidence: { packets_per_sec: '5x' },
    },
    generated: i % 7 === 0,
    ...over,
  };
}

function expectedStats(alerts: readonly StoredAlert[]): AlertStats {
  return {
    total: alerts.length,
    critical: alerts.filter((a) => a.severity === 'critical').length,
    unresolved: alerts.filter((a) => a.status === 'new' || a.status === 'acknowledged').length,
    false_positives: alerts.filter((a) => a.status === 'false-positive').length,
  };
}

function newestFirst(alerts: readonly StoredAlert[]): StoredAlert[] {
  return [...alerts].sort((a, b) =>
    a.timestamp === b.timestamp ? (a.id < b.id ? 1 : -1) : a.timestamp < b.timestamp ? 1 : -1,
  );
}

function client(id: string, over: Partial<FLClient> = {}): FLClient {
  return {
    id,
    facility_id: 'plant-a',
    name: `client ${id}`,
    status: 'active',
    progress: 10,
    current_epoch: 1,
    total_epochs: 5,
    loss: 0.5,
    accuracy: null,
    last_update: new Date(T0).toISOString(),
    ...over,
  };
}

function prediction(
  i: number,
  over: Partial<Prediction & { facility_id: string | null }> = {},
): Prediction & { facility_id: string | null } {
  return {
    id: `10000000-0000-4000-8000-${i.toString().padStart(12, '0')}`,
    timestamp: new Date(T0 + i * 1000).toISOString(),
    current_technique: 'T0846',
    current_technique_name: 'Remote System Discovery',
    alert_id: null,
    validated: false,
    validation_time: null,
    predicted_techniques: [
      {
        technique_id: 'T0855',
        technique_name: 'Unauthorized Command Message',
        probability: 0.6,
        rank: 1,
        timeframe: '15-60 minutes',
        timeframe_seconds: 3600,
      },
      {
        technique_id: 'T0836',
        technique_name: 'Modify Parameter',
        probability: 0.3,
        rank: 2,
        timeframe: '1-4 hours',
        timeframe_seconds: 14400,
      },
    ],
    facility_id: 'plant-a',
    ...over,
  };
}

describe.each([sqlite, postgres])('Store contract: $name', (backend) => {
  const run = backend.available();
  let store: Store;
  let url: string;
  const clock = new ManualClock(T0);

  beforeAll(async () => {
    if (run) await backend.setup();
  });
  afterAll(async () => {
    if (run) await backend.teardown();
  });
  beforeEach(async () => {
    if (!run) return;
    url = await backend.freshUrl();
    store = await openStore(url, { clock });
  });
  afterEach(async () => {
    if (run) await store.close();
  });

  describe.skipIf(!run)('with a database', () => {
    it('reports its kind and answers ping', async () => {
      expect(store.kind).toBe(backend.name);
      await expect(store.ping()).resolves.toBeUndefined();
    });

    it('migrates once: a second migrate and a reopen apply nothing', async () => {
      expect(await store.migrate()).toEqual([]);
      await store.addFacility({ id: 'plant-a', name: 'Plant A' });
      const again = await openStore(url, { clock });
      try {
        expect(await again.migrate()).toEqual([]);
        expect((await again.listFacilities()).map((f) => f.id)).toEqual(['plant-a']);
      } finally {
        await again.close();
      }
    });

    it('applies the migrations to a new database and reports them', async () => {
      const fresh = await openStore(await backend.freshUrl(), { clock, migrate: false });
      try {
        expect(await fresh.migrate()).toEqual(MIGRATIONS.map((m) => m.version));
        expect(await fresh.migrate()).toEqual([]);
      } finally {
        await fresh.close();
      }
    });

    it('adds, lists, gets and removes facilities; a taken id is a conflict', async () => {
      const added = await store.addFacility({ id: 'plant-b', name: 'Plant B' });
      await store.addFacility({ id: 'plant-a', name: 'Plant A' });

      expect(added).toEqual({
        id: 'plant-b',
        name: 'Plant B',
        created_at: new Date(T0).toISOString(),
        revoked_at: null,
      });
      expect((await store.listFacilities()).map((f) => f.id)).toEqual(['plant-a', 'plant-b']);
      expect(await store.getFacility('plant-b')).toEqual(added);
      await expect(store.addFacility({ id: 'plant-b', name: 'again' })).rejects.toBeInstanceOf(
        StoreConflictError,
      );
      expect(await store.removeFacility('plant-b')).toBe(true);
      expect(await store.removeFacility('plant-b')).toBe(false);
      expect(await store.getFacility('plant-b')).toBeNull();
    });

    it('revokes a facility once and reports it revoked', async () => {
      await store.addFacility({ id: 'plant-a', name: 'A' });

      expect(await store.revokeFacility('plant-a', '2026-03-01T12:00:00Z')).toBe(true);
      expect(await store.revokeFacility('plant-a', '2026-03-01T13:00:00Z')).toBe(false);
      expect(await store.revokeFacility('nowhere', '2026-03-01T13:00:00Z')).toBe(false);
      expect((await store.getFacility('plant-a'))?.revoked_at).toBe('2026-03-01T12:00:00.000Z');
    });

    it('spends an enrollment token once, refuses it used, expired or unknown; a taken hash is a conflict', async () => {
      await store.addFacility({ id: 'plant-a', name: 'A' });
      const token = {
        facility_id: 'plant-a',
        created_at: '2026-03-01T10:00:00Z',
        expires_at: '2026-03-02T10:00:00Z',
      };
      await store.createEnrollmentToken({ ...token, hash: 'h-1' });
      await store.createEnrollmentToken({ ...token, hash: 'h-2' });

      const [first, second] = await Promise.all([
        store.consumeEnrollmentToken('h-1', '2026-03-01T11:00:00Z'),
        store.consumeEnrollmentToken('h-1', '2026-03-01T11:00:00Z'),
      ]);
      expect([first, second]).toContainEqual({ facility_id: 'plant-a' });
      expect([first, second]).toContainEqual({ refused: 'used' });
      expect(await store.consumeEnrollmentToken('h-2', '2026-03-02T10:00:00Z')).toEqual({
        refused: 'expired',
      });
      expect(await store.consumeEnrollmentToken('h-3', '2026-03-01T11:00:00Z')).toEqual({
        refused: 'unknown',
      });
      await expect(store.createEnrollmentToken({ ...token, hash: 'h-2' })).rejects.toBeInstanceOf(
        StoreConflictError,
      );
    });

    it('keeps agents with their heartbeat and health, and drops them with their facility', async () => {
      await store.addFacility({ id: 'plant-a', name: 'A' });
      await store.addFacility({ id: 'plant-b', name: 'B' });
      await store.upsertAgent({ id: 'agent-1', facility_id: 'plant-a', enrolled_at: '2026-03-01T10:00:00Z' });
      await store.upsertAgent({ id: 'agent-2', facility_id: 'plant-b', enrolled_at: '2026-03-01T10:00:00Z' });

      await store.recordHeartbeat('agent-1', '2026-03-01T11:00:00Z', { outbox_depth: 3, models: ['l1@2'] });

      const [a1] = await store.listAgents('plant-a');
      expect(a1).toEqual({
        id: 'agent-1',
        facility_id: 'plant-a',
        enrolled_at: '2026-03-01T10:00:00.000Z',
        last_heartbeat: '2026-03-01T11:00:00.000Z',
        health: { outbox_depth: 3, models: ['l1@2'] },
      });
      expect((await store.listAgents()).map((a) => a.id)).toEqual(['agent-1', 'agent-2']);
      await store.removeFacility('plant-b');
      expect((await store.listAgents()).map((a) => a.id)).toEqual(['agent-1']);
    });

    it('stores an alert whole and returns it unchanged', async () => {
      const a = alert(7);

      expect(await store.insertAlerts([a])).toBe(1);

      expect(await store.getAlert(a.id)).toEqual(a);
      expect(await store.getAlert('00000000-0000-4000-8000-999999999999')).toBeNull();
    });

    it('keeps tabs, newlines, backslashes, quotes and non-ASCII text in every field', async () => {
      const base = alert(8);
      const odd = 'tab\there\nline\r\\N back\\slash "quoted" \\t ünïcødé ✓ 🚨';
      const a = alert(8, {
        title: odd,
        description: `\\.${odd}`,
        correlation_summary: odd,
        attack_name: odd,
        sources: base.sources.map((s) => ({ ...s, evidence: odd })),
        context_analysis: { ...base.context_analysis, evidence: { [odd]: odd } },
      });

      expect(await store.insertAlerts([a])).toBe(1);

      expect(await store.getAlert(a.id)).toEqual(a);
      expect((await store.queryAlerts({ search: 'slash', page: 1, limit: 5 })).total).toBe(1);
    });

    it('gives an alert with control characters, quotes, non-ASCII text and a long decimal as the same JSON', async () => {
      // The JSON bytes of an alert are built by the store (SQLite in SQL): every escape JSON needs, and the number
      // printed as JavaScript prints it (0.1 + 0.2 has 17 significant digits). No NUL: Postgres text cannot hold it.
      const odd = 'bell\u0007 esc\u001b tab\t cr\r lf\n "q" \\ / \u2028 ünï ✓ 🚨 \u007f';
      const base = alert(9);
      const a = alert(9, {
        title: odd,
        description: odd,
        correlation_confidence: 0.1 + 0.2,
        correlation_summary: odd,
        attack_name: odd,
        sources: base.sources.map((s) => ({ ...s, evidence: odd })),
        context_analysis: { ...base.context_analysis, evidence: { [odd]: odd } },
      });
      await store.insertAlerts([a, alert(10, { correlation_confidence: 1 })]);

      const page = await store.queryAlertsJson({ page: 1, limit: 5 });

      const { generated: _generated, ...expected } = a;
      expect(page.items.map((t) => JSON.parse(t.toString('utf8')) as unknown)).toEqual([
        expect.objectContaining({ correlation_confidence: 1 }),
        expected,
      ]);
    });

    it('never duplicates a resent alert, within a batch or across batches', async () => {
      const batch = Array.from({ length: 20 }, (_, i) => alert(i));

      const first = await store.insertAlerts([...batch, batch[0] as StoredAlert]);
      const second = await store.insertAlerts(batch.slice(5, 15).map((a) => ({ ...a, title: 'changed' })));

      expect(first).toBe(20);
      expect(second).toBe(0);
      expect((await store.queryAlerts({ page: 1, limit: 100 })).items).toHaveLength(20);
      expect((await store.getAlert(batch[6]?.id ?? ''))?.title).toBe(batch[6]?.title);
      expect(await store.alertStats()).toEqual(expectedStats(batch));
    });

    it('answers which alerts a batch added: new ids in input order, a resend or a repeat left out', async () => {
      const batch = Array.from({ length: 6 }, (_, i) => alert(i));
      await store.insertAlerts(batch.slice(0, 2));

      const fresh = await store.insertNewAlerts([
        batch[3] as StoredAlert,
        batch[0] as StoredAlert,
        batch[5] as StoredAlert,
        batch[3] as StoredAlert,
        batch[2] as StoredAlert,
      ]);

      expect(fresh).toEqual([batch[3]?.id, batch[5]?.id, batch[2]?.id]);
      expect(await store.insertNewAlerts([])).toEqual([]);
      expect(await store.alertStats()).toEqual(
        expectedStats([0, 1, 2, 3, 5].map((i) => batch[i] as StoredAlert)),
      );
    });

    it('pages and counts searches exactly over many alerts stored out of time order', async () => {
      // Alerts arrive shuffled (a late agent's backlog), so insertion order is not time order; pages cross the
      // SQLite walk's 2,000-row steps, and the words range from common to rare.
      const n = 4500;
      const order = Array.from({ length: n }, (_, i) => (i * 2029) % n);
      const stored = order.map((i) =>
        alert(i, {
          title: i % 3 === 0 ? `Modbus write burst ${i}` : `Port scan ${i}`,
          description: i % 97 === 0 ? 'rare firmware upload' : 'routine traffic',
        }),
      );
      for (let i = 0; i < n; i += 1500) await store.insertAlerts(stored.slice(i, i + 1500));
      const expectPage = async (q: AlertQuery, keep: (a: StoredAlert) => boolean): Promise<void> => {
        const all = newestFirst(stored.filter(keep));
        const from = (q.page - 1) * q.limit;

        const result = await store.queryAlerts(q);

        expect(result.total).toBe(all.length);
        expect(result.items.map((a) => a.id)).toEqual(all.slice(from, from + q.limit).map((a) => a.id));
      };

      await expectPage({ search: 'modbus', page: 1, limit: 10 }, (a) => a.title.startsWith('Modbus'));
      await expectPage({ search: 'modb', page: 70, limit: 20 }, (a) => a.title.startsWith('Modbus'));
      await expectPage(
        { search: 'port', facility: 'plant-b', page: 40, limit: 25 },
        (a) => a.title.startsWith('Port') && a.facility_id === 'plant-b',
      );
      await expectPage({ search: 'firmware up', page: 2, limit: 20 }, (a) =>
        a.description.startsWith('rare'),
      );
      await expectPage(
        { search: 'routine', severity: 'critical', to: alert(3000).timestamp, page: 3, limit: 50 },
        (a) =>
          a.description === 'routine traffic' &&
          a.severity === 'critical' &&
          a.timestamp < alert(3000).timestamp,
      );
    });

    it('seeds in bulk with the same stored result as insertAlerts: search, counters, resent ids', async () => {
      const batch = Array.from({ length: 3000 }, (_, i) =>
        alert(i, { title: i % 4 === 0 ? `Seeded Modbus burst ${i}` : `Seeded port scan ${i}` }),
      );
      await store.insertAlerts(batch.slice(0, 10));

      const seeded = await store.seedAlerts(batch);
      const again = await store.seedAlerts(batch.slice(0, 100));
      await store.insertAlerts([alert(5000, { title: 'Modbus after the seed' })]);

      expect(seeded).toBe(2990);
      expect(again).toBe(0);
      expect(await store.getAlert(batch[17]?.id ?? '')).toEqual(batch[17]);
      expect(await store.alertStats()).toEqual(expectedStats([...batch, alert(5000)]));
      const modbus = await store.queryAlerts({ search: 'modbus', page: 1, limit: 5 });
      expect(modbus.total).toBe(751);
      expect(modbus.items[0]?.title).toBe('Modbus after the seed');
      expect(
        (await store.queryAlerts({ search: 'seeded port', facility: 'plant-b', page: 1, limit: 5 })).total,
      ).toBe(batch.filter((a) => a.title.startsWith('Seeded port') && a.facility_id === 'plant-b').length);
    });

    it('searches by status right after a status change, and never matches a filter value as a word', async () => {
      const batch = Array.from({ length: 30 }, (_, i) =>
        alert(i, { status: 'new', title: `Modbus write ${i}` }),
      );
      await store.insertAlerts(batch);

      for (const a of batch.slice(0, 10)) await store.setAlertStatus(a.id, 'resolved');

      const search = (q: Partial<AlertQuery>): Promise<number> =>
        store.queryAlerts({ page: 1, limit: 50, ...q }).then((p) => p.total);
      expect(await search({ search: 'modbus', status: 'resolved' })).toBe(10);
      expect(await search({ search: 'modbus', status: 'new' })).toBe(20);
      expect(await search({ search: 'modbus', status: 'new', facility: 'plant-b', severity: 'high' })).toBe(
        batch.slice(10).filter((a) => a.facility_id === 'plant-b' && a.severity === 'high').length,
      );
      for (const word of ['resolved', 'facility', 'plant', 'f706c', 'u6e6577', 'status']) {
        expect(await search({ search: word })).toBe(0);
      }
    });

    it('matches a prefix by every word it starts, counting an alert with several of them once', async () => {
      // "writ" starts write, writes and writer; "zeta" starts more words than a store expands one prefix into.
      const batch = Array.from({ length: 120 }, (_, i) =>
        alert(i, {
          title: ['Modbus write', 'Modbus writes and write', 'Port writer', 'Port scan'][i % 4] ?? '',
          description: `zeta${i % 40} value`,
        }),
      );
      await store.insertAlerts(batch);
      const expectSearch = async (q: AlertQuery, keep: (a: StoredAlert) => boolean): Promise<void> => {
        const all = newestFirst(batch.filter(keep));

        const result = await store.queryAlerts(q);

        expect(result.total).toBe(all.length);
        expect(result.items.map((a) => a.id)).toEqual(
          all.slice((q.page - 1) * q.limit, q.page * q.limit).map((a) => a.id),
        );
      };

      await expectSearch({ search: 'writ', page: 2, limit: 20 }, (a) => a.title.includes('writ'));
      await expectSearch(
        { search: 'writ', facility: 'plant-c', page: 1, limit: 50 },
        (a) => a.title.includes('writ') && a.facility_id === 'plant-c',
      );
      await expectSearch({ search: 'write modbus', page: 1, limit: 50 }, (a) => a.title.startsWith('Modbus'));
      await expectSearch({ search: 'zeta', page: 3, limit: 25 }, () => true);
      await expectSearch(
        { search: 'zeta1 port', page: 1, limit: 50 },
        (a) => a.description.startsWith('zeta1') && a.title.startsWith('Port'),
      );
    });

    it('searches words with non-ASCII letters and digits as words, on both stores alike', async () => {
      const batch = [
        alert(1, { title: 'Überdruck im Kessel', description: 'Ventil geöffnet (Straße 7)' }),
        alert(2, { title: 'Дверь открыта', description: 'датчик №12, зона Б' }),
        alert(3, { title: 'Température élevée', description: 'capteur T²' }),
      ];
      await store.insertAlerts(batch);
      const ids = async (search: string): Promise<string[]> =>
        (await store.queryAlerts({ search, page: 1, limit: 10 })).items.map((a) => a.id);

      expect(await ids('überd')).toEqual([batch[0]?.id]);
      expect(await ids('STRASSE')).toEqual([]);
      expect(await ids('straße geöff')).toEqual([batch[0]?.id]);
      expect(await ids('дверь')).toEqual([batch[1]?.id]);
      expect(await ids('зона б')).toEqual([batch[1]?.id]);
      expect(await ids('élev')).toEqual([batch[2]?.id]);
      expect(await ids('t²')).toEqual([batch[2]?.id]);
      expect((await store.queryAlerts({ search: 'überdruck', page: 1, limit: 10 })).total).toBe(1);
    });

    it('puts an alert stored before many newer-stored matches in its place by time on a search page', async () => {
      // Stored first but newest by time (an agent's clock ahead, or a batch held back and sent later): the newest
      // matches by storage order are not the newest by time.
      const early = alert(5000, { title: 'Modbus write early' });
      const later = Array.from({ length: 400 }, (_, i) => alert(i, { title: `Modbus write ${i}` }));
      await store.insertAlerts([early]);
      await store.insertAlerts(later);

      const first = await store.queryAlerts({ search: 'modbus write', page: 1, limit: 20 });
      const second = await store.queryAlerts({ search: 'modbus', page: 2, limit: 20 });

      const all = newestFirst([early, ...later]);
      expect(first.total).toBe(401);
      expect(first.items.map((a) => a.id)).toEqual(all.slice(0, 20).map((a) => a.id));
      expect(second.items.map((a) => a.id)).toEqual(all.slice(20, 40).map((a) => a.id));
    });

    it('totals a time range exactly over whole and partial hours, through seeding, status changes and a purge', async () => {
      // 600 alerts a minute apart from 12:00: ten hours; half inserted, half seeded (the bulk path keeps the hourly
      // counters with one statement per batch).
      const batch = Array.from({ length: 600 }, (_, i) => alert(i));
      await store.insertAlerts(batch.slice(0, 300));
      await store.seedAlerts(batch.slice(300));
      for (const a of batch.filter((_, i) => i % 7 === 0)) {
        await store.setAlertStatus(a.id, 'resolved');
        a.status = 'resolved';
      }
      const at = (minutes: number, seconds = 0): string =>
        new Date(T0 + minutes * 60_000 + seconds * 1000).toISOString();
      const expectTotal = async (
        q: Omit<AlertQuery, 'page' | 'limit'>,
        alive: StoredAlert[],
      ): Promise<void> => {
        const expected = alive.filter(
          (a) =>
            (q.from === undefined || a.timestamp >= q.from) &&
            (q.to === undefined || a.timestamp < q.to) &&
            (q.facility === undefined || a.facility_id === q.facility) &&
            (q.status === undefined || a.status === q.status),
        ).length;

        expect((await store.queryAlerts({ ...q, page: 1, limit: 5 })).total).toBe(expected);
      };

      await expectTotal({ from: at(7, 13), to: at(331, 30), facility: 'plant-b' }, batch);
      await expectTotal({ from: at(60), to: at(240) }, batch);
      await expectTotal({ from: at(61), to: at(119, 59) }, batch);
      await expectTotal({ from: at(125, 1), to: at(170) }, batch);
      await expectTotal({ from: at(90), status: 'resolved' }, batch);
      await expectTotal({ to: at(545, 30), facility: 'plant-c', status: 'new' }, batch);
      await store.purge({ alertsMaxAgeSeconds: 8 * 3600, aggregatesMaxAgeSeconds: null }, at(600));
      await expectTotal({ from: at(0), to: at(400, 30) }, batch.slice(120));
    });

    it('inserts a batch larger than one chunk in one call', async () => {
      const batch = Array.from({ length: 4500 }, (_, i) => alert(i));

      expect(await store.insertAlerts(batch)).toBe(4500);

      expect(await store.alertStats()).toEqual(expectedStats(batch));
    });

    it('keeps every counter and the search index exact through batches of repeats, resends, concurrent writers, status changes and a purge', async () => {
      // 17 minutes apart: a batch spans several hours and all three facilities.
      const spread = (i: number): StoredAlert =>
        alert(i, { timestamp: new Date(T0 + i * 17 * 60_000).toISOString() });
      const at = (minutes: number): string => new Date(T0 + minutes * 60_000).toISOString();
      const alive = new Map<string, StoredAlert>();
      const expectExact = async (): Promise<void> => {
        const all = [...alive.values()];
        expect(await store.alertStats()).toEqual(expectedStats(all));
        const queries: Omit<AlertQuery, 'page' | 'limit'>[] = [];
        for (const facility of FACILITIES) {
          queries.push({ facility }, { facility, search: 'modbus' }, { facility, search: 'unauthorized' });
          for (const status of ALERT_STATUSES) queries.push({ facility, status });
        }
        queries.push({ from: at(60), to: at(600) }, { from: at(120), to: at(1500), facility: 'plant-c' });
        queries.push({ search: 'port', from: at(100) });
        for (const q of queries) {
          const words = (q.search ?? '').split(' ').filter((w) => w !== '');
          const expected = all.filter(
            (a) =>
              (q.facility === undefined || a.facility_id === q.facility) &&
              (q.status === undefined || a.status === q.status) &&
              (q.from === undefined || a.timestamp >= q.from) &&
              (q.to === undefined || a.timestamp < q.to) &&
              words.every((w) => `${a.title} ${a.description} ${a.attack_name}`.toLowerCase().includes(w)),
          ).length;
          expect({ q, total: (await store.queryAlerts({ ...q, page: 1, limit: 1 })).total }).toEqual({
            q,
            total: expected,
          });
        }
      };
      const insert = async (s: Store, batch: StoredAlert[]): Promise<void> => {
        await s.insertAlerts(batch);
        for (const a of batch) if (!alive.has(a.id)) alive.set(a.id, a);
      };

      // One batch with repeats of its own alerts; then resends (changed, not stored again) mixed with new ones.
      const first = Array.from({ length: 90 }, (_, i) => spread(i));
      await insert(store, [...first, spread(3), spread(40), spread(3)]);
      await expectExact();
      await insert(store, [
        ...Array.from({ length: 60 }, (_, i) => ({ ...spread(60 + i), title: 'Modbus changed' })),
        spread(7),
      ]);
      expect((await store.getAlert(spread(70).id))?.title).toBe(spread(70).title);
      await expectExact();

      // Two writers at once on the same database, with overlapping batches.
      const other = await openStore(url, { clock });
      try {
        await Promise.all([
          insert(
            store,
            Array.from({ length: 80 }, (_, i) => spread(150 + i)),
          ),
          insert(
            other,
            Array.from({ length: 80 }, (_, i) => spread(190 + i)),
          ),
          insert(
            other,
            Array.from({ length: 40 }, (_, i) => spread(100 + i)),
          ),
        ]);
      } finally {
        await other.close();
      }
      await expectExact();

      for (const i of [0, 1, 2, 50, 51, 200]) {
        const status = ALERT_STATUSES[(i + 1) % 4] ?? 'new';
        await store.setAlertStatus(spread(i).id, status);
        alive.set(spread(i).id, { ...spread(i), status });
      }
      await expectExact();

      await store.purge({ alertsMaxAgeSeconds: 40 * 3600, aggregatesMaxAgeSeconds: null }, at(269 * 17));
      for (const [id, a] of alive) if (a.timestamp < at(269 * 17 - 40 * 60)) alive.delete(id);
      expect(alive.size).toBeLessThan(270);
      await expectExact();
      // A purged alert sent again is stored again, and counted again.
      await insert(store, [spread(0), spread(1)]);
      await expectExact();
    });

    describe('queries', () => {
      const all = Array.from({ length: 60 }, (_, i) => alert(i));
      beforeEach(async () => {
        await store.insertAlerts(all);
      });

      it('pages newest first with the total', async () => {
        const page1 = await store.queryAlerts({ page: 1, limit: 25 });
        const page3 = await store.queryAlerts({ page: 3, limit: 25 });

        const expected = newestFirst(all);
        expect(page1.total).toBe(60);
        expect(page1.items.map((a) => a.id)).toEqual(expected.slice(0, 25).map((a) => a.id));
        expect(page3.items.map((a) => a.id)).toEqual(expected.slice(50).map((a) => a.id));
        expect((await store.queryAlerts({ page: 4, limit: 25 })).items).toEqual([]);
      });

      it.each([
        { page: 2, limit: 7 },
        { severity: 'high' as Severity, facility: 'plant-b', page: 1, limit: 50 },
        { search: 'modbus', page: 1, limit: 5 },
      ])('gives the same page as JSON text for %o: each alert without its generated flag', async (q) => {
        const objects = await store.queryAlerts(q);

        const texts = await store.queryAlertsJson(q);

        expect(texts.total).toBe(objects.total);
        expect(texts.items.map((t) => JSON.parse(t.toString('utf8')) as unknown)).toEqual(
          objects.items.map(({ generated: _generated, ...rest }) => rest),
        );
        expect(texts.items.length).toBeGreaterThan(0);
      });

      it('breaks timestamp ties by id, newest id first', async () => {
        const same = [alert(100), alert(101, { timestamp: alert(100).timestamp })];
        await store.insertAlerts(same);

        const { items } = await store.queryAlerts({ page: 1, limit: 2 });

        expect(items.map((a) => a.id)).toEqual([same[1]?.id, same[0]?.id]);
      });

      it.each([
        { severity: 'critical' as Severity },
        { facility: 'plant-b' },
        { status: 'resolved' as const },
        { severity: 'high' as Severity, facility: 'plant-c', status: 'acknowledged' as const },
        { facility: 'plant-none' },
      ])('filters by %o with a matching total', async (filter) => {
        const result = await store.queryAlerts({ ...filter, page: 1, limit: 10 });

        const expected = newestFirst(
          all.filter(
            (a) =>
              (filter.severity === undefined || a.severity === filter.severity) &&
              (filter.facility === undefined || a.facility_id === filter.facility) &&
              (filter.status === undefined || a.status === filter.status),
          ),
        );
        expect(result.total).toBe(expected.length);
        expect(result.items.map((a) => a.id)).toEqual(expected.slice(0, 10).map((a) => a.id));
      });

      it('filters by time range: from inclusive, to exclusive', async () => {
        const from = alert(10).timestamp;
        const to = alert(20).timestamp;

        const result = await store.queryAlerts({ from, to, facility: 'plant-a', page: 1, limit: 100 });

        const expected = newestFirst(all.filter((a, i) => i >= 10 && i < 20 && a.facility_id === 'plant-a'));
        expect(result.total).toBe(expected.length);
        expect(result.items.map((a) => a.id)).toEqual(expected.map((a) => a.id));
      });

      it('searches words by prefix across title, description, attack id and name; all words must match', async () => {
        const modbus = await store.queryAlerts({ search: 'modb', page: 1, limit: 100 });
        const both = await store.queryAlerts({ search: 'Unauthorized PLC-7', page: 1, limit: 100 });
        const byId = await store.queryAlerts({ search: 't0846', severity: 'high', page: 1, limit: 100 });
        const ip = await store.queryAlerts({ search: '10.0.13.5', page: 1, limit: 100 });

        expect(modbus.total).toBe(30);
        expect(modbus.items.every((a) => a.title.startsWith('Modbus'))).toBe(true);
        const withPlc = all.filter((a) => a.description.includes('PLC-7'));
        expect(both.items.map((a) => a.id).sort()).toEqual(withPlc.map((a) => a.id).sort());
        expect(byId.total).toBe(all.filter((a) => a.attack_type === 'T0846' && a.severity === 'high').length);
        expect(ip.items.map((a) => a.id)).toEqual([alert(13).id]);
      });

      it.each(["' OR 1=1 --", '"', 'NEAR(a b', '*', '%', 'a:* | b', '); DROP TABLE alerts; --'])(
        'treats search %j as text, never as query syntax',
        async (search) => {
          const result = await store.queryAlerts({ search, page: 1, limit: 5 });

          expect(result.total).toBeLessThanOrEqual(60);
          expect((await store.alertStats()).total).toBe(60);
        },
      );

      it('counts search matches up to the cap and says when it stopped there', async () => {
        const many = Array.from({ length: SEARCH_COUNT_CAP + 5 }, (_, i) =>
          alert(1000 + i, { title: 'Flood of writes', description: 'capped' }),
        );
        await store.insertAlerts(many);

        const capped = await store.queryAlerts({ search: 'capped', page: 1, limit: 3 });
        const exact = await store.queryAlerts({ search: 'flood', facility: 'plant-z', page: 1, limit: 3 });
        const all = await store.queryAlerts({ page: 1, limit: 1 });

        expect(capped).toMatchObject({ total: SEARCH_COUNT_CAP, totalCapped: true });
        expect(capped.items.map((a) => a.id)).toEqual(
          newestFirst(many)
            .slice(0, 3)
            .map((a) => a.id),
        );
        expect(exact).toEqual({ items: [], total: 0 });
        expect(all.total).toBe(60 + SEARCH_COUNT_CAP + 5);
        expect(all.totalCapped).toBeUndefined();
      });

      it('ignores a search with no words in it', async () => {
        expect((await store.queryAlerts({ search: ' -- ', page: 1, limit: 5 })).total).toBe(60);
      });

      it('finds nothing for a word no alert has', async () => {
        expect(await store.queryAlerts({ search: 'zzyzx', page: 1, limit: 5 })).toEqual({
          items: [],
          total: 0,
        });
      });

      it('rejects a page below 1 or a limit below 1', async () => {
        await expect(store.queryAlerts({ page: 0, limit: 5 })).rejects.toThrow(RangeError);
        await expect(store.queryAlerts({ page: 1, limit: 0 })).rejects.toThrow(RangeError);
      });
    });

    it('changes an alert status and keeps the counters in step', async () => {
      const batch = Array.from({ length: 12 }, (_, i) => alert(i, { status: 'new' }));
      await store.insertAlerts(batch);

      const updated = await store.setAlertStatus(batch[0]?.id ?? '', 'false-positive');
      await store.setAlertStatus(batch[1]?.id ?? '', 'resolved');
      await store.setAlertStatus(batch[1]?.id ?? '', 'resolved');
      await store.setAlertStatus(batch[2]?.id ?? '', 'acknowledged');

      expect(updated?.status).toBe('false-positive');
      expect(await store.setAlertStatus('00000000-0000-4000-8000-999999999999', 'resolved')).toBeNull();
      const now = batch.map((a, i) =>
        i === 0
          ? { ...a, status: 'false-positive' as const }
          : i === 1
            ? { ...a, status: 'resolved' as const }
            : a,
      );
      expect(await store.alertStats()).toEqual(expectedStats(now));
      expect((await store.queryAlerts({ status: 'new', page: 1, limit: 1 })).total).toBe(9);
      expect(
        (await store.queryAlerts({ status: 'resolved', facility: 'plant-b', page: 1, limit: 1 })).total,
      ).toBe(1);
    });

    it('stores per-second aggregates once and returns a time range in order', async () => {
      const rows = Array.from({ length: 10 }, (_, i) => ({
        facility_id: 'plant-a',
        time: new Date(T0 + i * 1000).toISOString(),
        packets_per_sec: 100 + i,
        bytes_per_sec: 64_000.5,
        unique_src_ips: 4,
        unique_dest_ips: 2,
        protocol_distribution: { modbus: 0.9, dns: 0.1 },
        failed_connections: i,
        avg_packet_size: 640.25,
        inter_arrival_time: 0.0099,
      }));
      await store.insertAggregates(rows);
      await store.insertAggregates(rows.slice(0, 3));
      await store.insertAggregates([{ ...rows[0]!, facility_id: 'plant-b' }]);

      const got = await store.aggregates('plant-a', rows[2]!.time, rows[6]!.time);

      expect(got).toEqual(rows.slice(2, 6));
      expect(
        await store.aggregates('plant-a', rows[0]!.time, new Date(T0 + 60_000).toISOString()),
      ).toHaveLength(10);
    });

    it('keeps the asset inventory: changes apply in order, a removed asset is marked and can return', async () => {
      const at = (s: number) => new Date(T0 + s * 1000).toISOString();
      const plc = {
        address: '10.10.2.11',
        mac: '00:80:f4:01:02:03',
        protocols: ['modbus'],
        role: 'plc',
        first_seen: at(0),
        last_seen: at(5),
      };
      await store.addFacility({ id: 'plant-a', name: 'A' });
      await store.addFacility({ id: 'plant-b', name: 'B' });
      const hmi = {
        ...plc,
        address: '10.10.1.11',
        mac: '00:0c:29:aa:bb:cc',
        role: 'hmi',
        protocols: ['modbus', 'http'],
      };
      await store.applyAssetChanges('plant-a', [
        { change: 'added', ...plc },
        { change: 'added', ...hmi },
      ]);
      await store.applyAssetChanges('plant-b', [{ change: 'added', ...plc }]);
      await store.applyAssetChanges('plant-a', [
        { change: 'updated', ...plc, protocols: ['modbus', 'dns'], first_seen: at(3), last_seen: at(20) },
        { change: 'removed', ...hmi, last_seen: at(30) },
      ]);

      const assets = await store.listAssets('plant-a');

      expect(assets).toEqual([
        { facility_id: 'plant-a', ...hmi, last_seen: at(30), removed_at: at(30) },
        { facility_id: 'plant-a', ...plc, protocols: ['modbus', 'dns'], last_seen: at(20), removed_at: null },
      ]);
      await store.applyAssetChanges('plant-a', [{ change: 'updated', ...hmi, last_seen: at(40) }]);
      expect((await store.listAssets('plant-a'))[0]).toMatchObject({ removed_at: null, last_seen: at(40) });
      expect(await store.listAssets('plant-b')).toHaveLength(1);
      expect(await store.listAssets('plant-c')).toEqual([]);
    });

    it('runs FL rounds: create, update, clients, current and history', async () => {
      const r1 = await store.createRound({
        round_number: 1,
        model: 'fl-global',
        status: 'in-progress',
        phase: 'distributing',
        start_time: new Date(T0).toISOString(),
        total_clients: 2,
      });
      await store.upsertRoundClient(r1.id, client('c1'));
      await store.upsertRoundClient(r1.id, client('c2', { name: 'another' }));
      await store.upsertRoundClient(r1.id, client('c1', { progress: 100, accuracy: 0.93, current_epoch: 5 }));
      const done = await store.updateRound(r1.id, {
        status: 'completed',
        phase: 'complete',
        progress: 100,
        end_time: new Date(T0 + 90_000).toISOString(),
        epsilon: 1.25,
        model_accuracy: 0.91,
        clients_active: 2,
      });
      const r2 = await store.createRound({
        round_number: 2,
        model: 'fl-global-l1b',
        status: 'in-progress',
        phase: 'training',
        start_time: new Date(T0 + 100_000).toISOString(),
        total_clients: 3,
      });

      expect(r1).toMatchObject({
        round_number: 1,
        status: 'in-progress',
        progress: 0,
        epsilon: 0,
        end_time: null,
      });
      expect(r1.clients).toEqual([]);
      expect(done).toMatchObject({
        id: r1.id,
        status: 'completed',
        phase: 'complete',
        progress: 100,
        end_time: new Date(T0 + 90_000).toISOString(),
        epsilon: 1.25,
        model_accuracy: 0.91,
        clients_active: 2,
        total_clients: 2,
      });
      expect(done?.clients).toEqual([
        client('c2', { name: 'another' }),
        client('c1', { progress: 100, accuracy: 0.93, current_epoch: 5 }),
      ]);
      expect((await store.currentRound())?.id).toBe(r2.id);
      expect(r2.id).toBeGreaterThan(r1.id);
      const history = await store.listRounds(1, 1);
      expect(history.total).toBe(2);
      expect(history.items.map((r) => r.id)).toEqual([r1.id]);
      expect(history.items[0]?.clients).toHaveLength(2);
      expect(await store.getRound(r1.id + 1000)).toBeNull();
      expect(await store.updateRound(r1.id + 1000, { progress: 5 })).toBeNull();
      // each round says which model it trained
      expect([r1.model, done?.model, r2.model]).toEqual(['fl-global', 'fl-global', 'fl-global-l1b']);
      expect((await store.listRounds(10, 0)).items.map((r) => r.model)).toEqual([
        'fl-global-l1b',
        'fl-global',
      ]);
      expect((await store.getRound(r2.id))?.model).toBe('fl-global-l1b');
    });

    it('queues verdicts per facility and alert, the latest replacing the earlier, until they are dropped', async () => {
      const v = (facility_id: string, alert_id: string, verdict: string, s: number) => ({
        facility_id,
        alert_id,
        verdict,
        queued_at: new Date(T0 + s * 1000).toISOString(),
      });
      await store.queueVerdict(v('plant-a', 'a1', '{"verdict":"normal"}', 1));
      await store.queueVerdict(v('plant-b', 'b1', '{"verdict":"attack"}', 2));
      await store.queueVerdict(v('plant-a', 'a2', '{"verdict":"attack"}', 3));
      await store.queueVerdict(v('plant-a', 'a1', '{"verdict":"none"}', 4));
      const queued = await store.queuedVerdicts();
      // a push of a1's older verdict answered after the newer one was queued: the newer one stays
      await store.dropVerdicts('plant-a', [
        { alert_id: 'a1', verdict: '{"verdict":"normal"}' },
        { alert_id: 'a2', verdict: '{"verdict":"attack"}' },
      ]);
      const left = await store.queuedVerdicts();
      await store.dropVerdicts('plant-b', []);

      expect(queued).toEqual([
        v('plant-b', 'b1', '{"verdict":"attack"}', 2),
        v('plant-a', 'a2', '{"verdict":"attack"}', 3),
        v('plant-a', 'a1', '{"verdict":"none"}', 4),
      ]);
      expect(left).toEqual([
        v('plant-b', 'b1', '{"verdict":"attack"}', 2),
        v('plant-a', 'a1', '{"verdict":"none"}', 4),
      ]);
      expect(await store.queuedVerdicts()).toEqual(left);
    });

    it('keeps one privacy account per facility, replaced on each put', async () => {
      const account = {
        facility_id: 'plant-b',
        orders: [1.5, 2, 32],
        rdp: [0.125, 0.25, 4.5],
        epsilon: 1.75,
        delta: 1e-5,
        examples: 4096,
        rounds: 1,
        exhausted_at: null,
        updated_at: new Date(T0).toISOString(),
      };
      await store.putPrivacyAccount(account);
      await store.putPrivacyAccount({ ...account, facility_id: 'plant-a', epsilon: 0.5 });
      const spent = {
        ...account,
        rdp: [0.5, 1, 18],
        epsilon: 3.25,
        rounds: 2,
        exhausted_at: new Date(T0 + 1000).toISOString(),
        updated_at: new Date(T0 + 1000).toISOString(),
      };
      await store.putPrivacyAccount(spent);

      const accounts = await store.listPrivacyAccounts();

      expect(accounts).toEqual([{ ...account, facility_id: 'plant-a', epsilon: 0.5 }, spent]);
    });

    it('versions global models: add activates, rollback re-activates, payloads read back byte for byte', async () => {
      const payload = (n: number): Uint8Array => Uint8Array.from({ length: 1000 }, (_, i) => (i * n) % 251);
      const add = (n: number, name = 'fl-global') =>
        store.addModelVersion({
          name,
          round_id: null,
          created_at: new Date(T0 + n * 1000).toISOString(),
          sha256: `sha-${n}`,
          format: 'vigil-arrays-v1',
          payload: payload(n),
          parameters: 250,
          model_accuracy: n / 10,
        });
      const v1 = await add(1);
      const v2 = await add(2);
      const other = await add(3, 'other-model');

      expect(v1).toMatchObject({ name: 'fl-global', size_bytes: 1000, parameters: 250, active: true });
      expect(v2.version).toBeGreaterThan(v1.version);
      expect((await store.activeModelVersion('fl-global'))?.version).toBe(v2.version);
      expect((await store.getModelVersion(v1.version))?.active).toBe(false);

      const back = await store.activateModelVersion(v1.version, new Date(T0 + 9000).toISOString());

      expect(back).toMatchObject({
        version: v1.version,
        active: true,
        activated_at: new Date(T0 + 9000).toISOString(),
      });
      expect((await store.activeModelVersion('fl-global'))?.version).toBe(v1.version);
      expect((await store.activeModelVersion('other-model'))?.version).toBe(other.version);
      expect(await store.modelPayload(v2.version)).toEqual(payload(2));
      const page = await store.listModelVersions(2, 0);
      expect(page.total).toBe(3);
      expect(page.items.map((m) => [m.version, m.active])).toEqual([
        [other.version, true],
        [v2.version, false],
      ]);
      expect(await store.activateModelVersion(v2.version + 1000, new Date(T0).toISOString())).toBeNull();
      expect(await store.modelPayload(v2.version + 1000)).toBeNull();
      expect(await store.activeModelVersion('none')).toBeNull();
    });

    it('has no current round before any round ran', async () => {
      expect(await store.currentRound()).toBeNull();
      expect(await store.listRounds(10, 0)).toEqual({ items: [], total: 0 });
    });

    it('stores predictions with ranked techniques, lists them and validates once', async () => {
      const p1 = prediction(1);
      const p2 = prediction(2, { alert_id: alert(1).id });
      await store.insertPrediction(p1);
      await store.insertPrediction(p2);
      await store.insertPrediction({ ...p1, current_technique: 'T0800' });

      const validated = await store.markPredictionValidated(p1.id, new Date(T0 + 5000).toISOString());
      const again = await store.markPredictionValidated(p1.id, new Date(T0 + 9000).toISOString());

      const { facility_id: _f, ...p1Record } = p1;
      expect(await store.getPrediction(p2.id)).toEqual((({ facility_id: _, ...rest }) => rest)(p2));
      expect(validated).toEqual({
        ...p1Record,
        validated: true,
        validation_time: new Date(T0 + 5000).toISOString(),
      });
      expect(again?.validation_time).toBe(new Date(T0 + 5000).toISOString());
      expect((await store.latestPrediction())?.id).toBe(p2.id);
      expect((await store.listPredictions({ limit: 10, offset: 0 })).items.map((p) => p.id)).toEqual([
        p2.id,
        p1.id,
      ]);
      expect(await store.listPredictions({ validated: true, limit: 10, offset: 0 })).toMatchObject({
        total: 1,
      });
      expect(
        (await store.listPredictions({ validated: false, limit: 10, offset: 0 })).items.map((p) => p.id),
      ).toEqual([p2.id]);
      expect(await store.getPrediction('nope')).toBeNull();
      expect(await store.markPredictionValidated('nope', new Date(T0).toISOString())).toBeNull();
    });

    it('lists the open predictions of one facility since a time, oldest first', async () => {
      await store.insertPrediction(prediction(1, { facility_id: 'plant-a' }));
      await store.insertPrediction(prediction(2, { facility_id: 'plant-a' }));
      await store.insertPrediction(prediction(3, { facility_id: 'plant-b' }));
      await store.insertPrediction(prediction(4, { facility_id: 'plant-a' }));
      await store.markPredictionValidated(prediction(4).id, new Date(T0 + 9000).toISOString());

      const open = await store.openPredictions('plant-a', new Date(T0 + 2000).toISOString());

      expect(open.map((p) => p.id)).toEqual([prediction(2).id]);
      expect(open[0]?.predicted_techniques.map((t) => t.technique_id)).toEqual(['T0855', 'T0836']);
      expect(await store.openPredictions('plant-c', new Date(T0).toISOString())).toEqual([]);
    });

    it('lists the distinct attack types of the open alerts of one facility in a time range with their latest time', async () => {
      await store.insertAlerts([
        alert(1, { facility_id: 'plant-a', attack_type: 'T0846', status: 'new' }),
        alert(2, { facility_id: 'plant-a', attack_type: 'T0888', status: 'new' }),
        alert(3, { facility_id: 'plant-a', attack_type: 'T0846', status: 'new' }),
        alert(4, { facility_id: 'plant-b', attack_type: 'T0855', status: 'new' }),
        alert(5, { facility_id: 'plant-a', attack_type: 'T0836', status: 'new' }),
        alert(0, { facility_id: 'plant-a', attack_type: 'T0814', status: 'new' }),
        alert(6, { facility_id: 'plant-a', attack_type: 'T0855', status: 'new' }),
        alert(7, { facility_id: 'plant-a', attack_type: 'T0843', status: 'new' }),
      ]);
      await store.setAlertStatus(alert(6).id, 'resolved');
      await store.setAlertStatus(alert(7).id, 'false-positive');
      await store.setAlertStatus(alert(2).id, 'acknowledged');

      const seen = await store.alertTechniques('plant-a', alert(1).timestamp, alert(5).timestamp);
      const closed = await store.alertTechniques('plant-a', alert(6).timestamp, alert(9).timestamp);

      expect(seen).toEqual([
        { attack_type: 'T0846', last_seen: alert(3).timestamp },
        { attack_type: 'T0888', last_seen: alert(2).timestamp },
      ]);
      expect(closed).toEqual([]);
      expect(await store.alertTechniques('plant-c', alert(0).timestamp, alert(9).timestamp)).toEqual([]);
    });

    it('has no latest prediction before any', async () => {
      expect(await store.latestPrediction()).toBeNull();
    });

    it('keeps API tokens by hash: create, find, touch, list, revoke once; a taken hash is a conflict', async () => {
      const t = await store.createToken({ id: 'tok-1', name: 'ci', role: 'operator', hash: 'a'.repeat(64) });
      await store.createToken({ id: 'tok-2', name: 'viewer', role: 'viewer', hash: 'b'.repeat(64) });

      await store.touchToken('tok-1', new Date(T0 + 1000).toISOString());

      expect(t).toEqual({
        id: 'tok-1',
        name: 'ci',
        role: 'operator',
        created_at: new Date(T0).toISOString(),
        revoked_at: null,
        last_used_at: null,
      });
      expect(await store.findTokenByHash('a'.repeat(64))).toEqual({
        ...t,
        last_used_at: new Date(T0 + 1000).toISOString(),
      });
      expect(await store.findTokenByHash('c'.repeat(64))).toBeNull();
      await expect(
        store.createToken({ id: 'tok-3', name: 'dup', role: 'admin', hash: 'a'.repeat(64) }),
      ).rejects.toBeInstanceOf(StoreConflictError);
      expect(await store.revokeToken('tok-1')).toBe(true);
      expect(await store.revokeToken('tok-1')).toBe(false);
      expect(await store.revokeToken('tok-404')).toBe(false);
      expect((await store.findTokenByHash('a'.repeat(64)))?.revoked_at).toBe(new Date(T0).toISOString());
      expect((await store.listTokens()).map((x) => x.id)).toEqual(['tok-1', 'tok-2']);
    });

    it('appends to the audit log and lists it newest first', async () => {
      for (let i = 0; i < 3; i++) {
        await store.audit({
          at: new Date(T0 + i).toISOString(),
          actor: 'token:tok-1',
          action: 'alert.status',
          target: `alert-${i}`,
          details: { to: 'resolved', i },
        });
      }

      const page = await store.listAudit(2, 0);

      expect(page.total).toBe(3);
      expect(page.items.map((e) => e.target)).toEqual(['alert-2', 'alert-1']);
      expect(page.items[0]).toMatchObject({ actor: 'token:tok-1', details: { to: 'resolved', i: 2 } });
      expect(page.items[0]!.id).toBeGreaterThan(page.items[1]!.id);
    });

    it('purges alerts and aggregates older than the policy allows and keeps the counters in step', async () => {
      const batch = Array.from({ length: 30 }, (_, i) => alert(i));
      await store.insertAlerts(batch);
      await store.insertAggregates(
        Array.from({ length: 30 }, (_, i) => ({
          facility_id: 'plant-a',
          time: new Date(T0 + i * 60_000).toISOString(),
          packets_per_sec: 1,
          bytes_per_sec: 1,
          unique_src_ips: 1,
          unique_dest_ips: 1,
          protocol_distribution: {},
          failed_connections: 0,
          avg_packet_size: 1,
          inter_arrival_time: 1,
        })),
      );
      const now = new Date(T0 + 30 * 60_000).toISOString();

      const kept = await store.purge({ alertsMaxAgeSeconds: null, aggregatesMaxAgeSeconds: null }, now);
      const purged = await store.purge(
        { alertsMaxAgeSeconds: 10 * 60, aggregatesMaxAgeSeconds: 20 * 60 },
        now,
      );

      expect(kept).toEqual({ alerts: 0, aggregates: 0 });
      expect(purged).toEqual({ alerts: 20, aggregates: 10 });
      const left = batch.slice(20);
      expect(await store.alertStats()).toEqual(expectedStats(left));
      expect((await store.queryAlerts({ facility: 'plant-a', page: 1, limit: 50 })).total).toBe(
        left.filter((a) => a.facility_id === 'plant-a').length,
      );
      expect((await store.queryAlerts({ search: 'modbus', page: 1, limit: 50 })).total).toBe(
        left.filter((a) => a.title.startsWith('Modbus')).length,
      );
      expect(await store.aggregates('plant-a', new Date(0).toISOString(), now)).toHaveLength(20);
    });
  });
});
