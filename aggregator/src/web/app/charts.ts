// Inline-SVG charts: a line chart with optional per-point status bands, and a force-directed graph layout.
import { s } from './dom.js';

export interface Series {
  label: string;
  cls: string;
  values: (number | null)[];
}

export interface LineChartOptions {
  /** One label per x position (shown sparsely). */
  xLabels: string[];
  /** Per x position: normal | suspicious | attack, drawn as background bands. */
  bands?: string[];
  yMin?: number;
  yMax?: number;
  title: string;
  yFormat?: (v: number) => string;
}

const W = 640;
const H = 220;
const PAD = { l: 48, r: 12, t: 24, b: 28 };

export function lineChart(series: Series[], o: LineChartOptions): SVGSVGElement {
  const n = o.xLabels.length;
  const all = series.flatMap((x) => x.values).filter((v): v is number => v !== null && Number.isFinite(v));
  const yMin = o.yMin ?? Math.min(0, ...all);
  let yMax = o.yMax ?? Math.max(1, ...all);
  if (yMax <= yMin) yMax = yMin + 1;
  const fmt = o.yFormat ?? ((v: number) => (Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(2)));
  const x = (i: number): number => PAD.l + (n <= 1 ? 0.5 : i / (n - 1)) * (W - PAD.l - PAD.r);
  const y = (v: number): number => H - PAD.b - ((v - yMin) / (yMax - yMin)) * (H - PAD.t - PAD.b);
  const svg = s('svg', {
    viewBox: `0 0 ${W} ${H}`,
    class: 'chart',
    role: 'img',
    'aria-label': o.title,
  });
  svg.append(s('text', { x: PAD.l, y: 14, class: 'chart-title' }, o.title));
  if (o.bands !== undefined && n > 0) {
    const step = (W - PAD.l - PAD.r) / Math.max(1, n - 1);
    o.bands.forEach((b, i) => {
      if (b === 'normal') return;
      svg.append(
        s('rect', {
          x: Math.max(PAD.l, x(i) - step / 2),
          y: PAD.t,
          width: step,
          height: H - PAD.t - PAD.b,
          class: `band band-${b}`,
        }),
      );
    });
  }
  for (let k = 0; k <= 4; k++) {
    const v = yMin + ((yMax - yMin) * k) / 4;
    svg.append(s('line', { x1: PAD.l, x2: W - PAD.r, y1: y(v), y2: y(v), class: 'grid' }));
    svg.append(s('text', { x: PAD.l - 4, y: y(v) + 4, class: 'axis', 'text-anchor': 'end' }, fmt(v)));
  }
  const every = Math.max(1, Math.ceil(n / 6));
  o.xLabels.forEach((label, i) => {
    if (i % every === 0 || i === n - 1)
      svg.append(s('text', { x: x(i), y: H - 8, class: 'axis', 'text-anchor': 'middle' }, label));
  });
  series.forEach((ser, si) => {
    let d = '';
    ser.values.forEach((v, i) => {
      if (v === null || !Number.isFinite(v)) return;
      d += `${d === '' ? 'M' : 'L'}${x(i).toFixed(1)},${y(v).toFixed(1)} `;
    });
    if (d !== '') svg.append(s('path', { d, class: `line ${ser.cls}` }));
    ser.values.forEach((v, i) => {
      if (v !== null && Number.isFinite(v) && n <= 60)
        svg.append(s('circle', { cx: x(i), cy: y(v), r: 2.5, class: `dot ${ser.cls}` }));
    });
    svg.append(
      s(
        'text',
        { x: W - PAD.r - 150 * (series.length - si), y: 14, class: `legend ${ser.cls}` },
        `● ${ser.label}`,
      ),
    );
  });
  return svg;
}

export interface LayoutNode {
  id: string;
  x: number;
  y: number;
}

/**
 * Force-directed layout (repulsion between all nodes, springs along links, pull to the centre), deterministic: nodes
 * start on a circle in input order. Small graphs only (O(n²) per step), which the attack graph is.
 */
export function forceLayout(
  ids: readonly string[],
  links: readonly { source: string; target: string }[],
  width: number,
  height: number,
  steps = 300,
): Map<string, LayoutNode> {
  const nodes = ids.map((id, i) => {
    const a = (2 * Math.PI * i) / Math.max(1, ids.length);
    return {
      id,
      x: width / 2 + (width / 3) * Math.cos(a),
      y: height / 2 + (height / 3) * Math.sin(a),
      vx: 0,
      vy: 0,
    };
  });
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const ideal = Math.min(width, height) / Math.max(2, Math.sqrt(nodes.length) + 1);
  for (let step = 0; step < steps; step++) {
    const cooling = 1 - step / steps;
    for (const a of nodes) {
      for (const b of nodes) {
        if (a === b) continue;
        const dx = a.x - b.x || 0.01;
        const dy = a.y - b.y || 0.01;
        const d2 = Math.max(dx * dx + dy * dy, 1);
        const f = (ideal * ideal) / d2;
        a.vx += dx * f * 0.05;
        a.vy += dy * f * 0.05;
      }
    }
    for (const l of links) {
      const a = byId.get(l.source);
      const b = byId.get(l.target);
      if (a === undefined || b === undefined || a === b) continue;
      const dx = b.x - a.x;
      const dy = b.y - a.y;
      const d = Math.max(Math.hypot(dx, dy), 1);
      const f = ((d - ideal) / d) * 0.1;
      a.vx += dx * f;
      a.vy += dy * f;
      b.vx -= dx * f;
      b.vy -= dy * f;
    }
    for (const n of nodes) {
      n.vx += (width / 2 - n.x) * 0.01;
      n.vy += (height / 2 - n.y) * 0.01;
      const speed = Math.hypot(n.vx, n.vy);
      const cap = 20 * cooling + 0.5;
      if (speed > cap) {
        n.vx = (n.vx / speed) * cap;
        n.vy = (n.vy / speed) * cap;
      }
      // Margins leave room for the labels drawn above and below each node.
      n.x = Math.min(width - 90, Math.max(90, n.x + n.vx));
      n.y = Math.min(height - 50, Math.max(40, n.y + n.vy));
      n.vx *= 0.5;
      n.vy *= 0.5;
    }
  }
  return new Map(nodes.map((n) => [n.id, { id: n.id, x: n.x, y: n.y }]));
}
