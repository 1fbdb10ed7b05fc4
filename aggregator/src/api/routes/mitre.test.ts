import { describe, expect, it } from 'vitest';
import { makePrediction } from '../testing/fixtures.js';
import { attackGraph } from './mitre.js';

describe('attackGraph', () => {
  it('is empty without predictions', () => {
    expect(attackGraph([])).toEqual({ nodes: [], links: [] });
  });

  it('keeps a technique seen as current as current and links only listed nodes', () => {
    const first = makePrediction();
    const second = makePrediction({
      current_technique: 'T0886',
      current_technique_name: 'Remote Services',
      predicted_techniques: [
        {
          technique_id: 'T0836',
          technique_name: 'Modify Parameter',
          probability: 0.7,
          rank: 1,
          timeframe: '15-60 minutes',
          timeframe_seconds: 3600,
        },
      ],
    });

    const g = attackGraph([first, second]);

    expect(g.nodes.find((n) => n.id === 'T0886')).toMatchObject({ type: 'current', probability: 1 });
    expect(g.nodes.find((n) => n.id === 'T0836')).toMatchObject({ type: 'predicted', probability: 0.7 });
    const ids = new Set(g.nodes.map((n) => n.id));
    expect(g.links).toHaveLength(3);
    expect(g.links.every((l) => ids.has(l.source) && ids.has(l.target))).toBe(true);
  });
});
