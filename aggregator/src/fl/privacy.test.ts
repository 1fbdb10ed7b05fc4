import { describe, expect, it } from 'vitest';
import { rdpEpsilon } from '@vigil/models';
import { chargeRound, dpSpendOf, privacySummary, DP_METRICS } from './privacy.js';

const policy = { delta: 1e-5, epsilonBudget: 3 };
const at = '2026-03-01T12:00:00.000Z';

describe('privacy accounting across rounds', () => {
  it('composes rounds exactly like one run of all their steps', () => {
    const spend = { sigma: 1.1, sampleRate: 0.02, steps: 50 };

    let account = chargeRound(null, { facilityId: 'plant-a', spends: [spend], examples: 500, at, policy });
    account = chargeRound(account, { facilityId: 'plant-a', spends: [spend], examples: 520, at, policy });
    account = chargeRound(account, { facilityId: 'plant-a', spends: [spend], examples: 530, at, policy });

    const oneRun = rdpEpsilon({ sigma: 1.1, sampleRate: 0.02, steps: 150, delta: 1e-5 }).epsilon;
    expect(account.epsilon).toBeCloseTo(oneRun, 10);
    expect(account.rounds).toBe(3);
    expect(account.examples).toBe(530);
    expect(account.exhausted_at).toBeNull();
  });

  it('marks a facility exhausted once its epsilon reaches the budget, and keeps the first time', () => {
    const heavy = { sigma: 0.8, sampleRate: 0.1, steps: 400 };
    const first = chargeRound(null, { facilityId: 'plant-a', spends: [heavy], examples: 100, at, policy });
    const later = chargeRound(first, {
      facilityId: 'plant-a',
      spends: [heavy],
      examples: 100,
      at: '2026-03-02T00:00:00.000Z',
      policy,
    });

    expect(first.epsilon).toBeGreaterThanOrEqual(3);
    expect(first.exhausted_at).toBe(at);
    expect(later.exhausted_at).toBe(at);
    expect(later.epsilon).toBeGreaterThan(first.epsilon);
  });

  it('reads the DP parameters from a reply and names what is wrong with bad ones', () => {
    const ok = { [DP_METRICS.noiseMultiplier]: 1, [DP_METRICS.sampleRate]: 0.01, [DP_METRICS.steps]: 30 };

    expect(dpSpendOf({ ...ok, 'num-examples': 10 })).toEqual({ sigma: 1, sampleRate: 0.01, steps: 30 });
    expect(dpSpendOf({ 'num-examples': 10 })).toEqual({
      invalid: expect.stringMatching(/no DP accounting/) as string,
    });
    expect(dpSpendOf({ ...ok, [DP_METRICS.noiseMultiplier]: 0 })).toEqual({
      invalid: expect.stringMatching(/not > 0/) as string,
    });
    expect(dpSpendOf({ ...ok, [DP_METRICS.sampleRate]: 2 })).toEqual({
      invalid: expect.stringMatching(/\(0, 1\]/) as string,
    });
    expect(dpSpendOf({ ...ok, [DP_METRICS.steps]: 2.5 })).toEqual({
      invalid: expect.stringMatching(/not a count/) as string,
    });
  });

  it('summarises with the highest epsilon of any facility and the examples of all', () => {
    const a = chargeRound(null, {
      facilityId: 'plant-a',
      spends: [{ sigma: 1, sampleRate: 0.01, steps: 100 }],
      examples: 1000,
      at,
      policy,
    });
    const b = chargeRound(null, {
      facilityId: 'plant-b',
      spends: [{ sigma: 1, sampleRate: 0.01, steps: 400 }],
      examples: 250,
      at,
      policy,
    });

    const s = privacySummary([a, b], policy);

    expect(b.epsilon).toBeGreaterThan(a.epsilon);
    expect(s).toEqual({
      epsilon: b.epsilon,
      delta: 1e-5,
      data_size: 1250,
      privacy_budget_remaining: 1 - b.epsilon / 3,
    });
    expect(privacySummary([], policy)).toEqual({
      epsilon: 0,
      delta: 1e-5,
      data_size: 0,
      privacy_budget_remaining: 1,
    });
  });
});
