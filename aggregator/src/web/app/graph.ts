// Attack graph: techniques seen (current) and predicted, laid out force-directed with link probabilities; a click on
// a technique shows its ATT&CK for ICS details.
import type { TechniqueDetails } from '@vigil/shared/api';
import { get } from './api.js';
import { forceLayout } from './charts.js';
import { empty, h, pct, replace, s } from './dom.js';
import { errorBox, onLive, section, throttled, type Page } from './page.js';

interface GraphNode {
  id: string;
  name: string;
  type: 'current' | 'predicted';
  probability: number;
}
interface GraphLink {
  source: string;
  target: string;
  probability: number;
}

const W = 900;
const H = 520;

export const graphPage: Page = ({ root, live }) => {
  const canvas = h('div', { class: 'graph' });
  const details = h('div');
  replace(
    root,
    h('h1', {}, 'Attack graph'),
    h(
      'p',
      { class: 'legend-line' },
      h('span', { class: 'dot-current' }, '●'),
      ' technique seen in an alert   ',
      h('span', { class: 'dot-predicted' }, '●'),
      ' predicted next technique (edge label: probability)',
    ),
    h('div', { class: 'graph-layout' }, canvas, section('Technique', details)),
  );
  replace(details, empty('Click a technique for its details.'));

  const showTechnique = async (id: string): Promise<void> => {
    replace(details, h('p', {}, `Loading ${id}…`));
    try {
      const t = await get<TechniqueDetails>(`/api/mitre/technique/${encodeURIComponent(id)}`);
      const list = (xs: string[]): string => (xs.length === 0 ? '—' : xs.join(', '));
      replace(
        details,
        h('h3', {}, `${t.id} ${t.name}`),
        h('p', {}, t.description),
        h(
          'dl',
          { class: 'evidence' },
          h('dt', {}, 'Tactics'),
          h('dd', {}, list(t.tactics)),
          h('dt', {}, 'Platforms'),
          h('dd', {}, list(t.platforms)),
          h('dt', {}, 'Affected assets'),
          h('dd', {}, list(t.affected_assets)),
          h('dt', {}, 'Detection'),
          h('dd', { class: 'long' }, t.detection || '—'),
          h('dt', {}, 'Mitigation'),
          h('dd', { class: 'long' }, t.mitigation || '—'),
        ),
      );
    } catch (err) {
      replace(details, errorBox(err));
    }
  };

  const load = async (): Promise<void> => {
    try {
      const g = await get<{ nodes: GraphNode[]; links: GraphLink[] }>('/api/mitre/graph');
      if (g.nodes.length === 0) {
        replace(
          canvas,
          empty('No technique has been seen or predicted yet: the graph fills once the predictor has run.'),
        );
        return;
      }
      const pos = forceLayout(
        g.nodes.map((n) => n.id),
        g.links,
        W,
        H,
      );
      const svg = s(
        'svg',
        { viewBox: `0 0 ${W} ${H}`, class: 'attack-graph', role: 'img', 'aria-label': 'attack graph' },
        s(
          'defs',
          {},
          s(
            'marker',
            {
              id: 'arrow',
              viewBox: '0 0 10 10',
              refX: 22,
              refY: 5,
              markerWidth: 6,
              markerHeight: 6,
              orient: 'auto',
            },
            s('path', { d: 'M0,0 L10,5 L0,10 z', class: 'arrowhead' }),
          ),
        ),
      );
      for (const l of g.links) {
        const a = pos.get(l.source);
        const b = pos.get(l.target);
        if (a === undefined || b === undefined) continue;
        svg.append(
          s('line', {
            x1: a.x,
            y1: a.y,
            x2: b.x,
            y2: b.y,
            class: 'edge',
            'stroke-width': 1 + 4 * l.probability,
            'marker-end': 'url(#arrow)',
          }),
          s('text', { x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 - 4, class: 'edge-label' }, pct(l.probability)),
        );
      }
      for (const n of g.nodes) {
        const p = pos.get(n.id);
        if (p === undefined) continue;
        svg.append(
          s(
            'g',
            {
              class: `node node-${n.type}`,
              transform: `translate(${p.x.toFixed(1)},${p.y.toFixed(1)})`,
              tabindex: 0,
              'data-technique': n.id,
              onclick: () => void showTechnique(n.id),
            },
            s('circle', { r: 10 + 10 * n.probability }),
            s('text', { y: -22, 'text-anchor': 'middle', class: 'node-id' }, n.id),
            s(
              'text',
              { y: 34, 'text-anchor': 'middle', class: 'node-name' },
              `${n.name} (${pct(n.probability)})`,
            ),
            s('title', {}, `${n.id} ${n.name}: ${n.type}, ${pct(n.probability)}`),
          ),
        );
      }
      replace(canvas, svg);
    } catch (err) {
      replace(canvas, errorBox(err));
    }
  };
  void load();
  return onLive(
    live,
    ['attack_detected', 'prediction_created', 'prediction_validated'],
    throttled(() => void load(), 1000),
  );
};
