// The dashboard shell: navigation, a hash router over the pages, the token prompt, and the live (/ws) indicator.
import { get, getToken, setToken, whenUnauthorized } from './api.js';
import { alertsPage } from './alerts.js';
import { assetsPage } from './assets.js';
import { h, replace } from './dom.js';
import { flPage } from './fl.js';
import { graphPage } from './graph.js';
import { Live, type LiveState } from './live.js';
import { overviewPage } from './overview.js';
import type { Page } from './page.js';

const PAGES: Readonly<Record<string, { title: string; page: Page }>> = {
  overview: { title: 'Overview', page: overviewPage },
  alerts: { title: 'Alerts', page: alertsPage },
  fl: { title: 'Federated learning', page: flPage },
  graph: { title: 'Attack graph', page: graphPage },
  assets: { title: 'Assets & agents', page: assetsPage },
};

const liveBadge = h('span', { class: 'live live-connecting', id: 'live-state' }, 'connecting');
const nav = h(
  'nav',
  {},
  h('span', { class: 'brand' }, 'Vigil'),
  Object.entries(PAGES).map(([key, p]) => h('a', { href: `#/${key}`, 'data-page': key }, p.title)),
  h('span', { class: 'spacer' }),
  liveBadge,
);
const main = h('main', { id: 'page' });
const tokenDialog = h('div', { class: 'token-prompt', hidden: true });
document.body.replaceChildren(nav, tokenDialog, main);

const live = new Live((state: LiveState) => {
  liveBadge.className = `live live-${state}`;
  liveBadge.textContent = state;
});

let stop: () => void = () => undefined;

function route(): void {
  const [name = 'overview', ...params] = location.hash.replace(/^#\/?/, '').split('/');
  const entry = PAGES[name] ?? PAGES.overview;
  if (entry === undefined) return;
  stop();
  for (const a of nav.querySelectorAll('a')) a.classList.toggle('active', a.dataset.page === name);
  document.title = `Vigil · ${entry.title}`;
  stop = entry.page({ root: main, params: params.map(decodeURIComponent), live });
}

function askForToken(message: string): void {
  const input = h('input', {
    type: 'password',
    name: 'token',
    placeholder: 'API token',
    autocomplete: 'off',
  });
  const form = h(
    'form',
    {
      onsubmit: (ev: Event) => {
        ev.preventDefault();
        setToken(input.value.trim());
        tokenDialog.hidden = true;
        live.connect();
        route();
      },
    },
    h('p', {}, `This server needs an API token (${message}). Ask an admin for one (vigil tokens create).`),
    input,
    h('button', { type: 'submit' }, 'Use token'),
  );
  if (getToken() !== null)
    form.append(h('button', { type: 'button', onclick: () => location.reload() }, 'Retry'));
  replace(tokenDialog, form);
  tokenDialog.hidden = false;
  input.focus();
}

whenUnauthorized((message) => {
  setToken(null);
  askForToken(message);
});

window.addEventListener('hashchange', route);
// Probe once with whatever token the session has: anonymous servers answer, others lead to the prompt.
get('/api/system/status')
  .then(() => live.connect())
  .catch(() => undefined)
  .finally(route);
