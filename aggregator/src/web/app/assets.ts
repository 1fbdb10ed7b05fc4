// Assets and agent health per facility: liveness from heartbeats, each agent's reported health, the asset inventory
// its agent reports, the last 60 s of traffic aggregates, and the server's dependencies.
import type { SystemStatus } from '@vigil/shared/api';
import { get } from './api.js';
import { badge, empty, fmtTime, h, num, replace } from './dom.js';
import { errorBox, onLive, section, throttled, type Page } from './page.js';

interface ContextCurrent {
  facility_id: string;
  features: { seconds_with_data: number };
  metrics: Record<string, unknown>;
}
interface FacilityAgents {
  agents: {
    id: string;
    enrolled_at: string;
    last_heartbeat: string | null;
    health: Record<string, unknown>;
  }[];
}
interface FacilityAssets {
  assets: {
    address: string;
    mac: string;
    protocols: string[];
    role: string;
    first_seen: string;
    last_seen: string;
    removed_at: string | null;
  }[];
}
interface Health {
  status: string;
  services: Record<string, string>;
  details?: Record<string, string>;
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

/** A health value as text: numbers, strings, and maps (model versions, suppressed detections) as `key value, ...`. */
function healthValue(v: unknown): string | null {
  if (typeof v === 'number') return num(v, 0);
  if (typeof v === 'string') return v;
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return null;
  const parts = Object.entries(v).map(([k, x]) => `${k} ${typeof x === 'number' ? num(x, 0) : String(x)}`);
  return parts.length === 0 ? 'none' : parts.join(', ');
}

function healthList(health: Record<string, unknown>): HTMLElement {
  const rows = Object.entries(health).flatMap(([k, v]) => {
    const text = healthValue(v);
    return text === null ? [] : [[k, text] as const];
  });
  if (rows.length === 0) return empty('No health reported yet.');
  return h(
    'dl',
    { class: 'evidence' },
    rows.flatMap(([k, text]) => [h('dt', {}, k.replaceAll('_', ' ')), h('dd', {}, text)]),
  );
}

function agentsView(a: FacilityAgents): HTMLElement {
  if (a.agents.length === 0) return empty('No agent enrolled (vigil enroll create --facility ID).');
  return h(
    'div',
    {},
    a.agents.map((g) =>
      h(
        'div',
        {},
        h(
          'p',
          {},
          `agent ${g.id.slice(0, 8)} · enrolled ${fmtTime(g.enrolled_at)} · last heartbeat ${fmtTime(g.last_heartbeat)}`,
        ),
        healthList(g.health),
      ),
    ),
  );
}

function assetsTable(a: FacilityAssets): HTMLElement {
  if (a.assets.length === 0) return empty('The agent has reported no assets yet.');
  return h(
    'table',
    { class: 'assets' },
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        ['address', 'role', 'protocols', 'MAC', 'first seen', 'last seen'].map((c) => h('th', {}, c)),
      ),
    ),
    h(
      'tbody',
      {},
      a.assets.map((x) =>
        h(
          'tr',
          x.removed_at === null ? {} : { class: 'removed', title: `gone since ${fmtTime(x.removed_at)}` },
          h('td', {}, x.address),
          h('td', {}, x.role),
          h('td', {}, x.protocols.join(', ')),
          h('td', {}, x.mac),
          h('td', {}, fmtTime(x.first_seen)),
          h('td', {}, fmtTime(x.last_seen)),
        ),
      ),
    ),
  );
}

export const assetsPage: Page = ({ root, live }) => {
  const server = h('div');
  const list = h('div');
  replace(root, h('h1', {}, 'Assets and agent health'), section('Aggregator', server), list);

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
        ...Object.entries(health.details ?? {}).map(([k, why]) =>
          h('div', { class: 'error', role: 'alert' }, `${k}: ${why}`),
        ),
      );
      if (sys.facilities.length === 0) {
        replace(list, empty('No facility is registered yet (vigil facilities add).'));
        return;
      }
      const cards = await Promise.all(
        sys.facilities.map(async (f) => {
          const id = encodeURIComponent(f.id);
          const [agents, assets] = await Promise.all([
            get<FacilityAgents>(`/api/facilities/${id}/agents`).then(agentsView, errorBox),
            get<FacilityAssets>(`/api/facilities/${id}/assets`).then(assetsTable, errorBox),
          ]);
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
          return section(
            `${f.name} (${f.id})`,
            h('p', {}, 'facility ', badge(f.status)),
            h('h3', {}, 'Agents'),
            agents,
            h('h3', {}, 'Assets'),
            assets,
            h('h3', {}, 'Traffic, last 60 s'),
            traffic,
          );
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
