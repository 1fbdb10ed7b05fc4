// The federated-learning side of `vigil serve`: the seam where a build attaches its FL transport (the Fleet API server)
// and the --fl-strategy syntax.
import { UsageError } from '@vigil/shared';
import { cryptoRng } from '@vigil/models';
import type { LinkServer } from '../link/server.js';
import type { Store } from '../store/types.js';
import { CentralDp, FedAvg, FedProx, SecureDpSgd, TrimmedMean, type Strategy } from '../fl/strategy.js';
import type { Arrays, FleetTransport } from '../fl/transport.js';
import type { ModelMeta } from '../fl/arrays.js';

/** What the Fleet API server gives the round engine once the link runs (flwire's fl/fleet-server.ts). */
export interface FlAttachment {
  transport: FleetTransport;
  /** The model the first round starts from when the registry holds none. */
  initialArrays?: () => Arrays;
  /** What the trained model is (recorded with each version; the agents check it before serving it). */
  modelMeta?: ModelMeta;
  /** A second federated model trained in rounds of its own after each round of the first (the agents' Layer 1b). */
  second?: { name: string; initialArrays: () => Arrays; modelMeta: ModelMeta };
  /** Shutdown of whatever the attachment started (after the engine stopped). */
  shutdown?: () => Promise<void>;
}

export interface ServeDeps {
  /**
   * The federated-learning transport, when this build has one: called once the link listens. Without it the round
   * trigger answers 503 and --fl-schedule is refused.
   */
  fl?: {
    /** What protects model updates in transit, as /api/fl/privacy-metrics reports it. */
    encryption: string;
    attach(ctx: { link: LinkServer; store: Store }): FlAttachment | Promise<FlAttachment>;
  };
  /** Called once everything listens (embedding and in-process tests). */
  onReady?: (info: { url: string; grpcPort: number }) => void;
  /** Resolves when the server should stop; SIGINT or SIGTERM when absent. */
  stop?: Promise<string>;
}

/**
 * What protects model updates, as /api/fl/privacy-metrics reports it: the transport's encryption, plus secure
 * aggregation when the strategy runs it (the aggregator then sees only the sum of the plants' updates).
 */
export function updateProtection(transport: string, strategy: Strategy): string {
  return strategy.secure === undefined ? transport : `${transport} + pairwise-masked secure aggregation`;
}

/**
 * `fedavg`, `fedprox:MU`, `trimmed-mean:BETA`, optionally followed by `+central-dp:CLIP:NOISE`; or
 * `secagg-dp:NOISE:RATE:CLIP:LR` (secure aggregation with distributed DP, SecureDpSgd).
 */
export function parseStrategy(raw: string): Strategy {
  const [main = '', dp] = raw.trim().toLowerCase().split('+');
  const [name, arg] = main.split(':');
  const num = (v: string | undefined, what: string): number => {
    const n = Number(v);
    if (v === undefined || v.trim() === '' || !Number.isFinite(n))
      throw new UsageError(`--fl-strategy "${raw}": ${what} must be a number`);
    return n;
  };
  let s: Strategy;
  try {
    if (name === 'secagg-dp') {
      const [, noise, rate, clip, lr, extra] = main.split(':');
      if (dp !== undefined || extra !== undefined)
        throw new UsageError(
          `--fl-strategy "${raw}": secagg-dp takes exactly NOISE:RATE:CLIP:LR and no +central-dp`,
        );
      return new SecureDpSgd({
        noiseMultiplier: num(noise, 'the noise multiplier'),
        sampleRate: num(rate, 'the sample rate'),
        clipNorm: num(clip, 'the clipping norm'),
        learningRate: num(lr, 'the learning rate'),
      });
    }
    if (name === 'fedavg' && arg === undefined) s = new FedAvg();
    else if (name === 'fedprox') s = new FedProx(num(arg, 'the proximal mu'));
    else if (name === 'trimmed-mean') s = new TrimmedMean(num(arg, 'the trimmed share beta'));
    else
      throw new UsageError(
        `--fl-strategy "${raw}" is not fedavg, fedprox:MU or trimmed-mean:BETA (optionally +central-dp:CLIP:NOISE), or secagg-dp:NOISE:RATE:CLIP:LR`,
      );
    if (dp !== undefined) {
      const [dpName, clip, noise] = dp.split(':');
      if (dpName !== 'central-dp')
        throw new UsageError(`--fl-strategy "${raw}": after + only central-dp:CLIP:NOISE is known`);
      s = new CentralDp(s, {
        clipNorm: num(clip, 'the clipping norm'),
        noiseMultiplier: num(noise, 'the noise multiplier'),
        rng: cryptoRng(),
      });
    }
  } catch (err) {
    if (err instanceof RangeError) throw new UsageError(`--fl-strategy "${raw}": ${err.message}`);
    throw err;
  }
  return s;
}
