// Operators' verdicts reach the agent's Layer 2 training over the real link: a real LinkServer on loopback with mTLS,
// the store wrapped so that a status change is published on the event bus (as the API's PUT .../status does), the
// feedback publisher, and an enrolled agent's real LinkClient and push handler with a ModelDetector that learnt its
// plant and saw a port scan. Both ends are restarted on the way (a new publisher on the same store, a new
// OperatorFeedback on the same data dir) and lose nothing. Runtime: about 8 s.
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { seededRng, softmaxCrossEntropy, type Example } from '@vigil/models';
import { loadL2Model } from '@vigil/agent/detect/ml/artifacts';
import { loadModelDetectors } from '@vigil/agent/detect/ml/detector';
import { L2_CLASSES, classIndex } from '@vigil/agent/detect/ml/models';
import { runScenario } from '@vigil/agent/detect/scenario';
import { OperatorFeedback } from '@vigil/agent/fl/feedback';
import { SequentialDpTrainer, modelArrays } from '@vigil/agent/fl/local-trainer';
import { pushHandler } from '@vigil/agent/link/pushes';
import { LocalEventBus } from '../events/bus.js';
import { PublishingStore } from '../events/publishing-store.js';
import { waitFor } from '../link/testing/fixtures.js';
import { linkAgent, servedLink, type ServedLink } from '../link/testing/served.js';
import { FeedbackPublisher, verdictOf } from './feedback.js';

describe('verdictOf', () => {
  it("names an alert's flows by each source's detection second and client -> server, once each", () => {
    const source = (time: string, evidence: string) => ({
      layer: 1 as const,
      model_name: 'x/y',
      confidence: 0.5,
      detection_time: time,
      evidence: '',
      context_evidence: evidence,
    });
    const alert = {
      id: 'a1',
      status: 'false-positive' as const,
      attack_type: 'T0846',
      sources: [
        source('2026-01-12T09:02:30.413Z', 'frame 6222, 10.0.0.5 -> 10.0.0.9; features: a=1'),
        source('2026-01-12T09:02:30.900Z', 'frame 6230, 10.0.0.5 -> 10.0.0.9; features: a=2'),
        source('2026-01-12T09:02:31.000Z', 'frame 6240, 10.0.0.5 -> 10.0.0.7,10.0.0.8; features: '),
        source('not a time', 'frame 1, 10.0.0.5 -> 10.0.0.9; features: '),
        source('2026-01-12T09:02:31.000Z', 'no flow here'),
      ],
    };
    const sec = Date.parse('2026-01-12T09:02:30Z') / 1000;

    expect(verdictOf(alert)).toEqual({
      alert_id: 'a1',
      verdict: 'normal',
      technique: 'T0846',
      flows: [
        { sec, src: '10.0.0.5', dst: '10.0.0.9' },
        { sec: sec + 1, src: '10.0.0.5', dst: '10.0.0.7,10.0.0.8' },
      ],
    });
    expect(verdictOf({ ...alert, status: 'resolved' })?.verdict).toBe('attack');
    expect(verdictOf({ ...alert, status: 'acknowledged' })?.verdict).toBe('none');
    expect(verdictOf({ ...alert, sources: [] })).toBeNull();
  });
});

describe('operator feedback over the link', () => {
  let fx: ServedLink;
  /** What the test itself starts and stops (some of it on the way); stopped before the link's agent and server. */
  const stops: (() => Promise<void> | void)[] = [];

  beforeEach(async () => {
    fx = await servedLink();
  });
  afterEach(async () => {
    for (const s of stops.splice(0).reverse()) await s();
    await fx.cleanup();
  });

  it("turns a false positive into normal examples of its flows, then a confirmation into its technique's, across restarts", async () => {
    // the agent: a detector that learnt its plant and then saw a port scan (Layer 2 was asked about its flows)
    const dataDir = join(fx.dir, 'plant-c');
    const detectors = loadModelDetectors({ facility: 'plant-c' });
    stops.push(() => Promise.all(detectors.map((d) => d.close())).then(() => undefined));
    const seen = await runScenario({
      topology: 'water-a',
      seed: 5,
      durationS: 200,
      learnS: 120,
      attacks: [{ attack: 'port-scan', atS: 150 }],
      detectors,
    });
    const raised = seen.alerts.find((a) => a.attack_type === 'T0846')!;
    const lines: string[] = [];
    const feedbackDb = join(dataDir, 'feedback.db');
    const feedback = new OperatorFeedback({
      detectors: () => detectors,
      path: feedbackDb,
      log: (l) => lines.push(l),
    });
    const closeFeedback = (): void => feedback.close();
    stops.push(closeFeedback);
    const { client } = await linkAgent(fx, 'plant-c', {
      client: {
        onPush: pushHandler(dataDir, {
          onConfig: (s) => new Promise<void>((resolve) => resolve(void feedback.apply(s))),
        }),
      },
    });
    // the aggregator: the alert stored, a status change published on the bus, the feedback publisher
    const { first_seen: _f, last_seen: _l, ...alert } = raised;
    await fx.store.insertAlerts([{ ...alert, facility_id: 'plant-c', generated: false }]);
    const bus = new LocalEventBus();
    const api = new PublishingStore(fx.store, bus);
    const sent: string[] = [];
    const startPublisher = (): void => {
      const publisher = new FeedbackPublisher({
        link: fx.server,
        store: fx.store,
        intervalMs: 50,
        log: (l) => sent.push(l),
      });
      const unsubscribe = bus.subscribe((e) => publisher.onEvent(e));
      stops.push(async () => {
        unsubscribe();
        await publisher.shutdown();
      });
      publisher.start();
    };
    startPublisher();

    // the verdict waits while no agent is connected, in the store: the aggregator restarts (its publisher and bus
    // subscription go, a new one starts on the same store) and delivers it once an agent connects
    await api.setAlertStatus(raised.id, 'false-positive');
    await new Promise((r) => setTimeout(r, 300));
    for (const s of stops.splice(-1)) await s();
    const queued = await fx.store.queuedVerdicts();
    startPublisher();
    const before = feedback.size;
    await client.start();
    const normal = await waitFor(() => feedback.size > 0, 10_000);
    const asNormal = feedback.examples();
    await api.setAlertStatus(raised.id, 'resolved');
    const technique = classIndex('T0846');
    const confirmed = await waitFor(() => feedback.examples()[0]?.y[technique] === 1, 10_000);
    const asAttack = feedback.examples();
    const queuedAfter = await fx.store.queuedVerdicts();
    // the agent restarts: a new OperatorFeedback on the same data dir, its detector not yet having seen those flows
    stops.splice(stops.indexOf(closeFeedback), 1);
    feedback.close();
    const restarted = new OperatorFeedback({
      detectors: () => [],
      path: feedbackDb,
      log: (l) => lines.push(l),
    });
    stops.push(() => restarted.close());

    // the rows are the detector's own Layer 2 inputs of the alert's flows
    const flows = verdictOf({ ...alert, status: 'false-positive' })!.flows;
    const key = (x: Float32Array) => [...x].join(',');
    const matched = new Map<string, string>();
    for (const f of flows)
      for (const dst of f.dst.split(',')) {
        const x = detectors[0]!.l2InputOf(f.sec, f.src, dst);
        if (x !== undefined) matched.set(`${f.sec}|${f.src}|${dst}`, key(x));
      }
    const inputs = new Set(matched.values());
    expect(queued).toEqual([
      {
        facility_id: 'plant-c',
        alert_id: raised.id,
        verdict: JSON.stringify(verdictOf({ ...alert, status: 'false-positive' })),
        queued_at: expect.any(String) as unknown,
      },
    ]);
    expect(queuedAfter).toEqual([]);
    expect(restarted.examples()).toEqual(asAttack);
    expect(restarted.size).toBe(asAttack.length);
    expect(before).toBe(0);
    expect([normal, confirmed]).toEqual([true, true]);
    expect(inputs.size).toBeGreaterThan(0);
    expect(new Set(asNormal.map((e) => key(e.x)))).toEqual(inputs);
    expect(asNormal).toHaveLength(matched.size);
    expect(asNormal.every((e) => e.y[0] === 1 && e.y.reduce((s, v) => s + v, 0) === 1)).toBe(true);
    expect(asAttack.map((e) => key(e.x))).toEqual(asNormal.map((e) => key(e.x)));
    expect(asAttack.every((e) => e.y[technique] === 1 && e.y[0] === 0)).toBe(true);
    expect(sent.filter((l) => /operator feedback on 1 alert\(s\) sent to plant-c/.test(l))).toHaveLength(2);
    expect(lines[0]).toMatch(
      /^operator feedback: 1 alert\(s\) labelled, 0 withdrawn, 0 without Layer 2 inputs here/,
    );

    // the next round's local training counts them (and the DP-SGD sample rate follows the data)
    const plant: Example[] = Array.from({ length: 100 }, (_, i) => {
      const y = new Float32Array(L2_CLASSES.length);
      y[i % 2] = 1;
      return { x: asAttack[0]!.x.map((v) => v + 0.1 * (i % 7)), y };
    });
    const trainer = new SequentialDpTrainer({
      model: loadL2Model(),
      loss: softmaxCrossEntropy,
      data: () => [...plant, ...feedback.examples()],
      dp: { clipNorm: 1, noiseMultiplier: 1.1, batchSize: 64 },
      rng: seededRng(3),
    });
    const out = await trainer.train(modelArrays(loadL2Model()), {});
    expect(out.numExamples).toBe(100 + asAttack.length);
    expect(out.extra?.['dp-sample-rate']).toBeCloseTo(64 / (100 + asAttack.length), 12);
  });
});
