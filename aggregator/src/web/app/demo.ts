// Demo scenarios on the overview: pick a facility, start an attack in its live simulated traffic (or an FL round),
// and watch the scenario until the detectors' alerts show it. Servers without agents that can inject answer 503,
// which the panel shows as it comes.
import type { FLRound, SystemStatus } from '@vigil/shared/api';
import { get, post } from './api.js';
import { badge, fmtTime, h, replace } from './dom.js';
import type { Live } from './live.js';
import { roundModel } from './overview.js';
import { errorBox, onLive, section, throttled } from './page.js';

interface Scenario {
  scenario_id: string;
  type: string;
  started_at: string;
  facility_id: string;
  outcome: string;
  alert_ids: string[];
}
interface DemoStatus {
  active_scenarios: Scenario[];
  last_scenario: Scenario | null;
}

const ATTACKS = [
  ['port-scan', 'Port scan'],
  ['multi-stage', 'Multi-stage attack'],
] as const;

/** The panel and what stops its timer and listeners. */
export function demoPanel(live: Live): { element: HTMLElement; stop: () => void } {
  const select = h('select', { 'aria-label': 'facility' });
  const state = h('div', { class: 'demo-state' });
  const message = h('div');
  const run = async (action: () => Promise<unknown>): Promise<void> => {
    replace(message);
    try {
      await action();
      await load();
    } catch (err) {
      replace(message, errorBox(err));
    }
  };
  const buttons = [
    ...ATTACKS.map(([name, label]) => h('button', { type: 'button', 'data-scenario': name }, label)),
    h('button', { type: 'button', 'data-scenario': 'fl-round' }, 'FL round'),
    h('button', { type: 'button', 'data-scenario': 'reset' }, 'Reset'),
  ];
  /** While the demo's FL round request is pending: the line that says what it waits for. */
  let flWaiting = false;
  const showWaiting = async (): Promise<void> => {
    const r = await get<FLRound | null>('/api/fl/rounds/current');
    if (!flWaiting) return;
    const model = r === null ? '' : roundModel(r);
    replace(
      message,
      h(
        'p',
        { class: 'note', role: 'status' },
        r === null || r.status !== 'in-progress'
          ? 'Starting an FL round once any round in progress has ended…'
          : `Waiting for round ${r.round_number}${model === '' ? '' : ` (${model})`}, in progress (phase ${r.phase}), to end before the FL round starts…`,
      ),
    );
  };
  /**
   * The demo's FL round waits on the server for the round in progress to end (minutes, for a series' two rounds): the
   * button stays disabled meanwhile, the panel says which round it waits for, and then what came of the request.
   */
  const runFlRound = async (button: HTMLButtonElement): Promise<void> => {
    button.disabled = true;
    flWaiting = true;
    replace(
      message,
      h('p', { class: 'note', role: 'status' }, 'Starting an FL round once any round in progress has ended…'),
    );
    // the general line stays if this read fails: the wait itself goes on whatever it says
    showWaiting().catch(() => undefined);
    try {
      const started = await post<{ round_id: number }>('/api/demo/scenarios/fl-round');
      flWaiting = false;
      replace(
        message,
        h(
          'p',
          { role: 'status' },
          `FL round ${started.round_id} started · `,
          h('a', { href: '#/fl' }, 'follow it'),
        ),
      );
      await load();
    } catch (err) {
      flWaiting = false;
      replace(message, errorBox(err));
    } finally {
      button.disabled = false;
    }
  };
  for (const b of buttons) {
    const name = b.dataset.scenario ?? '';
    b.addEventListener('click', () => {
      if (name === 'fl-round') {
        void runFlRound(b);
        return;
      }
      void run(() =>
        name === 'reset'
          ? post('/api/demo/reset')
          : post(`/api/demo/scenarios/${name}`, { facility_id: select.value }),
      );
    });
  }

  const describe = (s: Scenario): HTMLElement =>
    h(
      'p',
      { 'data-scenario-id': s.scenario_id },
      `${s.type} on ${s.facility_id} since ${fmtTime(s.started_at)} `,
      badge(s.outcome === 'detected' ? 'resolved' : s.outcome === 'running' ? 'new' : 'offline', s.outcome),
      s.alert_ids.length > 0 ? ` · ${s.alert_ids.length} alert(s)` : '',
    );
  const load = async (): Promise<void> => {
    try {
      const [sys, status] = await Promise.all([
        get<SystemStatus>('/api/system/status'),
        get<DemoStatus>('/api/demo/status'),
      ]);
      const chosen = select.value;
      replace(
        select,
        sys.facilities.map((f) => h('option', { value: f.id }, `${f.name} (${f.status})`)),
      );
      if (sys.facilities.some((f) => f.id === chosen)) select.value = chosen;
      const shown =
        status.active_scenarios.length > 0
          ? status.active_scenarios
          : status.last_scenario === null
            ? []
            : [status.last_scenario];
      replace(
        state,
        shown.length === 0 ? h('p', { class: 'note' }, 'No scenario has run yet.') : shown.map(describe),
      );
    } catch (err) {
      replace(state, errorBox(err));
    }
  };
  void load();
  const timer = window.setInterval(() => void load(), 5000);
  const offs = [
    onLive(
      live,
      ['alert_created', 'facility_status'],
      throttled(() => void load(), 500),
    ),
    // a series' Layer 2 round is followed by its Layer 1b round: the wait goes on, for that one
    onLive(live, ['fl_round_started', 'fl_round_completed'], () => {
      if (flWaiting) showWaiting().catch(() => undefined);
    }),
  ];
  const element = section(
    'Demo scenarios',
    h(
      'p',
      { class: 'note' },
      "Inject an attack into a facility's live simulated traffic; the alerts come from its agent's detectors.",
    ),
    h('div', { class: 'demo-controls' }, select, ...buttons),
    message,
    state,
  );
  return {
    element,
    stop: () => {
      for (const off of offs) off();
      window.clearInterval(timer);
    },
  };
}
