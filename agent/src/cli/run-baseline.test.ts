// Where `vigil-agent run` gets its baseline: a live source learns for a day by default and says until when; a
// stored baseline is used only with the models' local baseline learnt with it (else both are learnt again).
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { resolveAgentConfig } from '../config.js';
import { loadBaseline, saveBaseline } from '../detect/baseline-file.js';
import { loadModelDetectors } from '../detect/ml/detector.js';
import { runScenario } from '../detect/scenario.js';
import { BaselineKeeper, learningOf } from './run-baseline.js';

const NOW = Date.parse('2026-11-22T23:00:00Z');

describe('learningOf', () => {
  let dir: string;
  let said: string[];
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-learning-'));
    said = [];
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const ctx = (models?: ReturnType<typeof loadModelDetectors>) => ({
    facility: 'plant',
    dataDir: dir,
    models,
    now: () => NOW,
    say: (l: string) => said.push(l),
  });

  it('a live source with nothing stored learns for 24 h by default and says until when', async () => {
    const c = resolveAgentConfig({ data_dir: dir, capture_ring: '/run/vigil-capture/eth1.pcapng' }, {}, 'f');

    const l = await learningOf(c, ctx());

    expect(l.learnMs).toBe(24 * 3600_000);
    expect(l.baseline.learning).toBe(true);
    const line =
      "learning the baseline from the source's first 1440 minute(s), until about 2026-11-23T23:00:00.000Z";
    expect(said).toEqual([`${line}: no policy alerts before then`]);
    expect(l.status()).toBe(line);
  });

  it('a stored baseline whose models are missing is not used: both are learnt again', async () => {
    const { baseline } = await runScenario({
      topology: 'water-a',
      seed: 3,
      durationS: 120,
      learnS: 60,
      attacks: [],
    });
    saveBaseline(dir, { facility: 'plant', baseline, source: 'test', models: { state: 'saved', note: '' } });
    const c = resolveAgentConfig({ data_dir: dir, pcap: '/p.pcap', known_masters: ['10.10.1.20'] }, {}, 'f');

    const rulesOnly = await learningOf(c, ctx());
    const withModels = await learningOf(c, ctx(loadModelDetectors({ facility: 'plant', dataDir: dir })));

    expect(rulesOnly.learnMs).toBe(0);
    expect(rulesOnly.status()).toMatch(/^loaded from .*baseline\.json \(learnt from test, stored 20/);
    expect(rulesOnly.baseline.isMaster('10.10.1.20')).toBe(true);
    expect(withModels.learnMs).toBe(5 * 60_000);
    expect(withModels.baseline.learning).toBe(true);
    expect(said).toContainEqual(
      `stored baseline ${join(dir, 'baseline.json')} not used: the models' local baseline learnt with it is missing or was refused; learning both again`,
    );
  });

  it('a learning period is checkpointed every few minutes; a restart resumes it with its remaining time', async () => {
    // a plant's first minute of a 10-minute period: still learning
    const { baseline } = await runScenario({
      topology: 'water-a',
      seed: 3,
      durationS: 60,
      learnS: 600,
      attacks: [],
    });
    let now = NOW;
    const keeper = new BaselineKeeper({
      facility: 'plant',
      dataDir: dir,
      source: 'the first 10 minute(s) of --interface eth1',
      say: (l) => said.push(l),
      period: { periodMs: 600_000, priorMs: 0 },
      now: () => now,
      checkpointMs: 120_000,
    });
    const engine = { baseline, learningElapsedMs: () => 60_000 };

    keeper.poll(engine);
    const early = loadBaseline(dir, 'plant');
    now += 120_000;
    keeper.poll(engine);
    const c = resolveAgentConfig({ data_dir: dir, interface: 'eth1', learn_minutes: 10 }, {}, 'f');
    const resumed = await learningOf(c, ctx());

    expect(baseline.learning).toBe(true);
    expect(early.ok ? 'stored' : early.absent).toBe(true);
    expect(said).toContainEqual(
      `baseline: learning checkpoint stored in ${join(dir, 'baseline.json')}: 2026-11-22T23:02:00.000Z (1.0 min of 10.0 min learnt)`,
    );
    expect(resumed.learnMs).toBe(540_000);
    expect(resumed.baseline.learning).toBe(true);
    expect(resumed.baseline.checkpoint()).toEqual(baseline.checkpoint());
    expect(resumed.status()).toMatch(
      /^learning the baseline, resumed from the checkpoint .*baseline\.json \(stored 2026-11-22T23:02:00\.000Z, learnt from the first 10 minute\(s\) of --interface eth1\): 1\.0 min of 10 minute\(s\) learnt, 9\.0 min left, until about 2026-11-22T23:09:00\.000Z$/,
    );
  });

  it('with the models on, a checkpoint holds their learning too and a restart resumes both; without it or with it damaged, both are learnt again', async () => {
    const learner = loadModelDetectors({ facility: 'plant' })[0]!;
    const { baseline } = await runScenario({
      topology: 'water-a',
      seed: 3,
      durationS: 60,
      learnS: 600,
      attacks: [],
      detectors: [learner],
    });
    const keeper = new BaselineKeeper({
      facility: 'plant',
      dataDir: dir,
      source: 'the first 10 minute(s) of --interface eth1',
      models: [learner],
      say: (l) => said.push(l),
      period: { periodMs: 600_000, priorMs: 0 },
      now: () => NOW,
    });
    const c = resolveAgentConfig({ data_dir: dir, interface: 'eth1', learn_minutes: 10 }, {}, 'f');
    const models = (): ReturnType<typeof loadModelDetectors> => loadModelDetectors({ facility: 'plant' });

    keeper.poll({ baseline, learningElapsedMs: () => 60_000 }, true);
    const files = readdirSync(dir).filter((f) => f.startsWith('baseline-models-'));
    const stored = loadBaseline(dir, 'plant');
    const again = models();
    const resumed = await learningOf(c, ctx(again));
    const bin = join(dir, files[0] ?? 'none');
    const bytes = readFileSync(bin);
    bytes.writeUInt8(bytes.readUInt8(100) ^ 1, 100);
    writeFileSync(bin, bytes);
    const damaged = await learningOf(c, ctx(models()));
    saveBaseline(dir, {
      facility: 'plant',
      baseline,
      source: 'test',
      models: { state: 'off', note: 'rules only' },
      learning: { learntMs: 60_000, periodMs: 600_000 },
    });
    const rulesOnly = await learningOf(c, ctx(models()));

    expect(files).toHaveLength(1);
    expect(stored.ok && stored.stored.models).toEqual({
      state: 'learning',
      note: `checkpointed in ${files[0]}`,
    });
    expect(said.find((l) => l.startsWith('baseline: learning checkpoint stored'))).toMatch(
      /; models' learning in baseline-models-[0-9a-f]{16}\.bin \(\d+ kept learning flow-second\(s\), \d+ window step\(s\); \d+\.\d\d MB written in \d+ ms\)$/,
    );
    expect(said).toContainEqual(
      expect.stringMatching(
        /^models resumed from baseline-models-[0-9a-f]{16}\.bin: [1-9]\d* kept learning flow-second\(s\), [1-9]\d* window step\(s\)$/,
      ),
    );
    expect(resumed.learnMs).toBe(540_000);
    expect(resumed.status()).toMatch(
      /^learning the baseline, resumed from the checkpoint .*; models resumed from baseline-models-[0-9a-f]{16}\.bin: [1-9]\d* kept learning flow-second\(s\), [1-9]\d* window step\(s\)$/,
    );
    expect(again[0]!.learningState()).toEqual(learner.learningState());
    expect(said).toContainEqual(
      expect.stringMatching(
        /^learning checkpoint .*baseline\.json not resumed: its models' half was refused \(.*baseline-models-\w+\.bin: its content does not match the SHA-256 baseline\.json records \(changed or damaged\)\); learning both the baseline and the models again$/,
      ),
    );
    expect(damaged.learnMs).toBe(600_000);
    expect(damaged.baseline.packets).toBe(0);
    expect(said).toContainEqual(
      expect.stringMatching(
        /not resumed: it holds no models' learning \(stored with the models off, or by an older agent\); learning both/,
      ),
    );
    expect(rulesOnly.learnMs).toBe(600_000);
    await Promise.all([learner, ...again].map((d) => d.close()));
  });

  it('a checkpoint resumed past its period (learn_minutes lowered) learns nothing more', async () => {
    const { baseline } = await runScenario({
      topology: 'water-a',
      seed: 3,
      durationS: 60,
      learnS: 600,
      attacks: [],
    });
    saveBaseline(dir, {
      facility: 'plant',
      baseline,
      source: 'test',
      models: { state: 'off', note: 'rules only' },
      learning: { learntMs: 240_000, periodMs: 600_000 },
    });
    const c = resolveAgentConfig({ data_dir: dir, interface: 'eth1', learn_minutes: 3 }, {}, 'f');

    const l = await learningOf(c, ctx());

    expect(l.learnMs).toBe(0);
    expect(said[0]).toMatch(/: 3\.0 min of 3 minute\(s\) learnt, 0\.0 min left/);
  });
});
