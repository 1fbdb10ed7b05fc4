// A facility's local baseline in its data dir (models/local-baseline.*): what it keeps across a restart (the learnt
// pairs, services and MQTT topics) and how a file of another feature schema is refused: said, and learnt again.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { exportIsolationForest, seededRng } from '@vigil/models';
import { LOCAL_DIR, LOCAL_FILE, tryReadLocal, writeModel } from './artifacts.js';
import { learnLocal, loadModelDetectors } from './detector.js';
import { MODEL_FEATURE_SCHEMAS, NF, NW } from './features.js';

const TOPICS = ['10.1.0.1|plant/tank1/level', '10.1.0.2|plant/tank2/level', 'fd00::7|plant/a|b'];

/** A local baseline learnt from synthetic rows, written to `dataDir` as the agent saves one. */
async function writeLocal(dataDir: string): Promise<string> {
  const rng = seededRng(5);
  const rows = (n: number): Float32Array[] =>
    Array.from({ length: n }, () => Float32Array.from({ length: NF }, () => rng.next()));
  const learnt = await learnLocal({
    facility: 'plant-1',
    source: 'test',
    fit: rows(64),
    held: rows(16),
    steps: new Float32Array(10 * NW),
    knownPairs: ['10.1.0.1>10.0.0.9'],
    knownServices: ['10.1.0.1>10.0.0.9:1883/6'],
    knownTopics: TOPICS,
    far: 0.01,
    seed: 7,
    l1bErrors: (ws) => Promise.resolve(ws.map(() => 1)),
    fallbackL1bThreshold: 1,
  });
  const dir = join(dataDir, LOCAL_DIR);
  writeModel(dir, LOCAL_FILE, exportIsolationForest(learnt.forest), learnt.meta);
  return join(dir, `${LOCAL_FILE}.json`);
}

describe('local baseline file', () => {
  let dataDir = '';
  beforeEach(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'vigil-local-'));
  });
  afterEach(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it('keeps the MQTT topics each client published on while learning, beside the known pairs', async () => {
    await writeLocal(dataDir);

    const read = tryReadLocal(dataDir);

    expect(read.ok).toBe(true);
    if (!read.ok) return;
    expect(read.local.meta.knownTopics).toEqual(TOPICS);
    expect(read.local.meta.knownPairs).toEqual(['10.1.0.1>10.0.0.9']);
  });

  it('refuses a file learnt with another flow feature schema, naming both hashes', async () => {
    const path = await writeLocal(dataDir);
    const meta = JSON.parse(await readFile(path, 'utf8')) as { schemas: Record<string, string> };
    meta.schemas.flow = '0123456789abcdef';
    await writeFile(path, JSON.stringify(meta));

    const read = tryReadLocal(dataDir);

    expect(read).toMatchObject({ ok: false, absent: false });
    if (read.ok) return;
    expect(read.reason).toContain(
      `trained on feature schema flow=0123456789abcdef, this agent has ${MODEL_FEATURE_SCHEMAS.flow}; retrain the model`,
    );
  });

  it("refuses an older agent's file (no learnt topics, the old schemas) for its schema, not as a malformed file", async () => {
    const path = await writeLocal(dataDir);
    const meta = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
    delete meta.knownTopics;
    meta.schemas = { ...MODEL_FEATURE_SCHEMAS, flow: 'b1c2d3e4f5a60718', l2: '8a9b0c1d2e3f4051' };
    await writeFile(path, JSON.stringify(meta));

    const read = tryReadLocal(dataDir);

    expect(read.ok).toBe(false);
    if (read.ok) return;
    expect(read.reason).toMatch(
      /trained on feature schema flow=b1c2d3e4f5a60718, this agent has [0-9a-f]{16}/,
    );
  });

  it('a refused local baseline is reported and the detector learns again instead of failing to start', async () => {
    const path = await writeLocal(dataDir);
    const meta = JSON.parse(await readFile(path, 'utf8')) as { schemas: Record<string, string> };
    meta.schemas.l2 = '0000000000000000';
    await writeFile(path, JSON.stringify(meta));
    const said: string[] = [];

    const detectors = loadModelDetectors({
      facility: 'plant-1',
      dataDir,
      onLocalRefused: (r) => said.push(r),
    });

    expect(said).toHaveLength(1);
    expect(said[0]).toContain('trained on feature schema l2=0000000000000000');
    expect(detectors.map((d) => d.servesLocal)).toEqual([false]);
    await Promise.all(detectors.map((d) => d.close()));
  });
});
