// Per-facility privacy accounting across FL rounds. Every client reports the DP-SGD parameters of the training it did
// for a round in its train reply's metrics (DP_METRICS); the facility's Renyi-DP curve grows by that training's RDP
// (composition adds RDP per order, Mironov 2017), and converts to epsilon at delta with the learning core's accountant
// (models/src/dp/rdp.ts). A facility whose epsilon reached its budget is exhausted: it is no longer selected.
// When the aggregator adds central-DP noise (strategy.ts CentralDp) the released model is also a Gaussian mechanism
// of each example; a round is then charged the smaller RDP of the two at each order. That epsilon is the guarantee
// of the published global models; against the aggregator itself, which sees each update before the noise, only the
// local DP-SGD part holds. In secure-aggregation rounds (strategy.ts SecureDpSgd) each reply reports the one DP-SGD
// step of the round with the noise multiplier sigma that every single party faces (the plants' noise shares add up to
// it); that is what is charged here, the same way.
import { OPACUS_ORDERS, rdpToEpsilon, subsampledGaussianRdp } from '@vigil/models';
import type { PrivacyAccount } from '../store/types.js';

/** Metric keys of a train reply that carry the client's DP-SGD parameters for that round. */
export const DP_METRICS = {
  /** Noise multiplier sigma (> 0). */
  noiseMultiplier: 'dp-noise-multiplier',
  /** Poisson sampling rate q in (0, 1]. */
  sampleRate: 'dp-sample-rate',
  /** DP-SGD steps taken in this round (integer >= 0). */
  steps: 'dp-steps',
} as const;

export interface DpSpend {
  sigma: number;
  sampleRate: number;
  steps: number;
}

/** The DP-SGD parameters a reply reports, or why they are missing or invalid. */
export function dpSpendOf(metrics: Record<string, number>): DpSpend | { invalid: string } {
  const sigma = metrics[DP_METRICS.noiseMultiplier];
  const q = metrics[DP_METRICS.sampleRate];
  const steps = metrics[DP_METRICS.steps];
  if (sigma === undefined || q === undefined || steps === undefined)
    return {
      invalid: `the reply carries no DP accounting (metrics ${Object.values(DP_METRICS).join(', ')})`,
    };
  if (!(sigma > 0) || !Number.isFinite(sigma))
    return { invalid: `${DP_METRICS.noiseMultiplier} ${sigma} is not > 0` };
  if (!(q > 0 && q <= 1)) return { invalid: `${DP_METRICS.sampleRate} ${q} is not in (0, 1]` };
  if (!Number.isSafeInteger(steps) || steps < 0)
    return { invalid: `${DP_METRICS.steps} ${steps} is not a count` };
  return { sigma, sampleRate: q, steps };
}

export interface PrivacyPolicy {
  delta: number;
  /** A facility is exhausted once its epsilon reaches this. */
  epsilonBudget: number;
}

/**
 * The facility's account after one more round of DP-SGD training (`spends`: one per node of the facility that
 * contributed). Pure: the caller stores the result.
 */
export function chargeRound(
  previous: PrivacyAccount | null,
  o: {
    facilityId: string;
    spends: readonly DpSpend[];
    /**
     * The central-DP noise multiplier of the released model for one example of this facility this round
     * (CentralDp.centralNoise), when the aggregator added noise. The round then costs, at each order, the smaller of
     * the local DP-SGD RDP and the central Gaussian's alpha / (2 sigma^2): both bound the same released model.
     */
    central?: number | undefined;
    examples: number;
    at: string;
    policy: PrivacyPolicy;
  },
): PrivacyAccount {
  const orders = previous?.orders ?? [...OPACUS_ORDERS];
  const rdp = orders.map((alpha, k) => {
    let local = 0;
    let known = o.spends.length > 0;
    for (const s of o.spends)
      if (s.steps > 0) local += s.steps * subsampledGaussianRdp(s.sampleRate, s.sigma, alpha);
    if (o.central !== undefined && o.central > 0) {
      const central = alpha / (2 * o.central * o.central);
      local = known ? Math.min(local, central) : central;
      known = true;
    }
    return (previous?.rdp[k] ?? 0) + (known ? local : 0);
  });
  const { epsilon } = rdpToEpsilon(orders, rdp, o.policy.delta);
  const exhausted = epsilon >= o.policy.epsilonBudget;
  return {
    facility_id: o.facilityId,
    orders,
    rdp,
    epsilon,
    delta: o.policy.delta,
    examples: o.examples,
    rounds: (previous?.rounds ?? 0) + 1,
    exhausted_at: previous?.exhausted_at ?? (exhausted ? o.at : null),
    updated_at: o.at,
  };
}

/** What /api/fl/privacy-metrics reports: the facility that spent most sets epsilon and the remaining budget. */
export function privacySummary(
  accounts: readonly PrivacyAccount[],
  policy: PrivacyPolicy,
): { epsilon: number; delta: number; data_size: number; privacy_budget_remaining: number } {
  const epsilon = accounts.reduce((m, a) => Math.max(m, a.epsilon), 0);
  return {
    epsilon,
    delta: policy.delta,
    data_size: accounts.reduce((s, a) => s + a.examples, 0),
    privacy_budget_remaining: Math.max(0, 1 - epsilon / policy.epsilonBudget),
  };
}
