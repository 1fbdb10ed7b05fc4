// The /ws connection: subscribes to the dashboard's rooms, hands each server message to the current listeners, and
// reconnects with backoff when the connection drops.
import { getToken } from './api.js';

export interface LiveMessage {
  channel: string;
  type: string;
  data: unknown;
}

export type LiveListener = (msg: LiveMessage) => void;
export type LiveState = 'connecting' | 'live' | 'offline';

const ROOMS = ['dashboard', 'alerts', 'fl_status', 'predictions', 'attack-graph', 'system'];

export class Live {
  private ws: WebSocket | null = null;
  private readonly listeners = new Set<LiveListener>();
  private retryMs = 1000;
  private timer: number | undefined;

  constructor(private readonly onState: (state: LiveState) => void) {}

  connect(): void {
    window.clearTimeout(this.timer);
    this.ws?.close();
    const token = getToken();
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const query = token === null ? '' : `?token=${encodeURIComponent(token)}`;
    const ws = new WebSocket(`${scheme}://${location.host}/ws${query}`);
    this.ws = ws;
    this.onState('connecting');
    ws.addEventListener('open', () => {
      this.retryMs = 1000;
      ws.send(JSON.stringify({ action: 'subscribe', channels: ROOMS }));
    });
    ws.addEventListener('message', (ev: MessageEvent<string>) => {
      let msg: unknown;
      try {
        msg = JSON.parse(ev.data);
      } catch {
        return;
      }
      if (typeof msg !== 'object' || msg === null) return;
      const m = msg as Partial<LiveMessage> & { status?: string };
      if (m.type === 'subscribed') {
        this.onState('live');
        return;
      }
      if (typeof m.channel !== 'string' || typeof m.type !== 'string') return;
      const message: LiveMessage = { channel: m.channel, type: m.type, data: m.data };
      for (const l of [...this.listeners]) l(message);
    });
    ws.addEventListener('close', () => {
      if (this.ws !== ws) return;
      this.onState('offline');
      this.timer = window.setTimeout(() => this.connect(), this.retryMs);
      this.retryMs = Math.min(this.retryMs * 2, 15_000);
    });
  }

  /** Returns the function that removes the listener. */
  on(listener: LiveListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
