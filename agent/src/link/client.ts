// The agent's side of the link: one mTLS stream to the aggregator, kept up with backoff and jitter. It sends what
// waits in the outbox (alerts), the bounded queues (per-second aggregates, inventory changes) and a heartbeat with
// agent health; it deletes outbox entries only when their Ack arrives. Config and model pushes from the aggregator are
// (and the demo's scenario pushes) are handed to `onPush` and answered with a PushAck.
import * as grpc from '@grpc/grpc-js';
import type { NetworkMetrics } from '@vigil/shared';
import { aggregateToPb } from '@vigil/proto/codec';
import {
  AGENT_BATCH_BYTES,
  CLIENT_OPTIONS,
  loadLink,
  type AgentMessage,
  type AgentMessageBody,
  type AggregatorMessage,
  type PbAgentHealth,
  type PbAssetChange,
  type PbConfigPush,
  type PbModelPush,
  type PbScenarioPush,
  type PbWindowAggregate,
} from '@vigil/proto/link';
import type { Outbox } from '../outbox/outbox.js';
import type { AgentIdentityFiles } from './identity.js';
import { agentMessageSerializer, type OutgoingAgentMessage } from './wire.js';

export type Push = { config: PbConfigPush } | { model: PbModelPush } | { scenario: PbScenarioPush };

/** Health figures that come from outside the link (capture, decoders, models). */
export interface HealthSource {
  capture_drops: number;
  malformed_packets: number;
  model_versions: Record<string, string>;
  /** What the detector's models serve now (e.g. {l2: "fl-global v3"}). */
  models_serving?: Record<string, string>;
  /** The last pushed model refused for serving, and why. */
  model_error?: string;
  /** Whether the agent takes part in federated rounds, and why not. */
  fl_status?: string;
  /** The detection baseline: learning until when, or learnt/loaded from what. */
  baseline_status?: string;
  /** Detections dropped by the operator's suppressions, by "rule/technique". */
  suppressed?: Record<string, number>;
}

export interface LinkClientOptions {
  /** HOST:PORT of the aggregator. */
  address: string;
  identity: AgentIdentityFiles;
  outbox: Outbox;
  health?: () => HealthSource;
  agentVersion?: string;
  /** Heartbeat period, ms (default 5000). The aggregator calls a facility delayed after a few missed beats. */
  heartbeatMs?: number;
  /** Alerts per AlertBatch at most (default 2000; the batch is also kept under AGENT_BATCH_BYTES on the wire). */
  batchAlerts?: number;
  /**
   * Alert batches sent and not yet acknowledged, at most (default 16, each at most AGENT_BATCH_BYTES: 16 MiB of
   * alerts in memory at most). The aggregator merges waiting batches into transactions of >= 4,096 alerts and commits
   * two per stream at once, so with 8 its writer waited idle for the agent's next batch after each ack (15-34 % of a
   * 100,000-alert run against 4-23 % with 16, aggregator/bench/RESULTS.md, session 10). The server reads at most 64
   * queued messages per stream before HTTP/2 flow control holds the agent.
   */
  maxInFlight?: number;
  /** A message unacknowledged this long means the stream is stuck: reconnect (default 30 s). */
  ackTimeoutMs?: number;
  /** Reconnect backoff: doubles from initialMs up to maxMs, each wait randomised to 50-100 % (jitter). */
  backoff?: { initialMs: number; maxMs: number };
  /** Bounds of the memory queues; beyond them the oldest entries are dropped and counted. */
  aggregateQueue?: number;
  inventoryQueue?: number;
  onPush?: (p: Push) => Promise<void>;
  log?: (line: string) => void;
}

type InFlight =
  | { kind: 'alerts'; ids: number[]; at: number }
  | { kind: 'aggregates'; rows: PbWindowAggregate[]; at: number }
  | { kind: 'inventory'; changes: PbAssetChange[]; at: number }
  | { kind: 'other'; at: number };

export interface LinkClientStats {
  connected: boolean;
  alerts_acked: number;
  aggregates_dropped: number;
  inventory_dropped: number;
  reconnects: number;
  /** Streams the aggregator ended with INVALID_ARGUMENT (each one logged; one naming an alert sets it aside). */
  refused_invalid: number;
  last_error: string;
}

const AGGREGATES_PER_MESSAGE = 120;
const INVENTORY_PER_MESSAGE = 500;

export class LinkClient {
  private client: grpc.Client | null = null;
  private call: grpc.ClientDuplexStream<OutgoingAgentMessage, AggregatorMessage> | null = null;
  private stopped = true;
  private loop: Promise<void> = Promise.resolve();
  private wake: (() => void) | null = null;
  private pumpHook: (() => void) | null = null;
  private aggregates: PbWindowAggregate[] = [];
  private inventory: PbAssetChange[] = [];
  private readonly started = Date.now();
  private readonly log: (line: string) => void;
  readonly stats: LinkClientStats = {
    connected: false,
    alerts_acked: 0,
    aggregates_dropped: 0,
    inventory_dropped: 0,
    reconnects: 0,
    refused_invalid: 0,
    last_error: '',
  };

  constructor(private readonly o: LinkClientOptions) {
    this.log = o.log ?? ((line) => process.stderr.write(`vigil-agent link: ${line}\n`));
  }

  start(): Promise<void> {
    if (!this.stopped) return Promise.resolve();
    this.stopped = false;
    // Alert batches are encoded by wire.ts (protobufjs spent ~0.8 ms per real alert); the rest as generated.
    const { LinkClient: Generated } = loadLink();
    const connect = Generated.service.Connect as grpc.MethodDefinition<AgentMessage, AggregatorMessage>;
    const Ctor = grpc.makeClientConstructor(
      { Connect: { ...connect, requestSerialize: agentMessageSerializer(connect.requestSerialize) } },
      'vigil.v1.Link',
    );
    const creds = grpc.credentials.createSsl(
      this.o.identity.caPem,
      this.o.identity.keyPem,
      this.o.identity.certPem,
    );
    this.client = new Ctor(this.o.address, creds, CLIENT_OPTIONS);
    this.loop = this.run();
    return Promise.resolve();
  }

  async shutdown(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.call?.cancel();
    this.wake?.();
    await this.loop;
    this.client?.close();
    this.client = null;
  }

  /** Aggregate and inventory messages sent and not yet acknowledged. */
  private telemetryInFlight = 0;

  /** Nothing waits to be sent or acknowledged: the outbox is empty and so are the telemetry queues. */
  idle(): boolean {
    return (
      this.o.outbox.depth().count === 0 &&
      this.aggregates.length === 0 &&
      this.inventory.length === 0 &&
      this.telemetryInFlight === 0
    );
  }

  /** Tells the link that the outbox has new alerts. */
  notify(): void {
    this.pumpHook?.();
  }

  /** Queues per-second aggregates; drops (and counts) the oldest beyond the bound. */
  sendAggregates(rows: readonly NetworkMetrics[]): void {
    this.aggregates.push(...rows.map(aggregateToPb));
    const over = this.aggregates.length - (this.o.aggregateQueue ?? 600);
    if (over > 0) {
      this.aggregates.splice(0, over);
      this.stats.aggregates_dropped += over;
    }
    this.notify();
  }

  /** Queues asset inventory changes; drops (and counts) the oldest beyond the bound. */
  sendInventory(changes: readonly PbAssetChange[]): void {
    this.inventory.push(...changes);
    const over = this.inventory.length - (this.o.inventoryQueue ?? 5000);
    if (over > 0) {
      this.inventory.splice(0, over);
      this.stats.inventory_dropped += over;
    }
    this.notify();
  }

  health(): PbAgentHealth {
    const depth = this.o.outbox.depth();
    const extra = this.o.health?.() ?? { capture_drops: 0, malformed_packets: 0, model_versions: {} };
    return {
      agent_version: this.o.agentVersion ?? '0.1.0',
      uptime_seconds: (Date.now() - this.started) / 1000,
      capture_drops: extra.capture_drops,
      malformed_packets: extra.malformed_packets,
      outbox_depth: depth.count,
      outbox_bytes: depth.bytes,
      outbox_capacity_bytes: this.o.outbox.capacityBytes,
      alerts_refused_outbox_full: this.o.outbox.refused,
      alerts_set_aside_invalid: this.o.outbox.setAside,
      aggregates_dropped: this.stats.aggregates_dropped,
      inventory_dropped: this.stats.inventory_dropped,
      model_versions: extra.model_versions,
      models_serving: extra.models_serving ?? {},
      model_error: extra.model_error ?? '',
      fl_status: extra.fl_status ?? '',
      baseline_status: extra.baseline_status ?? '',
      suppressed: extra.suppressed ?? {},
    };
  }

  private async run(): Promise<void> {
    const { initialMs, maxMs } = this.o.backoff ?? { initialMs: 500, maxMs: 30_000 };
    let attempt = 0;
    while (!this.stopped) {
      const result = await this.session();
      if (this.stopped) break;
      if (result.established) attempt = 0;
      this.stats.reconnects++;
      const ceiling = result.refused ? maxMs : Math.min(maxMs, initialMs * 2 ** attempt);
      attempt = Math.min(attempt + 1, 30);
      const wait = ceiling * (0.5 + Math.random() * 0.5);
      this.log(`link down (${this.stats.last_error}); reconnecting in ${Math.round(wait)} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, wait);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.wake = null;
    }
  }

  /** One stream, from connect to its end. */
  private session(): Promise<{ established: boolean; refused: boolean }> {
    return new Promise((resolve) => {
      const client = this.client;
      if (!client) {
        resolve({ established: false, refused: false });
        return;
      }
      const connect = (
        client as unknown as Record<
          string,
          () => grpc.ClientDuplexStream<OutgoingAgentMessage, AggregatorMessage>
        >
      ).Connect;
      const call = connect!.call(client);
      this.call = call;
      const inFlight = new Map<number, InFlight>();
      let seq = 0;
      let lastOutboxId = 0;
      let alertBatches = 0;
      let established = false;
      let done = false;
      const maxInFlight = this.o.maxInFlight ?? 16;
      const batchAlerts = this.o.batchAlerts ?? 2000;
      let bytesPerAlert = 1;

      const send = (m: AgentMessageBody | { encoded_alerts: Buffer[] }, f: InFlight): void => {
        seq++;
        inFlight.set(seq, f);
        if (f.kind === 'aggregates' || f.kind === 'inventory') this.telemetryInFlight++;
        call.write({ ...m, seq });
      };

      const pump = (): void => {
        if (done) return;
        while (alertBatches < maxInFlight) {
          // Read about as many rows as the byte cap will take (the last batch's alert size says how many): reading
          // batchAlerts rows of 8 kB alerts to send 130 of them costs more than the send.
          const fit = Math.ceil(AGENT_BATCH_BYTES / Math.max(1, bytesPerAlert)) + 1;
          const entries = this.o.outbox.peek(lastOutboxId, Math.min(batchAlerts, fit));
          if (entries.length === 0) break;
          const alerts: Buffer[] = [];
          const ids: number[] = [];
          let bytes = 0;
          for (const e of entries) {
            if (ids.length > 0 && bytes + e.pb.length > AGENT_BATCH_BYTES) break;
            bytes += e.pb.length;
            alerts.push(e.pb);
            ids.push(e.id);
          }
          bytesPerAlert = bytes / ids.length;
          lastOutboxId = ids[ids.length - 1] ?? lastOutboxId;
          alertBatches++;
          send({ encoded_alerts: alerts }, { kind: 'alerts', ids, at: Date.now() });
        }
        while (this.aggregates.length > 0) {
          const rows = this.aggregates.splice(0, AGGREGATES_PER_MESSAGE);
          send({ aggregates: { rows } }, { kind: 'aggregates', rows, at: Date.now() });
        }
        while (this.inventory.length > 0) {
          const changes = this.inventory.splice(0, INVENTORY_PER_MESSAGE);
          send({ inventory: { changes } }, { kind: 'inventory', changes, at: Date.now() });
        }
      };

      const heartbeat = (): void => {
        if (!done)
          send(
            { heartbeat: { sent_at: new Date().toISOString(), health: this.health() } },
            { kind: 'other', at: Date.now() },
          );
      };
      const beat = setInterval(heartbeat, this.o.heartbeatMs ?? 5000);
      const watchdog = setInterval(() => {
        const oldest = inFlight.values().next().value;
        if (oldest && Date.now() - oldest.at > (this.o.ackTimeoutMs ?? 30_000)) {
          this.stats.last_error = 'no ack within the ack timeout';
          call.cancel();
        }
      }, 1000);

      const finish = (why: string, refused: boolean): void => {
        if (done) return;
        done = true;
        clearInterval(beat);
        clearInterval(watchdog);
        this.pumpHook = null;
        this.call = null;
        this.stats.connected = false;
        this.stats.last_error = why;
        // What was sent and not acknowledged goes back: alerts are still in the outbox; aggregates and inventory
        // return to the front of their queues (bounded again on the next push).
        for (const f of inFlight.values()) {
          if (f.kind === 'aggregates') this.aggregates.unshift(...f.rows);
          if (f.kind === 'inventory') this.inventory.unshift(...f.changes);
        }
        this.telemetryInFlight = 0;
        resolve({ established, refused });
      };

      call.on('data', (m: AggregatorMessage) => {
        if (m.body === 'ack' && 'ack' in m) {
          if (!established) {
            established = true;
            this.stats.connected = true;
            this.log(
              `connected to ${this.o.address} as ${this.o.identity.facilityId}/${this.o.identity.agentId}`,
            );
          }
          const f = inFlight.get(m.ack.seq);
          inFlight.delete(m.ack.seq);
          if (f?.kind === 'aggregates' || f?.kind === 'inventory') this.telemetryInFlight--;
          if (f?.kind === 'alerts') {
            this.o.outbox.remove(f.ids);
            this.stats.alerts_acked += f.ids.length;
            alertBatches--;
          }
          pump();
        } else if (m.body === 'config' && 'config' in m) {
          this.answerPush({ config: m.config }, m.config.push_id, send);
        } else if (m.body === 'model' && 'model' in m) {
          this.answerPush({ model: m.model }, m.model.push_id, send);
        } else if (m.body === 'scenario' && 'scenario' in m) {
          this.answerPush({ scenario: m.scenario }, m.scenario.push_id, send);
        }
      });
      call.on('error', (err: grpc.ServiceError) => {
        if (err.code === grpc.status.INVALID_ARGUMENT) this.setAsideRefused(err.details, inFlight);
        const refused =
          err.code === grpc.status.PERMISSION_DENIED || err.code === grpc.status.UNAUTHENTICATED;
        if (refused) this.log(`the aggregator refused this agent: ${err.details}`);
        finish(`${grpc.status[err.code] ?? err.code}: ${err.details}`, refused);
      });
      call.on('end', () => finish('stream ended by the aggregator', false));
      call.on('status', (s: grpc.StatusObject) => {
        if (s.code === grpc.status.OK) finish('stream closed', false);
      });

      this.pumpHook = pump;
      heartbeat();
      pump();
    });
  }

  /**
   * The aggregator refused a message as invalid. Agents check every alert before queueing it with the aggregator's
   * own validation, so this is version skew (an aggregator stricter than this agent). Policy, bounded: when the
   * refusal names an alert of a batch in flight ("message SEQ: alerts[I].field: problem", as the aggregator words it),
   * that one alert is set aside (kept in the outbox's refused table, logged, counted as alerts_set_aside_invalid) and
   * the rest are resent on the next stream, so each refusal removes one alert and the link cannot loop on it. A
   * refusal that names no alert (e.g. of a heartbeat) sets nothing aside: alerts are not blamed for it, and the link
   * retries with its backoff. A store outage is UNAVAILABLE and never reaches here: the outbox keeps everything.
   */
  private setAsideRefused(details: string, inFlight: ReadonlyMap<number, InFlight>): void {
    this.stats.refused_invalid++;
    const named = /^message (\d+): alerts\[(\d+)\]/.exec(details);
    const f = named ? inFlight.get(Number(named[1])) : undefined;
    const id = f?.kind === 'alerts' ? f.ids[Number(named?.[2])] : undefined;
    if (id === undefined) {
      this.log(`the aggregator refused a message as invalid, naming no queued alert: ${details}`);
      return;
    }
    this.o.outbox.setAsideEntry(id, `refused by the aggregator: ${details}`);
  }

  private answerPush(p: Push, pushId: string, send: (m: AgentMessageBody, f: InFlight) => void): void {
    const handler = this.o.onPush ?? (() => Promise.reject(new Error('this agent takes no pushes')));
    handler(p).then(
      () =>
        send({ push_ack: { push_id: pushId, accepted: true, error: '' } }, { kind: 'other', at: Date.now() }),
      (err: unknown) =>
        send(
          {
            push_ack: {
              push_id: pushId,
              accepted: false,
              error: err instanceof Error ? err.message : String(err),
            },
          },
          { kind: 'other', at: Date.now() },
        ),
    );
  }
}
