import { describe, expect, it } from 'vitest';
import { fft } from './fft.js';
import { prvEpsilon } from './prv.js';
import { OPACUS_ORDERS, rdpEpsilon, subsampledGaussianRdp } from './rdp.js';
import { erfc, logErfc, normalCdf } from './special.js';

// Reference values published with the issue (Opacus and dp-accounting agree on them).
const MNIST = { sigma: 1.1, sampleRate: 256 / 60000, steps: 14063, delta: 1e-5 };
const SMALL = { sigma: 1.0, sampleRate: 0.01, steps: 1000, delta: 1e-5 };

describe('special functions', () => {
  it('erfc matches tabulated values across the series/continued-fraction switch', () => {
    // values from scipy.special.erfc
    expect(erfc(0)).toBe(1);
    expect(erfc(0.5)).toBeCloseTo(0.4795001221869535, 15);
    expect(erfc(2.9999) / 2.2104426482160917e-5).toBeCloseTo(1, 10);
    expect(erfc(3) / 2.209049699858544e-5).toBeCloseTo(1, 12);
    expect(erfc(5) / 1.5374597944280349e-12).toBeCloseTo(1, 12);
    expect(erfc(-1)).toBeCloseTo(1.8427007929497148, 15);
    expect(logErfc(30)).toBeCloseTo(-903.9741171106442, 10); // log 2 + scipy.special.log_ndtr(-30 sqrt 2)
    expect(normalCdf(-1.959963984540054)).toBeCloseTo(0.025, 14);
  });

  it('fft then inverse fft returns the input', () => {
    const re = Float64Array.from({ length: 16 }, (_, i) => Math.sin(i) + i / 3);
    const im = new Float64Array(16);
    const orig = re.slice();
    fft(re, im);
    expect(re[0]).toBeCloseTo(
      orig.reduce((a, b) => a + b, 0),
      12,
    );
    fft(re, im, true);
    for (let i = 0; i < 16; i++) expect(re[i]! / 16).toBeCloseTo(orig[i]!, 12);
  });
});

describe('RDP accountant', () => {
  it('uses Opacus orders: 1.1 .. 10.9 by tenths, then 12 .. 63', () => {
    expect(OPACUS_ORDERS.length).toBe(99 + 52);
    expect(OPACUS_ORDERS[0]).toBeCloseTo(1.1, 12);
    expect(OPACUS_ORDERS[98]).toBeCloseTo(10.9, 12);
    expect(OPACUS_ORDERS.at(-1)).toBe(63);
  });

  it('reproduces the reference epsilons', () => {
    expect(rdpEpsilon(MNIST).epsilon).toBeCloseTo(2.597, 3);
    expect(rdpEpsilon(SMALL).epsilon).toBeCloseTo(2.101, 3);
  });

  it('integer and fractional formulas agree where they meet', () => {
    const at3 = subsampledGaussianRdp(0.02, 0.9, 3);
    const near3 = subsampledGaussianRdp(0.02, 0.9, 3 + 1e-7);
    expect(near3 / at3).toBeCloseTo(1, 5);
  });

  it('without subsampling equals the Gaussian mechanism alpha/(2 sigma^2)', () => {
    expect(subsampledGaussianRdp(1, 2, 5)).toBe(5 / 8);
  });

  it('epsilon grows with steps and shrinks with noise', () => {
    const a = rdpEpsilon({ ...SMALL, steps: 500 }).epsilon;
    expect(a).toBeLessThan(rdpEpsilon(SMALL).epsilon);
    expect(rdpEpsilon({ ...SMALL, sigma: 2 }).epsilon).toBeLessThan(rdpEpsilon(SMALL).epsilon);
  });

  it('rejects out-of-range queries', () => {
    expect(() => rdpEpsilon({ ...SMALL, delta: 0 })).toThrow(/delta/);
    expect(() => rdpEpsilon({ ...SMALL, sampleRate: 2 })).toThrow(/sample rate/);
    expect(() => rdpEpsilon({ ...SMALL, steps: 1.5 })).toThrow(/steps/);
    expect(() => rdpEpsilon({ ...SMALL, sigma: -1 })).toThrow(/sigma/);
  });
});

describe('PRV accountant', () => {
  it('reproduces the reference epsilons (tighter than RDP)', () => {
    const a = prvEpsilon(MNIST).epsilon;
    const b = prvEpsilon(SMALL).epsilon;
    expect(Math.abs(a - 2.39) / 2.39).toBeLessThan(0.01);
    expect(Math.abs(b - 1.83) / 1.83).toBeLessThan(0.01);
    expect(a).toBeLessThan(rdpEpsilon(MNIST).epsilon);
  });

  it('is stable under grid refinement', () => {
    const coarse = prvEpsilon(SMALL, { log2Points: 15 }).epsilon;
    const fine = prvEpsilon(SMALL, { log2Points: 19 }).epsilon;
    expect(Math.abs(coarse - fine)).toBeLessThan(1e-3);
  });

  it('matches the closed form of the composed Gaussian mechanism when q = 1', () => {
    // q=1 uses Balle & Wang's exact formula; the grid path at q just below 1 must agree with it.
    const exact = prvEpsilon({ sigma: 5, sampleRate: 1, steps: 10, delta: 1e-5 }).epsilon;
    const grid = prvEpsilon({ sigma: 5, sampleRate: 1 - 1e-9, steps: 10, delta: 1e-5 }).epsilon;
    expect(Math.abs(grid - exact) / exact).toBeLessThan(2e-3);
  });

  it('no steps or no sampling spends nothing', () => {
    expect(prvEpsilon({ ...SMALL, steps: 0 }).epsilon).toBe(0);
    expect(prvEpsilon({ ...SMALL, sampleRate: 0 }).epsilon).toBe(0);
  });
});
