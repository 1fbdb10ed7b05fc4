import { describe, expect, it } from 'vitest';
import { PacketClock } from './packet-clock.js';

describe('PacketClock', () => {
  it('follows packet time, holds still when time runs backwards and counts backward steps and jumps', () => {
    const c = new PacketClock(3_600_000);
    c.observe(1000, 500_000_000);
    expect(c.now()).toBe(1_000_500);
    c.observe(999, 0);
    expect(c.now()).toBe(1_000_500);
    c.observe(1001, 0);
    c.observe(81_001_001, 0);
    expect(c.now()).toBe(81_001_001_000);
    expect({ backwards: c.backwards, jumps: c.jumps, largest: c.largestJumpMs }).toEqual({
      backwards: 1,
      jumps: 1,
      largest: 81_000_000_000,
    });
  });
});
