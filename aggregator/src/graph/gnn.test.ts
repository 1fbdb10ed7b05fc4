import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { shippedCatalog } from '@vigil/shared';
import { EmbeddedAttackGraph } from './embedded.js';
import { exportGnn, maskedSoftmaxLoss, OnnxGnn, rankLogits, trainGnn, DEFAULT_TRAIN } from './gnn.js';
import { GNN_ARTIFACT, GnnPredictor } from './predictor.js';

const graph = EmbeddedAttackGraph.fromCatalog(shippedCatalog());
const QUICK = { ...DEFAULT_TRAIN, epochs: 1, randomSplits: 0 };
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
});
