// What every page gets from the shell, and shared helpers for loading and showing failures.
import { ApiError } from './api.js';
import { h } from './dom.js';
import type { Live, LiveMessage } from './live.js';

export interface PageContext {
  root: HTMLElement;
  /** Path segments after the page name (e.g. the alert id of #/alerts/ID). */
  params: string[];
  live: Live;
}

/** A page renders into ctx.root and returns what stops its timers and listeners. */
export type Page = (ctx: PageContext) => () => void;

export function errorBox(err: unknown): HTMLElement {
  const text = err instanceof ApiError ? `${err.message} (${err.code})` : String(err);
  return h('div', { class: 'error', role: 'alert' }, text);
}

/** Runs `fn` at most once per `ms` for bursts of live events. */
export function throttled(fn: () => void, ms: number): () => void {
  let pending = false;
  return () => {
    if (pending) return;
    pending = true;
    window.setTimeout(() => {
      pending = false;
      fn();
    }, ms);
  };
}

/** Subscribes to live messages of the given types. */
export function onLive(live: Live, types: readonly string[], fn: (m: LiveMessage) => void): () => void {
  return live.on((m) => {
    if (types.includes(m.type)) fn(m);
  });
}

export function section(title: string, ...body: (Node | string)[]): HTMLElement {
  return h('section', { class: 'card' }, h('h2', {}, title), ...body);
}
