// DP-SGD (Abadi et al. 2016, Algorithm 1) as a wrapper around a Trainer: it asks the trainer for per-example
// gradients and hands back a privatised gradient; the trainer's model, loss and optimiser are untouched.
// Each step: Poisson sampling (each example in independently with probability q, as the RDP/PRV accountants assume),
// per-example clipping g_i * min(1, C / ||g_i||), sum, Gaussian noise N(0, (sigma C)^2 I), divided by the EXPECTED
// batch size q N (Opacus does the same for Poisson sampling, so that the batch size itself stays private).
import type { Example } from '../nn/model.js';
import type { Rng } from '../nn/rng.js';
import type { Trainer } from '../nn/trainer.js';

export interface DpSgdOptions {
  trainer: Trainer;
  /** Per-example clipping norm C (> 0). */
  clipNorm: number;
  /** Noise multiplier sigma (>= 0; the noise standard deviation is sigma * C). */
  noiseMultiplier: number;
  /** Poisson sampling rate q in (0, 1]. */
  sampleRate: number;
  /** Source of sampling and noise randomness; use cryptoRng() outside tests. */
  rng: Rng;
}

export interface DpStepResult {
  /** Examples Poisson-sampled into this step. */
  batchSize: number;
  /** Mean (unclipped) loss of the sampled examples; NaN for an empty batch. */
  meanLoss: number;
  /** How many sampled examples had their gradient clipped. */
  clipped: number;
}

export class DpSgd {
  private readonly sum: Float32Array;
  private stepsTaken = 0;

  constructor(private readonly opts: DpSgdOptions) {
    if (!(opts.clipNorm > 0)) throw new Error('DP-SGD: clipNorm must be > 0');
    if (!(opts.noiseMultiplier >= 0)) throw new Error('DP-SGD: noiseMultiplier must be >= 0');
    if (!(opts.sampleRate > 0 && opts.sampleRate <= 1))
      throw new Error('DP-SGD: sampleRate must be in (0, 1]');
    this.sum = new Float32Array(opts.trainer.model.parameterCount);
  }

  /** Steps taken so far (what the accountant needs, with sigma and q). */
  get steps(): number {
    return this.stepsTaken;
  }

  /** Clips `grad` in place to L2 norm at most C; returns true when it was scaled down. */
  static clip(grad: Float32Array, clipNorm: number): boolean {
    let sq = 0;
    for (let i = 0; i < grad.length; i++) sq += grad[i]! * grad[i]!;
    const norm = Math.sqrt(sq);
    if (norm <= clipNorm) return false;
    const s = clipNorm / norm;
    for (let i = 0; i < grad.length; i++) grad[i]! *= s;
    return true;
  }

  /** One DP-SGD step over a Poisson sample of `data`. */
  step(data: readonly Example[]): DpStepResult {
    const { trainer, clipNorm, noiseMultiplier, sampleRate, rng } = this.opts;
    if (data.length === 0)
      throw new Error('DP-SGD: no training data (the expected batch size q N would be 0)');
    const r = noisyClippedSum(trainer, data, {
      clipNorm,
      sampleRate,
      noiseStd: noiseMultiplier * clipNorm,
      rng,
      out: this.sum,
    });
    const sum = r.sum;
    const expected = sampleRate * data.length;
    for (let i = 0; i < sum.length; i++) sum[i] = sum[i]! / expected;
    trainer.applyGradient(sum);
    this.stepsTaken++;
    return { batchSize: r.batchSize, meanLoss: r.meanLoss, clipped: r.clipped };
  }
}

export interface NoisySumOptions {
  clipNorm: number;
  sampleRate: number;
  /** Standard deviation of the Gaussian noise added to every coordinate (sigma C for one DP-SGD step). */
  noiseStd: number;
  rng: Rng;
  /** Where to write the sum (zeroed first); a new array when absent. */
  out?: Float32Array;
}

/**
 * The privatised gradient SUM of one DP-SGD step, not yet divided by the expected batch size nor applied: Poisson
 * sampling at rate q, per-example clipping to C, sum, N(0, noiseStd^2) on every coordinate. DpSgd.step uses it with
 * noiseStd = sigma C; a plant in a distributed-DP round adds only its share of that noise (the sum of all plants'
 * shares carries it; see @vigil/proto/secagg).
 */
export function noisyClippedSum(
  trainer: Trainer,
  data: readonly Example[],
  o: NoisySumOptions,
): DpStepResult & { sum: Float32Array } {
  const sum = o.out ?? new Float32Array(trainer.model.parameterCount);
  sum.fill(0);
  let batchSize = 0;
  let lossSum = 0;
  let clipped = 0;
  for (const ex of data) {
    if (o.rng.next() >= o.sampleRate) continue;
    batchSize++;
    const { loss, grad } = trainer.exampleGradient(ex);
    lossSum += loss;
    if (DpSgd.clip(grad, o.clipNorm)) clipped++;
    for (let i = 0; i < sum.length; i++) sum[i]! += grad[i]!;
  }
  for (let i = 0; i < sum.length; i++) sum[i]! += o.noiseStd * o.rng.normal();
  return { sum, batchSize, meanLoss: batchSize === 0 ? NaN : lossSum / batchSize, clipped };
}

/**
 * Distributed DP: the noise standard deviation each of `participants` plants adds to its clipped gradient sum so that
 * the noise of one DP-SGD step with multiplier sigma (std sigma C) stays hidden from any single party that knows
 * `known` of the shares: sigma C / sqrt(participants - known). With known = 1 (a plant knows its own share, and sees
 * the summed model) every single party, the aggregator included, faces at least std sigma C; the aggregator alone
 * faces sigma C sqrt(n / (n - 1)).
 */
export function distributedNoiseStd(o: {
  noiseMultiplier: number;
  clipNorm: number;
  participants: number;
  known: number;
}): number {
  if (!Number.isSafeInteger(o.participants) || !Number.isSafeInteger(o.known) || o.known < 0)
    throw new RangeError('distributed DP: participants and known must be whole numbers');
  if (o.participants <= o.known)
    throw new RangeError(
      `distributed DP needs more than ${o.known} participant(s) so that one party never knows all the noise, got ${o.participants}`,
    );
  if (!(o.noiseMultiplier >= 0) || !(o.clipNorm > 0))
    throw new RangeError('distributed DP: noiseMultiplier must be >= 0 and clipNorm > 0');
  return (o.noiseMultiplier * o.clipNorm) / Math.sqrt(o.participants - o.known);
}
