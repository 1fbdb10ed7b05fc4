// `vigil-agent run`: the agent daemon. A packet source (--pcap, --interface or --sim) runs through the whole
// detection pipeline; its alerts go through the outbox and the link, with the window's per-second aggregates, the
// asset inventory's changes and heartbeats carrying the agent health. --alerts-in forwards recorded alerts instead.
// Runs until SIGINT or SIGTERM (or, with --exit-when-delivered, until a file source is delivered). Flags override
// the config file and are enough without one.
import { OperatorFeedback } from '../fl/feedback.js';
import { notTakingPart, prepareParticipation, type Participation } from '../fl/participate.js';
import { loadModelDetectors, type ModelDetector } from '../detect/ml/detector.js';
import { ARTIFACTS_DIR, readL1b, readL2 } from '../detect/ml/artifacts.js';
import { GlobalModels } from '../fl/global-model.js';
import { join } from 'node:path';
import type { Command } from 'commander';
import { systemClock } from '@vigil/shared';
import {
  type AgentConfig,
  describeSuppression,
  parseSuppression,
  readConfigFile,
  resolveAgentConfig,
} from '../config.js';
import { forwardAlertsFile } from '../link/alerts-in.js';
import { LinkClient } from '../link/client.js';
import { loadIdentity } from '../link/identity.js';
import { modelVersions, pushHandler } from '../link/pushes.js';
import { Outbox } from '../outbox/outbox.js';
import { describeSource, startSource, type PipelineSource } from './run-sources.js';

interface RunFlags {
  config?: string;
  aggregator?: string;
  dataDir?: string;
  alertsIn?: string;
  exitWhenDelivered?: boolean;
  interface?: string;
  captureFilter?: string;
  captureTool?: string;
  captureRing?: string;
  pcap?: string;
  speed?: string;
  sim?: string;
  seed?: string;
  warmupMinutes?: string;
  learnMinutes?: string;
  checkpointSeconds?: string;
  knownMaster?: string[];
  suppress?: string[];
  baseline?: string;
  baselineSeconds?: string;
  outboxMaxBytes?: string;
  heartbeatSeconds?: string;
  models?: boolean;
  federated?: boolean;
}

const num = (s: string | undefined): number | string | undefined =>
  s === undefined ? undefined : Number.isFinite(Number(s)) ? Number(s) : s;

const say = (line: string): void => {
  process.stdout.write(`vigil-agent: ${line}\n`);
};

/** Resolves when the signal aborts, or when `done()` turns true (polled). */
function until(signal: AbortSignal, done?: () => boolean): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal.aborted) return resolve();
    const t = done === undefined ? undefined : setInterval(() => done() && finish(), 100);
    const finish = (): void => {
      if (t !== undefined) clearInterval(t);
      signal.removeEventListener('abort', finish);
      resolve();
    };
    signal.addEventListener('abort', finish, { once: true });
  });
}

async function runAgent(c: AgentConfig): Promise<void> {
  const identity = loadIdentity(c.data_dir);
  const address = c.aggregator ?? identity.aggregator;
  const outbox = new Outbox({ path: join(c.data_dir, 'outbox.db'), maxBytes: c.outbox_max_bytes });
  const stop = new AbortController();
  const onSignal = (): void => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let source: PipelineSource | undefined;
  let detectors: ModelDetector[] = [];
  let fl: Participation | null = null;
  // Pushed global models are checked and swapped into the detector's sessions (the old one serves on a refusal).
  const globals = new GlobalModels({
    dataDir: c.data_dir,
    l2: readL2(ARTIFACTS_DIR).meta,
    l1b: readL1b(ARTIFACTS_DIR).meta,
    detectors: () => detectors,
    log: say,
  });
  // operators' verdicts as labelled examples, kept beside the outbox so a restart loses none
  const feedback = new OperatorFeedback({
    detectors: () => detectors,
    path: join(c.data_dir, 'feedback.db'),
    log: say,
  });
  const link = new LinkClient({
    address,
    identity,
    outbox,
    heartbeatMs: c.heartbeat_seconds * 1000,
    onPush: pushHandler(c.data_dir, {
      onScenario: (s) => source?.scenario(s) ?? Promise.reject(new Error('not started')),
      onModel: (m) => globals.install(m),
      // operators' verdicts on this facility's alerts: labelled Layer 2 examples for the next rounds
      onConfig: (settings) =>
        new Promise<void>((resolve) => {
          feedback.apply(settings);
          resolve();
        }),
    }),
    health: () => ({
      ...(source?.feed?.health(modelVersions(c.data_dir)) ?? {
        capture_drops: 0,
        malformed_packets: 0,
        model_versions: modelVersions(c.data_dir),
      }),
      ...globals.health(),
      fl_status: fl?.status() ?? notTakingPart(c) ?? 'preparing',
      baseline_status: source?.baselineStatus() ?? '',
    }),
  });
  try {
    say(`facility ${identity.facilityId} (agent ${identity.agentId}) -> ${address}`);
    say(`outbox: ${outbox.depth().count} alert(s) waiting; source: ${describeSource(c)}`);
    if (c.alerts_in !== undefined) {
      await link.start();
      const r = await forwardAlertsFile({
        file: c.alerts_in,
        outbox,
        onEnqueued: () => link.notify(),
        signal: stop.signal,
      });
      say(`read ${r.forwarded} alerts from ${c.alerts_in} (${r.rejected} rejected)`);
    } else {
      // Federated rounds need labelled local data; a --sim agent makes it from its own plant before going live.
      if (c.sim !== undefined && c.federated) {
        say(
          'federated learning: making the local data (this plant simulated, with attacks injected for Layer 2)',
        );
        fl = prepareParticipation({
          identity,
          address,
          topology: c.sim,
          seed: c.seed,
          feedback,
          log: (line) => say(line),
        });
        say(
          `federated learning: ${fl.examples} local Layer 2 examples and ${fl.windows} Layer 1b windows; the node joins rounds once connected`,
        );
      } else {
        say(`federated learning: ${notTakingPart(c) ?? 'off'}`);
      }
      if (c.suppress.length > 0) {
        say(
          `suppressing (counted in the health's suppressed): ${c.suppress.map(describeSuppression).join('; ')}`,
        );
      }
      if (c.models) {
        detectors = loadModelDetectors({
          facility: identity.facilityId,
          dataDir: c.data_dir,
          onLocalRefused: (reason) =>
            say(`models: the local baseline was refused (${reason}); learning it again`),
        });
        say('models: Layer 1a/1b and Layer 2 beside the rules; they learn with the baseline');
        await globals.restore();
      }
      source = await startSource(c, {
        facility: identity.facilityId,
        outbox,
        link,
        wall: systemClock,
        signal: stop.signal,
        detectors,
        say,
        dataDir: c.data_dir,
        models: c.models ? detectors : undefined,
        suppress: c.suppress,
      });
      // The facility shows online only once detection is live (a --sim agent after its warm-up).
      await Promise.race([source.live, source.ended]);
      await link.start();
      const flRun = fl
        ?.run(stop.signal)
        .catch((err: unknown) => say(`federated learning stopped: ${String(err)}`));
      await source.ended;
      await flRun;
    }
    if (c.exit_when_delivered && !stop.signal.aborted) {
      // Alerts, and the aggregates and inventory still queued (lossy, but not thrown away at a clean exit).
      await until(stop.signal, () => link.idle());
      if (!stop.signal.aborted) say('every alert delivered');
    } else {
      await until(stop.signal);
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    stop.abort();
    await source?.close();
    await Promise.all(detectors.map((d) => d.close()));
    await link.shutdown();
    feedback.close();
    outbox.close();
  }
}

export function registerRun(program: Command): void {
  program
    .command('run')
    .description(
      'run the agent: detect attacks in a packet source and send alerts, window aggregates, inventory and health to the aggregator (nothing is lost: outbox + acks)',
    )
    .option('--config <file>', 'JSON config file (see deploy/agent.example.json); flags override it')
    .option('--aggregator <host:port>', 'aggregator agent port (default: the one enrolled with)')
    .option('--data-dir <dir>', 'identity, outbox and models')
    .option('--pcap <file>', 'source: replay a capture file through the pipeline')
    .option('--speed <max|1x>', 'with --pcap: as fast as possible (max) or on the recorded timing (1x)')
    .option('--interface <if>', 'source: capture live from a network interface (dumpcap)')
    .option('--capture-filter <bpf>', 'with --interface: BPF filter, e.g. "not port 8443" (the uplink)')
    .option(
      '--capture-tool <dumpcap|tcpdump>',
      'with --interface: the capture tool (default dumpcap; tcpdump also reports kernel drops while running)',
    )
    .option(
      '--capture-ring <path>',
      "source: live traffic from the capture helper's ring of files (its dumpcap -w path, e.g. /run/vigil-capture/eth1.pcapng)",
    )
    .option('--sim <topology>', 'source: live simulated traffic of a topology (see vigil-agent sim --list)')
    .option('--seed <n>', 'with --sim: the simulation seed (default 1)')
    .option(
      '--warmup-minutes <m>',
      'with --sim: minutes of normal traffic simulated first to learn the baseline (default 10)',
    )
    .option(
      '--learn-minutes <n>',
      "with --pcap/--interface/--capture-ring: learn the baseline from the source's first N minutes (default 1440 for the live sources, 5 for --pcap); once learnt it is kept in the data dir and a restart does not learn again (vigil-agent baseline reset to learn anew)",
    )
    .option(
      '--checkpoint-seconds <s>',
      'with --pcap/--interface/--capture-ring: store what the learning period learnt so far every S seconds of wall time (default 300); a restart resumes from it',
    )
    .option(
      '--known-master <ip>',
      "a host that acts as a Modbus master (e.g. the engineering workstation): a baseline fact, not an allow-list (repeatable; adds to the config file's known_masters)",
      (v: string, all: string[] | undefined) => [...(all ?? []), v],
    )
    .option(
      '--suppress <KEY=VALUE,...>',
      "drop (and count) detections matching every KEY=VALUE given, keys facility, host, pair (A>B or A<>B), rule, technique (repeatable; adds to the config file's suppress)",
      (v: string, all: string[] | undefined) => [...(all ?? []), v],
    )
    .option('--baseline <capture>', 'with --pcap/--interface: learn the baseline from this capture instead')
    .option('--baseline-seconds <n>', "learn only from the baseline capture's first N seconds")
    .option('--alerts-in <file>', 'source: forward alerts from a JSON-lines file (one Alert per line)')
    .option(
      '--exit-when-delivered',
      'with --alerts-in or --pcap: exit once the file is read and every alert is acknowledged',
    )
    .option('--outbox-max-bytes <n>', 'upper bound of the outbox database in bytes')
    .option('--heartbeat-seconds <s>', 'heartbeat period')
    .option('--no-models', 'rules only: without the Layer 1/2 models')
    .option('--no-federated', 'with --sim: do not take part in federated rounds')
    .action(async (f: RunFlags) => {
      const file = f.config !== undefined ? readConfigFile(f.config) : {};
      const c = resolveAgentConfig(
        file,
        {
          aggregator: f.aggregator,
          data_dir: f.dataDir,
          alerts_in: f.alertsIn,
          exit_when_delivered: f.exitWhenDelivered,
          interface: f.interface,
          capture_filter: f.captureFilter,
          capture_tool: f.captureTool,
          capture_ring: f.captureRing,
          pcap: f.pcap,
          speed: f.speed,
          sim: f.sim,
          seed: num(f.seed),
          warmup_minutes: num(f.warmupMinutes),
          learn_minutes: num(f.learnMinutes),
          checkpoint_seconds: num(f.checkpointSeconds),
          known_masters:
            f.knownMaster === undefined
              ? undefined
              : [
                  ...(Array.isArray(file.known_masters) ? (file.known_masters as unknown[]) : []),
                  ...f.knownMaster,
                ],
          suppress:
            f.suppress === undefined
              ? undefined
              : [
                  ...(Array.isArray(file.suppress) ? (file.suppress as unknown[]) : []),
                  ...f.suppress.map(parseSuppression),
                ],
          baseline: f.baseline,
          baseline_seconds: num(f.baselineSeconds),
          outbox_max_bytes: num(f.outboxMaxBytes),
          heartbeat_seconds: num(f.heartbeatSeconds),
          models: f.models === false ? false : undefined,
          federated: f.federated === false ? false : undefined,
        },
        f.config ?? 'options',
      );
      await runAgent(c);
    });
}
