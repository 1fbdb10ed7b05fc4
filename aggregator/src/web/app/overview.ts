// Overview: system and facility status, alert figures, recent alerts, the current FL round, the latest prediction.
import type { Alert, AlertPage, AlertStats, FLRound, Prediction, SystemStatus } from '@vigil/shared/api';
import { get, getOrNull } from './api.js';
import { badge, empty, fmtTime, h, pct, replace } from './dom.js';
import { demoPanel } from './demo.js';
import { errorBox, onLive, section, throttled, type Page } from './page.js';

function stat(label: string, value: string): HTMLElement {
  return h(
    'div',
    { class: 'stat' },
    h('div', { class: 'stat-value' }, value),
    h('div', { class: 'stat-label' }, label),
  );
}

export function alertRow(a: Alert): HTMLElement {
  return h(
    'tr',
    { 'data-alert-id': a.id },
    h('td', {}, badge(a.severity)),
    h('td', {}, h('a', { href: `#/alerts/${a.id}` }, a.title)),
    h('td', {}, a.facility_id),
    h('td', {}, `${a.attack_type} ${a.attack_name}`),
    h('td', {}, badge(a.status)),
    h('td', {}, fmtTime(a.timestamp)),
  );
}

/** What a round trained, for people: its model's layer ("" for a round stored before rounds recorded it). */
export function roundModel(r: Pick<FLRound, 'model'>): string {
  if (r.model === null) return '';
  return r.model === 'fl-global' ? 'Layer 2' : r.model === 'fl-global-l1b' ? 'Layer 1b' : r.model;
}

export function roundSummary(r: FLRound): HTMLElement {
  const model = roundModel(r);
  return h(
    'div',
    { 'data-round-id': r.id },
    h(
      'p',
      {},
      `Round ${r.round_number}${model === '' ? '' : ` (${model})`} · `,
      badge(r.status),
      ` · phase ${r.phase}`,
    ),
    h('progress', { max: 100, value: r.progress }),
    h('span', {}, ` ${r.progress.toFixed(0)}%`),
    h(
      'p',
      {},
      `clients ${r.clients_active}/${r.total_clients} · ε ${r.epsilon.toFixed(2)} · accuracy ${pct(r.model_accuracy, 1)} · started ${fmtTime(r.start_time)}`,
    ),
  );
}

export function predictionSummary(p: Prediction): HTMLElement {
  return h(
    'div',
    {},
    h(
      'p',
      {},
      `From ${p.current_technique} ${p.current_technique_name} at ${fmtTime(p.timestamp)} `,
      p.validated ? badge('validated') : badge('pending'),
    ),
    h(
      'ol',
      {},
      p.predicted_techniques.map((t) =>
        h('li', {}, `${t.technique_id} ${t.technique_name}: ${pct(t.probability)} within ${t.timeframe}`),
      ),
    ),
  );
}

export const overviewPage: Page = ({ root, live }) => {
  const status = h('div', { class: 'stats' });
  const facilities = h('div');
  const recent = h('div');
  const round = h('div');
  const prediction = h('div');
  const demo = demoPanel(live);
  replace(
    root,
    h('h1', {}, 'Overview'),
    status,
    h(
      'div',
      { class: 'grid2' },
      section('Facilities', facilities),
      section('Current FL round', round),
      section('Latest prediction', prediction),
    ),
    section('Recent alerts', recent),
    demo.element,
  );

  const loadStatus = async (): Promise<void> => {
    try {
      const [sys, stats] = await Promise.all([
        get<SystemStatus>('/api/system/status'),
        get<AlertStats>('/api/alerts/stats'),
      ]);
      replace(
        status,
        stat('Active alerts', String(sys.active_alerts)),
        stat('Critical', String(stats.critical)),
        stat('Unresolved', String(stats.unresolved)),
        stat('False positives', String(stats.false_positives)),
        stat('FL progress', `${sys.fl_progress.toFixed(0)}%`),
        stat('Prediction accuracy', pct(sys.prediction_accuracy, 1)),
      );
      replace(
        facilities,
        sys.facilities.length === 0
          ? empty('No facility is registered yet (vigil facilities add).')
          : h(
              'ul',
              { class: 'facilities' },
              sys.facilities.map((f) => h('li', {}, badge(f.status), ` ${f.name} `, h('code', {}, f.id))),
            ),
      );
    } catch (err) {
      replace(status, errorBox(err));
    }
  };
  const loadRecent = async (): Promise<void> => {
    try {
      const page = await get<AlertPage>('/api/alerts?limit=8&page=1');
      replace(
        recent,
        page.alerts.length === 0
          ? empty('No alert has been raised yet.')
          : h('table', { class: 'alerts' }, h('tbody', {}, page.alerts.map(alertRow))),
      );
    } catch (err) {
      replace(recent, errorBox(err));
    }
  };
  const loadRound = async (): Promise<void> => {
    try {
      const r = await get<FLRound | null>('/api/fl/rounds/current');
      replace(round, r === null ? empty('No FL round has run yet.') : roundSummary(r));
    } catch (err) {
      replace(round, errorBox(err));
    }
  };
  const loadPrediction = async (): Promise<void> => {
    try {
      const p = await getOrNull<Prediction>('/api/predictions/latest');
      replace(prediction, p === null ? empty('No prediction has been made yet.') : predictionSummary(p));
    } catch (err) {
      replace(prediction, errorBox(err));
    }
  };
  void loadStatus();
  void loadRecent();
  void loadRound();
  void loadPrediction();

  const offs = [
    onLive(
      live,
      ['dashboard_update', 'facility_status', 'health'],
      throttled(() => void loadStatus(), 500),
    ),
    onLive(
      live,
      ['alert_created', 'alert_updated'],
      throttled(() => void loadRecent(), 500),
    ),
    onLive(
      live,
      ['fl_round_started', 'fl_progress', 'fl_round_completed'],
      throttled(() => void loadRound(), 500),
    ),
    onLive(
      live,
      ['prediction_created', 'prediction_validated'],
      throttled(() => void loadPrediction(), 500),
    ),
  ];
  return () => {
    offs.forEach((off) => off());
    demo.stop();
  };
};
