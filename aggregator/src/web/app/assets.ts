// Assets and agent health per facility: what the API offers today (facility liveness from heartbeats, the last 60 s
// of traffic aggregates, the server's dependencies). The asset inventory has no endpoint yet, and the page says so.
import type { SystemStatus } from '@vigil/shared/api';
import { get } from './api.js';
import { badge, empty, h, num, replace } from './dom.js';
import { errorBox, onLive, section, throttled, type Page } from './page.js';

interface ContextCurrent {
  facility_id: string;
  features: { seconds_with_data: number };
  metrics: Record<string, unknown>;
}
interface Health {
  status: string;
  services: Record<string, string>;
}

function metricsList(m: Record<string, unknown>): HTMLElement {
  const rows = Object.entries(m).filter(([, v]) => typeof v === 'number');
  if (rows.length === 0) return empty('No traffic aggregates in the last 60 seconds.');
  return h(
    'dl',
    { class: 'evidence' },
    rows.flatMap(([k, v]) => [h('dt', {}, k.replaceAll('_', ' ')), h('dd', {}, num(v as number))]),
  );
}

export const assetsPage: Page = ({ root, live }) => {
  const server = h('div');
  const list = h('div');
  replace(
    root,
    h('h1', {}, 'Assets and agent health'),
    h(
      'p',
      { class: 'note' },
      'The API does not serve the asset inventory or per-agent health details yet; this page shows what it offers: ' +
        "each facility's liveness from its agent's heartbeats and its last 60 seconds of traffic aggregates.",
    ),
    section('Aggregator', server),
    list,
  );

  const load = async (): Promise<void> => {
    try {
      const [health, sys] = await Promise.all([
        get<Health>('/health'),
        get<SystemStatus>('/api/system/status'),
      ]);
      replace(
        server,
        h(
          'p',
          {},
          'status ',
          badge(health.status),
          ...Object.entries(health.services)
            .map(([k, v]) => [' · ', k, ' ', badge(v)])
            .flat(),
        ),
      );
      if (sys.facilities.length === 0) {
        replace(list, empty('No facility is registered yet (vigil facilities add).'));
        return;
      }
      const cards = await Promise.all(
        sys.facilities.map(async (f) => {
          let traffic: HTMLElement;
          try {
            const ctx = await get<ContextCurrent>(`/api/context/${encodeURIComponent(f.id)}/current`);
            traffic = h(
              'div',
              {},
              h('p', {}, `${ctx.features.seconds_with_data} of the last 60 seconds carry traffic aggregates`),
              metricsList(ctx.metrics),
            );
          } catch (err) {
            traffic = errorBox(err);
          }
          return section(`${f.name} (${f.id})`, h('p', {}, 'agent ', badge(f.status)), traffic);
        }),
      );
      replace(list, h('div', { class: 'grid2' }, cards));
    } catch (err) {
      replace(list, errorBox(err));
    }
  };
  void load();
  const timer = window.setInterval(() => void load(), 10_000);
  const off = onLive(
    live,
    ['facility_status', 'health'],
    throttled(() => void load(), 500),
  );
  return () => {
    off();
    window.clearInterval(timer);
  };
};
