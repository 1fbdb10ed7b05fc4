import { readFile } from 'node:fs/promises';
import { gradientCheck } from '@vigil/models';
import { shippedCatalog } from '@vigil/shared';
import { describe, expect, it } from 'vitest';
import { EmbeddedAttackGraph } from './embedded.js';
import {
  approxMrrLoss,
  buildGnnModel,
  DEFAULT_TRAIN,
  exportGnn,
  gnnLayer,
  gnnParameters,
  GnnInputs,
  maskedSoftmaxLoss,
  OnnxGnn,
  rankLogits,
  SEARCH_GRID,
  trainGnn,
  type AttackSubgraph,
} from './gnn.js';
import { GNN_ARTIFACT, GnnPredictor, openPredictor } from './predictor.js';

const graph = EmbeddedAttackGraph.fromCatalog(shippedCatalog());
const OBSERVED = [['T0846'], ['T0846', 'T0886', 'T0855'], [], ['T0999']];

/** Tactics X, Y; techniques A..E; A and B share a mitigation; three entities. */
const TOY: AttackSubgraph = {
  tactics: ['X', 'Y'],
  techniques: [
    { id: 'A', name: 'a', tactics: ['X'], context: ['M1'] },
    { id: 'B', name: 'b', tactics: ['X'], context: ['M1'] },
    { id: 'C', name: 'c', tactics: ['Y'], context: [] },
    { id: 'D', name: 'd', tactics: ['Y'], context: ['M2'] },
    { id: 'E', name: 'e', tactics: ['Y'], context: ['M2'] },
  ],
  uses: [
    { entity: 'G1', techniques: ['A', 'B', 'C'] },
    { entity: 'G2', techniques: ['A', 'D', 'E', 'C'] },
    { entity: 'S1', techniques: ['D', 'E', 'Z9'] },
  ],
};

function withParameters(values: number[]) {
  const model = buildGnnModel();
  values.forEach((v, i) => (gnnLayer(model).params[i]!.value[0] = v));
  return model;
}

describe('next-technique GNN', () => {
  it('reads the graph: uses per technique and entity, context as the Jaccard of tactics and context ids', () => {
    const g = new GnnInputs(TOY);

    expect(g.ids).toEqual(['A', 'B', 'C', 'D', 'E']);
    expect(g.entities).toEqual(['G1', 'G2', 'S1']);
    expect([...g.users]).toEqual([2, 1, 2, 2, 2]);
    expect(g.uses[g.index.get('D')! * g.m + 2]).toBe(1);
    expect(g.uses[g.index.get('B')! * g.m + 1]).toBe(0);
    // A {X, M1} and B {X, M1}: 1; A and C {Y}: 0; D {Y, M2} and C {Y}: 1/2.
    expect(g.context[0 * g.t + 1]).toBe(1);
    expect(g.context[0 * g.t + 2]).toBe(0);
    expect(g.context[3 * g.t + 2]).toBeCloseTo(0.5, 6);
    expect([...g.observed(['C', 'T0999']).seen]).toEqual([2]);
  });

  it('votes with the entities sharing the observed techniques, sharper with a larger p', () => {
    const g = new GnnInputs(TOY);
    const { x } = g.observed(['A', 'C']);
    const at = (p: number) => {
      const model = withParameters([p, 0.5, 0, 0, Math.log(1e-3)]);
      gnnLayer(model).setGraph(g);
      return model.forward(x);
    };
    const soft = at(1);
    const sharp = at(16);
    const [b, d] = [g.index.get('B')!, g.index.get('D')!];

    // G1 shares 2 of 3 techniques with {A, C}, G2 2 of 4: B (G1 only) beats D (G2 and S1), more so at p = 16.
    expect(soft[b]!).toBeGreaterThan(soft[d]!);
    expect(sharp[b]! - sharp[d]!).toBeGreaterThan(soft[b]! - soft[d]!);
    // S1 shares nothing with {A, C}: its vote for D and E is (1e-6)^p of a sharing entity's.
    const onlyS1 = withParameters([4, 0.5, 0, 0, Math.log(1e-3)]);
    gnnLayer(onlyS1).setGraph(new GnnInputs({ ...TOY, uses: [TOY.uses[2]!, TOY.uses[0]!] }));
    const z = onlyS1.forward(x);
    expect(z[d]!).toBeCloseTo(Math.log(1e-3), 3);
  });

  it('has the gradient of its parameters that finite differences give, under both losses', () => {
    const g = new GnnInputs(TOY);
    const model = withParameters([3, 0.6, 1.5, -0.3, -5]);
    gnnLayer(model).setGraph(g);
    const { x, seen } = g.observed(['A', 'C']);
    const y = new Float32Array(g.t);
    for (const i of seen) y[i] = -1;
    y[g.index.get('D')!] = 1;

    expect(gradientCheck(model, maskedSoftmaxLoss, { x, y }).paramError).toBeLessThan(1e-3);
    expect(gradientCheck(model, approxMrrLoss, { x, y }).paramError).toBeLessThan(1e-3);
  });

  it('runs the same in onnxruntime as in our forward pass (1e-5) and ranks the same through it', async () => {
    const sub = await graph.subgraph();
    const model = withParameters([8, 0.75, 2, 0.5, Math.log(1e-2)]);
    const inputs = new GnnInputs(sub);
    gnnLayer(model).setGraph(inputs);
    const gnn = await OnnxGnn.create(exportGnn(model), sub);
    try {
      for (const observed of OBSERVED) {
        const { x, seen } = inputs.observed(observed);
        const ours = model.forward(x);
        const { logits } = await gnn.logits(observed);

        expect(logits).toHaveLength(inputs.t);
        for (let i = 0; i < logits.length; i++) expect(Math.abs(logits[i]! - ours[i]!)).toBeLessThan(1e-5);
        const viaOrt = await gnn.rank(observed);
        expect(viaOrt.map((s) => s.id)).toEqual(rankLogits(inputs, ours, seen).map((s) => s.id));
        expect(viaOrt).toHaveLength(inputs.t - seen.size);
      }
    } finally {
      await gnn.close();
    }
  });

  it('fits its parameters from the grid on the training sets only, deterministically, and reports inner validation', async () => {
    const sub = await graph.subgraph();
    const training = sub.uses.slice(1);
    const a = trainGnn(sub, training);
    const b = trainGnn(sub, training);

    expect(gnnParameters(a.model)).toEqual(gnnParameters(b.model));
    const chosen = gnnParameters(a.model);
    expect(SEARCH_GRID.p).toContain(chosen.p);
    expect(SEARCH_GRID.beta).toContain(chosen.beta);
    expect(SEARCH_GRID.lambda_ctx).toContain(chosen.lambda_ctx);
    expect(a.inputs.entities).not.toContain(sub.uses[0]!.entity);
    expect(a.objective).toBeGreaterThan(0);
    expect(a.validation?.gnn.n).toBe(a.validation?.knn.n);
    expect(a.validation?.gnn.n).toBeGreaterThan(0);
  });

  it('can instead be trained by Adam on either loss, lowering it', () => {
    for (const loss of ['softmax-ce', 'approx-mrr'] as const) {
      const trained = trainGnn(TOY, TOY.uses, {
        ...DEFAULT_TRAIN,
        fit: 'adam',
        loss,
        epochs: 30,
        validationShare: 0,
      });

      expect(trained.losses).toHaveLength(30);
      expect(trained.losses.at(-1)!).toBeLessThan(trained.losses[0]!);
      expect(trained.validation).toBeUndefined();
    }
  });

  it('scores the softmax over candidates only: observed nodes get no loss and no gradient', () => {
    const z = Float32Array.from([1, 2, 3, 4]);
    const grad = new Float32Array(4);
    const loss = maskedSoftmaxLoss(z, Float32Array.from([0, 1, 0, -1]), grad);
    const sum = Math.exp(1) + Math.exp(2) + Math.exp(3);

    expect(loss).toBeCloseTo(-(2 - Math.log(sum)), 6);
    expect(grad[3]).toBe(0);
    expect(grad[0]! + grad[1]! + grad[2]!).toBeCloseTo(0, 6);
    expect(() => maskedSoftmaxLoss(z, Float32Array.from([0, 0, 0, -1]), grad)).toThrow(/hidden/);
  });

  it('smooths the rank in approxMrrLoss: about -1/rank when the gaps are wide', () => {
    const grad = new Float32Array(4);
    const loss = approxMrrLoss(Float32Array.from([0, 50, 100, 200]), Float32Array.from([0, 1, 0, -1]), grad);

    expect(loss).toBeCloseTo(-1 / 2, 6);
    expect(grad[3]).toBe(0);
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
    const damaged = new Uint8Array([1, 2, 3]);
    const reasons: string[] = [];

    const served = await openPredictor(graph, 'gnn', { onnx: damaged, onFallback: (r) => reasons.push(r) });

    expect(served.name).toBe(graph.ranker);
    expect(await served.predict(['T0846'], 3)).toEqual(await graph.nextTechniques(['T0846'], 3));
    expect(reasons).toHaveLength(1);
    expect(reasons[0]).toMatch(/^the GNN could not be opened \(.+\); serving /s);
    await expect(openPredictor(graph, 'gnn', { onnx: damaged })).rejects.toThrow();
  });
});
