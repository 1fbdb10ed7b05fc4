import { describe, expect, it } from 'vitest';
import { ManualClock } from '@vigil/shared';
import { RateLimiter } from './rate-limit.js';

describe('RateLimiter', () => {
  it('allows a burst, then refuses with the seconds to wait, then refills over time', () => {
    const clock = new ManualClock(0);
    const limiter = new RateLimiter({ perSecond: 2, burst: 3 }, () => clock.now());

    const burst = [limiter.take('a'), limiter.take('a'), limiter.take('a')];
    const refused = limiter.take('a');
    clock.advance(500);
    const afterHalfSecond = limiter.take('a');

    expect(burst).toEqual([0, 0, 0]);
    expect(refused).toBe(1);
    expect(afterHalfSecond).toBe(0);
  });

  it('keeps one bucket per key', () => {
    const limiter = new RateLimiter({ perSecond: 1, burst: 1 }, () => 0);

    expect([limiter.take('addr:1'), limiter.take('addr:2'), limiter.take('addr:1')]).toEqual([0, 0, 1]);
  });
});
