// The committed models in the agent: on a held-out simulated plant (a topology and seed never used in training),
// with the facility's forest, scaler and thresholds learnt in its own learning period, an injected attack raises
// an alert whose sources include the models (Layer 2 naming the technique), and normal traffic before it raises
// nothing.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runScenario } from '../scenario.js';
import { exportSequential } from '@vigil/models';
import { loadL2Model, tryReadLocal } from './artifacts.js';
import { DEMOTED_CONFIDENCE, loadModelDetectors } from './detector.js';
import { DEMOTED_RULE, type Detection } from '../types.js';
import { NL2 } from './features.js';

describe('models in the detection engine', () => {
  it('an injected port scan in a held-out scenario is raised by the Layer 2 classifier with its technique', async () => {
    const detectors = loadModelDetectors({ facility: 'water-b-303' });
    const r = await runScenario({
      topology: 'water-b',
      seed: 303,
      durationS: 760,
      learnS: 600,
      attacks: [{ attack: 'port-scan', atS: 700 }],
      detectors,
    });
    const stats = detectors[0]!.stats;
    // a federated round's new Layer 2 replaces the served one
    const next = exportSequential(loadL2Model(), { inputShape: [NL2], softmax: true });
    expect(await detectors[0]!.swapModel('l2', next)).toBe(2);
    // what it learnt is saved to a data dir, and the next start loads it
    const dataDir = await mkdtemp(join(tmpdir(), 'vigil-learnt-'));
    expect(detectors[0]!.saveLearnt(dataDir)).toBe(true);
    // with the MQTT topics each sensor published on (mqtt_new_topics after a restart)
    const saved = tryReadLocal(dataDir);
    expect(saved.ok && saved.local.meta.knownTopics).toEqual(detectors[0]!.learnt!.meta.knownTopics);
    expect(detectors[0]!.learnt!.meta.knownTopics.length).toBeGreaterThan(0);
    const reloaded = loadModelDetectors({ facility: 'water-b-303', dataDir });
    await runScenario({
      topology: 'water-b',
      seed: 303,
      durationS: 5,
      learnS: 0,
      attacks: [],
      detectors: reloaded,
    });
    expect(reloaded[0]!.stats.ready).toBe(true);
    await reloaded[0]!.close();
    await rm(dataDir, { recursive: true, force: true });
    await Promise.all(detectors.map((d) => d.close()));

    const start = r.firstFrameMs[0]!;
    expect(stats.ready).toBe(true);
    expect(r.alerts.filter((a) => Date.parse(a.last_seen) < start)).toEqual([]);
    const byModel = r.alerts.find(
      (a) => a.attack_type === 'T0846' && a.sources.some((s) => s.model_name === 'models/l2-classifier'),
    );
    expect(byModel).toBeDefined();
    const l2 = byModel!.sources.find((s) => s.model_name === 'models/l2-classifier')!;
    expect(l2.layer).toBe(2);
    expect(l2.context_evidence).toMatch(/probability=(0\.\d+|1)\b/);
    expect(Date.parse(byModel!.timestamp) - start).toBeLessThan(5000);
  });

  it('a device identification probe is never raised as Program Download (demoted if Layer 2 names it): the recon alert is T0888', async () => {
    // water-b's recon opens with three fc 43 requests on a new connection, a flow-second Layer 2 cannot tell from a
    // UMAS download's first (both: a few uncommon function codes, no exception); it named it T0843 (p=0.997)
    const detectors = loadModelDetectors({ facility: 'water-b-303' });
    // what the model detector says, as the correlator receives it (the identification read is evidence only now, so
    // the demoted finding of its second joins no incident and is counted, not listed in the alert)
    const said: Detection[] = [];
    const models = detectors[0]!;
    const detect = models.detect.bind(models);
    models.detect = async (w) => {
      const out = await detect(w);
      said.push(...out);
      return out;
    };
    const r = await runScenario({
      topology: 'water-b',
      seed: 303,
      durationS: 725,
      learnS: 600,
      attacks: [{ attack: 'modbus-recon', atS: 720 }],
      detectors,
    });
    const stats = { ...detectors[0]!.stats };
    await Promise.all(detectors.map((d) => d.close()));

    expect(r.alerts.map((a) => a.attack_type)).toEqual(['T0888']);
    // whether this Layer 2 makes the mistake depends on its training; when it does, the finding is a hint
    const t0843 = said.filter((d) => d.technique === 'T0843');
    expect(t0843.filter((d) => d.rule !== DEMOTED_RULE)).toEqual([]);
    for (const hint of t0843) {
      expect(hint.evidence).toMatch(/named T0843 .* no program transfer/);
      expect(hint.confidence).toBeLessThanOrEqual(DEMOTED_CONFIDENCE);
    }
    expect(stats.l2Demoted).toBeGreaterThanOrEqual(t0843.length);
  });

  it('coil writes on a polling connection that Layer 1 does not flag are classified, and named once repeated', async () => {
    // pipeline-d: the HMI toggles a coil on its own polling connection every few seconds; Layer 1a scores those
    // flow-seconds near normal (one write among the polls), so Layer 2 was never asked and the models missed it
    const detectors = loadModelDetectors({ facility: 'pipeline-d-303' });
    const r = await runScenario({
      topology: 'pipeline-d',
      seed: 303,
      durationS: 740,
      learnS: 600,
      attacks: [{ attack: 'modbus-coil-write', atS: 720 }],
      detectors,
      suppress: ['modbus-protocol', 'modbus-policy', 'network-scan', 'app-policy'].map((rule) => ({ rule })),
    });
    const stats = { ...detectors[0]!.stats };
    await Promise.all(detectors.map((d) => d.close()));

    expect(r.alerts.map((a) => a.attack_type)).toEqual(['T0855']);
    expect(r.alerts[0]!.sources[0]!.evidence).toMatch(/Layer 1 did not flag it/);
    expect(stats.processRows).toBeGreaterThan(1);
    // the first write alone was not a finding (an engineering change looks the same)
    expect(stats.processSingles).toBeGreaterThan(0);
  });

  it("a sensor host publishing on another sensor's topic is named T0856 by the models alone", async () => {
    // the spoofed reading differs from the host's own publishes only in its topic: mqtt_new_topics, 0 in every
    // learning row (the forest cannot split on it), sends the flow-second to Layer 2 whatever Layer 1 says
    const detectors = loadModelDetectors({ facility: 'water-b-303' });
    const r = await runScenario({
      topology: 'water-b',
      seed: 303,
      durationS: 760,
      learnS: 600,
      attacks: [{ attack: 'mqtt-spoof-publish', atS: 720 }],
      detectors,
      suppress: ['modbus-protocol', 'modbus-policy', 'network-scan', 'app-policy'].map((rule) => ({ rule })),
    });
    const stats = { ...detectors[0]!.stats };
    await Promise.all(detectors.map((d) => d.close()));

    const start = r.firstFrameMs[0]!;
    expect(r.alerts.map((a) => a.attack_type)).toEqual(['T0856']);
    expect(Date.parse(r.alerts[0]!.first_seen)).toBeGreaterThanOrEqual(start);
    expect(stats.processRows).toBeGreaterThan(0);
  });

  it('without a learning period or a local baseline the models say why they are inactive', async () => {
    const detectors = loadModelDetectors({ facility: 'x' });
    await runScenario({ topology: 'water-a', seed: 5, durationS: 5, learnS: 0, attacks: [], detectors });
    expect(detectors[0]!.stats.ready).toBe(false);
    expect(detectors[0]!.stats.reason).toMatch(/no learning period/);
    await detectors[0]!.close();
  });
});
