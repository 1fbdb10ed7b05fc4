// The federated round engine: which nodes train in a round, what they get, how long the round waits, what becomes of
// stragglers, and what is recorded. It talks to the agents only through a FleetTransport (transport.ts) and writes
// rounds and their clients through the store, whose publishing wrapper turns those writes into the dashboard's
// fl_round_started / fl_progress / fl_round_completed messages.
//
// A round: select (online nodes of facilities with privacy budget left; at least minClients, fractionFit of them) ->
// distributing -> training (train instructions with the active global model; replies until the round timeout; a node
// that does not answer in time is delayed, or offline when the transport no longer sees it; a node that fails or
// sends an unusable reply is offline) -> aggregating (the strategy) -> privacy charged per facility (local DP-SGD,
// and the strategy's central noise) -> evaluation of
// the new model on the clients' validation sets (model_accuracy = accuracy weighted by their example counts) ->
// the new model stored as a registry version -> complete. Too few usable replies fail the round.
//
// With a secure strategy (SecureDpSgd, strategy.secure set) training is two stages: every selected node sends a fresh
// X25519 public key (those that do are the round), then each gets all participants' keys and replies with its DP-SGD
// step's clipped, noised gradient sum, masked (@vigil/proto/secagg); the engine sees only the unmasked sum, which is
// the strategy's one input. If any participant's masked vector is missing the round is aborted: the others' vectors
// cannot be unmasked, are dropped unread, and nobody is charged.
import { createHash } from 'node:crypto';
import { systemClock, type Clock, type FLClient, type FLRound } from '@vigil/shared';
import type { PrivacyAccount, Store } from '../store/types.js';
import { bytesToWords, decodeFixedPoint, fixedPointFor, sumWords } from '@vigil/proto/secagg';
import { layoutMismatch, withData, type ModelMeta } from './arrays.js';
import { chargeRound, dpSpendOf, type DpSpend, type PrivacyPolicy } from './privacy.js';
import { GLOBAL_MODEL, ModelRegistry, otherModel } from './registry.js';
import type { ClientUpdate, Strategy } from './strategy.js';
import type {
  Arrays,
  ConfigValue,
  FitRes,
  FleetTransport,
  FlNode,
  Progress,
  SecureTrainRes,
} from './transport.js';

/** Noise shares one party may know in a secure round (its own); the agents use the same (SECAGG_KNOWN_SHARES). */
export const SECAGG_KNOWN_SHARES = 1;

/** The config key naming the model a train/evaluate message is about (the agent's ModelTrainers reads it). */
export const MODEL_CONFIG_KEY = 'vigil-model';

export interface RoundSettings {
  /** Fewest clients a round starts with and fewest usable replies it completes with (>= 1). */
  minClients: number;
  /** Share of the eligible online nodes selected, in (0, 1]; at least minClients are. */
  fractionFit: number;
  /** How long the training phase waits for replies, ms. */
  timeoutMs: number;
  /** How long the evaluation of the new model waits for replies, ms. */
  evaluateTimeoutMs: number;
  /** Local epochs each client trains (config 'local-epochs'). */
  localEpochs: number;
}

/** Defaults: two clients at least, everyone online selected, and a round that ends within two minutes. */
export const DEFAULT_ROUND_SETTINGS: RoundSettings = {
  minClients: 2,
  fractionFit: 1,
  timeoutMs: 90_000,
  evaluateTimeoutMs: 25_000,
  localEpochs: 1,
};

export class RoundInProgressError extends Error {
  override readonly name = 'RoundInProgressError';
}

export class NotEnoughClientsError extends Error {
  override readonly name = 'NotEnoughClientsError';
  constructor(
    message: string,
    readonly eligible: number,
    readonly required: number,
  ) {
    super(message);
  }
}

export interface RoundEngineOptions {
  store: Store;
  transport: FleetTransport;
  strategy: Strategy;
  privacy: PrivacyPolicy;
  /** Registry name of the model the rounds train (default GLOBAL_MODEL). */
  modelName?: string;
  /** The model the first round starts from when the registry holds no version of modelName. */
  initialArrays?: () => Arrays;
  /** Recorded with every version the rounds produce (what the model is, its feature schemas; see ModelMeta). */
  modelMeta?: ModelMeta;
  /** Refuse replies that report no DP-SGD accounting (default true): their privacy cost would be unknown. */
  requireDp?: boolean;
  defaults?: Partial<RoundSettings>;
  clock?: Clock;
  /** Uniform [0, 1) source for client sampling. */
  random?: () => number;
  log?: (line: string) => void;
}

export interface RoundHandle {
  /** The round as stored when it started (clients selected). */
  round: FLRound;
  /** Resolves with the finished round (completed or failed); never rejects. */
  done: Promise<FLRound>;
}

/** The FL client id (a UUID, as the API promises) of a Fleet node: stable across rounds. */
export function clientIdOf(nodeId: string): string {
  const h = createHash('sha256').update(`vigil-fl-client:${nodeId}`).digest('hex');
  const variant = ((parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** Who contributed to a round (what the ledger and the evaluation need; secure rounds keep no update per plant). */
type Contributor = Pick<ClientUpdate, 'nodeId' | 'facilityId' | 'numExamples'>;

function paramCount(arrays: Arrays): number {
  let n = 0;
  for (const t of arrays.values()) n += t.data.length;
  return n;
}

/** The masked vectors' modular sum, decoded: the plants' summed values (all masks cancel once all are in). */
function unmaskSum(masked: readonly Uint32Array[], participants: number, bound: number): Float64Array {
  return decodeFixedPoint(sumWords(masked), fixedPointFor(participants, bound));
}

/** A flat vector cut into `like`'s tensors, in order, as float32. */
function splitLike(like: Arrays, flat: Float64Array): Float32Array[] {
  let at = 0;
  return [...like.values()].map((t) => {
    const out = Float32Array.from(flat.subarray(at, at + t.data.length));
    at += t.data.length;
    return out;
  });
}

type Outcome<T> = { kind: 'ok'; value: T } | { kind: 'error'; error: unknown } | { kind: 'timeout' };

/** Settles with the promise's result, or as a timeout as soon as `signal` aborts (the reply is then ignored). */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<Outcome<T>> {
  return new Promise((resolve) => {
    const onAbort = (): void => resolve({ kind: 'timeout' });
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve({ kind: 'ok', value });
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        resolve(signal.aborted ? { kind: 'timeout' } : { kind: 'error', error });
      },
    );
  });
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function checkSettings(s: RoundSettings): void {
  if (!Number.isSafeInteger(s.minClients) || s.minClients < 1)
    throw new RangeError(`minClients must be a whole number >= 1, got ${s.minClients}`);
  if (!(s.fractionFit > 0 && s.fractionFit <= 1))
    throw new RangeError(`fractionFit must be in (0, 1], got ${s.fractionFit}`);
  for (const k of ['timeoutMs', 'evaluateTimeoutMs'] as const)
    if (!(s[k] > 0) || !Number.isFinite(s[k])) throw new RangeError(`${k} must be > 0, got ${s[k]}`);
  if (!Number.isSafeInteger(s.localEpochs) || s.localEpochs < 1)
    throw new RangeError(`localEpochs must be a whole number >= 1, got ${s.localEpochs}`);
}

interface Selected {
  node: FlNode;
  client: FLClient;
}

export class RoundEngine {
  private readonly clock: Clock;
  private readonly log: (line: string) => void;
  private readonly random: () => number;
  private readonly registry: ModelRegistry;
  private readonly modelName: string;
  private busy = false;
  private running: { controller: AbortController; done: Promise<FLRound> } | null = null;

  constructor(private readonly o: RoundEngineOptions) {
    this.clock = o.clock ?? systemClock;
    this.log = o.log ?? ((line) => process.stderr.write(`vigil fl: ${line}\n`));
    this.random = o.random ?? Math.random;
    this.registry = new ModelRegistry(o.store, this.clock);
    this.modelName = o.modelName ?? GLOBAL_MODEL;
  }

  get inProgress(): boolean {
    return this.busy;
  }

  /** The registry name of the model this engine's rounds train. */
  get model(): string {
    return this.modelName;
  }

  private now(): string {
    return new Date(this.clock.now()).toISOString();
  }

  /**
   * Selects the clients and stores the new round; resolves once it has started, with a promise of its end. Throws
   * RoundInProgressError while a round runs, NotEnoughClientsError when too few nodes can take part, RangeError on
   * bad settings.
   */
  async start(over: Partial<RoundSettings> = {}): Promise<RoundHandle> {
    if (this.busy) throw new RoundInProgressError('a federated round is already in progress');
    const settings: RoundSettings = { ...DEFAULT_ROUND_SETTINGS, ...this.o.defaults, ...over };
    checkSettings(settings);
    this.busy = true;
    let round: FLRound | null = null;
    let prepared: Awaited<ReturnType<RoundEngine['prepare']>>;
    try {
      prepared = await this.prepare(settings);
      round = await this.o.store.createRound({
        round_number: prepared.roundNumber,
        model: this.modelName,
        status: 'in-progress',
        phase: 'distributing',
        start_time: this.now(),
        total_clients: prepared.selected.length,
      });
      for (const s of prepared.selected) await this.o.store.upsertRoundClient(round.id, s.client);
    } catch (err) {
      this.busy = false;
      if (round !== null)
        await this.o.store
          .updateRound(round.id, { status: 'failed', end_time: this.now() })
          .catch(() => undefined);
      throw err;
    }
    const { selected, global, roundNumber } = prepared;
    const started = round;
    this.log(
      `round ${roundNumber} started with ${selected.length} clients (${selected.map((s) => s.node.facilityId).join(', ')}), strategy ${this.o.strategy.name}`,
    );
    const controller = new AbortController();
    // Nobody has to await `done` (the API trigger does not): it never rejects, a store outage included.
    const done = this.run(started.id, roundNumber, settings, selected, global, controller.signal)
      .catch((err: unknown) => {
        this.log(`round ${roundNumber}: could not record its end: ${message(err)}`);
        return started;
      })
      .finally(() => {
        this.running = null;
        this.busy = false;
      });
    this.running = { controller, done };
    const current = await this.o.store.getRound(started.id).catch(() => null);
    return { round: current ?? started, done };
  }

  /** Ends the running round (stored as failed) and waits for it. Safe to call at any time, and twice. */
  async shutdown(): Promise<void> {
    const r = this.running;
    if (r === null) return;
    r.controller.abort(new Error('the aggregator is shutting down'));
    await r.done;
  }

  private async prepare(
    settings: RoundSettings,
  ): Promise<{ selected: Selected[]; global: Arrays; roundNumber: number }> {
    const accounts = new Map((await this.o.store.listPrivacyAccounts()).map((a) => [a.facility_id, a]));
    const online = this.o.transport.nodes().filter((n) => n.online);
    const eligible: FlNode[] = [];
    for (const n of online) {
      const a = accounts.get(n.facilityId);
      if (a?.exhausted_at != null) {
        this.log(
          `facility ${n.facilityId} (node ${n.nodeId}) not selected: its privacy budget is spent (epsilon ${a.epsilon.toFixed(3)} >= ${this.o.privacy.epsilonBudget} at delta ${a.delta})`,
        );
        continue;
      }
      eligible.push(n);
    }
    if (eligible.length < settings.minClients) {
      const spent = online.length - eligible.length;
      throw new NotEnoughClientsError(
        `a round needs at least ${settings.minClients} clients; ${eligible.length} can take part (${online.length} online${spent > 0 ? `, ${spent} with their privacy budget spent` : ''})`,
        eligible.length,
        settings.minClients,
      );
    }
    const k = Math.min(
      eligible.length,
      Math.max(settings.minClients, Math.ceil(settings.fractionFit * eligible.length)),
    );
    for (let i = eligible.length - 1; i > 0; i--) {
      const j = Math.floor(this.random() * (i + 1));
      [eligible[i], eligible[j]] = [eligible[j]!, eligible[i]!];
    }
    const chosen = eligible.slice(0, k);
    const active = await this.registry.active(this.modelName);
    // After an upgrade that changed the model (its feature schemas, inputs or classes), the active version is the old
    // model: the agents would refuse it, so the rounds start again from this build's initial model.
    const stale = active === null ? null : otherModel(this.o.modelMeta, active.meta);
    if (active !== null && stale !== null)
      this.log(
        `the active "${this.modelName}" (version ${active.model.version}) is another model than this build trains ` +
          `(${stale}): the round starts from the initial model`,
      );
    const global = (stale === null ? active?.arrays : undefined) ?? this.o.initialArrays?.();
    if (global === undefined)
      throw new Error(
        `no global model to train: the registry holds no "${this.modelName}" of this build's model and no initial model is set`,
      );
    const names = new Map((await this.o.store.listFacilities()).map((f) => [f.id, f.name]));
    const roundNumber = ((await this.o.store.currentRound())?.round_number ?? 0) + 1;
    const now = this.now();
    const selected = chosen.map((node) => ({
      node,
      client: {
        id: clientIdOf(node.nodeId),
        facility_id: node.facilityId,
        name: `${names.get(node.facilityId) ?? node.facilityId} (node ${node.nodeId})`,
        status: 'active' as const,
        progress: 0,
        current_epoch: 0,
        total_epochs: settings.localEpochs,
        loss: null,
        accuracy: null,
        last_update: now,
      },
    }));
    return { selected, global, roundNumber };
  }

  private async run(
    roundId: number,
    roundNumber: number,
    settings: RoundSettings,
    selected: Selected[],
    global: Arrays,
    stop: AbortSignal,
  ): Promise<FLRound> {
    const store = this.o.store;
    const byNode = new Map(selected.map((s) => [s.node.nodeId, s]));
    // Store writes of this round happen one after another, in the order they were asked for.
    let writes: Promise<unknown> = Promise.resolve();
    const write = (fn: () => Promise<unknown>): Promise<unknown> => {
      writes = writes
        .then(fn)
        .catch((err: unknown) => this.log(`round ${roundNumber}: store write failed: ${message(err)}`));
      return writes;
    };
    let roundProgress = 0;
    const setClient = (s: Selected, patch: Partial<FLClient>): void => {
      s.client = { ...s.client, ...patch, last_update: this.now() };
      const snapshot = s.client;
      void write(() => store.upsertRoundClient(roundId, snapshot));
    };
    const trainingProgress = (): void => {
      const mean = selected.reduce((t, s) => t + s.client.progress, 0) / selected.length;
      const p = Math.floor(10 + 0.7 * mean);
      if (p > roundProgress) {
        roundProgress = p;
        void write(() => store.updateRound(roundId, { progress: p }));
      }
    };
    const onProgress = (p: Progress): void => {
      const s = byNode.get(p.nodeId);
      if (s === undefined || p.round !== roundNumber) return;
      const patch: Partial<FLClient> = {};
      if (p.epoch !== undefined) patch.current_epoch = p.epoch;
      if (p.loss !== undefined && Number.isFinite(p.loss)) patch.loss = p.loss;
      if (p.accuracy !== undefined && Number.isFinite(p.accuracy)) patch.accuracy = p.accuracy;
      if (p.phase === 'submitted') patch.progress = 100;
      else if (p.epoch !== undefined)
        patch.progress = Math.min(99, Math.round((100 * p.epoch) / settings.localEpochs));
      else if (p.phase === 'sent') patch.progress = Math.max(s.client.progress, 1);
      setClient(s, patch);
      trainingProgress();
    };
    const unsubscribe = this.o.transport.onProgress(onProgress);
    const finish = async (patch: Parameters<Store['updateRound']>[1]): Promise<FLRound> => {
      await write(() => store.updateRound(roundId, { end_time: this.now(), ...patch }));
      await writes;
      return (await store.getRound(roundId))!;
    };
    const fail = async (why: string, clientsActive: number): Promise<FLRound> => {
      this.log(`round ${roundNumber} failed: ${why}`);
      return finish({ status: 'failed', clients_active: clientsActive });
    };
    try {
      void write(() => store.updateRound(roundId, { phase: 'training', progress: 10 }));
      roundProgress = 10;
      const config: Record<string, ConfigValue> = {
        ...this.o.strategy.configureFit(roundNumber),
        'server-round': roundNumber,
        'local-epochs': settings.localEpochs,
        // which model the round trains (an agent trains Layer 2 and Layer 1b, in rounds of their own)
        [MODEL_CONFIG_KEY]: this.modelName,
      };
      const secure = this.o.strategy.secure;
      // Secure aggregation, stage 1: every selected node sends a fresh public key; those that did are the round.
      let participants = selected;
      let keys: Uint8Array[] = [];
      if (secure !== undefined) {
        const stage = await this.secureKeys(roundNumber, selected, settings, stop, setClient);
        if (stop.aborted) return await fail(message(stop.reason), 0);
        ({ participants, keys } = stage);
        const need = Math.max(settings.minClients, SECAGG_KNOWN_SHARES + 1);
        if (participants.length < need)
          return await fail(
            `${participants.length} of ${selected.length} nodes sent a secure-aggregation key, fewer than ${need}; nothing was trained`,
            participants.length,
          );
      }
      const peers = participants.map((s, i) => ({ nodeId: s.node.nodeId, publicKey: keys[i]! }));
      const outcomes = await this.phase<FitRes | SecureTrainRes>(stop, settings.timeoutMs, (signal) =>
        participants.map((s) =>
          secure !== undefined
            ? this.o.transport.secureTrain!(
                s.node.nodeId,
                { round: roundNumber, arrays: global, config, participants: peers, bound: secure.bound },
                signal,
              )
            : this.o.transport.train(s.node.nodeId, { round: roundNumber, arrays: global, config }, signal),
        ),
      );
      if (stop.aborted) return await fail(message(stop.reason), 0);

      const online = new Set(
        this.o.transport
          .nodes()
          .filter((n) => n.online)
          .map((n) => n.nodeId),
      );
      const updates: ClientUpdate[] = [];
      const masked: Uint32Array[] = [];
      const contributors: Contributor[] = [];
      const spends = new Map<string, { spends: DpSpend[]; examples: number }>();
      const words = paramCount(global);
      outcomes.forEach((out, i) => {
        const s = participants[i]!;
        const who = `node ${s.node.nodeId} (${s.node.facilityId})`;
        if (out.kind === 'timeout') {
          const status = online.has(s.node.nodeId) ? 'delayed' : 'offline';
          this.log(
            `round ${roundNumber}: ${who} did not answer within ${settings.timeoutMs} ms; marked ${status}`,
          );
          setClient(s, { status });
          return;
        }
        if (out.kind === 'error') {
          this.log(`round ${roundNumber}: ${who} failed: ${message(out.error)}; marked offline`);
          setClient(s, { status: 'offline' });
          return;
        }
        const { metrics } = out.value;
        const dp = dpSpendOf(metrics);
        const examples = metrics['num-examples'];
        if (!('invalid' in dp)) {
          const f = spends.get(s.node.facilityId) ?? { spends: [], examples: 0 };
          f.spends.push(dp);
          f.examples += Number.isSafeInteger(examples) && examples! > 0 ? examples! : 0;
          spends.set(s.node.facilityId, f);
        }
        const vector = 'masked' in out.value ? out.value.masked : null;
        const problem =
          examples === undefined || !Number.isSafeInteger(examples) || examples <= 0
            ? `num-examples ${String(examples)} is not a positive count`
            : ((vector !== null
                ? vector.length === 4 * words
                  ? null
                  : `a masked vector of ${vector.length} bytes, expected ${4 * words}`
                : layoutMismatch(global, (out.value as FitRes).arrays)) ??
              ((this.o.requireDp ?? true) && 'invalid' in dp ? dp.invalid : null));
        if (problem !== null) {
          this.log(`round ${roundNumber}: ${who} sent an unusable reply (${problem}); marked offline`);
          setClient(s, { status: 'offline' });
          return;
        }
        const who1 = { nodeId: s.node.nodeId, facilityId: s.node.facilityId, numExamples: examples! };
        contributors.push(who1);
        if (vector !== null) masked.push(bytesToWords(vector));
        else updates.push({ ...who1, arrays: (out.value as FitRes).arrays, metrics });
        const fin = (v: number | undefined): number | null =>
          v !== undefined && Number.isFinite(v) ? v : s.client.loss;
        setClient(s, {
          status: 'active',
          progress: 100,
          current_epoch: settings.localEpochs,
          loss: fin(metrics.loss),
          accuracy:
            metrics.accuracy !== undefined && Number.isFinite(metrics.accuracy)
              ? metrics.accuracy
              : s.client.accuracy,
        });
      });

      if (secure !== undefined && contributors.length < participants.length) {
        // A dropout: its pairwise masks stay in the others' vectors. The round is aborted and the masked vectors
        // received are dropped unread; nothing derived from any plant's data is revealed, so nobody is charged.
        return await fail(
          `secure aggregation: ${contributors.length} of ${participants.length} masked vectors arrived; the round is aborted and the ${masked.length} received are dropped unread`,
          contributors.length,
        );
      }
      if (contributors.length < settings.minClients) {
        await this.charge(spends, null, contributors);
        return await fail(
          `${contributors.length} usable replies of ${selected.length}, fewer than ${settings.minClients}`,
          contributors.length,
        );
      }

      void write(() =>
        store.updateRound(roundId, {
          phase: 'aggregating',
          progress: 80,
          clients_active: contributors.length,
        }),
      );
      // Secure rounds aggregate one input: the unmasked SUM of the plants' vectors (the only thing the aggregator
      // ever sees), weighing the examples of all plants.
      const input: ClientUpdate[] =
        secure === undefined
          ? updates
          : [
              {
                nodeId: 'secure-sum',
                facilityId: '',
                arrays: withData(
                  global,
                  splitLike(global, unmaskSum(masked, contributors.length, secure.bound)),
                ),
                numExamples: contributors.reduce((t, c) => t + c.numExamples, 0),
                metrics: {},
              },
            ];
      let next: Arrays | null;
      try {
        next = this.o.strategy.aggregate(roundNumber, global, input);
      } catch (err) {
        await this.charge(spends, null, contributors); // the updates left the plants all the same
        throw err;
      }
      // Central noise the strategy added to the model counts for the facilities whose updates went into it.
      const central = next === null ? null : (this.o.strategy.centralNoise?.(updates) ?? null);
      const epsilon = await this.charge(spends, central, contributors);
      void write(() => store.updateRound(roundId, { epsilon }));
      if (next === null)
        return await fail(`strategy ${this.o.strategy.name} produced no model`, contributors.length);

      void write(() => store.updateRound(roundId, { progress: 90 }));
      const accuracy = await this.evaluate(roundNumber, next, contributors, settings, stop);
      if (stop.aborted) return await fail(message(stop.reason), contributors.length);
      await writes;
      const model = await this.registry.save({
        name: this.modelName,
        arrays: next,
        roundId,
        accuracy,
        meta: this.o.modelMeta,
      });
      this.log(
        `round ${roundNumber} complete: ${contributors.length}/${selected.length} clients, model ${this.modelName} v${model.version}, accuracy ${accuracy === null ? 'unknown' : accuracy.toFixed(4)}, max epsilon ${epsilon.toFixed(3)}`,
      );
      return await finish({
        status: 'completed',
        phase: 'complete',
        progress: 100,
        epsilon,
        model_accuracy: accuracy,
        clients_active: contributors.length,
      });
    } catch (err) {
      return await fail(message(err), 0);
    } finally {
      unsubscribe();
    }
  }

  /** Runs one request per client until all settle or `timeoutMs` passes (or the round is stopped). */
  private async phase<T>(
    stop: AbortSignal,
    timeoutMs: number,
    requests: (signal: AbortSignal) => Promise<T>[],
  ): Promise<Outcome<T>[]> {
    const controller = new AbortController();
    const timer = setTimeout(
      () => controller.abort(new Error(`round timeout after ${timeoutMs} ms`)),
      timeoutMs,
    );
    const onStop = (): void => controller.abort(stop.reason);
    stop.addEventListener('abort', onStop, { once: true });
    try {
      return await Promise.all(requests(controller.signal).map((p) => untilAborted(p, controller.signal)));
    } finally {
      clearTimeout(timer);
      stop.removeEventListener('abort', onStop);
      // Whatever is still outstanding is cancelled: its answer would come too late to count.
      controller.abort(new Error('phase over'));
    }
  }

  /**
   * Secure aggregation, stage 1: asks every selected node for its round key. Nodes that sent one are the round's
   * participants (a node that did not is marked as a straggler would be; it has trained nothing).
   */
  private async secureKeys(
    roundNumber: number,
    selected: Selected[],
    settings: RoundSettings,
    stop: AbortSignal,
    setClient: (s: Selected, patch: Partial<FLClient>) => void,
  ): Promise<{ participants: Selected[]; keys: Uint8Array[] }> {
    const transport = this.o.transport;
    if (transport.secureKeys === undefined || transport.secureTrain === undefined)
      throw new Error('the FL transport cannot run secure-aggregation rounds');
    const outcomes = await this.phase(stop, settings.timeoutMs, (signal) =>
      selected.map((s) =>
        transport.secureKeys!(
          s.node.nodeId,
          { round: roundNumber, config: { [MODEL_CONFIG_KEY]: this.modelName } },
          signal,
        ),
      ),
    );
    const participants: Selected[] = [];
    const keys: Uint8Array[] = [];
    outcomes.forEach((out, i) => {
      const s = selected[i]!;
      if (out.kind === 'ok') {
        participants.push(s);
        keys.push(out.value);
        return;
      }
      this.log(
        `round ${roundNumber}: node ${s.node.nodeId} (${s.node.facilityId}) sent no secure-aggregation key (${out.kind === 'error' ? message(out.error) : 'timeout'}); left out of the round`,
      );
      setClient(s, { status: out.kind === 'timeout' ? 'delayed' : 'offline' });
    });
    return { participants, keys };
  }

  /** model_accuracy: the clients' accuracy of `arrays` on their validation sets, weighted by their example counts. */
  private async evaluate(
    roundNumber: number,
    arrays: Arrays,
    updates: readonly Contributor[],
    settings: RoundSettings,
    stop: AbortSignal,
  ): Promise<number | null> {
    const outcomes = await this.phase(stop, settings.evaluateTimeoutMs, (signal) =>
      updates.map((u) =>
        this.o.transport.evaluate(
          u.nodeId,
          {
            round: roundNumber,
            arrays,
            config: { 'server-round': roundNumber, [MODEL_CONFIG_KEY]: this.modelName },
          },
          signal,
        ),
      ),
    );
    let weighted = 0;
    let total = 0;
    outcomes.forEach((out, i) => {
      const u = updates[i]!;
      if (out.kind !== 'ok') {
        this.log(
          `round ${roundNumber}: node ${u.nodeId} (${u.facilityId}) gave no evaluation: ${out.kind === 'error' ? message(out.error) : 'timeout'}`,
        );
        return;
      }
      const n = out.value.metrics['num-examples'];
      const acc = out.value.metrics.accuracy;
      if (n === undefined || !(n > 0) || acc === undefined || !(acc >= 0 && acc <= 1)) return;
      weighted += acc * n;
      total += n;
    });
    return total === 0 ? null : weighted / total;
  }

  /**
   * Adds this round's DP-SGD training, and the central noise of the new model (per facility, CentralDp), to each
   * facility's account; returns the highest epsilon of any facility.
   */
  private async charge(
    spends: Map<string, { spends: DpSpend[]; examples: number }>,
    central: Map<string, number> | null,
    updates: readonly Contributor[],
  ): Promise<number> {
    const accounts = new Map((await this.o.store.listPrivacyAccounts()).map((a) => [a.facility_id, a]));
    const at = this.now();
    const facilities = new Set([...spends.keys(), ...(central?.keys() ?? [])]);
    for (const facilityId of facilities) {
      const f = spends.get(facilityId) ?? {
        spends: [],
        examples: updates.filter((u) => u.facilityId === facilityId).reduce((t, u) => t + u.numExamples, 0),
      };
      const before = accounts.get(facilityId) ?? null;
      const after: PrivacyAccount = chargeRound(before, {
        facilityId,
        spends: f.spends,
        central: central?.get(facilityId),
        examples: f.examples,
        at,
        policy: this.o.privacy,
      });
      await this.o.store.putPrivacyAccount(after);
      accounts.set(facilityId, after);
      if (after.exhausted_at !== null && before?.exhausted_at == null)
        this.log(
          `facility ${facilityId} has spent its privacy budget (epsilon ${after.epsilon.toFixed(3)} >= ${this.o.privacy.epsilonBudget} at delta ${after.delta}); it will not be selected again`,
        );
    }
    return [...accounts.values()].reduce((m, a) => Math.max(m, a.epsilon), 0);
  }
}
