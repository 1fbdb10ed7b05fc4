import { describe, expect, it } from 'vitest';
import { UsageError } from '@vigil/shared';
import { CentralDp, FedProx, type TrimmedMean } from '../fl/strategy.js';
import { parseStrategy } from './serve-fl.js';

describe('--fl-strategy', () => {
  it('builds FedAvg, FedProx, trimmed mean and the central-DP wrapper', () => {
    const prox = parseStrategy('fedprox:0.01');
    const trim = parseStrategy('trimmed-mean:0.2');
    const dp = parseStrategy('fedavg+central-dp:1.5:0.8');

    expect(parseStrategy('fedavg').name).toBe('fedavg');
    expect(prox).toBeInstanceOf(FedProx);
    expect((prox as FedProx).proximalMu).toBe(0.01);
    expect((trim as TrimmedMean).beta).toBe(0.2);
    expect(dp).toBeInstanceOf(CentralDp);
    expect((dp as CentralDp).options).toMatchObject({ clipNorm: 1.5, noiseMultiplier: 0.8 });
    expect(dp.name).toBe('central-dp(fedavg)');
  });

  it('refuses unknown names and bad numbers with a usage error naming the flag', () => {
    for (const bad of [
      'fedsgd',
      'fedprox',
      'fedprox:x',
      'trimmed-mean:0.7',
      'fedavg+noise:1:1',
      'fedavg:1',
    ]) {
      expect(() => parseStrategy(bad)).toThrow(UsageError);
      expect(() => parseStrategy(bad)).toThrow(/--fl-strategy/);
    }
  });
});
