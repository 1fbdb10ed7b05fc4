// The aggregator's side of the agent link: one TLS port serving Enrollment (token + CSR -> client certificate) and
// Link.Connect (the mTLS stream of alerts, aggregates, inventory and heartbeats, each acknowledged after it is
// persisted; and config / model pushes the other way).
//
// Identity: every Connect call is identified by its client certificate (this CA, clientAuth, facility and agent in
// URI SANs), never by message content. A revoked facility is refused at call time and its open streams are cancelled
// by a watcher that polls the store (another process, `vigil facilities revoke`, writes the revocation).
import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { systemClock, type Clock, type NetworkMetrics } from '@vigil/shared';
import { InvalidMessageError, aggregateFromPb, alertsFromBatch, healthFromPb } from '@vigil/proto/codec';
import { hashEnrollSecret, parseEnrollToken } from '@vigil/proto/enroll-token';
import {
  SERVER_OPTIONS,
  agentMessageDeserializer,
  loadLink,
  type AggregatorMessage,
  type EnrollRequest,
  type EnrollResponse,
  type PbAssetChange,
  type PbConfigPush,
  type PbModelPush,
  type ReceivedAgentMessage,
} from '@vigil/proto/link';
import type { AssetChange, Store, StoredAlert } from '../store/types.js';
import { AlertBatcher } from './alert-batcher.js';
import { UntrustedCertificateError, type AgentIdentity, type CertificateAuthority } from './ca.js';

export interface LinkServerOptions {
  store: Store;
  ca: CertificateAuthority;
  host: string;
  /** 0 picks a free port (tests); see `port` after start(). */
  port: number;
  clock?: Clock;
  /** How often the revocation state is read from the store, ms. 250 keeps a cut-off well within 1 s. */
  revocationPollMs?: number;
  /** One line per notable event (refusals, stream errors). */
  log?: (line: string) => void;
  /** More services on the link's port, inside its mTLS (the Flower Fleet API: fl/fleet-server.ts). */
  services?: LinkService[];
}

/** Any server call (unary or stream): what identify() needs of it. */
export type AuthenticatedCall = Pick<grpc.ServerUnaryCall<unknown, unknown>, 'getAuthContext'>;

/** A service served on the link's port; `identify` names the enrolled agent behind a call's client certificate. */
export interface LinkService {
  register(server: grpc.Server, identify: (call: AuthenticatedCall) => Promise<AgentIdentity>): void;
}

/** Counters for /metrics and the bench. */
export interface LinkStats {
  streams_open: number;
  alerts_received: number;
  alerts_stored: number;
  /** Store transactions that held alerts (each one commit, one fsync). */
  alert_transactions: number;
  aggregates_stored: number;
  heartbeats: number;
  inventory_changes: number;
  messages_rejected: number;
  calls_refused: number;
  enrollments: number;
}

type Push = { config: Omit<PbConfigPush, 'push_id'> } | { model: Omit<PbModelPush, 'push_id'> };

interface OpenStream {
  identity: AgentIdentity;
  call: grpc.ServerDuplexStream<ReceivedAgentMessage, AggregatorMessage>;
  pushes: Map<string, (r: { accepted: boolean; error: string } | null) => void>;
  /** Alert batches handed to the store and not yet committed, oldest first; each acknowledges its messages once it is. */
  committing: Promise<void>[];
}

/** Messages a stream may have queued before the server stops reading from it (HTTP/2 flow control then holds the agent). */
const MAX_QUEUED = 64;
/** How long injectScenario waits for the agent's PushAck. */
export const SCENARIO_TIMEOUT_MS = 5000;
/** Alerts merged into one store transaction when several batches are waiting. */
const MAX_MERGED_ALERTS = 4096;
/**
 * Alert transactions of one stream being committed at once: while the store commits one, this thread validates the
 * next (the SQLite store commits in its writer thread). Each is acknowledged only once committed.
 */
const MAX_COMMITTING = 2;

export class LinkServer {
  private server: grpc.Server | null = null;
  private boundPort = 0;
  private readonly streams = new Set<OpenStream>();
  private revoked = new Set<string>();
  private poller: NodeJS.Timeout | null = null;
  private polling: Promise<void> = Promise.resolve();
  private readonly clock: Clock;
  private readonly batcher: AlertBatcher;
  private readonly log: (line: string) => void;
  readonly stats: LinkStats = {
    streams_open: 0,
    alerts_received: 0,
    alerts_stored: 0,
    alert_transactions: 0,
    aggregates_stored: 0,
    heartbeats: 0,
    inventory_changes: 0,
    messages_rejected: 0,
    calls_refused: 0,
    enrollments: 0,
  };

  constructor(private readonly o: LinkServerOptions) {
    this.clock = o.clock ?? systemClock;
    this.batcher = new AlertBatcher(o.store);
    this.log = o.log ?? ((line) => process.stderr.write(`vigil link: ${line}\n`));
  }

  get port(): number {
    return this.boundPort;
  }

  async start(): Promise<void> {
    if (this.server) return;
    await this.refreshRevocations();
    const { enrollment, link } = loadLink();
    const server = new grpc.Server(SERVER_OPTIONS);
    server.addService(enrollment, {
      Enroll: (
        call: grpc.ServerUnaryCall<EnrollRequest, EnrollResponse>,
        done: grpc.sendUnaryData<EnrollResponse>,
      ) => {
        this.enroll(call.request).then(
          (res) => done(null, res),
          (err: unknown) => done(this.toStatus(err, 'enroll')),
        );
      },
    });
    // Alert batches arrive as their bytes, decoded and validated in one pass (alertsFromBatch); see
    // agentMessageDeserializer.
    const connect = link.Connect as grpc.MethodDefinition<ReceivedAgentMessage, AggregatorMessage>;
    server.addService(
      { ...link, Connect: { ...connect, requestDeserialize: agentMessageDeserializer() } },
      {
        Connect: (call: grpc.ServerDuplexStream<ReceivedAgentMessage, AggregatorMessage>) =>
          this.connect(call),
      },
    );
    for (const service of this.o.services ?? []) service.register(server, (call) => this.identify(call));
    const creds = grpc.experimental.createCertificateProviderServerCredentials(
      this.certificateProvider(),
      this.certificateProvider(),
      // Request a client certificate but let the handshake finish without one: Enroll is the one call made before
      // the agent has a certificate. Connect refuses a call without a valid one (identify()).
      false,
    );
    this.boundPort = await new Promise<number>((resolve, reject) => {
      server.bindAsync(`${this.o.host}:${this.o.port}`, creds, (err, port) =>
        err ? reject(err) : resolve(port),
      );
    });
    // The certificates reach grpc-js on the next ticks (certificateProvider()); accept calls only after that.
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    this.server = server;
    this.poller = setInterval(() => {
      this.polling = this.refreshRevocations().catch((err: unknown) =>
        this.log(`cannot read revocations from the store: ${(err as Error).message}`),
      );
    }, this.o.revocationPollMs ?? 250);
  }

  async shutdown(): Promise<void> {
    if (this.poller) clearInterval(this.poller);
    this.poller = null;
    await this.polling;
    const server = this.server;
    this.server = null;
    if (!server) return;
    for (const s of this.streams)
      s.call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'server shutting down' });
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        server.forceShutdown();
        resolve();
      }, 2000);
      server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /**
   * Sends a config or model push to every open stream of a facility. Resolves with the agents' answers (an empty
   * list when none is connected); an agent that does not answer within `timeoutMs` counts as not accepted.
   */
  async push(
    facilityId: string,
    push: Push,
    timeoutMs = 30_000,
  ): Promise<{ accepted: boolean; error: string }[]> {
    const targets = [...this.streams].filter((s) => s.identity.facilityId === facilityId);
    return Promise.all(
      targets.map(async (s) => {
        const answer = await this.pushTo(
          s,
          (push_id) =>
            'config' in push
              ? { config: { ...push.config, push_id } }
              : { model: { ...push.model, push_id } },
          timeoutMs,
        );
        return answer ?? { accepted: false, error: 'no answer from the agent' };
      }),
    );
  }

  /**
   * Asks the facility's agent (the most recently connected one) to inject a demo scenario into its live simulated
   * traffic: `port-scan`, `multi-stage`, another attack of the agent's simulator, or `reset`. Resolves with the
   * agent's PushAck (accepted=false with the reason when its source is not `--sim` or the name is unknown); rejects
   * when no agent of the facility is connected or none answers within `timeoutMs`.
   */
  async injectScenario(
    facilityId: string,
    name: string,
    params?: Record<string, unknown>,
    timeoutMs = SCENARIO_TIMEOUT_MS,
  ): Promise<{ accepted: boolean; error: string }> {
    const target = [...this.streams].filter((s) => s.identity.facilityId === facilityId).at(-1);
    if (target === undefined) {
      throw new NoAgentError(`no agent of facility ${facilityId} is connected`, 'not-connected');
    }
    const params_json = params === undefined ? '' : JSON.stringify(params);
    const answer = await this.pushTo(
      target,
      (push_id) => ({ scenario: { push_id, name, params_json } }),
      timeoutMs,
    );
    if (answer === null) {
      throw new NoAgentError(
        `the agent of facility ${facilityId} did not answer the scenario ${name} within ${timeoutMs} ms`,
        'timeout',
      );
    }
    return answer;
  }

  /** Sends one push to one stream; resolves with its PushAck, or null when none came within timeoutMs. */
  private pushTo(
    s: OpenStream,
    message: (pushId: string) => AggregatorMessage,
    timeoutMs: number,
  ): Promise<{ accepted: boolean; error: string } | null> {
    return new Promise((resolve) => {
      const push_id = randomUUID();
      const timer = setTimeout(() => {
        s.pushes.delete(push_id);
        resolve(null);
      }, timeoutMs);
      s.pushes.set(push_id, (r) => {
        clearTimeout(timer);
        resolve(r);
      });
      s.call.write(message(push_id));
    });
  }

  private certificateProvider(): grpc.experimental.CertificateProvider {
    const caCertificate = Buffer.from(this.o.ca.certPem);
    const certificate = Buffer.from(this.o.ca.serverChainPem);
    const privateKey = Buffer.from(this.o.ca.serverKeyPem);
    // Static certificates; delivered on the next tick because grpc-js registers its watcher after adding listeners.
    return {
      addCaCertificateListener: (l) => setImmediate(() => l({ caCertificate })),
      removeCaCertificateListener: () => undefined,
      addIdentityCertificateListener: (l) => setImmediate(() => l({ certificate, privateKey })),
      removeIdentityCertificateListener: () => undefined,
    };
  }

  private async refreshRevocations(): Promise<void> {
    const facilities = await this.o.store.listFacilities();
    const revoked = new Set(facilities.filter((f) => f.revoked_at !== null).map((f) => f.id));
    this.revoked = revoked;
    for (const s of this.streams) {
      if (revoked.has(s.identity.facilityId)) this.cut(s, `facility ${s.identity.facilityId} was revoked`);
    }
  }

  private cut(s: OpenStream, why: string): void {
    if (!this.streams.delete(s)) return;
    this.stats.streams_open = this.streams.size;
    this.log(`closing stream of agent ${s.identity.agentId}: ${why}`);
    s.call.emit('error', { code: grpc.status.PERMISSION_DENIED, details: why });
  }

  private async enroll(req: EnrollRequest): Promise<EnrollResponse> {
    const token = parseEnrollToken(req.token);
    if (!token) throw new Refusal(grpc.status.INVALID_ARGUMENT, 'the enrollment token is malformed');
    if (!Buffer.isBuffer(req.csr_der) || req.csr_der.length === 0 || req.csr_der.length > 16 * 1024) {
      throw new Refusal(grpc.status.INVALID_ARGUMENT, 'csr_der must be a DER-encoded CSR of at most 16 KiB');
    }
    const now = new Date(this.clock.now());
    const agentId = randomUUID();
    // Check and sign the CSR before spending the token, so a broken CSR does not burn it.
    await this.o.ca.checkCsr(req.csr_der);
    const consumed = await this.o.store.consumeEnrollmentToken(
      hashEnrollSecret(token.secret),
      now.toISOString(),
    );
    if ('refused' in consumed) {
      const why = { unknown: 'is not known', used: 'was already used', expired: 'has expired' }[
        consumed.refused
      ];
      throw new Refusal(grpc.status.PERMISSION_DENIED, `the enrollment token ${why}`);
    }
    const facility = await this.o.store.getFacility(consumed.facility_id);
    if (!facility || facility.revoked_at !== null) {
      throw new Refusal(
        grpc.status.PERMISSION_DENIED,
        `facility ${consumed.facility_id} is revoked or removed`,
      );
    }
    const certificate_pem = await this.o.ca.signAgent(req.csr_der, facility.id, agentId, now);
    await this.o.store.upsertAgent({ id: agentId, facility_id: facility.id, enrolled_at: now.toISOString() });
    this.stats.enrollments++;
    this.log(`enrolled agent ${agentId} (${req.hostname.slice(0, 64)}) for facility ${facility.id}`);
    return {
      facility_id: facility.id,
      agent_id: agentId,
      certificate_pem,
      ca_certificate_pem: this.o.ca.certPem,
    };
  }

  private async identify(call: AuthenticatedCall): Promise<AgentIdentity> {
    const raw = call.getAuthContext()?.sslPeerCertificate?.raw;
    if (!raw || raw.length === 0) {
      throw new Refusal(
        grpc.status.UNAUTHENTICATED,
        'a client certificate issued by this aggregator is required (enroll the agent first)',
      );
    }
    let identity: AgentIdentity;
    try {
      identity = await this.o.ca.identify(raw, new Date(this.clock.now()));
    } catch (err) {
      if (err instanceof UntrustedCertificateError)
        throw new Refusal(grpc.status.UNAUTHENTICATED, err.message);
      throw err;
    }
    // The in-memory set may be up to one poll old; the store is the truth for a new call.
    const facility = await this.o.store.getFacility(identity.facilityId);
    if (!facility || facility.revoked_at !== null || this.revoked.has(identity.facilityId)) {
      throw new Refusal(grpc.status.PERMISSION_DENIED, `facility ${identity.facilityId} is revoked`);
    }
    return identity;
  }

  private connect(call: grpc.ServerDuplexStream<ReceivedAgentMessage, AggregatorMessage>): void {
    const queue: ReceivedAgentMessage[] = [];
    let stream: OpenStream | null = null;
    let working = false;
    let ended = false;

    const fail = (err: unknown): void => {
      if (ended) return;
      ended = true;
      if (stream && this.streams.delete(stream)) this.stats.streams_open = this.streams.size;
      call.emit('error', this.toStatus(err, 'stream'));
    };

    const drain = async (): Promise<void> => {
      if (working || !stream) return;
      working = true;
      try {
        while (!ended && this.streams.has(stream)) {
          if (queue.length > 0) {
            await this.handleSome(stream, queue);
            if (queue.length < MAX_QUEUED / 2 && call.isPaused()) call.resume();
            continue;
          }
          // nothing queued: wait for the oldest alert batch still being committed (its failure ends the stream)
          const oldest = stream.committing.shift();
          if (oldest === undefined) break;
          await oldest;
        }
      } catch (err) {
        // acknowledge the batches committed before the failure ends the stream
        await Promise.allSettled(stream.committing.splice(0));
        fail(err);
      } finally {
        working = false;
      }
    };

    call.on('data', (m: ReceivedAgentMessage) => {
      queue.push(m);
      if (queue.length >= MAX_QUEUED) call.pause();
      void drain();
    });
    // a push waiting for this stream's answer gets none now, not at its timeout (a stopping aggregator waits for it)
    const unanswered = (): void => {
      for (const answer of stream?.pushes.values() ?? []) answer(null);
      stream?.pushes.clear();
    };
    call.on('end', () => {
      ended = true;
      if (stream && this.streams.delete(stream)) this.stats.streams_open = this.streams.size;
      unanswered();
      call.end();
    });
    call.on('cancelled', () => {
      ended = true;
      if (stream && this.streams.delete(stream)) this.stats.streams_open = this.streams.size;
      unanswered();
    });
    call.on('error', () => {
      ended = true;
      if (stream && this.streams.delete(stream)) this.stats.streams_open = this.streams.size;
      unanswered();
    });

    call.pause();
    this.identify(call).then(
      (identity) => {
        if (ended) return;
        stream = { identity, call, pushes: new Map(), committing: [] };
        this.streams.add(stream);
        this.stats.streams_open = this.streams.size;
        call.resume();
        void drain();
      },
      (err: unknown) => fail(err),
    );
  }

  /** Handles the head of the queue: a run of alert batches in one transaction, or one other message. */
  private async handleSome(s: OpenStream, queue: ReceivedAgentMessage[]): Promise<void> {
    const { facilityId, agentId } = s.identity;
    const head = queue[0];
    if (!head) return;
    if (head.body === 'alert_batch') {
      const msgs: { seq: number; alerts: StoredAlert[] }[] = [];
      let count = 0;
      while (queue.length > 0 && count < MAX_MERGED_ALERTS) {
        const m = queue[0];
        if (m?.body !== 'alert_batch') break;
        queue.shift();
        // an agent's alerts are detections: generated false, made with each alert (no field added after)
        const alerts: StoredAlert[] = alertsFromBatch(
          m.alert_batch,
          facilityId,
          `message ${m.seq}: alerts`,
          false,
        );
        this.stats.alerts_received += alerts.length;
        msgs.push({ seq: m.seq, alerts });
        count += alerts.length;
      }
      const committed = this.batcher.add(msgs.flatMap((m) => m.alerts)).then(() => {
        this.stats.alerts_stored = this.batcher.newAlerts;
        this.stats.alert_transactions = this.batcher.transactions;
        if (!this.streams.has(s)) return;
        for (const m of msgs) s.call.write({ ack: { seq: m.seq, stored: m.alerts.length } });
      });
      // awaited by drain (or below); a failure before then must not count as unhandled
      committed.catch(() => undefined);
      s.committing.push(committed);
      while (s.committing.length >= MAX_COMMITTING) await s.committing.shift();
      return;
    }
    // other messages are answered after the alerts before them
    for (let c = s.committing.shift(); c !== undefined; c = s.committing.shift()) await c;
    queue.shift();
    if ('aggregates' in head && head.aggregates) {
      const rows: (NetworkMetrics & { facility_id: string })[] = (head.aggregates.rows ?? []).map((r, i) => ({
        ...aggregateFromPb(r, `message ${head.seq}: rows[${i}]`),
        facility_id: facilityId,
      }));
      await this.o.store.insertAggregates(rows);
      this.stats.aggregates_stored += rows.length;
      s.call.write({ ack: { seq: head.seq, stored: rows.length } });
    } else if ('heartbeat' in head && head.heartbeat) {
      const health = healthFromPb(head.heartbeat.health);
      await this.o.store.recordHeartbeat(agentId, new Date(this.clock.now()).toISOString(), health);
      this.stats.heartbeats++;
      s.call.write({ ack: { seq: head.seq, stored: 1 } });
    } else if ('inventory' in head && head.inventory) {
      const changes = (head.inventory.changes ?? []).map((c) => assetChangeFromPb(c, head.seq));
      await this.o.store.applyAssetChanges(facilityId, changes);
      this.stats.inventory_changes += changes.length;
      s.call.write({ ack: { seq: head.seq, stored: changes.length } });
    } else if ('push_ack' in head && head.push_ack) {
      const answer = s.pushes.get(head.push_ack.push_id);
      s.pushes.delete(head.push_ack.push_id);
      answer?.({ accepted: head.push_ack.accepted, error: head.push_ack.error });
      s.call.write({ ack: { seq: head.seq, stored: 0 } });
    } else {
      throw new InvalidMessageError(`message ${head.seq}`, 'carries no body');
    }
  }

  private toStatus(err: unknown, where: string): Partial<grpc.StatusObject> {
    if (err instanceof Refusal) {
      this.stats.calls_refused++;
      this.log(`${where} refused: ${err.message}`);
      return { code: err.code, details: err.message };
    }
    if (err instanceof InvalidMessageError || err instanceof UntrustedCertificateError) {
      this.stats.messages_rejected++;
      this.log(`${where} rejected an invalid message: ${err.message}`);
      return { code: grpc.status.INVALID_ARGUMENT, details: err.message };
    }
    this.log(`${where} failed: ${err instanceof Error ? err.message : String(err)}`);
    // A store outage: the agent keeps the data and retries.
    return { code: grpc.status.UNAVAILABLE, details: 'the aggregator cannot store this now; retry' };
  }
}

/** No connected agent of the facility, or no answer from it in time (the API maps it to 404/503). */
export class NoAgentError extends Error {
  override name = 'NoAgentError';
  constructor(
    message: string,
    /** not-connected: no open stream of the facility; timeout: its agent did not answer in time. */
    readonly reason: 'not-connected' | 'timeout',
  ) {
    super(message);
  }
}

class Refusal extends Error {
  constructor(
    readonly code: grpc.status,
    message: string,
  ) {
    super(message);
  }
}

const ASSET_CHANGES = new Set(['added', 'updated', 'removed']);

/** Checks one inventory change from an agent; a bad field is an InvalidMessageError naming it. */
function assetChangeFromPb(c: PbAssetChange, seq: number): AssetChange {
  const bad = (field: string, why: string): never => {
    throw new InvalidMessageError(`message ${seq}: inventory.${field}`, why);
  };
  if (!ASSET_CHANGES.has(c.change)) bad('change', 'must be added, updated or removed');
  if (c.address.length === 0 || c.address.length > 64) bad('address', 'must be an address');
  const time = (field: 'first_seen' | 'last_seen'): string =>
    Number.isNaN(Date.parse(c[field])) ? bad(field, 'must be an ISO 8601 time') : c[field];
  if (c.protocols.length > 64 || c.protocols.some((p) => p.length > 32))
    bad('protocols', 'too many or too long');
  return {
    change: c.change as AssetChange['change'],
    address: c.address,
    mac: c.mac.slice(0, 32),
    protocols: c.protocols,
    role: c.role === '' ? 'unknown' : c.role.slice(0, 64),
    first_seen: time('first_seen'),
    last_seen: time('last_seen'),
  };
}
