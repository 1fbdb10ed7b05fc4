// `vigil-agent models train`: a plant's own Layer 1 baseline from a capture of its normal traffic lands in its data
// dir, the detectors load it from there, and replaying an attack capture of the same plant with that data dir
// raises alerts the models take part in. Bad input is one clear line.
import { createWriteStream } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UsageError } from '@vigil/shared';
import type { AttackSpec } from '../sim/attacks.js';
import { writeSimulation } from '../sim/output.js';
import { Simulator } from '../sim/simulator.js';
import { loadModelDetectors } from '../detect/ml/detector.js';
import { runModelsTrain } from './models.js';
import { runReplay } from './replay.js';

let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vigil-models-cli-'));
});
afterAll(async () => {
  if (dir !== '') await rm(dir, { recursive: true, force: true });
});

async function simPcap(name: string, durationS: number, attacks: AttackSpec[]): Promise<string> {
  const file = join(dir, name);
  const pcap = createWriteStream(file);
  const sim = new Simulator({
    topology: 'water-a',
    seed: 41,
    startMs: Date.UTC(2026, 1, 2, 10),
    durationS,
    attacks,
  });
  await writeSimulation(sim, { pcap });
  pcap.end();
  await once(pcap, 'finish');
  return file;
}

describe('vigil-agent models train', () => {
  it('learns the plant baseline into the data dir; replay with that data dir runs the models on it', async () => {
    const normal = await simPcap('normal.pcap', 420, []);
    const dataDir = join(dir, 'data');
    const out = new PassThrough();
    const lines: string[] = [];
    out.on('data', (b: Buffer) => lines.push(b.toString()));

    const r = await runModelsTrain(
      { pcap: normal, dataDir, facility: 'plant-a', epochs: '1' },
      out,
      undefined,
    );

    expect(r.meta.l1aThreshold).toBeGreaterThan(0);
    expect(r.meta.l1bThreshold).toBeGreaterThan(0);
    expect(r.l1bTuned).toBe(true);
    expect((await readdir(join(dataDir, 'models'))).sort()).toEqual([
      'l1b-lstm-ae.json',
      'l1b-lstm-ae.onnx',
      'l1b-lstm-ae.weights',
      'local-baseline.json',
      'local-baseline.onnx',
    ]);
    expect(JSON.parse(lines.join('')) as Record<string, unknown>).toMatchObject({ l1b_fine_tuned: true });
    const [d] = loadModelDetectors({ facility: 'plant-a', dataDir });
    expect(d).toBeDefined();
    await d!.close();

    const attack = await simPcap('scan.pcap', 180, [{ attack: 'port-scan', atS: 100 }]);
    const alertsFile = join(dir, 'alerts.jsonl');
    const result = await runReplay(
      attack,
      { offline: true, alertsOut: alertsFile, learnMinutes: '0', facility: 'plant-a', dataDir },
      new PassThrough(),
      new PassThrough(),
    );
    const stats = result.stats as { detectors: { models: { ready: boolean; detections: number } } };
    expect(stats.detectors.models.ready).toBe(true);
    expect(stats.detectors.models.detections).toBeGreaterThan(0);
  });

  it('refuses a missing capture and a bad option with one line', async () => {
    await expect(
      runModelsTrain({ pcap: join(dir, 'absent.pcap'), dataDir: dir }, new PassThrough(), undefined),
    ).rejects.toThrow(UsageError);
    await expect(
      runModelsTrain({ pcap: 'x.pcap', dataDir: dir, targetFar: '2' }, new PassThrough(), undefined),
    ).rejects.toThrow(/--target-far/);
  });
});
