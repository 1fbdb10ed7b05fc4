import { describe, expect, it } from 'vitest';
import { diurnal, hourOfDay, PhysicalProcess } from './process.js';
import { Rng } from './prng.js';

const H = 3_600_000_000;
const T0 = Date.UTC(2026, 0, 5, 8) * 1000;

describe('physical processes', () => {
  it('daily activity is lowest at night and highest in the afternoon', () => {
    const day = Date.UTC(2026, 0, 5) * 1000;

    expect(hourOfDay(day + 15 * H)).toBeCloseTo(15);
    expect(diurnal(day + 3 * H)).toBeCloseTo(0.3);
    expect(diurnal(day + 15 * H)).toBeCloseTo(1.0);
  });

  it('the tank controller keeps the level between its setpoints', () => {
    const p = new PhysicalProcess('tank', new Rng(1), T0);
    const levels: number[] = [];

    for (let m = 1; m <= 240; m++) {
      p.advance(T0 + m * 60_000_000);
      levels.push(p.holding[0]!);
    }

    expect(Math.min(...levels.slice(60))).toBeGreaterThan(3800);
    expect(Math.max(...levels.slice(60))).toBeLessThan(8200);
    // The pump cycles: it ran and stopped within the four hours.
    expect(new Set(levels).size).toBeGreaterThan(10);
  });

  it('an overwritten setpoint and a forced pump change the process', () => {
    const p = new PhysicalProcess('tank', new Rng(1), T0);
    p.advance(T0 + H);

    p.coils[1] = 0; // auto mode off
    p.coils[0] = 1; // pump forced on
    p.advance(T0 + 3 * H);

    expect(p.holding[0]).toBe(10000); // overflowing
    expect(p.discretes[0]).toBe(1); // high level alarm
  });

  it('the feeder breaker trips when its current exceeds the trip setpoint', () => {
    const p = new PhysicalProcess('feeder', new Rng(2), T0);
    p.advance(T0 + 60_000_000);
    expect(p.coils[0]).toBe(1);

    p.holding[4] = 100;
    p.advance(T0 + 120_000_000);

    expect(p.coils[0]).toBe(0);
    expect(p.discretes[0]).toBe(1);
  });

  it('the conveyor runs in the day shift and stops at night', () => {
    const day = new PhysicalProcess('conveyor', new Rng(3), T0);
    const night = new PhysicalProcess('conveyor', new Rng(3), T0 + 16 * H);

    day.advance(T0 + 60_000_000);
    night.advance(T0 + 16 * H + 60_000_000);

    expect(day.holding[1]).toBeGreaterThan(1100);
    expect(night.holding[1]).toBe(0);
  });
});
