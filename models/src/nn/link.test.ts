import { describe, expect, it } from 'vitest';
import { Activation } from './activation.js';
import { gradientCheck } from './gradcheck.js';
import { GraphSage, meanAdjacency } from './graph.js';
import { linkPredictionLoss, linkProbabilities } from './link.js';
import { Sequential } from './model.js';
import { Adam } from './optim.js';
import { seededRng } from './rng.js';
import { Trainer } from './trainer.js';

function ring(n: number): [number, number][] {
  return Array.from({ length: n }, (_, i) => [i, (i + 1) % n] as [number, number]);
}

function sageModel(nodes: number, edges: [number, number][], seed: number): Sequential {
  const rng = seededRng(seed);
  const adj = meanAdjacency(nodes, edges);
  const a = new GraphSage({ inputSize: 4, outputSize: 8, rng });
  const b = new GraphSage({ inputSize: 8, outputSize: 4, rng });
  a.setAdjacency(adj, nodes);
  b.setAdjacency(adj, nodes);
  return new Sequential([a, new Activation('tanh'), b]);
}

describe('GraphSAGE link prediction', () => {
  it('the link loss gradient matches finite differences through two graph layers', () => {
    const nodes = 6;
    const model = sageModel(nodes, ring(nodes), 1);
    const rng = seededRng(2);
    const x = Float32Array.from({ length: nodes * 4 }, () => rng.normal());
    const y = Float32Array.of(0, 1, 1, 2, 3, 1, 0, 3, 0, 1, 4, 0);
    const r = gradientCheck(model, linkPredictionLoss(4), { x, y });
    expect(r.paramError).toBeLessThan(2e-3);
    expect(r.inputError).toBeLessThan(2e-3);
  });

  it('learns to rank true edges of a graph above non-edges', () => {
    const nodes = 12;
    // two 6-cycles: links stay inside each cycle
    const edges = [...ring(6), ...ring(6).map(([u, v]) => [u + 6, v + 6] as [number, number])];
    const model = sageModel(nodes, edges, 3);
    const rng = seededRng(4);
    const x = Float32Array.from({ length: nodes * 4 }, () => rng.normal());
    const neg: [number, number][] = [
      [0, 6],
      [1, 8],
      [2, 10],
      [3, 7],
      [4, 11],
      [5, 9],
    ];
    const y = Float32Array.from([
      ...edges.flatMap(([u, v]) => [u, v, 1]),
      ...neg.flatMap(([u, v]) => [u, v, 0]),
    ]);
    const trainer = new Trainer({
      model,
      loss: linkPredictionLoss(4),
      optimizer: new Adam({ learningRate: 0.02 }),
    });
    for (let s = 0; s < 200; s++) trainer.step([{ x, y }]);
    const z = model.forward(x);
    const pos = linkProbabilities(z, 4, edges);
    const bad = linkProbabilities(z, 4, neg);
    expect(Math.min(...pos)).toBeGreaterThan(Math.max(...bad));
  });

  it('rejects a pair outside the graph', () => {
    const loss = linkPredictionLoss(2);
    expect(() => loss(new Float32Array(4), Float32Array.of(0, 5, 1), new Float32Array(4))).toThrow(/outside/);
  });
});
