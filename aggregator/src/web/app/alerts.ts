// Alerts: filters (severity, facility, status, time range), search, paging, live refresh; and the detail view with
// the 60-s evidence timeline, the sources and the evidence that drove the alert, and status changes.
import type { Alert, AlertPage, SystemStatus, TimelinePoint } from '@vigil/shared/api';
import { get, put } from './api.js';
import { lineChart } from './charts.js';
import { badge, empty, fmtTime, h, pct, replace } from './dom.js';
import { alertRow } from './overview.js';
import { errorBox, onLive, section, throttled, type Page } from './page.js';

const SEVERITIES = ['critical', 'high', 'medium', 'low'];
const STATUSES = ['new', 'acknowledged', 'resolved', 'false-positive'];
const RANGES = ['all', '1h', '24h', '7d', '30d'];
const LIMIT = 25;

interface Filters {
  severity: string;
  facility: string;
  status: string;
  time_range: string;
  search: string;
  page: number;
}

/** Kept across visits of the page within the session, so going back from a detail view keeps the filters. */
const filters: Filters = { severity: '', facility: '', status: '', time_range: '', search: '', page: 1 };

function select(
  name: keyof Filters,
  options: string[],
  all: string,
  onChange: () => void,
): HTMLSelectElement {
  const el = h(
    'select',
    { name, 'aria-label': name },
    h('option', { value: '' }, all),
    options.map((o) => h('option', { value: o }, o)),
  );
  el.value = String(filters[name]);
  el.addEventListener('change', () => {
    (filters as unknown as Record<string, string | number>)[name] = el.value;
    filters.page = 1;
    onChange();
  });
  return el;
}

function listPage(ctx: Parameters<Page>[0]): () => void {
  const { root, live } = ctx;
  const table = h('div');
  const pager = h('div', { class: 'pager' });
  const facilitySlot = h('span');
  const liveNote = h('span', { class: 'live-note' });
  const search = h('input', { type: 'search', placeholder: 'Search title, description…', name: 'search' });
  search.value = filters.search;
  let seen = new Set<string>();
  let first = true;

  const load = async (): Promise<void> => {
    const q = new URLSearchParams({ page: String(filters.page), limit: String(LIMIT) });
    for (const k of ['severity', 'facility', 'status', 'time_range', 'search'] as const) {
      if (filters[k] !== '') q.set(k, filters[k]);
    }
    try {
      const res = await get<AlertPage>(`/api/alerts?${q.toString()}`);
      const rows = res.alerts.map((a) => {
        const row = alertRow(a);
        if (!first && !seen.has(a.id)) row.classList.add('fresh');
        return row;
      });
      seen = new Set(res.alerts.map((a) => a.id));
      first = false;
      replace(
        table,
        res.alerts.length === 0
          ? empty('No alert matches these filters.')
          : h(
              'table',
              { class: 'alerts' },
              h(
                'thead',
                {},
                h(
                  'tr',
                  {},
                  ['Severity', 'Title', 'Facility', 'Technique', 'Status', 'Time'].map((t) => h('th', {}, t)),
                ),
              ),
              h('tbody', {}, rows),
            ),
      );
      replace(
        pager,
        h('button', { disabled: res.page <= 1, onclick: () => go(res.page - 1) }, '‹ Previous'),
        ` page ${res.page} of ${Math.max(1, res.pages)} · ${res.total} alerts `,
        h('button', { disabled: res.page >= res.pages, onclick: () => go(res.page + 1) }, 'Next ›'),
      );
    } catch (err) {
      replace(table, errorBox(err));
    }
  };
  const go = (page: number): void => {
    filters.page = page;
    void load();
  };
  const reload = (): void => void load();

  let searchTimer: number | undefined;
  search.addEventListener('input', () => {
    window.clearTimeout(searchTimer);
    searchTimer = window.setTimeout(() => {
      filters.search = search.value.trim();
      filters.page = 1;
      void load();
    }, 300);
  });

  replace(
    root,
    h('h1', {}, 'Alerts ', liveNote),
    h(
      'div',
      { class: 'filters' },
      select('severity', SEVERITIES, 'All severities', reload),
      facilitySlot,
      select('status', STATUSES, 'All statuses', reload),
      select('time_range', RANGES.slice(1), 'All time', reload),
      search,
    ),
    table,
    pager,
  );
  get<SystemStatus>('/api/system/status')
    .then((sys) =>
      replace(
        facilitySlot,
        select(
          'facility',
          sys.facilities.map((f) => f.id),
          'All facilities',
          reload,
        ),
      ),
    )
    .catch(() => replace(facilitySlot));
  void load();

  let arrived = 0;
  const off = onLive(live, ['alert_created', 'alert_updated'], (m) => {
    // The same alert also arrives on the dashboard room; count it once.
    if (m.type === 'alert_created' && m.channel === 'alerts') {
      arrived++;
      liveNote.textContent = `· ${arrived} new since opened`;
    }
    refresh();
  });
  const refresh = throttled(reload, 300);
  return () => {
    off();
    window.clearTimeout(searchTimer);
  };
}

function timelineCharts(points: TimelinePoint[]): HTMLElement {
  if (points.length === 0) return empty('This alert carries no timeline points.');
  const xLabels = points.map((p) => new Date(p.time).toLocaleTimeString());
  const bands = points.map((p) => p.status);
  return h(
    'div',
    { class: 'timeline' },
    lineChart([{ label: 'packets/s', cls: 's1', values: points.map((p) => p.packets_per_sec) }], {
      xLabels,
      bands,
      title: 'Packets per second (shaded: suspicious / attack)',
    }),
    lineChart([{ label: 'unique dest IPs', cls: 's2', values: points.map((p) => p.unique_dest_ips) }], {
      xLabels,
      bands,
      title: 'Unique destination IPs',
      yFormat: (v) => v.toFixed(0),
    }),
  );
}

function detailPage(ctx: Parameters<Page>[0], id: string): () => void {
  const { root, live } = ctx;
  const body = h('div');
  const actionMsg = h('span', { class: 'action-msg', role: 'status' });
  replace(root, h('p', {}, h('a', { href: '#/alerts' }, '‹ All alerts')), body);

  const render = (a: Alert): void => {
    const ca = a.context_analysis;
    replace(
      body,
      h('h1', {}, badge(a.severity), ' ', a.title),
      h(
        'p',
        {},
        `${a.facility_id} · ${fmtTime(a.timestamp)} · ${a.attack_type} ${a.attack_name} · status `,
        badge(a.status),
      ),
      h(
        'div',
        { class: 'actions' },
        ['acknowledged', 'resolved', 'false-positive'].map((st) =>
          h(
            'button',
            {
              disabled: a.status === st,
              onclick: () => {
                put<Alert>(`/api/alerts/${a.id}/status`, { status: st })
                  .then((updated) => {
                    render(updated);
                    actionMsg.textContent = `marked ${st}`;
                  })
                  .catch((err: unknown) => replace(actionMsg, errorBox(err)));
              },
            },
            `Mark ${st}`,
          ),
        ),
        actionMsg,
      ),
      h('p', {}, a.description),
      section(
        '60-second evidence timeline',
        h('p', {}, `${ca.pattern} · ${ca.duration} · ${ca.behavior}`),
        timelineCharts(ca.timeline),
      ),
      section(
        `Sources (correlation ${pct(a.correlation_confidence)})`,
        h('p', {}, a.correlation_summary),
        a.sources.length === 0
          ? empty('No detector source recorded.')
          : h(
              'table',
              { class: 'sources' },
              h(
                'thead',
                {},
                h(
                  'tr',
                  {},
                  ['Layer', 'Model', 'Confidence', 'Evidence', 'Context', 'Detected'].map((t) =>
                    h('th', {}, t),
                  ),
                ),
              ),
              h(
                'tbody',
                {},
                a.sources.map((src) =>
                  h(
                    'tr',
                    {},
                    h('td', {}, `L${src.layer}`),
                    h('td', {}, src.model_name),
                    h('td', {}, pct(src.confidence)),
                    h('td', {}, src.evidence),
                    h('td', {}, src.context_evidence),
                    h('td', {}, fmtTime(src.detection_time)),
                  ),
                ),
              ),
            ),
      ),
      section(
        'Features that drove it',
        Object.keys(ca.evidence).length === 0
          ? empty('No feature evidence recorded.')
          : h(
              'dl',
              { class: 'evidence' },
              Object.entries(ca.evidence).flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]),
            ),
      ),
    );
  };
  const load = async (): Promise<void> => {
    try {
      render(await get<Alert>(`/api/alerts/${encodeURIComponent(id)}`));
    } catch (err) {
      replace(body, errorBox(err));
    }
  };
  void load();
  const off = onLive(live, ['alert_updated'], (m) => {
    if ((m.data as { id?: string } | null)?.id === id) void load();
  });
  return off;
}

export const alertsPage: Page = (ctx) => {
  const id = ctx.params[0];
  return id === undefined || id === '' ? listPage(ctx) : detailPage(ctx, id);
};
