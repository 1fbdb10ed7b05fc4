// Federated learning: the current round's progress and clients, loss and accuracy over the rounds history, and the
// privacy budget as the accountant reports it.
import type { FLClient, FLRound, PrivacyMetrics } from '@vigil/shared/api';
import { ApiError, get, post } from './api.js';
import { lineChart } from './charts.js';
import { badge, empty, fmtTime, h, num, pct, replace } from './dom.js';
import { roundModel, roundSummary } from './overview.js';
import { errorBox, onLive, section, throttled, type Page } from './page.js';

function clientTable(clients: FLClient[]): HTMLElement {
  if (clients.length === 0) return empty('No FL client has joined yet.');
  return h(
    'table',
    { class: 'clients' },
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        ['Client', 'Facility', 'Status', 'Progress', 'Epoch', 'Loss', 'Accuracy', 'Last update'].map((t) =>
          h('th', {}, t),
        ),
      ),
    ),
    h(
      'tbody',
      {},
      clients.map((c) =>
        h(
          'tr',
          {},
          h('td', {}, c.name),
          h('td', {}, c.facility_id),
          h('td', {}, badge(c.status)),
          h('td', {}, h('progress', { max: 100, value: c.progress }), ` ${c.progress.toFixed(0)}%`),
          h('td', {}, `${c.current_epoch}/${c.total_epochs}`),
          h('td', {}, num(c.loss, 3)),
          h('td', {}, pct(c.accuracy, 1)),
          h('td', {}, fmtTime(c.last_update)),
        ),
      ),
    ),
  );
}

function meanLoss(r: FLRound): number | null {
  const losses = r.clients.map((c) => c.loss).filter((l): l is number => l !== null);
  return losses.length === 0 ? null : losses.reduce((a, b) => a + b, 0) / losses.length;
}

/**
 * What the trigger's 409 says, as the user can act on it: the round in progress (named, with a button that shows it)
 * or how many clients can take part against how many the round needs; null for any other answer.
 */
function triggerConflict(err: unknown, show: (roundId: number) => void): HTMLElement | null {
  if (!(err instanceof ApiError) || err.status !== 409) return null;
  const d = err.details;
  if (d.reason === 'in_progress' && typeof d.round_id === 'number' && typeof d.round_number === 'number') {
    const roundId = d.round_id;
    const number = d.round_number;
    const model = roundModel({ model: typeof d.model === 'string' ? d.model : null });
    return h(
      'span',
      { class: 'note' },
      ` round ${number}${model === '' ? '' : ` (${model})`} is in progress`,
      typeof d.phase === 'string' ? `, phase ${d.phase}` : '',
      '; a new round can start once it has ended. ',
      h('button', { type: 'button', onclick: () => show(roundId) }, `Show round ${number}`),
    );
  }
  if (d.reason === 'not_enough_clients' && typeof d.eligible === 'number' && typeof d.required === 'number')
    return h(
      'span',
      { class: 'note' },
      ` not enough clients can take part: ${d.eligible} eligible, ${d.required} required`,
    );
  return null;
}

export const flPage: Page = ({ root, live }) => {
  const current = h('div');
  const clients = h('div');
  const history = h('div');
  const privacy = h('div');
  const triggerMsg = h('span', { role: 'status' });
  const trigger = h(
    'button',
    {
      onclick: () => {
        post<{ round_id: number }>('/api/fl/rounds/trigger')
          .then((r) => {
            triggerMsg.textContent = ` round ${r.round_id} started`;
          })
          .catch((err: unknown) => replace(triggerMsg, triggerConflict(err, showRound) ?? errorBox(err)));
      },
    },
    'Start a round',
  );
  const currentCard = section('Current round', current, h('p', {}, trigger, triggerMsg));
  currentCard.addEventListener('animationend', () => currentCard.classList.remove('fresh'));
  /** Shows one round (the one a 409 named) in the current round's card, and brings the card to the eye. */
  const showRound = (roundId: number): void => {
    get<FLRound>(`/api/fl/rounds/${roundId}`)
      .then((r) => replace(current, roundSummary(r)))
      .catch((err: unknown) => replace(current, errorBox(err)))
      .finally(() => {
        currentCard.classList.add('fresh');
        currentCard.scrollIntoView({ block: 'nearest' });
      });
  };
  replace(
    root,
    h('h1', {}, 'Federated learning'),
    h('div', { class: 'grid2' }, currentCard, section('Privacy budget', privacy)),
    section('Clients', clients),
    section('Rounds history', history),
  );

  const loadCurrent = async (): Promise<void> => {
    try {
      const [r, cl] = await Promise.all([
        get<FLRound | null>('/api/fl/rounds/current'),
        get<FLClient[]>('/api/fl/clients'),
      ]);
      replace(current, r === null ? empty('No FL round has run yet.') : roundSummary(r));
      replace(clients, clientTable(cl));
    } catch (err) {
      replace(current, errorBox(err));
    }
  };
  const loadHistory = async (): Promise<void> => {
    try {
      const { rounds, total } = await get<{ rounds: FLRound[]; total: number }>(
        '/api/fl/rounds?limit=50&offset=0',
      );
      if (rounds.length === 0) {
        replace(history, empty('No FL round has run yet, so there is no loss or accuracy history.'));
        return;
      }
      const ordered = [...rounds].sort((a, b) => a.round_number - b.round_number);
      const xLabels = ordered.map((r) => `#${r.round_number}`);
      replace(
        history,
        h('p', {}, `${total} rounds (latest ${ordered.length} shown)`),
        h(
          'div',
          { class: 'grid2' },
          // one line per model the rounds trained (Layer 2 and Layer 1b measure accuracy differently)
          lineChart(
            [...new Set(ordered.map(roundModel))].map((m, i) => ({
              label: m === '' ? 'model accuracy' : `${m} accuracy`,
              cls: `s${Math.min(i, 1) + 1}`,
              values: ordered.map((r) => (roundModel(r) === m ? r.model_accuracy : null)),
            })),
            {
              xLabels,
              yMin: 0,
              yMax: 1,
              title: 'Model accuracy per round',
              yFormat: (v) => pct(v),
            },
          ),
          lineChart([{ label: 'mean client loss', cls: 's2', values: ordered.map(meanLoss) }], {
            xLabels,
            title: 'Mean client loss per round',
          }),
        ),
      );
    } catch (err) {
      replace(history, errorBox(err));
    }
  };
  const loadPrivacy = async (): Promise<void> => {
    try {
      const p = await get<PrivacyMetrics>('/api/fl/privacy-metrics');
      replace(
        privacy,
        h(
          'p',
          {},
          `ε spent ${num(p.epsilon, 3)} · δ ${p.delta.toExponential(0)} · ${p.data_size} training examples`,
        ),
        h('progress', { max: 1, value: Math.max(0, Math.min(1, p.privacy_budget_remaining)) }),
        h('span', {}, ` ${pct(p.privacy_budget_remaining)} of the budget remaining`),
        h('p', {}, `updates travel: ${p.encryption}`),
      );
    } catch (err) {
      replace(privacy, errorBox(err));
    }
  };
  void loadCurrent();
  void loadHistory();
  void loadPrivacy();
  const off = onLive(
    live,
    ['fl_round_started', 'fl_progress', 'fl_round_completed'],
    throttled(() => {
      void loadCurrent();
      void loadHistory();
      void loadPrivacy();
    }, 500),
  );
  return off;
};
