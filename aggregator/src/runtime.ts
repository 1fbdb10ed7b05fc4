// One running aggregator: the store, the dashboard API (REST + /ws), the agent link (gRPC, mTLS) and the retention
// job, started in order and stopped in reverse. `vigil serve` and `vigil demo` both run it.
import { UsageError } from '@vigil/shared';
import { startApiServer, type ApiServerOptions, type RunningApi } from './api/server.js';
import { ScenarioRunner } from './demo/scenarios.js';
import { openAttackGraph, type AttackGraphOptions } from './graph/open.js';
import type { AttackGraph } from './graph/types.js';
import type { PrivacySettings } from './api/app.js';
import { RoundEngine } from './fl/engine.js';
import { ModelPublisher } from './fl/publisher.js';
import { RoundScheduler } from './fl/scheduler.js';
import type { Strategy } from './fl/strategy.js';
import type { FlAttachment, ServeDeps } from './cli/serve-fl.js';
import { ARTIFACTS_DIR, loadL1bModel, loadL2Model, readL1b, readL2 } from '@vigil/agent/detect/ml/artifacts';
import { l1bModelMeta, l2ModelMeta } from '@vigil/agent/fl/global-model';
import { GLOBAL_L1B_MODEL } from './fl/registry.js';
import { RoundSeries } from './fl/series.js';
import { FeedbackPublisher } from './fl/feedback.js';
import { modelArrays } from '@vigil/agent/fl/local-trainer';
import { FleetServer } from './fl/fleet-server.js';
import { CertificateAuthority } from './link/ca.js';
import { LinkServer } from './link/server.js';
import { openStore } from './store/open.js';
import { RetentionJob } from './store/retention.js';
import type { RetentionPolicy, Store } from './store/types.js';

export interface AggregatorOptions extends Pick<
  ApiServerOptions,
  'host' | 'port' | 'tls' | 'insecure' | 'anonymous' | 'corsOrigins' | 'rateLimit' | 'log'
> {
  dataDir: string;
  dbUrl: string;
  grpcHost: string;
  grpcPort: number;
  retention: RetentionPolicy;
  /** Federated rounds: the publisher of global models always runs; the round engine only with a transport. */
  fl?: AggregatorFlOptions;
  /** Hold the attack graph in this Neo4j (loaded with the shipped bundle if it lacks it); in memory when absent. */
  neo4j?: AttackGraphOptions['neo4j'];
  /** Told what each retention run deleted. */
  onPurged?: (d: { alerts: number; aggregates: number }) => void;
}

export interface AggregatorFlOptions {
  strategy: Strategy;
  privacy: PrivacySettings;
  minClients: number;
  /** Start a round every this many ms; null for rounds on demand only. */
  scheduleMs: number | null;
  /**
   * Another transport for the rounds (tests); by default the Flower Fleet API served on the link port (the agents'
   * SuperNodes), starting from the shipped Layer 2 classifier.
   */
  transport?: ServeDeps['fl'];
}

export interface RunningAggregator {
  readonly api: RunningApi;
  readonly link: LinkServer;
  readonly ca: CertificateAuthority;
  /** The publishing store (writes reach the WebSocket rooms). */
  readonly store: Store;
  /** The round engine, when a federated-learning transport is attached. */
  readonly rounds: RoundSeries | null;
  close(): Promise<void>;
}

export async function startAggregator(o: AggregatorOptions): Promise<RunningAggregator> {
  const log = o.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const ca = await CertificateAuthority.open(o.dataDir);
  let graph: AttackGraph | undefined;
  if (o.neo4j !== undefined) {
    try {
      graph = await openAttackGraph({ neo4j: o.neo4j });
    } catch (err) {
      throw new UsageError(
        `--neo4j: ${(err as Error).message} (deploy/neo4j.sh run 7687 starts one for tests)`,
      );
    }
  }
  const store = await openStore(o.dbUrl, {
    onConnectionError: (err) => log(`database connection lost: ${err.message} (the next call reconnects)`),
  }).catch(async (err: unknown) => {
    await graph?.close();
    throw err;
  });
  let link: LinkServer | null = null;
  let retention: RetentionJob | null = null;
  let api: RunningApi | undefined;
  let publishers: ModelPublisher[] = [];
  let feedback: { publisher: FeedbackPublisher; unsubscribe: () => void } | null = null;
  let engine: RoundSeries | null = null;
  let scheduler: RoundScheduler | null = null;
  let attachment: FlAttachment | null = null;
  const stopFl = async (): Promise<void> => {
    await scheduler?.shutdown();
    await engine?.shutdown();
    await attachment?.shutdown?.();
    for (const p of publishers) await p.shutdown();
    feedback?.unsubscribe();
    await feedback?.publisher.shutdown();
  };
  try {
    api = await startApiServer({
      store,
      host: o.host,
      port: o.port,
      tls: o.tls,
      insecure: o.insecure,
      anonymous: o.anonymous,
      corsOrigins: o.corsOrigins,
      rateLimit: o.rateLimit,
      privacy: o.fl?.privacy,
      graph,
      log,
      grpcState: () => (link?.port ? 'connected' : 'down'),
      // Scenarios ask the facility's agent, over the link, to inject an attack into its live simulated traffic.
      demo: (d) =>
        new ScenarioRunner({
          ...d,
          inject: (facilityId, name) =>
            link === null
              ? Promise.reject(new Error('the agent link is not running'))
              : link.injectScenario(facilityId, name),
        }),
    });
    // Agents write through the API's publishing store, so their alerts reach the WebSocket rooms.
    // The Flower Fleet API rides on the link's port, inside its mTLS: the node is the enrolled facility.
    const fleet = o.fl !== undefined && o.fl.transport === undefined ? new FleetServer({ log }) : null;
    link = new LinkServer({
      store: api.store,
      ca,
      host: o.grpcHost,
      port: o.grpcPort,
      log,
      services: fleet === null ? [] : [fleet],
    });
    await link.start();
    // The active global model (a round's result or a rollback) is pushed to the agents over the link.
    // (each federated model under its own registry name: Layer 2 and Layer 1b)
    // (only this build's models: after an upgrade the active version may be the old model until the first round)
    const l2Meta = l2ModelMeta(readL2(ARTIFACTS_DIR).meta);
    const l1bMeta = l1bModelMeta(readL1b(ARTIFACTS_DIR).meta);
    publishers = [
      new ModelPublisher({ store: api.store, link, modelMeta: l2Meta }),
      new ModelPublisher({ store: api.store, link, name: GLOBAL_L1B_MODEL, modelMeta: l1bMeta }),
    ];
    for (const p of publishers) p.start();
    // Operators' verdicts on alerts go to the facility's agent as labelled Layer 2 examples for the next rounds.
    const fb = new FeedbackPublisher({ link, store: api.store, log });
    feedback = { publisher: fb, unsubscribe: api.bus.subscribe((e) => fb.onEvent(e)) };
    fb.start();
    if (o.fl !== undefined) {
      attachment =
        fleet !== null
          ? {
              transport: fleet,
              initialArrays: () => modelArrays(loadL2Model()),
              modelMeta: l2Meta,
              second: {
                name: GLOBAL_L1B_MODEL,
                initialArrays: () => modelArrays(loadL1bModel()),
                modelMeta: l1bMeta,
              },
            }
          : await (o.fl.transport as NonNullable<ServeDeps['fl']>).attach({ link, store: api.store });
      const common = {
        store: api.store,
        transport: attachment.transport,
        strategy: o.fl.strategy,
        privacy: o.fl.privacy,
        defaults: { minClients: o.fl.minClients },
      };
      const engines = [
        new RoundEngine({
          ...common,
          initialArrays: attachment.initialArrays,
          modelMeta: attachment.modelMeta,
        }),
      ];
      const second = attachment.second;
      if (second !== undefined)
        engines.push(
          new RoundEngine({
            ...common,
            modelName: second.name,
            initialArrays: second.initialArrays,
            modelMeta: second.modelMeta,
          }),
        );
      engine = new RoundSeries(engines);
      api.attachFl(engine);
      if (o.fl.scheduleMs !== null) {
        scheduler = new RoundScheduler({ engine, intervalMs: o.fl.scheduleMs });
        scheduler.start();
      }
    }
    // Old alerts and aggregates are purged at start and then hourly; a failed run is logged and retried.
    retention = new RetentionJob({ store: api.store, policy: o.retention, onPurged: o.onPurged });
    await retention.start();
  } catch (err) {
    await stopFl();
    await retention?.shutdown();
    await link?.shutdown();
    await api?.close();
    await store.close();
    await graph?.close();
    throw err;
  }
  const running = { api, link, retention };
  let closing: Promise<void> | null = null;
  return {
    api,
    link,
    ca,
    store: api.store,
    rounds: engine,
    close() {
      closing ??= (async () => {
        await stopFl();
        await running.retention.shutdown();
        await running.link.shutdown();
        await running.api.close();
        await store.close();
        await graph?.close();
      })();
      return closing;
    },
  };
}
