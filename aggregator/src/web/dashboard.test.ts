// The dashboard in a real browser: Debian's chromium (headless, driven by playwright-core) loads every page from a
// real API server over a seeded SQLite store, checks that real content shows, and sees an alert written through the
// server's store (the path ingest uses) appear on the alerts page over /ws without a reload. Screenshots land in
// test-artifacts/dashboard/ (gitignored) for a person to look at.
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shippedCatalog, type FLRound } from '@vigil/shared';
import { needComponent } from '@vigil/shared/testing';
import { openStore } from '../store/open.js';
import type { Store } from '../store/types.js';
import { AlertSeeder } from '../seed/generate.js';
import { startApiServer, type RunningApi } from '../api/server.js';
import { issueToken, makeAlert, makeClient, makePrediction } from '../api/testing/fixtures.js';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = fileURLToPath(new URL('../../../test-artifacts/dashboard/', import.meta.url));
const FACILITIES = ['plant-a', 'plant-b', 'plant-c'];
const runs = needComponent(
  'chromium',
  existsSync(CHROMIUM),
  'apt-get install chromium; deploy/install-test-deps.sh installs it',
);

/** Completed FL rounds with per-client loss and accuracy, as the FL server will record them. */
async function seedRounds(store: Store, count: number): Promise<void> {
  const t0 = Date.now() - count * 600_000;
  const clientIds = new Map(FACILITIES.map((f) => [f, randomUUID()]));
  for (let i = 1; i <= count; i++) {
    const start = new Date(t0 + i * 600_000).toISOString();
    const round = await store.createRound({
      round_number: i,
      model: 'fl-global',
      status: 'in-progress',
      phase: 'training',
      start_time: start,
      total_clients: FACILITIES.length,
    });
    for (const f of FACILITIES) {
      await store.upsertRoundClient(
        round.id,
        makeClient({
          id: clientIds.get(f),
          facility_id: f,
          name: `${f} agent`,
          progress: 100,
          current_epoch: 5,
          loss: 0.9 / i,
          accuracy: 0.7 + 0.05 * i,
        }),
      );
    }
    await store.updateRound(round.id, {
      status: 'completed',
      phase: 'complete',
      progress: 100,
      end_time: new Date(Date.parse(start) + 300_000).toISOString(),
      epsilon: 0.4 * i,
      model_accuracy: 0.7 + 0.05 * i,
    });
  }
}

describe.runIf(runs)('dashboard in a real browser', () => {
  let dir: string;
  let api: RunningApi;
  let context: BrowserContext;
  let page: Page;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-web-'));
    mkdirSync(ARTIFACTS, { recursive: true });
    const store = await openStore(`sqlite:${join(dir, 'vigil.db')}`);
    for (const id of FACILITIES) await store.addFacility({ id, name: `Plant ${id.slice(-1).toUpperCase()}` });
    const seeder = new AlertSeeder({
      facilities: FACILITIES,
      nowMs: Date.now(),
      spanSeconds: 7 * 86_400,
      seed: 11,
      catalog: shippedCatalog(),
    });
    await store.insertAlerts(seeder.batch(500));
    for (const f of FACILITIES) await store.insertAggregates(seeder.aggregates(f, 120));
    await seedRounds(store, 4);
    await store.upsertAgent({ id: 'agent-a', facility_id: 'plant-a', enrolled_at: new Date().toISOString() });
    await store.recordHeartbeat('agent-a', new Date().toISOString(), {
      outbox_depth: 3,
      capture_drops: 0,
      suppressed: { 'new-service/T0886': 4 },
    });
    await store.applyAssetChanges('plant-a', [
      {
        change: 'added',
        address: '10.10.2.11',
        mac: '00:80:f4:01:02:03',
        protocols: ['modbus'],
        role: 'plc',
        first_seen: new Date(Date.now() - 60_000).toISOString(),
        last_seen: new Date().toISOString(),
      },
    ]);
    await store.insertPrediction({ ...makePrediction(), facility_id: 'plant-a' });
    api = await startApiServer({ store, host: '127.0.0.1', port: 0, anonymous: true, log: () => undefined });

    context = await chromium.launchPersistentContext(join(dir, 'profile'), {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1400, height: 1000 },
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(15_000);
    page.on('pageerror', (err) => pageErrors.push(err.message));
  });

  afterAll(async () => {
    await context?.close();
    await api?.close();
    await api?.store.close();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  async function open(hash: string, shot: string): Promise<void> {
    // A fresh document each time: going from one #/ route to another would only change the hash.
    await page.goto('about:blank');
    await page.goto(`${api.url}/#/${hash}`);
    await page.locator('#live-state', { hasText: 'live' }).waitFor();
    await page.waitForLoadState('networkidle');
    await page.screenshot({ path: join(ARTIFACTS, `${shot}.png`), fullPage: true });
  }

  it('shows system status, facilities, recent alerts, the FL round and the latest prediction on the overview', async () => {
    await open('overview', 'overview');

    const main = page.locator('main');
    await expect(
      main.locator('.stat', { hasText: 'Active alerts' }).locator('.stat-value').innerText(),
    ).resolves.toMatch(/^\d+$/);
    for (const f of FACILITIES) await main.locator('ul.facilities li', { hasText: f }).waitFor();
    expect(await main.locator('table.alerts tr').count()).toBe(8);
    await main.getByText('Round 4').waitFor();
    await main.getByText('T0886 Remote Services: 60% within 15-60 minutes').waitFor();
    expect(pageErrors).toEqual([]);
  });

  it('filters alerts by severity, pages through them, and opens an alert with its evidence timeline', async () => {
    await open('alerts', 'alerts');
    await page.locator('.pager', { hasText: 'of 20 · 500 alerts' }).waitFor();

    const wanted = await page.locator('table.alerts tbody tr a').nth(3).innerText();
    await page.fill('input[name=search]', wanted);
    await page.locator('.pager', { hasText: /page 1 of 1 · \d+ alerts/ }).waitFor();
    expect(await page.locator('table.alerts tbody tr a').allInnerTexts()).toContain(wanted);
    await page.fill('input[name=search]', '');
    await page.locator('.pager', { hasText: 'of 20 · 500 alerts' }).waitFor();

    await page.selectOption('select[name=severity]', 'critical');
    await page.locator('.pager', { hasText: /page 1 of \d+ · \d+ alerts/ }).waitFor();
    await expect.poll(() => page.locator('table.alerts tbody tr .b-high').count()).toBe(0);
    const badges = await page.locator('table.alerts tbody tr td:first-child .badge').allInnerTexts();
    expect(badges.length).toBeGreaterThan(0);
    expect(new Set(badges)).toEqual(new Set(['critical']));
    await page.selectOption('select[name=severity]', '');
    await page.getByRole('button', { name: 'Next ›' }).click();
    await page.locator('.pager', { hasText: 'page 2 of 20' }).waitFor();
    await page.selectOption('select[name=status]', 'new');
    await page.locator('.pager', { hasText: /page 1 of/ }).waitFor();

    const first = page.locator('table.alerts tbody tr a').first();
    const title = await first.innerText();
    await first.click();
    await page.locator('h1', { hasText: title }).waitFor();
    await page.locator('svg.chart').first().waitFor();
    expect(await page.locator('svg.chart path.line').count()).toBe(2);
    expect(await page.locator('table.sources tbody tr').count()).toBeGreaterThan(0);
    await page.getByRole('button', { name: 'Mark acknowledged' }).click();
    await page.locator('.action-msg', { hasText: 'marked acknowledged' }).waitFor();
    await page.screenshot({ path: join(ARTIFACTS, 'alert-detail.png'), fullPage: true });
    expect(pageErrors).toEqual([]);
  });

  it('shows FL round progress, clients, accuracy and loss charts, and the privacy budget', async () => {
    await open('fl', 'fl');

    await page.getByText('Round 4').first().waitFor();
    expect(await page.locator('table.clients tbody tr').count()).toBeGreaterThan(0);
    await page.getByText('4 rounds (latest 4 shown)').waitFor();
    expect(await page.locator('svg.chart circle.dot').count()).toBe(8);
    await page.getByText(/of the budget remaining/).waitFor();
    expect(pageErrors).toEqual([]);
  });

  it('draws the attack graph and shows a technique when it is clicked', async () => {
    await open('graph', 'graph');

    expect(await page.locator('svg.attack-graph g.node').count()).toBe(3);
    await page.locator('g.node[data-technique=T0886]').click();
    await page.locator('h3', { hasText: 'T0886 Remote Services' }).waitFor();
    await page.screenshot({ path: join(ARTIFACTS, 'graph-technique.png'), fullPage: true });
    expect(pageErrors).toEqual([]);
  });

  it('shows each facility with its agents, their health (suppressed detections too), its asset inventory and traffic', async () => {
    await open('assets', 'assets');

    for (const f of FACILITIES) await page.locator('section h2', { hasText: `(${f})` }).waitFor();
    const plantA = page.locator('section', { has: page.locator('h2', { hasText: '(plant-a)' }) });
    await plantA.locator('table.assets td', { hasText: '10.10.2.11' }).waitFor();
    await plantA.getByText('outbox depth').waitFor();
    await plantA.getByText('new-service/T0886 4').waitFor();
    await page.getByText('The agent has reported no assets yet.').first().waitFor();
    await page
      .getByText(/of the last 60 seconds carry traffic aggregates/)
      .first()
      .waitFor();
    expect(pageErrors).toEqual([]);
  });

  it('shows a newly stored alert on the alerts page over /ws, without reloading the page', async () => {
    await open('alerts', 'alerts-before-live');
    await page.evaluate(() => {
      (globalThis as unknown as { notReloaded: boolean }).notReloaded = true;
    });
    const title = `Unauthorized Modbus write to PLC-7 (${Date.now()})`;

    await api.store.insertAlerts([makeAlert({ title, severity: 'critical', facility_id: 'plant-b' })]);

    await page.locator('table.alerts tbody tr.fresh', { hasText: title }).waitFor();
    await page.getByText('1 new since opened').waitFor();
    expect(await page.evaluate(() => (globalThis as unknown as { notReloaded?: boolean }).notReloaded)).toBe(
      true,
    );
    await page.screenshot({ path: join(ARTIFACTS, 'alerts-live.png'), fullPage: true });
    expect(pageErrors).toEqual([]);
  });

  it('shows a new FL round and a new prediction as they are stored, without reloading', async () => {
    await open('fl', 'fl-before-live');
    await page.evaluate(() => {
      (globalThis as unknown as { notReloaded: boolean }).notReloaded = true;
    });

    await api.store.createRound({
      round_number: 5,
      model: 'fl-global',
      status: 'in-progress',
      phase: 'distributing',
      start_time: new Date().toISOString(),
      total_clients: 3,
    });
    await page.getByText('Round 5').waitFor();
    await page.getByRole('link', { name: 'Attack graph' }).click();
    await page.locator('g.node[data-technique=T0846]').waitFor();
    await api.store.insertPrediction({
      ...makePrediction({
        current_technique: 'T0855',
        current_technique_name: 'Unauthorized Command Message',
      }),
      facility_id: 'plant-c',
    });

    await page.locator('g.node[data-technique=T0855]').waitFor();
    expect(await page.evaluate(() => (globalThis as unknown as { notReloaded?: boolean }).notReloaded)).toBe(
      true,
    );
    await page.screenshot({ path: join(ARTIFACTS, 'graph-live.png'), fullPage: true });
    expect(pageErrors).toEqual([]);
  });

  /** The round the server holds as in progress: the one an earlier test stored, or a Layer 1b round stored now. */
  async function roundInProgress(): Promise<FLRound> {
    const current = await api.store.currentRound();
    if (current?.status === 'in-progress') return current;
    return api.store.createRound({
      round_number: (current?.round_number ?? 0) + 1,
      model: 'fl-global-l1b',
      status: 'in-progress',
      phase: 'training',
      start_time: new Date().toISOString(),
      total_clients: 3,
    });
  }

  /** Answers `path` with the API's error shape (this server has no FL engine, so its own answer would be 503). */
  async function answerError(path: string, status: number, details: Record<string, unknown>): Promise<void> {
    await page.unroute(path);
    await page.route(path, (route) =>
      route.fulfill({
        status,
        contentType: 'application/json',
        body: JSON.stringify({ error: { code: 'conflict', message: 'refused', details } }),
      }),
    );
  }

  it('names the round in progress when the trigger answers 409 and shows that round; says how many clients are missing', async () => {
    const running = await roundInProgress();
    const model = running.model === 'fl-global' ? 'Layer 2' : 'Layer 1b';
    const trigger = '**/api/fl/rounds/trigger';
    await open('fl', 'fl-trigger');
    const start = page.getByRole('button', { name: 'Start a round' });

    await answerError(trigger, 409, {
      reason: 'in_progress',
      round_id: running.id,
      round_number: running.round_number,
      model: running.model,
      phase: running.phase,
    });
    await start.click();
    await page
      .getByText(`round ${running.round_number} (${model}) is in progress, phase ${running.phase}`)
      .waitFor();
    const fetched = page.waitForRequest((r) => r.url().endsWith(`/api/fl/rounds/${running.id}`));
    await page.getByRole('button', { name: `Show round ${running.round_number}` }).click();
    await fetched;
    const card = page.locator('section.card', { has: page.locator('h2', { hasText: 'Current round' }) });
    await card
      .locator(`[data-round-id="${running.id}"]`, { hasText: `Round ${running.round_number}` })
      .waitFor();
    await page.screenshot({ path: join(ARTIFACTS, 'fl-trigger-in-progress.png'), fullPage: true });

    await answerError(trigger, 409, { reason: 'not_enough_clients', eligible: 1, required: 2 });
    await start.click();
    await page.getByText('not enough clients can take part: 1 eligible, 2 required').waitFor();

    // any other refusal shows as before: this server's own 503 (no FL engine attached)
    await page.unroute(trigger);
    await start.click();
    await page.locator('.error', { hasText: '(not_available)' }).waitFor();
    expect(pageErrors).toEqual([]);
  });

  it("disables the demo's FL round button while the server waits for the round in progress, names that round, then shows the outcome", async () => {
    const running = await roundInProgress();
    const model = running.model === 'fl-global' ? 'Layer 2' : 'Layer 1b';
    let release = (): void => undefined;
    let startedId = 0;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    await page.route('**/api/demo/scenarios/fl-round', async (route) => {
      await held;
      await route.fulfill({
        status: 200,
        contentType: 'application/json',
        body: JSON.stringify({ round_id: startedId, status: 'started' }),
      });
    });
    try {
      await open('overview', 'demo-before-fl-round');
      const button = page.locator('button[data-scenario=fl-round]');

      await button.click();
      await page
        .getByText(
          `Waiting for round ${running.round_number} (${model}), in progress (phase ${running.phase}), to end`,
        )
        .waitFor();
      expect(await button.isDisabled()).toBe(true);
      await page.screenshot({ path: join(ARTIFACTS, 'demo-fl-round-waiting.png'), fullPage: true });

      // the round ends and a series starts its next one: the panel names the round it now waits for
      await api.store.updateRound(running.id, {
        status: 'completed',
        phase: 'complete',
        progress: 100,
        end_time: new Date().toISOString(),
      });
      const next = await api.store.createRound({
        round_number: running.round_number + 1,
        model: 'fl-global-l1b',
        status: 'in-progress',
        phase: 'training',
        start_time: new Date().toISOString(),
        total_clients: 3,
      });
      await page
        .getByText(`Waiting for round ${next.round_number} (Layer 1b), in progress (phase training), to end`)
        .waitFor();
      expect(await button.isDisabled()).toBe(true);

      startedId = next.id + 1;
      release();
      await page.getByText(`FL round ${startedId} started`).waitFor();
      expect(await button.isDisabled()).toBe(false);
    } finally {
      release();
      await page.unroute('**/api/demo/scenarios/fl-round');
    }
    expect(pageErrors).toEqual([]);
  });

  it('asks for a token when the server is not anonymous, then shows honest empty states on an empty store', async () => {
    const store = await openStore(`sqlite:${join(dir, 'empty.db')}`);
    const secret = await issueToken(store, 'viewer');
    const guarded = await startApiServer({ store, host: '127.0.0.1', port: 0, log: () => undefined });
    try {
      await page.goto('about:blank');
      await page.goto(`${guarded.url}/#/overview`);
      await page.locator('.token-prompt input[name=token]').fill(secret);
      await page.screenshot({ path: join(ARTIFACTS, 'token-prompt.png') });
      await page.getByRole('button', { name: 'Use token' }).click();

      await page.locator('#live-state', { hasText: 'live' }).waitFor();
      await page.getByText('No FL round has run yet.').waitFor();
      await page.getByText('No prediction has been made yet.').waitFor();
      await page.getByText('No alert has been raised yet.').waitFor();
      await page.getByText('No facility is registered yet').first().waitFor();
      await page.screenshot({ path: join(ARTIFACTS, 'overview-empty.png'), fullPage: true });
      await page.getByRole('link', { name: 'Attack graph' }).click();
      await page.getByText('No technique has been seen or predicted yet').waitFor();
      expect(await page.locator('.token-prompt').isHidden()).toBe(true);
      expect(pageErrors).toEqual([]);
    } finally {
      await guarded.close();
      await store.close();
    }
  });
});
