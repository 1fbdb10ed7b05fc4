// WebSocket /ws: rooms a client subscribes to (with the spec's spelling aliases), events from the bus fanned out to
// them, errors answered without closing, ping/pong keepalive, and slow clients dropped so they hold up nobody.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { ROOMS_OF_EVENT, type BusEvent, type EventBus, type Room } from '../events/bus.js';
import type { Authenticator, Caller } from './auth.js';
import { ApiError, errorBody } from './errors.js';
import type { ApiMetrics } from './metrics.js';
import { RateLimiter, type RateLimitOptions } from './rate-limit.js';

/** Every accepted room spelling and the room it names. */
export const ROOM_ALIASES: Readonly<Record<string, Room>> = {
  dashboard: 'dashboard',
  alerts: 'alerts',
  fl_status: 'fl_status',
  'fl-status': 'fl_status',
  predictions: 'predictions',
  'attack-graph': 'attack-graph',
  attack_graph: 'attack-graph',
  system: 'system',
};

export interface WsHubOptions {
  bus: EventBus;
  auth: Authenticator;
  metrics: ApiMetrics;
  rateLimit: RateLimitOptions;
  /** A client with more than this many bytes queued is dropped (slow consumer). */
  maxBufferedBytes?: number;
  /** Interval of protocol pings; a client that did not answer the previous ping is dropped. */
  pingIntervalMs?: number;
  /** Largest accepted client message, bytes. */
  maxPayloadBytes?: number;
  now?: () => number;
}

interface Client {
  ws: WebSocket;
  /** The connection's socket, as handed to the upgrade: fan-out writes its pre-built frames here (see deliver). */
  socket: Duplex;
  caller: Caller;
  key: string;
  alive: boolean;
  /** Room → the spelling the client used (the `channel` of its messages). */
  rooms: Map<Room, string>;
}

/** Every server message is a text frame, never compressed: one encoded buffer goes to every subscriber as it is. */
const SEND_OPTIONS = { binary: false, compress: false } as const;

export class WsHub {
  private readonly wss: WebSocketServer;
  private readonly clients = new Set<Client>();
  private readonly byRoom = new Map<Room, Set<Client>>();
  private readonly limiter: RateLimiter;
  private readonly unsubscribe: () => void;
  private readonly pinger: NodeJS.Timeout;
  private readonly maxBuffered: number;

  constructor(private readonly o: WsHubOptions) {
    // No per-message deflate (ws's server default, said here on purpose): compressing each frame per client would
    // undo sending one encoded buffer to every subscriber.
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: o.maxPayloadBytes ?? 64 * 1024,
      perMessageDeflate: false,
    });
    this.limiter = new RateLimiter(o.rateLimit, o.now);
    this.maxBuffered = o.maxBufferedBytes ?? 1024 * 1024;
    this.unsubscribe = o.bus.subscribe((e) => this.deliver(e));
    this.pinger = setInterval(() => this.pingAll(), o.pingIntervalMs ?? 30_000);
    this.pinger.unref();
  }

  get connections(): number {
    return this.clients.size;
  }

  /** Handles an HTTP upgrade of `/ws`: authenticates (`?token=` or Authorization), then accepts. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, address: string): void {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const fromQuery = url.searchParams.get('token') ?? undefined;
    const header = req.headers.authorization;
    const fromHeader =
      header?.toLowerCase().startsWith('bearer ') === true ? header.slice(7).trim() : undefined;
    if (this.limiter.take(`addr:${address}`) > 0) {
      this.o.metrics.rateLimited.inc({ scope: 'address' });
      refuse(socket, 429, errorBody('rate_limited', `too many connection attempts from ${address}`));
      return;
    }
    this.o.auth.resolve(fromQuery ?? fromHeader).then(
      (caller) => {
        this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws, socket, caller, address));
      },
      (err: unknown) => {
        const e = err instanceof ApiError ? err : new ApiError('unauthorized', 'authentication failed');
        refuse(socket, e.status, e.body());
      },
    );
  }

  private accept(ws: WebSocket, socket: Duplex, caller: Caller, address: string): void {
    const client: Client = {
      ws,
      socket,
      caller,
      key: caller.tokenId === null ? `ws-addr:${address}` : `ws-token:${caller.tokenId}`,
      alive: true,
      rooms: new Map(),
    };
    this.clients.add(client);
    this.o.metrics.wsConnections.set(this.clients.size);
    ws.on('pong', () => {
      client.alive = true;
    });
    ws.on('message', (data, isBinary) => this.onMessage(client, data, isBinary));
    ws.on('error', () => ws.terminate());
    ws.on('close', () => this.remove(client));
  }

  private remove(client: Client): void {
    if (!this.clients.delete(client)) return;
    for (const room of client.rooms.keys()) this.byRoom.get(room)?.delete(client);
    client.rooms.clear();
    this.o.metrics.wsConnections.set(this.clients.size);
  }

  private reply(client: Client, msg: Record<string, unknown>): void {
    if (this.send(client, JSON.stringify(msg))) this.o.metrics.wsMessagesSent.inc();
  }

  /** Queues one text frame; false when the client is gone or was dropped as too slow. Counting is the caller's. */
  private send(client: Client, text: string): boolean {
    if (!this.writable(client)) return false;
    client.ws.send(text, SEND_OPTIONS);
    return true;
  }

  /**
   * Writes a complete frame built by textFrame() to the client's socket; false when the client is gone or was dropped.
   * ws writes its own frames (replies, pings, the close) to the same socket synchronously in call order, as nothing
   * is compressed, so frames written here and by ws never interleave; ws's bufferedAmount counts both.
   */
  private sendFrame(client: Client, frame: Buffer): boolean {
    if (!this.writable(client)) return false;
    client.socket.write(frame);
    return true;
  }

  /** True when the client is open and keeping up; a client with too much queued is dropped (slow consumer). */
  private writable(client: Client): boolean {
    if (client.ws.readyState !== WebSocket.OPEN) return false;
    if (client.ws.bufferedAmount > this.maxBuffered) {
      this.o.metrics.wsDropped.inc({ reason: 'slow' });
      client.ws.terminate();
      this.remove(client);
      return false;
    }
    return true;
  }

  private onMessage(client: Client, data: RawData, isBinary: boolean): void {
    if (this.limiter.take(client.key) > 0) {
      this.o.metrics.rateLimited.inc({ scope: 'websocket' });
      this.reply(client, { type: 'error', code: 'rate_limited', message: 'too many messages; slow down' });
      return;
    }
    if (isBinary) {
      this.reply(client, { type: 'error', code: 'bad_message', message: 'messages are JSON text' });
      return;
    }
    let msg: unknown;
    try {
      msg = JSON.parse(rawText(data));
    } catch {
      this.reply(client, { type: 'error', code: 'bad_message', message: 'malformed JSON' });
      return;
    }
    if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) {
      this.reply(client, {
        type: 'error',
        code: 'bad_message',
        message: 'a message is a JSON object with an action',
      });
      return;
    }
    const { action, room, channels } = msg as { action?: unknown; room?: unknown; channels?: unknown };
    if (action === 'ping') {
      this.reply(client, { type: 'pong' });
      return;
    }
    if (action !== 'subscribe' && action !== 'unsubscribe') {
      this.reply(client, {
        type: 'error',
        code: 'unknown_action',
        message: `unknown action ${JSON.stringify(action) ?? 'undefined'}; use subscribe, unsubscribe or ping`,
      });
      return;
    }
    const names: unknown[] = [];
    if (room !== undefined) names.push(room);
    if (Array.isArray(channels)) names.push(...(channels as unknown[]));
    else if (channels !== undefined) names.push(channels);
    if (names.length === 0) {
      this.reply(client, {
        type: 'error',
        code: 'bad_message',
        message: `${action} needs "room" or "channels"`,
      });
      return;
    }
    for (const name of names.slice(0, 32)) {
      const canonical = typeof name === 'string' ? ROOM_ALIASES[name] : undefined;
      if (typeof name !== 'string' || canonical === undefined) {
        this.reply(client, {
          type: 'error',
          code: 'unknown_room',
          message: `unknown room ${JSON.stringify(name)?.slice(0, 100) ?? 'undefined'}; rooms: ${Object.keys(ROOM_ALIASES).join(', ')}`,
        });
        continue;
      }
      if (action === 'subscribe') {
        client.rooms.set(canonical, name);
        let set = this.byRoom.get(canonical);
        if (set === undefined) this.byRoom.set(canonical, (set = new Set()));
        set.add(client);
        this.reply(client, { type: 'subscribed', room: name, status: 'ok' });
      } else {
        client.rooms.delete(canonical);
        this.byRoom.get(canonical)?.delete(client);
        this.reply(client, { type: 'unsubscribed', room: name, status: 'ok' });
      }
    }
  }

  /**
   * Sends a bus event to each room it belongs to. The message is serialised and framed once per spelling of the room,
   * and the same frame is written to every subscriber's socket: one write per client, no per-client framing (ws.send
   * builds a header and writes header and payload for each of them).
   */
  private deliver(e: BusEvent): void {
    const data = JSON.stringify(e.data ?? null);
    const type = JSON.stringify(e.type);
    for (const room of ROOMS_OF_EVENT[e.type]) {
      const subscribers = this.byRoom.get(room);
      if (subscribers === undefined || subscribers.size === 0) continue;
      const frames = new Map<string, Buffer>();
      let sent = 0;
      // A copy: a client dropped as slow leaves the set while it is walked.
      for (const client of [...subscribers]) {
        const channel = client.rooms.get(room) ?? room;
        let frame = frames.get(channel);
        if (frame === undefined) {
          frame = textFrame(`{"channel":${JSON.stringify(channel)},"type":${type},"data":${data}}`);
          frames.set(channel, frame);
        }
        if (this.sendFrame(client, frame)) sent++;
      }
      this.o.metrics.wsMessagesSent.inc(sent);
    }
  }

  private pingAll(): void {
    for (const client of [...this.clients]) {
      if (!client.alive) {
        this.o.metrics.wsDropped.inc({ reason: 'no_pong' });
        client.ws.terminate();
        this.remove(client);
        continue;
      }
      client.alive = false;
      client.ws.ping();
    }
  }

  async close(): Promise<void> {
    this.unsubscribe();
    clearInterval(this.pinger);
    for (const client of [...this.clients]) {
      client.ws.close(1001, 'server shutting down');
      this.remove(client);
    }
    // Give clients a moment to answer the close handshake, then cut whoever did not.
    const deadline = Date.now() + 1000;
    while (this.wss.clients.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const ws of this.wss.clients) ws.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }
}

/**
 * A complete, final, unmasked WebSocket text frame (RFC 6455 section 5.2; a server never masks): 0x81, then the
 * payload length in 7 bits, or 126 and 16 bits, or 127 and 64 bits, then the UTF-8 payload.
 */
function textFrame(text: string): Buffer {
  const length = Buffer.byteLength(text, 'utf8');
  const header = length < 126 ? 2 : length < 65_536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(header + length);
  frame[0] = 0x81;
  if (length < 126) frame[1] = length;
  else if (length < 65_536) {
    frame[1] = 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 127;
    frame.writeBigUInt64BE(BigInt(length), 2);
  }
  frame.write(text, header, 'utf8');
  return frame;
}

function rawText(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8');
  return data.toString('utf8');
}

function refuse(socket: Duplex, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  const reason = status === 401 ? 'Unauthorized' : status === 429 ? 'Too Many Requests' : 'Error';
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`,
  );
}
