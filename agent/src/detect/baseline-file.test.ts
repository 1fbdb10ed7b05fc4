// The baseline kept in the agent's data dir: stored and loaded, it judges traffic exactly as the baseline learnt in
// the run did; a damaged, stale or foreign file is refused with the reason, never a throw.
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Baseline } from './baseline.js';
import { BASELINE_FORMAT, loadBaseline, resetBaseline, saveBaseline } from './baseline-file.js';
import type { AgentAlert } from './correlate.js';
import { runScenario } from './scenario.js';

const FACILITY = 'water-a-7';
const MODELS = { state: 'off', note: 'rules only' } as const;

/** Water-a, 10 min of learning, then a setpoint write and a coil write from the engineering workstation. */
const scenario = {
  topology: 'water-a',
  seed: 7,
  durationS: 900,
  learnS: 600,
  attacks: [
    { attack: 'modbus-setpoint-write', atS: 660 },
    { attack: 'modbus-coil-write', atS: 780 },
  ] as const,
};

const shape = (alerts: readonly AgentAlert[]): unknown[] =>
  alerts.map((a) => ({
    at: a.timestamp,
    type: a.attack_type,
    sources: a.sources.map((s) => [s.model_name, s.confidence, s.evidence]),
  }));

describe('the stored baseline', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-baseline-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('loaded from the data dir, judges the same traffic as the baseline learnt in the run did', async () => {
    const learnt = await runScenario({ ...scenario, attacks: [...scenario.attacks] });
    saveBaseline(dir, { facility: FACILITY, baseline: learnt.baseline, source: 'test', models: MODELS });

    const loaded = loadBaseline(dir, FACILITY);
    if (!loaded.ok) throw new Error(`refused: ${JSON.stringify(loaded)}`);
    const again = await runScenario({
      ...scenario,
      attacks: [...scenario.attacks],
      baseline: loaded.stored.baseline,
    });

    expect(learnt.alerts.length).toBeGreaterThan(0);
    expect(shape(again.alerts)).toEqual(shape(learnt.alerts));
    expect(loaded.stored.baseline.toData()).toEqual(learnt.baseline.toData());
    expect(loaded.stored.baseline.learning).toBe(false);
  });

  it('is written atomically: no temporary file is left and a second save replaces the first', async () => {
    const { baseline } = await runScenario({ ...scenario, durationS: 120, learnS: 60, attacks: [] });
    saveBaseline(dir, { facility: FACILITY, baseline, source: 'first', models: MODELS });

    saveBaseline(dir, { facility: FACILITY, baseline, source: 'second', models: MODELS });

    expect(readdirSync(dir)).toEqual(['baseline.json']);
    const loaded = loadBaseline(dir, FACILITY);
    expect(loaded.ok && loaded.stored.source).toBe('second');
  });

  it('a learning checkpoint loads as a baseline still learning, with how far its period had run', async () => {
    const { baseline } = await runScenario({ ...scenario, durationS: 120, learnS: 600, attacks: [] });
    saveBaseline(dir, {
      facility: FACILITY,
      baseline,
      source: 'test',
      models: { state: 'learning', note: '' },
      learning: { learntMs: 120_000, periodMs: 600_000 },
    });

    const loaded = loadBaseline(dir, FACILITY);
    if (!loaded.ok) throw new Error(`refused: ${JSON.stringify(loaded)}`);

    expect(baseline.learning).toBe(true);
    expect(loaded.stored.learning).toEqual({ learntMs: 120_000, periodMs: 600_000 });
    expect(loaded.stored.baseline.learning).toBe(true);
    expect(loaded.stored.baseline.checkpoint()).toEqual(baseline.checkpoint());
    expect(() => baseline.toData()).toThrow(/still learning/);
  });

  describe('refuses, with the reason, and never throws', () => {
    let text: string;
    beforeEach(async () => {
      const { baseline } = await runScenario({ ...scenario, durationS: 120, learnS: 60, attacks: [] });
      saveBaseline(dir, { facility: FACILITY, baseline, source: 'test', models: MODELS });
      text = readFileSync(join(dir, 'baseline.json'), 'utf8');
    });
    const refusal = (content: string, facility = FACILITY): string => {
      writeFileSync(join(dir, 'baseline.json'), content);
      const r = loadBaseline(dir, facility);
      return r.ok || r.absent ? 'accepted' : r.reason;
    };

    it('a file cut short (a crash while copying it by hand)', () => {
      expect(refusal(text.slice(0, text.length / 2))).toMatch(/^not valid JSON/);
    });

    it('a file whose content was changed (a master added by hand)', () => {
      const changed = text.replace('"masters":[', '"masters":["10.99.99.99",');
      expect(changed).not.toBe(text);
      expect(refusal(changed)).toMatch(/does not match its SHA-256/);
    });

    it('a file of another format', () => {
      expect(refusal(text.replace(`"format":${BASELINE_FORMAT}`, '"format":0'))).toBe(
        `format 0, this agent reads format ${BASELINE_FORMAT}`,
      );
    });

    it('a file learnt with other feature schemas (stale: the models learnt with it would not fit)', () => {
      expect(refusal(text.replace(/"flow":"[^"]+"/, '"flow":"0000"'))).toMatch(
        /^learnt with feature schema flow=0000, this agent has /,
      );
    });

    it("another facility's file", () => {
      expect(refusal(text, 'pipeline-d-1')).toBe(
        `learnt for facility ${FACILITY}, this agent is pipeline-d-1`,
      );
    });

    it('a file that is no baseline at all', () => {
      expect(refusal('{"outbox": true}')).toMatch(/^not a Vigil baseline file/);
    });
  });

  it('is absent from a new data dir, and reset removes it with the models learnt with it but not a trained one', async () => {
    expect(loadBaseline(dir, FACILITY)).toMatchObject({ ok: false, absent: true });
    const { baseline } = await runScenario({ ...scenario, durationS: 120, learnS: 60, attacks: [] });
    saveBaseline(dir, { facility: FACILITY, baseline, source: 'test', models: MODELS });
    const models = join(dir, 'models');
    rmSync(models, { recursive: true, force: true });
    saveLocal(models, 'capture plant.pcap');

    const first = resetBaseline(dir);

    expect(first.removed).toEqual([join(dir, 'baseline.json')]);
    expect(first.kept).toEqual([join(models, 'local-baseline.json'), join(models, 'local-baseline.onnx')]);
    saveLocal(models, 'learning period');
    expect(resetBaseline(dir).removed).toEqual([
      join(models, 'local-baseline.json'),
      join(models, 'local-baseline.onnx'),
    ]);
    expect(existsSync(join(models, 'local-baseline.json'))).toBe(false);
  });

  it('holds only what was learnt: declared facts are judged with it but not stored', async () => {
    const b = new Baseline();
    b.declare({
      masters: ['10.10.1.99'],
      pairs: [{ master: '10.10.1.98', slave: '10.10.2.10', functions: [3, 6] }],
    });
    const { baseline } = await runScenario({
      ...scenario,
      durationS: 120,
      learnS: 60,
      attacks: [],
      baseline: b,
    });

    saveBaseline(dir, { facility: FACILITY, baseline, source: 'test', models: MODELS });

    expect(baseline.isMaster('10.10.1.99')).toBe(true);
    expect(baseline.pair('10.10.1.98', '10.10.2.10')?.functions).toEqual(new Set([3, 6]));
    const loaded = loadBaseline(dir, FACILITY);
    if (!loaded.ok) throw new Error('refused');
    expect(loaded.stored.baseline.isMaster('10.10.1.99')).toBe(false);
    expect(loaded.stored.baseline.pair('10.10.1.98', '10.10.2.10')).toBeUndefined();
  });
});

/** A local model description as a learning period or `models train` writes it (only `source` matters to reset). */
function saveLocal(dir: string, source: string): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'local-baseline.json'), JSON.stringify({ kind: 'local-baseline', source }));
  writeFileSync(join(dir, 'local-baseline.onnx'), new Uint8Array([1]));
}
