import { describe, expect, it } from 'vitest';
import { timeframeFor } from './timeframe.js';

describe('timeframeFor', () => {
  it('widens the timeframe with the tactic distance and never goes below the first bucket', () => {
    expect(timeframeFor(3, 3)).toEqual({ label: '0-15 minutes', seconds: 900 });
    expect(timeframeFor(5, 2)).toEqual({ label: '0-15 minutes', seconds: 900 });
    expect(timeframeFor(0, 2)).toEqual({ label: '15-60 minutes', seconds: 3600 });
    expect(timeframeFor(0, 5)).toEqual({ label: '1-4 hours', seconds: 14_400 });
    expect(timeframeFor(0, 11)).toEqual({ label: '4-24 hours', seconds: 86_400 });
  });

  it('gives the widest timeframe when a position is unknown', () => {
    expect(timeframeFor(undefined, 2).seconds).toBe(86_400);
    expect(timeframeFor(1, undefined).seconds).toBe(86_400);
  });
});
