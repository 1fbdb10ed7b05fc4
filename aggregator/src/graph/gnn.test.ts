import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { shippedCatalog } from '@vigil/shared';
import { EmbeddedAttackGraph } from './embedded.js';
import {
  BLEND_GRID,
  blendWithKnn,
  exportGnn,
  GnnInputs,
  maskedSoftmaxLoss,
  OnnxGnn,
  rankLogits,
  trainGnn,
  DEFAULT_TRAIN,
} from './gnn.js';
import { GNN_ARTIFACT, GnnPredictor, openPredictor } from './predictor.js';
import { UsesStats } from './stats.js';

const graph = EmbeddedAttackGraph.fromCatalog(shippedCatalog());
const QUICK = { ...DEFAULT_TRAIN, maxEpochs: 2, randomSplits: 0 };
const OBSERVED = [['T0846'], ['T0846', 'T0886', 'T0855'], [], ['T0999']];

describe('next-technique GNN', () => {
  it('runs the same in onnxruntime as in our forward pass (1e-5) and ranks the same through it', async () => {
    const sub = await graph.subgraph();
    const { model, inputs } = trainGnn(sub, sub.uses, QUICK);
    const gnn = await OnnxGnn.create(exportGnn(model, inputs), sub);
    try {
      for (const observed of OBSERVED) {
        const ours = model.forward(inputs.features(observed).x);
        const { logits, seen } = await gnn.logits(observed);

        expect(logits).toHaveLength(inputs.n);
        for (let i = 0; i < logits.length; i++) expect(Math.abs(logits[i]! - ours[i]!)).toBeLessThan(1e-5);
        const viaOrt = await gnn.rank(observed);
        expect(viaOrt.map((s) => s.id)).toEqual(rankLogits(inputs, ours, seen).map((s) => s.id));
        expect(viaOrt).toHaveLength(inputs.t - seen.size);
      }
    } finally {
      await gnn.close();
    }
  });

  it('trains deterministically: the same seed gives the same weights, another seed others', async () => {
    const sub = await graph.subgraph();
    const a = trainGnn(sub, sub.uses, QUICK);
    const b = trainGnn(sub, sub.uses, QUICK);
    const c = trainGnn(sub, sub.uses, { ...QUICK, seed: 7 });

    expect(a.model.flatValues).toEqual(b.model.flatValues);
    expect(a.losses).toEqual(b.losses);
    expect(a.model.flatValues).not.toEqual(c.model.flatValues);
  });

  it('feeds each technique the baselines of its own graph and each entity its similarity to the observed set', () => {
    // Tactics X < Y; A, B in X, C in Y; three entities.
    const sub = {
      tactics: ['X', 'Y'],
      techniques: [
        { id: 'A', name: 'a', tactics: ['X'] },
        { id: 'B', name: 'b', tactics: ['X'] },
        { id: 'C', name: 'c', tactics: ['Y'] },
      ],
      uses: [
        { entity: 'G1', techniques: ['A', 'B'] },
        { entity: 'S1', techniques: ['A', 'C'] },
        { entity: 'S2', techniques: ['B', 'C'] },
      ],
    };
    const inputs = new GnnInputs(sub);
    const stats = new UsesStats(
      ['A', 'B', 'C'],
      sub.uses,
      new Map([
        ['A', 0],
        ['B', 0],
        ['C', 1],
      ]),
    );

    const { x, seen } = inputs.features(['A']);

    const f = inputs.f;
    const row = (id: string) =>
      Array.from(x.subarray(inputs.ids.indexOf(id) * f, inputs.ids.indexOf(id) * f + 15));
    const knn = stats.scores('jaccard-knn', stats.indicesOf(['A']));
    const cooc = stats.scores('cooccurrence', stats.indicesOf(['A']));
    expect([...seen]).toEqual([0]);
    // observed, is-technique, share, knn, cooc, tactic seen, tactic delta, used, |O| / 10, nearest Jaccard
    expect(row('A').slice(0, 2)).toEqual([1, 1]);
    expect(row('B')[3]).toBeCloseTo(knn[1]!, 6);
    expect(row('C')[4]).toBeCloseTo(cooc[2]!, 6);
    expect(row('B')[5]).toBe(1);
    expect(row('C')[5]).toBe(0);
    expect(row('C')[6]).toBeCloseTo(1, 6);
    expect(row('C')[8]).toBeCloseTo(0.1, 6);
    // G1 = {A, B} and S1 = {A, C}: Jaccard 1/2 with {A}, overlap 1/2; S2 shares nothing.
    expect(row('G1').slice(3, 5)).toEqual([0.5, 0.5]);
    expect(row('S2').slice(3, 5)).toEqual([0, 0]);
    expect(row('B')[9]).toBe(0.5);
    // transition: A (tactic X) precedes C (tactic Y) in S1 of A's 2 users; B is in A's tactic, no transition.
    expect(row('C')[10]).toBeCloseTo(0.5, 6);
    expect(row('B')[10]).toBe(0);
    // logs of knn, cooc, transition, share, scaled so that a score of 0 is -1 and of 1 about 0.
    const log = (v: number) => Math.log(v + 1e-3) / Math.log(1e3);
    expect(row('B')[11]).toBeCloseTo(log(knn[1]!), 5);
    expect(row('C')[12]).toBeCloseTo(log(cooc[2]!), 5);
    expect(row('B')[13]).toBeCloseTo(-1, 6);
    expect(row('C')[14]).toBeCloseTo(log(2 / 3), 5);
  });

  it('stops early on the inner validation loss and reports the best epoch', async () => {
    const sub = await graph.subgraph();

    const run = trainGnn(sub, sub.uses, { ...QUICK, maxEpochs: 6, patience: 1, learningRate: 0.05 });

    const v = run.validationLosses;
    expect(run.losses).toHaveLength(v.length);
    expect(v.length).toBeLessThanOrEqual(6);
    expect(run.bestEpoch).toBe(v.indexOf(Math.min(...v)) + 1);
    if (v.length < 6) expect(v.length).toBe(run.bestEpoch + 1);
    // Both scored on the same inner-validation queries.
    expect(run.validation?.gnn.n).toBeGreaterThan(0);
    expect(run.validation?.knn.n).toBe(run.validation?.gnn.n);
    for (const m of [run.validation!.gnn, run.validation!.knn]) {
      expect(m['hit@10']).toBeGreaterThan(0);
      expect(m.mrr).toBeGreaterThan(0);
      expect(m.mrr).toBeLessThanOrEqual(m['hit@10'] + 0.1);
    }
  });

  it('blends kNN into the read-out: the logits become (1 - w) z + w ln(knn + 0.001), the same through ONNX', async () => {
    const sub = await graph.subgraph();
    const { model, inputs } = trainGnn(sub, sub.uses, QUICK);
    const observed = ['T0846', 'T0886'];
    const { x, seen } = inputs.features(observed);
    const z = Float32Array.from(model.forward(x));
    const stats = new UsesStats(
      inputs.ids.slice(0, inputs.t),
      sub.uses,
      new Map(sub.techniques.map((t) => [t.id, sub.tactics.indexOf(t.tactics[0] ?? '')])),
    );
    const knn = stats.scores('jaccard-knn', seen);

    blendWithKnn(model, 0.4);
    const blended = model.forward(x);
    const gnn = await OnnxGnn.create(exportGnn(model, inputs), sub);
    const { logits } = await gnn.logits(observed).finally(() => gnn.close());

    for (let i = 0; i < inputs.t; i++) {
      const expected = 0.6 * z[i]! + 0.4 * Math.log(knn[i]! + 1e-3);
      expect(Math.abs(blended[i]! - expected)).toBeLessThan(1e-4);
      expect(Math.abs(logits[i]! - blended[i]!)).toBeLessThan(1e-5);
    }
    expect(() => blendWithKnn(model, 1.5)).toThrow(/\[0, 1\]/);
  });

  it('reports the inner-validation scores of every kNN share and serves the chosen one', async () => {
    const sub = await graph.subgraph();

    const plain = trainGnn(sub, sub.uses, { ...QUICK, knnBlend: 0 });
    const blended = trainGnn(sub, sub.uses, { ...QUICK, knnBlend: 0.5 });

    expect(plain.validation?.blends.map((b) => b.w)).toEqual([...BLEND_GRID]);
    expect(plain.validation?.blends[0]).toEqual({ w: 0, ...plain.validation?.gnn });
    const half = plain.validation?.blends.find((b) => b.w === 0.5);
    expect(blended.validation?.gnn).toEqual({ 'hit@10': half?.['hit@10'], mrr: half?.mrr, n: half?.n });
  });

  it('scores the softmax over candidates only: observed nodes get no loss and no gradient', () => {
    const z = Float32Array.from([2, 0, 1, 5]);
    const y = Float32Array.from([0, 1, 0, -1]);
    const grad = new Float32Array(4);

    const loss = maskedSoftmaxLoss(z, y, grad);

    const sum = Math.exp(2) + Math.exp(0) + Math.exp(1);
    expect(loss).toBeCloseTo(-Math.log(1 / sum), 6);
    expect(grad[3]).toBe(0);
    expect(grad[1]).toBeCloseTo(1 / sum - 1, 6);
    expect(grad[0]! + grad[1]! + grad[2]!).toBeCloseTo(0, 6);
    expect(() => maskedSoftmaxLoss(z, Float32Array.from([0, 0, 0, -1]), grad)).toThrow(/hidden/);
  });

  it('serves the committed model: top k without the observed ones, best first, probabilities of one softmax', async () => {
    const bytes = new Uint8Array(await readFile(GNN_ARTIFACT));
    const predictor = await GnnPredictor.open(graph, bytes);
    try {
      const top = await predictor.predict(['T0846', 'T0886'], 5);
      const all = await predictor.predict(['T0846', 'T0886'], 1000);

      expect(top.map((t) => t.rank)).toEqual([1, 2, 3, 4, 5]);
      expect(top.map((t) => t.id)).not.toContain('T0846');
      for (let i = 1; i < top.length; i++)
        expect(top[i]!.probability).toBeLessThanOrEqual(top[i - 1]!.probability);
      expect(all).toHaveLength(shippedCatalog().techniques.length - 2);
      expect(all.reduce((s, t) => s + t.probability, 0)).toBeCloseTo(1, 5);
      expect(top).toEqual(all.slice(0, 5));
      await expect(predictor.predict(['T0846'], 0)).rejects.toThrow(RangeError);
    } finally {
      await predictor.close();
    }
  });

  it('serves the graph ranker instead of a GNN that cannot be opened, and says why; asked for by name it fails', async () => {
    const toy = {
      tactics: ['X'],
      techniques: [
        { id: 'A', name: 'a', tactics: ['X'] },
        { id: 'B', name: 'b', tactics: ['X'] },
      ],
      uses: [
        { entity: 'G1', techniques: ['A', 'B'] },
        { entity: 'G2', techniques: ['A', 'B'] },
      ],
    };
    const trained = trainGnn(toy, toy.uses, QUICK);
    const otherGraph = exportGnn(trained.model, trained.inputs);
    const damaged = new Uint8Array([1, 2, 3]);
    const reasons: string[] = [];

    const served = await openPredictor(graph, 'gnn', { onnx: damaged, onFallback: (r) => reasons.push(r) });
    const misfit = await openPredictor(graph, 'gnn', {
      onnx: otherGraph,
      onFallback: (r) => reasons.push(r),
    });

    expect(served.name).toBe(graph.ranker);
    expect(misfit.name).toBe(graph.ranker);
    expect(await served.predict(['T0846'], 3)).toEqual(await graph.nextTechniques(['T0846'], 3));
    expect(reasons).toHaveLength(2);
    for (const r of reasons) expect(r).toMatch(/^the GNN could not be opened \(.+\); serving jaccard-knn$/s);
    await expect(openPredictor(graph, 'gnn', { onnx: damaged })).rejects.toThrow();
    await expect(GnnPredictor.open(graph, otherGraph)).rejects.toThrow();
  });
});
