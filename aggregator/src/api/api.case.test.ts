// The dashboard API contract (../shared/spec/api.md), path by path, over real HTTP and real WebSocket clients, on
// both stores: SQLite and a real Postgres.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { shippedCatalog, type Alert, type AlertPage, type FLRound, type Prediction } from '@vigil/shared';
import { EmbeddedAttackGraph } from '../graph/embedded.js';
import { PREDICTION_K } from '../graph/prediction-service.js';
import { openPredictor } from '../graph/predictor.js';
import type { Store } from '../store/types.js';
import { postgresHarness, sqliteHarness, type StoreHarness } from './testing/stores.js';
import { http, startTestApi, TestWs, upgradeStatus } from './testing/client.js';
import { issueToken, makeAlert, makeClient, makePrediction } from './testing/fixtures.js';
import type { RunningApi } from './server.js';
import { RoundEngine } from '../fl/engine.js';
import { FedAvg } from '../fl/strategy.js';
import { LocalFleet, localModel, modelArrays } from '../fl/testing/local-fleet.js';

const HARNESSES: [string, () => Promise<StoreHarness>][] = [
  ['sqlite', () => Promise.resolve(sqliteHarness())],
  ['postgres', postgresHarness],
];

describe.each(HARNESSES)('dashboard API on %s', (_kind, makeHarness) => {
  let harness: StoreHarness;
  let raw: Store;
  let api: RunningApi;
  let viewer: string;
  let operator: string;

  beforeAll(async () => {
    harness = await makeHarness();
  });
  afterAll(async () => {
    await harness.close();
  });
  beforeEach(async (ctx) => {
    if (!harness.available()) ctx.skip();
    raw = await harness.open();
    await raw.addFacility({ id: 'plant-a', name: 'Plant A' });
    await raw.addFacility({ id: 'plant-b', name: 'Plant B' });
    viewer = await issueToken(raw, 'viewer');
    operator = await issueToken(raw, 'operator');
    api = await startTestApi(raw, { healthIntervalMs: 100 });
  });
  afterEach(async () => {
    if (!harness.available()) return;
    await api.close();
    await raw.close();
  });

  describe('health and system', () => {
    it('reports the state of each dependency at /health', async () => {
      const res = await http(api, 'GET', '/health');

      expect(res.status).toBe(200);
      expect(res.body).toEqual({
        status: 'degraded',
        services: { database: 'connected', graph: 'embedded', grpc: 'down' },
      });
    });

    it('computes /api/system/status from heartbeats, alerts, the current round and predictions', async () => {
      const now = Date.now();
      await raw.upsertAgent({
        id: 'agent-a',
        facility_id: 'plant-a',
        enrolled_at: new Date(now - 3600e3).toISOString(),
      });
      await raw.recordHeartbeat('agent-a', new Date(now - 5_000).toISOString(), {});
      await raw.upsertAgent({
        id: 'agent-b',
        facility_id: 'plant-b',
        enrolled_at: new Date(now - 3600e3).toISOString(),
      });
      await raw.recordHeartbeat('agent-b', new Date(now - 60_000).toISOString(), {});
      await raw.insertAlerts([
        makeAlert(),
        makeAlert({ status: 'resolved' }),
        makeAlert({ status: 'acknowledged' }),
      ]);
      const round = await raw.createRound({
        round_number: 1,
        model: 'fl-global',
        status: 'in-progress',
        phase: 'training',
        start_time: new Date().toISOString(),
        total_clients: 2,
      });
      await raw.updateRound(round.id, { progress: 40 });
      await raw.insertPrediction({ ...makePrediction(), facility_id: 'plant-a' });
      const p2 = makePrediction();
      await raw.insertPrediction({ ...p2, facility_id: 'plant-a' });
      await raw.markPredictionValidated(p2.id, new Date().toISOString());

      const res = await http(api, 'GET', '/api/system/status', { token: viewer });

      expect(res.status).toBe(200);
      expect(res.body).toEqual({
        active_alerts: 2,
        fl_progress: 40,
        prediction_accuracy: 0.5,
        facilities: expect.arrayContaining([
          { id: 'plant-a', name: 'Plant A', status: 'online' },
          { id: 'plant-b', name: 'Plant B', status: 'delayed' },
        ]) as unknown,
      });
    });

    it('serves Prometheus metrics with route latency, WS connections and stored alerts', async () => {
      await raw.insertAlerts([makeAlert(), makeAlert()]);
      await http(api, 'GET', '/api/alerts', { token: viewer });
      const ws = await TestWs.connect(`${api.wsUrl}?token=${viewer}`);

      const res = await http(api, 'GET', '/metrics');

      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toContain('text/plain');
      expect(res.text).toMatch(/vigil_http_request_duration_seconds_bucket\{[^}]*route="\/api\/alerts"/);
      expect(res.text).toMatch(/^vigil_ws_connections 1$/m);
      expect(res.text).toMatch(/^vigil_alerts_stored 2$/m);
      await ws.close();
    });

    it('publishes an OpenAPI 3.1 document naming every path of the spec', async () => {
      const res = await http(api, 'GET', '/openapi.json');

      expect(res.status).toBe(200);
      const doc = res.body as { openapi: string; paths: Record<string, Record<string, unknown>> };
      expect(doc.openapi).toBe('3.1.0');
      const expected: [string, string][] = [
        ['get', '/health'],
        ['get', '/api/system/status'],
        ['get', '/metrics'],
        ['get', '/api/alerts'],
        ['get', '/api/alerts/{alert_id}'],
        ['put', '/api/alerts/{alert_id}/status'],
        ['get', '/api/alerts/stats'],
        ['get', '/api/context/{facility_id}/current'],
        ['get', '/api/context/{alert_id}/evidence'],
        ['get', '/api/context/{alert_id}/timeline'],
        ['get', '/api/fl/rounds/current'],
        ['get', '/api/fl/rounds'],
        ['get', '/api/fl/rounds/history'],
        ['get', '/api/fl/rounds/{round_id}'],
        ['post', '/api/fl/rounds/trigger'],
        ['get', '/api/fl/clients'],
        ['get', '/api/fl/clients/{client_id}'],
        ['get', '/api/fl/privacy-metrics'],
        ['get', '/api/predictions'],
        ['get', '/api/predictions/latest'],
        ['get', '/api/predictions/{prediction_id}'],
        ['post', '/api/predictions/predict'],
        ['get', '/api/mitre/graph'],
        ['get', '/api/mitre/techniques'],
        ['get', '/api/mitre/technique/{technique_id}'],
        ['post', '/api/demo/scenarios/port-scan'],
        ['post', '/api/demo/scenarios/fl-round'],
        ['post', '/api/demo/scenarios/multi-stage'],
        ['get', '/api/demo/status'],
        ['post', '/api/demo/reset'],
      ];
      for (const [method, path] of expected)
        expect(doc.paths[path]?.[method], `${method} ${path}`).toBeDefined();
    });

    it('documents the demo fl-round answer and the FL trigger answer as the two different shapes they are', async () => {
      const res = await http(api, 'GET', '/openapi.json');

      interface Doc {
        paths: Record<
          string,
          { post: { responses: Record<string, { content: Record<string, { schema: { $ref: string } }> }> } }
        >;
        components: { schemas: Record<string, { properties?: Record<string, unknown>; allOf?: unknown[] }> };
      }
      const doc = res.body as Doc;
      const answer = (path: string) => {
        const ref = doc.paths[path]?.post.responses['200']?.content['application/json']?.schema.$ref ?? '';
        return doc.components.schemas[ref.replace('#/components/schemas/', '')];
      };
      // The spec: demo fl-round -> {round_id, status}; trigger -> the same plus the round's FLRound fields.
      expect(Object.keys(answer('/api/demo/scenarios/fl-round')?.properties ?? {}).sort()).toEqual([
        'round_id',
        'status',
      ]);
      expect(answer('/api/fl/rounds/trigger')?.allOf).toBeDefined();
    });

    it('answers the CORS preflight for the default dashboard origin only', async () => {
      const ok = await fetch(`${api.url}/api/alerts`, {
        method: 'OPTIONS',
        headers: {
          Origin: 'http://localhost:3000',
          'Access-Control-Request-Method': 'GET',
          'Access-Control-Request-Headers': 'content-type,authorization',
        },
      });
      const other = await fetch(`${api.url}/api/alerts`, {
        method: 'OPTIONS',
        headers: { Origin: 'http://evil.example', 'Access-Control-Request-Method': 'GET' },
      });

      expect(ok.status).toBe(204);
      expect(ok.headers.get('access-control-allow-origin')).toBe('http://localhost:3000');
      expect(ok.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('content-type');
      expect(other.headers.get('access-control-allow-origin')).toBeNull();
    });
  });

  describe('auth', () => {
    it('refuses a missing or unknown token with 401 in the error shape', async () => {
      const none = await http(api, 'GET', '/api/alerts');
      const bad = await http(api, 'GET', '/api/alerts', { token: 'not-a-token' });

      expect(none.status).toBe(401);
      expect(bad.status).toBe(401);
      expect(bad.body).toEqual({
        error: { code: 'unauthorized', message: expect.any(String) as unknown, details: {} },
      });
      expect(await upgradeStatus(api.wsUrl)).toBe(401);
    });

    it('lets an anonymous caller act as operator when anonymous access is on', async () => {
      await api.close();
      api = await startTestApi(raw, { anonymous: true });
      const alert = makeAlert();
      await raw.insertAlerts([alert]);

      const res = await http(api, 'PUT', `/api/alerts/${alert.id}/status`, {
        body: { status: 'acknowledged' },
      });

      expect(res.status).toBe(200);
      const audit = await raw.listAudit(10, 0);
      expect(audit.items[0]).toMatchObject({ actor: 'anonymous', action: 'alert.status', target: alert.id });
    });
  });

  describe('alerts', () => {
    it('filters, searches and pages GET /api/alerts', async () => {
      const now = Date.now();
      const old = makeAlert({ timestamp: new Date(now - 3 * 86_400e3).toISOString(), severity: 'critical' });
      const recent = makeAlert({ timestamp: new Date(now - 60e3).toISOString(), title: 'DNP3 cold restart' });
      const b = makeAlert({
        facility_id: 'plant-b',
        status: 'acknowledged',
        timestamp: new Date(now - 120e3).toISOString(),
      });
      await raw.insertAlerts([old, recent, b]);

      const allResponse = await http(api, 'GET', '/api/alerts', { token: viewer });
      const all = allResponse.body as AlertPage;
      const lastDay = (await http(api, 'GET', '/api/alerts?time_range=Last%2024%20hours', { token: viewer }))
        .body as AlertPage;
      const shortDay = (await http(api, 'GET', '/api/alerts?time_range=24h', { token: viewer }))
        .body as AlertPage;
      const critical = (
        await http(api, 'GET', '/api/alerts?severity=critical&time_range=All%20time', { token: viewer })
      ).body as AlertPage;
      const acked = (await http(api, 'GET', '/api/alerts?status_filter=acknowledged', { token: viewer }))
        .body as AlertPage;
      const plantB = (
        await http(api, 'GET', '/api/alerts?facility=plant-b&status=acknowledged', { token: viewer })
      ).body as AlertPage;
      const search = (await http(api, 'GET', '/api/alerts?search=cold%20restart', { token: viewer }))
        .body as AlertPage;
      const page2 = (await http(api, 'GET', '/api/alerts?limit=2&page=2', { token: viewer }))
        .body as AlertPage;
      const unfiltered = (
        await http(api, 'GET', '/api/alerts?severity=&status=all&facility=all&search=', { token: viewer })
      ).body as AlertPage;

      expect(all).toMatchObject({ total: 3, page: 1, pages: 1, limit: 50 });
      expect(all.alerts.map((a) => a.id)).toEqual([recent.id, b.id, old.id]);
      expect(all.alerts[0]).not.toHaveProperty('generated');
      const { generated: _generated, ...publicRecent } = recent;
      expect(all.alerts[0]).toEqual(publicRecent);
      expect(allResponse.headers.get('content-type')).toMatch(/^application\/json/);
      expect(lastDay.alerts.map((a) => a.id)).toEqual([recent.id, b.id]);
      expect(shortDay.total).toBe(2);
      expect(critical.alerts.map((a) => a.id)).toEqual([old.id]);
      expect(acked.alerts.map((a) => a.id)).toEqual([b.id]);
      expect(plantB.alerts.map((a) => a.id)).toEqual([b.id]);
      expect(search.alerts.map((a) => a.id)).toEqual([recent.id]);
      expect(page2).toMatchObject({ total: 3, page: 2, pages: 2, limit: 2 });
      expect(page2.alerts.map((a) => a.id)).toEqual([old.id]);
      expect(unfiltered.total).toBe(3);
    });

    it('counts real rows in GET /api/alerts/stats', async () => {
      await raw.insertAlerts([
        makeAlert({ severity: 'critical' }),
        makeAlert({ status: 'false-positive' }),
        makeAlert({ status: 'resolved', severity: 'critical' }),
        makeAlert({ status: 'acknowledged' }),
      ]);

      const res = await http(api, 'GET', '/api/alerts/stats', { token: viewer });

      expect(res.status).toBe(200);
      expect(res.body).toEqual({ total: 4, critical: 2, unresolved: 2, false_positives: 1 });
    });

    it('returns one alert with its context, 404 for an unknown id', async () => {
      const alert = makeAlert();
      await raw.insertAlerts([alert]);

      const found = await http(api, 'GET', `/api/alerts/${alert.id}`, { token: viewer });
      const missing = await http(api, 'GET', `/api/alerts/${crypto.randomUUID()}`, { token: viewer });

      const { generated: _g, ...expected } = alert;
      expect(found.status).toBe(200);
      expect(found.body).toEqual(expected);
      expect(missing.status).toBe(404);
      expect((missing.body as { error: { code: string } }).error.code).toBe('not_found');
    });

    it('changes status for an operator, audits it, and refuses viewers and invalid transitions', async () => {
      const alert = makeAlert();
      await raw.insertAlerts([alert]);

      const byViewer = await http(api, 'PUT', `/api/alerts/${alert.id}/status`, {
        token: viewer,
        body: { status: 'resolved' },
      });
      const resolved = await http(api, 'PUT', `/api/alerts/${alert.id}/status`, {
        token: operator,
        body: { status: 'resolved' },
      });
      const back = await http(api, 'PUT', `/api/alerts/${alert.id}/status`, {
        token: operator,
        body: { status: 'acknowledged' },
      });
      const missing = await http(api, 'PUT', `/api/alerts/${crypto.randomUUID()}/status`, {
        token: operator,
        body: { status: 'resolved' },
      });

      expect(byViewer.status).toBe(403);
      expect(resolved.status).toBe(200);
      expect((resolved.body as Alert).status).toBe('resolved');
      expect(back.status).toBe(422);
      expect((back.body as { error: { code: string } }).error.code).toBe('invalid_state_change');
      expect(missing.status).toBe(404);
      const audit = await raw.listAudit(10, 0);
      expect(audit.total).toBe(1);
      expect(audit.items[0]).toMatchObject({
        actor: 'token:operator-test',
        action: 'alert.status',
        target: alert.id,
        details: { from: 'new', to: 'resolved' },
      });
    });
  });

  describe('context', () => {
    it('serves the stored per-second aggregates of the last 60 seconds', async () => {
      const now = Date.now();
      const row = (ageMs: number, pps: number) => ({
        facility_id: 'plant-a',
        time: new Date(now - ageMs).toISOString(),
        packets_per_sec: pps,
        bytes_per_sec: pps * 100,
        unique_src_ips: 2,
        unique_dest_ips: 4,
        protocol_distribution: { modbus: 1 },
        failed_connections: 1,
        avg_packet_size: 100,
        inter_arrival_time: 0.01,
      });
      await raw.insertAggregates([row(2_000, 100), row(1_000, 300), row(600_000, 9_999)]);

      const res = await http(api, 'GET', '/api/context/plant-a/current', { token: viewer });
      const unknown = await http(api, 'GET', '/api/context/plant-zz/current', { token: viewer });

      expect(res.status).toBe(200);
      const body = res.body as {
        facility_id: string;
        window_duration: string;
        metrics: Record<string, unknown>;
        features: { seconds_with_data: number };
      };
      expect(body.facility_id).toBe('plant-a');
      expect(body.window_duration).toBe('60 seconds');
      expect(body.features.seconds_with_data).toBe(2);
      expect(body.metrics).toMatchObject({
        packets_per_sec: 200,
        bytes_per_sec: 20_000,
        unique_dest_ips: 4,
        failed_connections: 1,
      });
      expect(unknown.status).toBe(404);
    });

    it("serves an alert's evidence and timeline from its context", async () => {
      const alert = makeAlert();
      await raw.insertAlerts([alert]);

      const evidence = await http(api, 'GET', `/api/context/${alert.id}/evidence`, { token: viewer });
      const timeline = await http(api, 'GET', `/api/context/${alert.id}/timeline`, { token: viewer });

      expect(evidence.status).toBe(200);
      expect(evidence.body).toMatchObject({
        alert_id: alert.id,
        timeline: alert.context_analysis.timeline,
        evidence: { packets_per_sec: 200, unique_dest_ips: 5, failed_connections: null },
        pattern_analysis: {
          pattern_type: 'burst',
          confidence: 0.87,
          description: alert.context_analysis.behavior,
        },
      });
      expect(timeline.body).toEqual({ timeline: alert.context_analysis.timeline });
    });
  });

  describe('federated learning', () => {
    it('answers null for the current round of an empty store', async () => {
      const res = await http(api, 'GET', '/api/fl/rounds/current', { token: viewer });

      expect(res.status).toBe(200);
      expect(res.text).toBe('null');
    });

    it('serves rounds, clients and privacy metrics as stored', async () => {
      const round = await raw.createRound({
        round_number: 1,
        model: 'fl-global',
        status: 'in-progress',
        phase: 'training',
        start_time: new Date().toISOString(),
        total_clients: 1,
      });
      const client = makeClient();
      await raw.upsertRoundClient(round.id, client);
      await raw.updateRound(round.id, { epsilon: 1.5, progress: 60 });
      const account = {
        orders: [2, 8],
        rdp: [0.5, 2],
        delta: 1e-5,
        rounds: 1,
        exhausted_at: null,
        updated_at: new Date().toISOString(),
      };
      await raw.putPrivacyAccount({ ...account, facility_id: 'plant-a', epsilon: 1.5, examples: 300 });
      await raw.putPrivacyAccount({ ...account, facility_id: 'plant-b', epsilon: 0.5, examples: 200 });

      const current = (await http(api, 'GET', '/api/fl/rounds/current', { token: viewer })).body as FLRound;
      const list = await http(api, 'GET', '/api/fl/rounds?limit=10&offset=0', { token: viewer });
      const history = await http(api, 'GET', '/api/fl/rounds/history', { token: viewer });
      const one = await http(api, 'GET', `/api/fl/rounds/${round.id}`, { token: viewer });
      const none = await http(api, 'GET', '/api/fl/rounds/9999', { token: viewer });
      const clients = await http(api, 'GET', '/api/fl/clients', { token: viewer });
      const oneClient = await http(api, 'GET', `/api/fl/clients/${client.id}`, { token: viewer });
      const noClient = await http(api, 'GET', `/api/fl/clients/${crypto.randomUUID()}`, { token: viewer });
      const privacy = await http(api, 'GET', '/api/fl/privacy-metrics', { token: viewer });

      expect(current).toMatchObject({
        id: round.id,
        progress: 60,
        epsilon: 1.5,
        clients: [client],
        model: 'fl-global',
      });
      expect(list.body).toMatchObject({ total: 1, rounds: [{ id: round.id }] });
      expect(history.body).toEqual(list.body);
      expect(one.body).toMatchObject({ id: round.id, clients: [client] });
      expect(none.status).toBe(404);
      expect(clients.body).toEqual([client]);
      expect(oneClient.body).toEqual(client);
      expect(noClient.status).toBe(404);
      expect(privacy.body).toEqual({
        epsilon: 1.5,
        delta: 1e-5,
        data_size: 500,
        encryption: 'none',
        privacy_budget_remaining: 0.85,
        facilities: [
          {
            facility_id: 'plant-a',
            epsilon: 1.5,
            privacy_budget_remaining: 0.85,
            data_size: 300,
            rounds: 1,
            exhausted_at: null,
          },
          {
            facility_id: 'plant-b',
            epsilon: 0.5,
            privacy_budget_remaining: 0.95,
            data_size: 200,
            rounds: 1,
            exhausted_at: null,
          },
        ],
      });
    });

    /** A round engine over three local nodes (plant-a, plant-b twice) of which the third never answers, so a round
     * stays open until its timeout. */
    const engineWithSilentNode = (firstNodeId: number, firstSeed: number): RoundEngine =>
      new RoundEngine({
        store: api.store,
        transport: new LocalFleet(
          (['plant-a', 'plant-b', 'plant-b'] as const).map((f, i) => ({
            nodeId: String(firstNodeId + i),
            facilityId: f,
            seed: firstSeed + i,
            trainExamples: 120,
            validationExamples: 40,
            shift: 0.2 * i,
            behaviour: i === 2 ? ('silent' as const) : ('train' as const),
          })),
        ),
        strategy: new FedAvg(),
        privacy: { delta: 1e-5, epsilonBudget: 10 },
        initialArrays: () => modelArrays(localModel(1)),
        log: () => undefined,
      });

    it('answers 503 not_available for a round trigger when no FL engine is attached', async () => {
      const res = await http(api, 'POST', '/api/fl/rounds/trigger', { token: operator });
      const byViewer = await http(api, 'POST', '/api/fl/rounds/trigger', { token: viewer });

      expect(res.status).toBe(503);
      expect((res.body as { error: { code: string } }).error.code).toBe('not_available');
      expect(byViewer.status).toBe(403);
    });

    it('starts a round on trigger with the attached engine, streams it, and refuses a second one meanwhile', async () => {
      // A third node never answers: it holds the round open until its timeout, so the second trigger meets it.
      const engine = engineWithSilentNode(7001, 40);
      api.attachFl(engine);
      const ws = await TestWs.connect(`${api.wsUrl}?token=${viewer}`);
      ws.send({ action: 'subscribe', room: 'fl_status' });
      await ws.next((m) => m.type === 'subscribed');

      const started = await http(api, 'POST', '/api/fl/rounds/trigger', {
        token: operator,
        body: { timeout_seconds: 1.5 },
      });
      const again = await http(api, 'POST', '/api/fl/rounds/trigger', {
        token: operator,
        body: { min_clients: 2 },
      });
      const body = started.body as FLRound & { round_id: number };
      const completed = await ws.next((m) => m.type === 'fl_round_completed', 30_000);
      await engine.shutdown();
      const stored = (await http(api, 'GET', `/api/fl/rounds/${body.round_id}`, { token: viewer }))
        .body as FLRound;
      const privacy = (await http(api, 'GET', '/api/fl/privacy-metrics', { token: viewer })).body as {
        epsilon: number;
        data_size: number;
      };
      const bad = await http(api, 'POST', '/api/fl/rounds/trigger', {
        token: operator,
        body: { min_clients: 0 },
      });
      const tooMany = await http(api, 'POST', '/api/fl/rounds/trigger', {
        token: operator,
        body: { min_clients: 4 },
      });

      expect(started.status).toBe(200);
      expect(body).toMatchObject({ status: 'started', round_number: 1, total_clients: 3 });
      expect(body.id).toBe(body.round_id);
      expect(again.status).toBe(409);
      expect(ws.messages.some((m) => m.type === 'fl_round_started')).toBe(true);
      expect(completed.data).toMatchObject({ id: body.round_id, status: 'completed' });
      expect(stored).toMatchObject({ status: 'completed', clients_active: 2 });
      expect(stored.model_accuracy).toBeGreaterThan(0.5);
      expect(privacy.epsilon).toBeGreaterThan(0);
      expect(privacy.epsilon).toBe(stored.epsilon);
      expect(privacy.data_size).toBe(240);
      expect(bad.status).toBe(400);
      expect(tooMany.status).toBe(409);
      expect((tooMany.body as { error: { details: { reason: string } } }).error.details.reason).toBe(
        'not_enough_clients',
      );
      await ws.close();
    });

    it("names the round in progress in the trigger's 409, and the demo's fl-round waits for that round to end and starts its own", async () => {
      // As in the demo, where each Layer 2 round is followed by a Layer 1b round: a round holds the engine (a silent
      // node keeps it open until its 1.5 s timeout) when the operator asks for the demo's round.
      const engine = engineWithSilentNode(7101, 50);
      api.attachFl(engine);
      const first = (
        await http(api, 'POST', '/api/fl/rounds/trigger', { token: operator, body: { timeout_seconds: 1.5 } })
      ).body as FLRound & { round_id: number };

      const trigger = await http(api, 'POST', '/api/fl/rounds/trigger', { token: operator });
      const demo = await http(api, 'POST', '/api/demo/scenarios/fl-round', { token: operator });
      const before = (await http(api, 'GET', `/api/fl/rounds/${first.round_id}`, { token: viewer }))
        .body as FLRound;
      await engine.shutdown();

      expect(demo.status).toBe(200);
      const own = demo.body as { round_id: number; status: string };
      expect(own).toEqual({ round_id: first.round_id + 1, status: 'started' });
      // The round in progress had ended when the demo's round started: it was not cut short, nor run alongside.
      expect(before.status).toBe('completed');
      const second = (await http(api, 'GET', `/api/fl/rounds/${own.round_id}`, { token: viewer }))
        .body as FLRound;
      expect(second.round_number).toBe(2);
      expect(Date.parse(second.start_time)).toBeGreaterThanOrEqual(Date.parse(before.end_time ?? ''));
      expect(trigger.status).toBe(409);
      expect((trigger.body as { error: { details: unknown } }).error.details).toEqual({
        reason: 'in_progress',
        round_id: first.round_id,
        round_number: 1,
        model: first.model,
        phase: expect.any(String) as string,
      });
    });
  });

  describe('predictions and ATT&CK', () => {
    it('lists, filters and fetches stored predictions', async () => {
      const first = makePrediction({ timestamp: new Date(Date.now() - 60e3).toISOString() });
      const second = makePrediction();
      await raw.insertPrediction({ ...first, facility_id: 'plant-a' });
      await raw.insertPrediction({ ...second, facility_id: 'plant-a' });
      await raw.markPredictionValidated(first.id, new Date().toISOString());

      const list = (await http(api, 'GET', '/api/predictions?limit=10', { token: viewer })).body as {
        predictions: Prediction[];
        total: number;
      };
      const validated = (await http(api, 'GET', '/api/predictions?validated=true', { token: viewer }))
        .body as {
        predictions: Prediction[];
        total: number;
      };
      const latest = await http(api, 'GET', '/api/predictions/latest', { token: viewer });
      const one = await http(api, 'GET', `/api/predictions/${first.id}`, { token: viewer });
      const missing = await http(api, 'GET', `/api/predictions/${crypto.randomUUID()}`, { token: viewer });

      expect(list.total).toBe(2);
      expect(list.predictions.map((p) => p.id)).toEqual([second.id, first.id]);
      expect(validated.predictions.map((p) => p.id)).toEqual([first.id]);
      expect(latest.body).toEqual(second);
      expect(one.body).toMatchObject({ id: first.id, validated: true });
      expect(missing.status).toBe(404);
    });

    it('answers 404 for the latest prediction and an empty graph before any prediction', async () => {
      const latest = await http(api, 'GET', '/api/predictions/latest', { token: viewer });
      const graph = await http(api, 'GET', '/api/mitre/graph', { token: viewer });

      expect(latest.status).toBe(404);
      expect(graph.body).toEqual({ nodes: [], links: [] });
    });

    it('builds the attack graph from stored predictions, every link between listed nodes', async () => {
      const p = makePrediction();
      await raw.insertPrediction({ ...p, facility_id: 'plant-a' });

      const res = await http(api, 'GET', '/api/mitre/graph', { token: viewer });

      const graph = res.body as {
        nodes: { id: string; type: string }[];
        links: { source: string; target: string }[];
      };
      expect(graph.nodes).toEqual(
        expect.arrayContaining([
          { id: 'T0846', name: 'Remote System Discovery', type: 'current', probability: 1 },
          { id: 'T0886', name: 'Remote Services', type: 'predicted', probability: 0.6 },
        ]),
      );
      const ids = new Set(graph.nodes.map((n) => n.id));
      expect(graph.links).toHaveLength(2);
      for (const l of graph.links) expect(ids.has(l.source) && ids.has(l.target)).toBe(true);
    });

    it('makes a prediction on request from the served predictor top 5, stored and tied to the alert facility', async () => {
      const alert = makeAlert({ facility_id: 'plant-b', attack_type: 'T0846' });
      await raw.insertAlerts([alert]);
      const graph = EmbeddedAttackGraph.fromCatalog(shippedCatalog());
      const expected = await (await openPredictor(graph)).predict(['T0846'], PREDICTION_K);

      const res = await http(api, 'POST', '/api/predictions/predict', {
        token: operator,
        body: { current_technique: 'T0846', alert_id: alert.id },
      });
      const unknownTechnique = await http(api, 'POST', '/api/predictions/predict', {
        token: operator,
        body: { current_technique: 'T0999', alert_id: null },
      });
      const unknownAlert = await http(api, 'POST', '/api/predictions/predict', {
        token: operator,
        body: { current_technique: 'T0846', alert_id: crypto.randomUUID() },
      });

      expect(res.status).toBe(200);
      const p = res.body as Prediction;
      expect(p).toMatchObject({ current_technique: 'T0846', alert_id: alert.id, validated: false });
      expect(p.predicted_techniques.map((t) => [t.technique_id, t.probability, t.rank])).toEqual(
        expected.map((t) => [t.id, t.probability, t.rank]),
      );
      expect(p.predicted_techniques).toHaveLength(PREDICTION_K);
      for (const t of p.predicted_techniques) expect(t.timeframe_seconds).toBeGreaterThan(0);
      expect((await http(api, 'GET', `/api/predictions/${p.id}`, { token: viewer })).body).toEqual(p);
      expect(await raw.openPredictions('plant-b', new Date(0).toISOString())).toEqual([p]);
      expect(unknownTechnique.status).toBe(404);
      expect(unknownAlert.status).toBe(404);
    });

    it('predicts from an alert, announces it, and validates it by a later alert at the same facility', async () => {
      const ws = await TestWs.connect(`${api.wsUrl}?token=${viewer}`);
      ws.send({ action: 'subscribe', channels: ['predictions', 'attack-graph'] });
      await ws.next((m) => m.type === 'subscribed' && m.room === 'attack-graph');
      const t0 = Date.now() - 600_000;
      const first = makeAlert({ attack_type: 'T0846', timestamp: new Date(t0).toISOString() });

      await api.store.insertAlerts([first]);
      const created = (await ws.next((m) => m.type === 'prediction_created')).data as Prediction;
      const detected = await ws.next(
        (m) => m.type === 'attack_detected' && (m.data as { type: string }).type === 'current',
      );
      const next = created.predicted_techniques[0]!;
      // The same technique at another facility does not validate; at the same facility within the bound it does.
      await api.store.insertAlerts([
        makeAlert({
          facility_id: 'plant-b',
          attack_type: next.technique_id,
          timestamp: new Date(t0 + 60_000).toISOString(),
        }),
      ]);
      await ws.next(
        (m) =>
          m.type === 'prediction_created' && (m.data as Prediction).current_technique === next.technique_id,
      );
      expect((await raw.getPrediction(created.id))?.validated).toBe(false);
      const later = makeAlert({
        attack_type: next.technique_id,
        timestamp: new Date(t0 + 120_000).toISOString(),
      });
      await api.store.insertAlerts([later]);
      const validated = (await ws.next((m) => m.type === 'prediction_validated')).data as Prediction;
      await ws.next((m) => m.type === 'prediction_created' && (m.data as Prediction).alert_id === later.id);

      expect(created).toMatchObject({
        current_technique: 'T0846',
        alert_id: first.id,
        timestamp: first.timestamp,
      });
      expect(created.predicted_techniques).toHaveLength(PREDICTION_K);
      expect(detected.data).toMatchObject({
        technique_id: 'T0846',
        confidence: first.correlation_confidence,
      });
      expect((detected.data as { links: unknown[] }).links).toHaveLength(PREDICTION_K);
      expect(validated).toMatchObject({ id: created.id, validated: true, validation_time: later.timestamp });
      const status = (await http(api, 'GET', '/api/system/status', { token: viewer })).body as {
        prediction_accuracy: number;
      };
      expect(status.prediction_accuracy).toBeCloseTo(1 / 3, 9);
      await ws.close();
    });

    it('serves every live technique and one technique from the shipped bundle', async () => {
      const all = (await http(api, 'GET', '/api/mitre/techniques', { token: viewer })).body as {
        id: string;
      }[];
      const one = await http(api, 'GET', '/api/mitre/technique/T0846', { token: viewer });
      const unknown = await http(api, 'GET', '/api/mitre/technique/T0999', { token: viewer });

      expect(all.map((t) => t.id)).toEqual(shippedCatalog().techniques.map((t) => t.id));
      expect(one.body).toEqual(shippedCatalog().techniqueDetails('T0846'));
      expect(unknown.status).toBe(404);
    });
  });

  describe('demo', () => {
    it('answers 503 not_available for scenarios and reset, and an empty status', async () => {
      const results = await Promise.all([
        http(api, 'POST', '/api/demo/scenarios/port-scan', {
          token: operator,
          body: { facility_id: 'plant-a' },
        }),
        http(api, 'POST', '/api/demo/scenarios/multi-stage', {
          token: operator,
          body: { facility_id: 'plant-a' },
        }),
        http(api, 'POST', '/api/demo/scenarios/fl-round', { token: operator }),
        http(api, 'POST', '/api/demo/reset', { token: operator }),
      ]);
      const status = await http(api, 'GET', '/api/demo/status', { token: viewer });

      for (const r of results) {
        expect(r.status).toBe(503);
        expect((r.body as { error: { code: string } }).error.code).toBe('not_available');
      }
      expect(status.body).toEqual({ active_scenarios: [], last_scenario: null });
    });
  });

  describe('websocket', () => {
    it('confirms subscriptions and sends alert events with the channel as spelled', async () => {
      const ws = await TestWs.connect(`${api.wsUrl}?token=${viewer}`);
      ws.send({ action: 'subscribe', channels: ['alerts', 'fl-status'] });
      ws.send({ action: 'subscribe', room: 'dashboard' });
      await ws.next((m) => m.type === 'subscribed' && m.room === 'alerts');
      await ws.next((m) => m.type === 'subscribed' && m.room === 'fl-status');
      await ws.next((m) => m.type === 'subscribed' && m.room === 'dashboard');
      const alert = makeAlert();

      await api.store.insertAlerts([alert]);

      const created = await ws.next((m) => m.type === 'alert_created' && m.channel === 'alerts');
      expect((created.data as Alert).id).toBe(alert.id);
      await ws.next((m) => m.type === 'alert_created' && m.channel === 'dashboard');
      const update = await ws.next((m) => m.type === 'dashboard_update');
      expect(update.channel).toBe('dashboard');
      const data = update.data as { alertStats: unknown; stats: unknown; active_alerts: number };
      expect(data.alertStats).toEqual({ total: 1, critical: 0, unresolved: 1, false_positives: 0 });
      expect(data.stats).toEqual(data.alertStats);
      expect(data.active_alerts).toBe(1);
      await ws.close();
    });

    it('sends alert_updated after a status change through the API and fl events to fl-status', async () => {
      const alert = makeAlert();
      await raw.insertAlerts([alert]);
      const ws = await TestWs.connect(api.wsUrl, { Authorization: `Bearer ${viewer}` });
      ws.send({ action: 'subscribe', channels: ['alerts', 'fl-status'] });
      await ws.next((m) => m.type === 'subscribed' && m.room === 'fl-status');

      await http(api, 'PUT', `/api/alerts/${alert.id}/status`, {
        token: operator,
        body: { status: 'acknowledged' },
      });
      const round = await api.store.createRound({
        round_number: 1,
        model: 'fl-global',
        status: 'in-progress',
        phase: 'distributing',
        start_time: new Date().toISOString(),
        total_clients: 1,
      });
      await api.store.updateRound(round.id, { progress: 30, phase: 'training' });

      const updated = await ws.next((m) => m.type === 'alert_updated');
      expect(updated).toMatchObject({ channel: 'alerts', data: { id: alert.id, status: 'acknowledged' } });
      expect(await ws.next((m) => m.type === 'fl_round_started')).toMatchObject({ channel: 'fl-status' });
      expect(await ws.next((m) => m.type === 'fl_progress')).toMatchObject({
        channel: 'fl-status',
        data: { round_id: round.id, progress: 30, phase: 'training' },
      });
      await ws.close();
    });

    it('stops sending a room after unsubscribe and answers application pings', async () => {
      const ws = await TestWs.connect(`${api.wsUrl}?token=${viewer}`);
      ws.send({ action: 'subscribe', room: 'alerts' });
      await ws.next((m) => m.type === 'subscribed');
      ws.send({ action: 'unsubscribe', room: 'alerts' });
      await ws.next((m) => m.type === 'unsubscribed' && m.room === 'alerts');

      await api.store.insertAlerts([makeAlert()]);
      ws.send({ action: 'ping' });

      await ws.next((m) => m.type === 'pong');
      expect(ws.messages.filter((m) => m.type === 'alert_created')).toEqual([]);
      await ws.close();
    });
  });
});
