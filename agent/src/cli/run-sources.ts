// The packet sources of `vigil-agent run`, each feeding the detection pipeline (PipelineFeed) on its clock: a
// capture file on packet time (--pcap), a live interface on the wall clock (--interface), and a live simulated
// plant (--sim) that learns its baseline in a warm-up on packet time, then runs on the wall clock and takes the
// demo's scenario pushes.
import type { Detector } from '../detect/types.js';
import type { Clock } from '@vigil/shared';
import type { PbScenarioPush } from '@vigil/proto/link';
import { UsageError } from '@vigil/shared';
import { LiveCapture } from '../capture/live.js';
import { RingFollower } from '../capture/ring.js';
import { PacketClock } from '../capture/packet-clock.js';
import type { AgentConfig } from '../config.js';
import type { Baseline } from '../detect/baseline.js';
import type { Suppression } from '../detect/correlate.js';
import type { ModelDetector } from '../detect/ml/detector.js';
import { replayCapture } from '../detect/replay.js';
import type { LinkClient } from '../link/client.js';
import { PipelineFeed } from '../link/feed.js';
import type { Outbox } from '../outbox/outbox.js';
import { LivePlant, WarmupClock } from '../sim/live.js';
import { declaredFacts, learningOf, type BaselineKeeper, type Learning } from './run-baseline.js';

export interface SourceContext {
  facility: string;
  outbox: Outbox;
  link: Pick<LinkClient, 'notify' | 'sendAggregates' | 'sendInventory'>;
  wall: Clock;
  signal: AbortSignal;
  /** Model detectors beside the rules (none with --no-models). */
  detectors: readonly Detector[];
  /** One progress line. */
  say: (line: string) => void;
  /** The agent's data dir: the learnt baseline is kept there (absent: learnt at every start, not kept). */
  dataDir?: string | undefined;
  /** The model detectors when the models run (undefined: rules only); their local baseline is kept with it. */
  models?: readonly ModelDetector[] | undefined;
  /** The operator's suppressions (config `suppress`, --suppress). */
  suppress?: readonly Suppression[] | undefined;
}

export interface PipelineSource {
  feed: PipelineFeed;
  /** Resolves once detection is live: at once for a capture, after the warm-up for --sim. */
  live: Promise<void>;
  /** Resolves when the source has ended (a file read to its end) or was stopped; rejects when it failed. */
  ended: Promise<void>;
  /** The detection baseline for the agent health: learning (until when), or learnt or loaded from what. */
  baselineStatus: () => string;
  /** A scenario push: injected into live simulated traffic, refused by any other source with the reason. */
  scenario: (s: PbScenarioPush) => Promise<void>;
  close: () => Promise<void>;
}

export function describeSource(c: AgentConfig): string {
  if (c.pcap !== undefined) return `--pcap ${c.pcap} at ${c.speed} speed`;
  if (c.interface !== undefined) return `--interface ${c.interface}`;
  if (c.sim !== undefined) return `--sim ${c.sim} (seed ${c.seed})`;
  return `--alerts-in ${c.alerts_in ?? ''}`;
}

/**
 * Every second of wall time: the feed's tick (live sources decide incidents), an alert flush, and the baseline
 * stored once learnt.
 */
function ticker(
  feed: PipelineFeed,
  live: () => boolean,
  flush: boolean,
  keeper?: BaselineKeeper,
): () => void {
  let busy = false;
  const t = setInterval(() => {
    feed.tick(live());
    keeper?.poll(feed.engine);
    if (!flush || busy) return;
    busy = true;
    feed.flush().then(
      () => (busy = false),
      () => (busy = false),
    );
  }, 1000);
  return () => clearInterval(t);
}

function newFeed(
  ctx: SourceContext,
  clock: Clock,
  learning: { baseline?: Baseline; learnMs: number },
  waitWhenFull: boolean,
): PipelineFeed {
  return new PipelineFeed({
    facility: ctx.facility,
    clock,
    outbox: ctx.outbox,
    link: ctx.link,
    detectors: ctx.detectors,
    suppress: ctx.suppress,
    baseline: learning.baseline,
    learnMs: learning.learnMs,
    waitWhenFull,
    log: ctx.say,
  });
}

function refuseScenarios(what: string): (s: PbScenarioPush) => Promise<void> {
  return (s) =>
    Promise.reject(
      new Error(`scenario ${s.name} refused: this agent's source is ${what}; scenarios need --sim TOPOLOGY`),
    );
}

export async function startSource(c: AgentConfig, ctx: SourceContext): Promise<PipelineSource> {
  if (c.sim !== undefined) return startSim(c, c.sim, ctx);
  const learning = await learningOf(c, {
    ...ctx,
    now: () => ctx.wall.now(),
    checkpointMs: c.checkpoint_seconds * 1000,
  });
  if (c.pcap !== undefined) return startPcap(c, c.pcap, learning, ctx);
  if (c.interface !== undefined) return startInterface(c, c.interface, learning, ctx);
  if (c.capture_ring !== undefined) return startRing(c.capture_ring, learning, ctx);
  throw new UsageError(
    'give a packet source: --pcap FILE, --interface IF, --capture-ring PATH or --sim TOPOLOGY',
  );
}

function startPcap(c: AgentConfig, file: string, learning: Learning, ctx: SourceContext): PipelineSource {
  const clock = new PacketClock();
  const feed = newFeed(ctx, clock, learning, true);
  const stopTicker = ticker(feed, () => false, false, learning.keeper);
  ctx.say(`live: replaying ${file} through the detection pipeline at ${c.speed} speed`);
  const ended = replayCapture(file, feed.engine, clock, {
    handle: (p) => feed.handle(p),
    afterChunk: () => feed.flush(),
    onError: () => feed.captureDrops++,
    signal: ctx.signal,
    ...(c.speed === '1x' ? { speed: 1 } : {}),
  }).then(
    (stats) => {
      stopTicker();
      learning.keeper?.poll(feed.engine, true);
      feed.sendLast();
      ctx.say(
        `${file} ended: ${stats.frames} frames, ${feed.alertsQueued} alert(s) into the outbox, ${feed.alertsRefused} refused` +
          (stats.reported === undefined
            ? ''
            : `; the capture itself recorded ${stats.reported.dropped} of ${stats.reported.received} packet(s) dropped`),
      );
    },
    (err: unknown) => {
      stopTicker();
      if (ctx.signal.aborted) return; // stopped (SIGINT/SIGTERM): what was read is in the outbox
      throw err;
    },
  );
  return {
    feed,
    live: Promise.resolve(),
    ended,
    baselineStatus: learning.status,
    scenario: refuseScenarios(`--pcap ${file}`),
    close: async () => {
      stopTicker();
      await ended.catch(() => undefined);
      await feed.flush();
      learning.keeper?.poll(feed.engine, true);
    },
  };
}

/** A source of live packets (stamped on the wall clock): a capture tool run by the agent, or the helper's ring. */
interface LivePackets {
  start(): Promise<void>;
  shutdown(): Promise<void>;
}

/** Runs the pipeline on live packets until the agent stops. `what` names the source in messages. */
async function startLive(
  what: string,
  open: (feed: PipelineFeed) => LivePackets,
  learning: Learning,
  ctx: SourceContext,
): Promise<PipelineSource> {
  const feed = newFeed(ctx, ctx.wall, learning, false);
  const packets = open(feed);
  await packets.start();
  const stopTicker = ticker(feed, () => true, true, learning.keeper);
  ctx.say(
    learning.learnMs > 0 ? `live: ${what}; learning, detection once learnt` : `live: ${what}; detection on`,
  );
  const ended = new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve()));
  return {
    feed,
    live: Promise.resolve(),
    ended,
    baselineStatus: learning.status,
    scenario: refuseScenarios(what),
    close: async () => {
      stopTicker();
      await packets.shutdown();
      await feed.finish();
      learning.keeper?.poll(feed.engine, true);
    },
  };
}

function startInterface(
  c: AgentConfig,
  iface: string,
  learning: Learning,
  ctx: SourceContext,
): Promise<PipelineSource> {
  return startLive(
    `capturing on ${iface} with ${c.capture_tool}`,
    (feed) => {
      const capture = new LiveCapture(
        {
          interface: iface,
          filter: c.capture_filter ?? '',
          tool: c.capture_tool,
          statsIntervalMs: Math.max(1000, Math.round(c.heartbeat_seconds * 1000)),
        },
        { onPacket: (p) => feed.handle(p), onError: () => feed.captureDrops++ },
      );
      feed.droppedByCapture = () => capture.stats().kernel?.dropped ?? 0;
      return {
        start: () =>
          capture.start().catch((err: unknown) => {
            throw new UsageError(
              `cannot capture on ${iface}: ${(err as Error).message} (give ${c.capture_tool} the capture capabilities or run as root)`,
            );
          }),
        shutdown: () => capture.shutdown(),
      };
    },
    learning,
    ctx,
  );
}

function startRing(path: string, learning: Learning, ctx: SourceContext): Promise<PipelineSource> {
  return startLive(
    `following the capture helper's ring ${path}`,
    (feed) => {
      const ring = new RingFollower(
        { path },
        {
          onPacket: (p) => feed.handle(p),
          onError: (e) => {
            feed.captureDrops++;
            // The ring's own problems are rare and need an operator; a malformed frame is only counted.
            if (e.reason.startsWith('ring_')) ctx.say(`capture ring: ${e.message} (${e.file})`);
          },
        },
      );
      return {
        start: () =>
          ring.start().catch((err: unknown) => {
            throw new UsageError((err as Error).message);
          }),
        shutdown: () => ring.shutdown(),
      };
    },
    learning,
    ctx,
  );
}

function startSim(c: AgentConfig, topology: string, ctx: SourceContext): PipelineSource {
  const clock = new WarmupClock(ctx.wall);
  // Learns during the warm-up, frozen when it goes live.
  const feed = newFeed(ctx, clock, { learnMs: Number.POSITIVE_INFINITY }, false);
  feed.engine.baseline.declare(declaredFacts(c));
  feed.setSending(false);
  let plant: LivePlant;
  try {
    plant = new LivePlant({ topology, seed: c.seed, warmupMinutes: c.warmup_minutes, wall: ctx.wall });
  } catch (err) {
    throw new UsageError(`--sim ${topology}: ${(err as Error).message} (see vigil-agent sim --list)`);
  }
  let live = false;
  let caughtUp = false;
  let wentLive = (): void => undefined;
  const livePromise = new Promise<void>((resolve) => (wentLive = resolve));
  const stopTicker = ticker(feed, () => live, true);
  const t0 = performance.now();
  ctx.say(
    `warm-up: simulating ${c.warmup_minutes} minute(s) of ${topology} traffic (seed ${c.seed}) to learn the baseline`,
  );
  const ended = plant
    .run({
      signal: ctx.signal,
      onFrame: (raw) => {
        if (!caughtUp) clock.packet.observe(raw.tsSec, raw.tsNsec);
        feed.handle(raw);
      },
      onCaughtUp: () => {
        caughtUp = true;
        clock.goLive();
      },
      onLive: () => {
        feed.engine.baseline.freeze();
        feed.setSending(true);
        live = true;
        ctx.say(
          `warm-up done: ${plant.frames} frames in ${Math.round(performance.now() - t0)} ms, baseline ${JSON.stringify(feed.engine.baseline.summary())}`,
        );
        ctx.say(`live: ${topology} traffic on the wall clock; detection on`);
        wentLive();
      },
      afterBatch: () => feed.flush(),
    })
    .finally(stopTicker);
  return {
    feed,
    live: livePromise,
    ended,
    baselineStatus: () =>
      live
        ? `learnt in the ${c.warmup_minutes}-minute simulated warm-up (not stored: a simulated plant learns at every start)`
        : `learning in the ${c.warmup_minutes}-minute simulated warm-up`,
    scenario: (s) => {
      try {
        // Every scenario ends the incidents first. An injected attack is a new one: it must not fold into an incident
        // or an alert of its attacker host from just before (the demo's attacker is the plant's engineering
        // workstation, whose routine change may have been alerted a moment ago; the attack's stages then joined that
        // alert until it went quiet, and a multi-stage run could time out). A reset ends the stopped attack's.
        feed.engine.endIncidents();
        ctx.say(`scenario ${s.name}: ${plant.scenario(s.name, s.params_json)}`);
        return Promise.resolve();
      } catch (err) {
        return Promise.reject(err instanceof Error ? err : new Error(String(err)));
      }
    },
    close: async () => {
      stopTicker();
      await ended.catch(() => undefined);
      await feed.flush();
    },
  };
}
