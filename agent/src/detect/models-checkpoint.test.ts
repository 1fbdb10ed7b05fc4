// The models' half of a learning checkpoint: what a learning detector kept (rows, window steps, learnt sets) comes
// back from the file exactly, a detector resumed from it learns from both halves of the period, and a damaged,
// foreign or other-format file is refused with the reason, never a throw.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModelDetectors, type ModelDetector, type ModelLearningState } from './ml/detector.js';
import { NF, NW } from './ml/features.js';
import {
  loadModelsCheckpoint,
  removeModelsCheckpoints,
  saveModelsCheckpoint,
  type ModelsCheckpointRef,
} from './models-checkpoint.js';
import { runScenario } from './scenario.js';

const FACILITY = 'water-a-21';
const HOUR = 3600_000;
const T0 = Date.UTC(2026, 0, 12, 9, 0, 0);

/** Water-a seed 21 from `startMs`, `learnS` of a learning period and `durationS` in all. */
async function learn(d: ModelDetector, startMs: number, durationS: number, learnS: number): Promise<void> {
  await runScenario({
    topology: 'water-a',
    seed: 21,
    startMs,
    durationS,
    learnS,
    attacks: [],
    detectors: [d],
  });
}

const rowsOf = (s: ModelLearningState): number => s.fit.sec.length + s.held.sec.length;

describe("the models' learning checkpoint", { timeout: 60_000 }, () => {
  let dir: string;
  let first: ModelDetector;
  let state: ModelLearningState;
  let ref: ModelsCheckpointRef;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-models-ckpt-'));
    // the first 90 s of a 3-minute period, then the run stops (a checkpoint is taken while still learning)
    first = loadModelDetectors({ facility: FACILITY })[0]!;
    await learn(first, T0, 90, 180);
    state = first.learningState()!;
    ref = saveModelsCheckpoint(dir, FACILITY, [state]);
  });
  afterAll(async () => {
    await first.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('holds what the learning detector kept and reads back exactly', () => {
    const loaded = loadModelsCheckpoint(dir, ref, FACILITY);
    if (!loaded.ok) throw new Error(loaded.reason);

    const [back] = loaded.states;
    expect(rowsOf(state)).toBeGreaterThan(100);
    expect(state.steps.length / NW).toBeGreaterThanOrEqual(85);
    expect(state.sets.knownPairs?.length).toBeGreaterThan(3);
    expect(state.sets.knownServices?.length).toBeGreaterThan(3);
    // the MQTT topics each client published on (a map of sets in FlowSeconds) travel as client|topic strings
    expect(state.sets.knownTopics?.length).toBeGreaterThan(0);
    expect(back!.fit.x.length).toBe(state.fit.sec.length * NF);
    expect(back).toEqual(state);
  });

  it('a detector resumed from it becomes ready having learnt from both halves of the period', async () => {
    const loaded = loadModelsCheckpoint(dir, ref, FACILITY);
    if (!loaded.ok) throw new Error(loaded.reason);
    const resumed = loadModelDetectors({ facility: FACILITY })[0]!;
    const alone = loadModelDetectors({ facility: FACILITY })[0]!;

    resumed.resumeLearning(loaded.states[0]!);
    const again = resumed.learningState();
    // an hour later, the period's other 90 s, then 20 s of detection
    await learn(resumed, T0 + HOUR, 110, 90);
    await learn(alone, T0 + HOUR, 110, 90);
    await Promise.all([resumed.close(), alone.close()]);

    expect(again).toEqual(state);
    expect(resumed.stats.ready).toBe(true);
    expect(alone.stats.ready).toBe(true);
    const both = resumed.learnt!.meta;
    const second = alone.learnt!.meta;
    expect(both.flowRows).toBe(second.flowRows + rowsOf(state));
    // the first half's steps join the second's (the hour between adds no empty seconds)
    expect(both.windows).toBe(second.windows + state.steps.length / NW);
    expect(both.knownPairs.length).toBeGreaterThanOrEqual(state.sets.knownPairs!.length);
    expect(both.knownTopics).toEqual(expect.arrayContaining(state.sets.knownTopics!));
  });

  it('a detector refuses a state with other learnt sets, and one that has learnt already', () => {
    const fresh = loadModelDetectors({ facility: FACILITY })[0]!;
    // a set this code does not learn (a checkpoint of other feature code)
    const other = { ...state, sets: { ...state.sets, zzRetired: [] } };

    expect(fresh.refusesLearning(other)).toMatch(
      /its learnt sets are .*knownPairs.*, zzRetired, this agent learns .*knownPairs/,
    );
    expect(() => fresh.resumeLearning(other)).toThrow(/learnt sets/);
    expect(first.refusesLearning(state)).toMatch(/learnt already/);
  });

  describe('refusals', () => {
    const refused = (r: ModelsCheckpointRef, facility = FACILITY): string => {
      const loaded = loadModelsCheckpoint(dir, r, facility);
      if (loaded.ok) throw new Error('not refused');
      return loaded.reason;
    };
    /** The file with its header's JSON edited, saved under a new name with its own digest (as a writer would). */
    const withHeader = (edit: (h: Record<string, unknown>) => void): ModelsCheckpointRef => {
      const buf = readFileSync(join(dir, ref.file));
      const len = buf.readUInt32LE(8);
      const h = JSON.parse(buf.subarray(12, 12 + len).toString('utf8')) as Record<string, unknown>;
      edit(h);
      const text = Buffer.from(JSON.stringify(h));
      expect(text.length).toBe(len); // edits keep the length: the arrays stay where they are
      const out = Buffer.concat([buf.subarray(0, 12), text, buf.subarray(12 + len)]);
      const sha256 = createHash('sha256').update(out).digest('hex');
      const file = `baseline-models-${sha256.slice(0, 16)}.bin`;
      writeFileSync(join(dir, file), out);
      return { file, sha256, bytes: out.length };
    };

    it('a changed byte, a missing file, another facility', () => {
      const buf = readFileSync(join(dir, ref.file));
      buf.writeUInt8(buf.readUInt8(buf.length - 5) ^ 0xff, buf.length - 5);
      writeFileSync(join(dir, 'baseline-models-0000000000000000.bin'), buf);

      expect(refused({ ...ref, file: 'baseline-models-0000000000000000.bin' })).toMatch(
        /does not match the SHA-256 baseline\.json records/,
      );
      expect(refused({ ...ref, file: 'baseline-models-1111111111111111.bin' })).toMatch(/: missing$/);
      expect(refused(ref, 'plant-b')).toMatch(/learnt for facility water-a-21, this agent is plant-b/);
    });

    it('another feature schema, format or byte order', () => {
      const schema = withHeader((h) => {
        const s = h.schemas as Record<string, string>;
        s.flow = s.flow!.replace(/^./, (c) => (c === '0' ? '1' : '0'));
      });
      const format = withHeader((h) => (h.format = 9));
      const order = withHeader((h) => (h.endianness = 'BE'));

      expect(refused(schema)).toMatch(/learnt with feature schema flow=\S+, this agent has /);
      expect(refused(format)).toMatch(/format 9, this agent reads format 1/);
      expect(refused(order)).toMatch(/written on a BE machine, this one is LE/);
    });

    it('sizes that do not match the arrays, and a file that is no checkpoint', () => {
      const longer = withHeader((h) => {
        const d = (h.detectors as { steps: number }[])[0]!;
        d.steps = d.steps + 1 >= 10 ** String(d.steps).length ? d.steps - 1 : d.steps + 1;
      });
      const text = Buffer.from('{"kind":"vigil-baseline"}');
      const sha256 = createHash('sha256').update(text).digest('hex');
      writeFileSync(join(dir, 'baseline-models-2222222222222222.bin'), text);

      expect(refused(longer)).toMatch(/(shorter|longer) than its header says/);
      expect(refused({ file: 'baseline-models-2222222222222222.bin', sha256, bytes: text.length })).toMatch(
        /not a Vigil models' learning checkpoint/,
      );
    });

    it('older files are removed but the one kept', () => {
      const gone = removeModelsCheckpoints(dir, ref.file);

      expect(gone.length).toBeGreaterThan(0);
      expect(loadModelsCheckpoint(dir, ref, FACILITY).ok).toBe(true);
      expect(removeModelsCheckpoints(dir, ref.file)).toEqual([]);
    });
  });
});
