// Renyi-DP accountant for the Poisson-subsampled Gaussian mechanism, computed as Opacus's RDPAccountant and
// TF-Privacy / dp-accounting do:
// - orders alpha = 1 + x/10 (x = 1..99) and 12..63 (Opacus DEFAULT_ALPHAS);
// - RDP of one step (Mironov, Talwar & Zhang 2019, "Renyi Differential Privacy of the Sampled Gaussian Mechanism"):
//   A_alpha = E_{z ~ N(0, s^2)}[((1-q) + q e^{(2z-1)/(2 s^2)})^alpha] ... computed as
//   integer alpha: log A = logsumexp_i [log C(alpha, i) + i log q + (alpha - i) log(1-q) + (i^2 - i)/(2 s^2)]   (Sec. 3.3)
//   fractional alpha: the two-sided series with erfc terms of Sec. 3.3 (eq. for A_alpha with z0 = s^2 log(1/q - 1) + 1/2),
//   summed until both terms fall below e^-30, as TF-Privacy's _compute_log_a_frac;
//   RDP(alpha) = log A / (alpha - 1); composition over T steps multiplies by T.
// - conversion to (eps, delta) of Balle, Barthe, Gaboardi, Hsu & Sato 2020 (Theorem 21), as Opacus's
//   get_privacy_spent: eps = rdp - (log delta + log alpha)/(alpha - 1) + log((alpha - 1)/alpha), minimised over alpha.
import { logAdd, logErfc, logSub } from './special.js';

export const OPACUS_ORDERS: readonly number[] = [
  ...Array.from({ length: 99 }, (_, i) => 1 + (i + 1) / 10),
  ...Array.from({ length: 52 }, (_, i) => 12 + i),
];

function logAInt(q: number, sigma: number, alpha: number): number {
  let logA = -Infinity;
  let logBinom = 0; // log C(alpha, 0)
  const lq = Math.log(q);
  const l1q = Math.log1p(-q);
  for (let i = 0; i <= alpha; i++) {
    if (i > 0) logBinom += Math.log(alpha - i + 1) - Math.log(i);
    const s = logBinom + i * lq + (alpha - i) * l1q + (i * i - i) / (2 * sigma * sigma);
    logA = logAdd(logA, s);
  }
  return logA;
}

/**
 * How the fractional-order series is summed. 'signed' (default) is Mironov et al.'s binomial series with its signed
 * coefficients, as Opacus and TF-Privacy sum it (stop when both terms < e^-30). 'absolute' sums |terms| and stops when
 * both terms are decreasing and e^30 below the total, as Google's dp-accounting (0.4 and later) does: an upper bound,
 * slightly looser at small fractional orders; it exists so that the oracle test can compare like with like.
 */
export type FractionalSeries = 'signed' | 'absolute';

function logAFrac(q: number, sigma: number, alpha: number, series: FractionalSeries): number {
  let logA0 = -Infinity;
  let logA1 = -Infinity;
  const z0 = sigma * sigma * Math.log(1 / q - 1) + 0.5;
  const lq = Math.log(q);
  const l1q = Math.log1p(-q);
  let logAbsCoef = 0; // log |C(alpha, 0)|
  let coefSign = 1;
  let lastS0 = -Infinity;
  let lastS1 = -Infinity;
  for (let i = 0; i < 10_000; i++) {
    if (i > 0) {
      const f = (alpha - i + 1) / i;
      if (f < 0) coefSign = -coefSign;
      logAbsCoef += Math.log(Math.abs(f));
    }
    const j = alpha - i;
    const logT0 = logAbsCoef + i * lq + j * l1q;
    const logT1 = logAbsCoef + j * lq + i * l1q;
    const logE0 = Math.log(0.5) + logErfc((i - z0) / (Math.SQRT2 * sigma));
    const logE1 = Math.log(0.5) + logErfc((z0 - j) / (Math.SQRT2 * sigma));
    const logS0 = logT0 + (i * i - i) / (2 * sigma * sigma) + logE0;
    const logS1 = logT1 + (j * j - j) / (2 * sigma * sigma) + logE1;
    if (series === 'absolute' || coefSign > 0) {
      logA0 = logAdd(logA0, logS0);
      logA1 = logAdd(logA1, logS1);
    } else {
      // A partial sum going negative means the series lost all precision at this order: exclude the order
      // (Infinity never wins the minimum), as dp-accounting does with orders that fail to converge.
      if (logS0 > logA0 || logS1 > logA1) return Infinity;
      logA0 = logSub(logA0, logS0);
      logA1 = logSub(logA1, logS1);
    }
    if (series === 'signed') {
      if (Math.max(logS0, logS1) < -30) break;
    } else {
      const total = logAdd(logA0, logA1);
      if (logS0 < lastS0 && logS1 < lastS1 && Math.max(logS0, logS1) < total - 30) return total;
      lastS0 = logS0;
      lastS1 = logS1;
    }
  }
  return logAdd(logA0, logA1);
}

/** RDP of ONE step of the Poisson-subsampled Gaussian mechanism at order alpha > 1. */
export function subsampledGaussianRdp(
  q: number,
  sigma: number,
  alpha: number,
  series: FractionalSeries = 'signed',
): number {
  if (sigma === 0 || alpha === Infinity) return Infinity;
  if (q === 0) return 0;
  if (q === 1) return alpha / (2 * sigma * sigma);
  const logA = Number.isInteger(alpha) ? logAInt(q, sigma, alpha) : logAFrac(q, sigma, alpha, series);
  return logA / (alpha - 1);
}

/** Smallest eps over the orders for the given per-order RDP (Balle et al. 2020 conversion); the order that gives it. */
export function rdpToEpsilon(
  orders: readonly number[],
  rdp: readonly number[],
  delta: number,
): { epsilon: number; order: number } {
  let best = Infinity;
  let bestOrder = NaN;
  orders.forEach((a, k) => {
    const r = rdp[k]!;
    const eps = r - (Math.log(delta) + Math.log(a)) / (a - 1) + Math.log((a - 1) / a);
    if (eps < best) {
      best = eps;
      bestOrder = a;
    }
  });
  return { epsilon: Math.max(0, best), order: bestOrder };
}

export interface AccountingQuery {
  /** Noise multiplier sigma (noise std / clipping norm). */
  sigma: number;
  /** Poisson sampling rate q in [0, 1]. */
  sampleRate: number;
  /** Number of DP-SGD steps. */
  steps: number;
  /** Target delta in (0, 1). */
  delta: number;
}

export function validateQuery(q: AccountingQuery): void {
  if (!(q.sigma > 0) || !Number.isFinite(q.sigma)) throw new RangeError('sigma must be a finite number > 0');
  if (!(q.sampleRate >= 0 && q.sampleRate <= 1)) throw new RangeError('sample rate must be in [0, 1]');
  if (!Number.isInteger(q.steps) || q.steps < 0) throw new RangeError('steps must be a non-negative integer');
  if (!(q.delta > 0 && q.delta < 1)) throw new RangeError('delta must be in (0, 1)');
}

/** (eps, delta)-DP epsilon of `steps` DP-SGD steps by the RDP accountant (Opacus orders and conversion). */
export function rdpEpsilon(
  query: AccountingQuery,
  opts: { orders?: readonly number[]; series?: FractionalSeries } = {},
): { epsilon: number; order: number } {
  validateQuery(query);
  const orders = opts.orders ?? OPACUS_ORDERS;
  const rdp = orders.map(
    (a) => query.steps * subsampledGaussianRdp(query.sampleRate, query.sigma, a, opts.series),
  );
  return rdpToEpsilon(orders, rdp, query.delta);
}
