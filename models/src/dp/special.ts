// Special functions for the privacy accountants, accurate to near double precision in the tails (the accountants
// work with probabilities down to 1e-300 and their logarithms).
// erfc: for 0 <= x < 3 from the all-positive series erf(x) = 2/sqrt(pi) e^{-x^2} sum_n 2^n x^{2n+1} / (2n+1)!!
// (Abramowitz & Stegun 7.1.6); for x >= 3 from the continued fraction
// erfc(x) = e^{-x^2}/sqrt(pi) * 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + ...)))) (A&S 7.1.14), evaluated with the
// modified Lentz method (Numerical Recipes 3rd ed., 5.2).

const LOG_SQRT_PI = 0.5 * Math.log(Math.PI);

function erfSeries(x: number): number {
  let term = x;
  let sum = x;
  for (let n = 1; n < 200; n++) {
    term *= (2 * x * x) / (2 * n + 1);
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return (2 / Math.sqrt(Math.PI)) * Math.exp(-x * x) * sum;
}

/** x + (1/2)/(x + (2/2)/(x + (3/2)/(x + ...))) for x >= 3. */
function erfcContinuedFraction(x: number): number {
  const tiny = 1e-300;
  let f = x;
  let c = x;
  let d = 0;
  for (let n = 1; n < 500; n++) {
    const a = n / 2;
    d = x + a * d;
    d = d === 0 ? 1 / tiny : 1 / d;
    c = x + a / c;
    if (c === 0) c = tiny;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return f;
}

export function erfc(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x < 0) return 2 - erfc(-x);
  if (x < 3) return 1 - erfSeries(x);
  if (x > 27) return 0;
  return Math.exp(-x * x - LOG_SQRT_PI) / erfcContinuedFraction(x);
}

/** log(erfc(x)), finite for any finite x. */
export function logErfc(x: number): number {
  if (x < 3) return Math.log(erfc(x));
  if (x === Infinity) return -Infinity;
  return -x * x - LOG_SQRT_PI - Math.log(erfcContinuedFraction(x));
}

/** Standard normal upper tail P(Z > z). */
export function normalSf(z: number): number {
  return 0.5 * erfc(z / Math.SQRT2);
}

/** Standard normal CDF P(Z <= z). */
export function normalCdf(z: number): number {
  return 0.5 * erfc(-z / Math.SQRT2);
}

/** log(e^a + e^b) without overflow. */
export function logAdd(a: number, b: number): number {
  const m = Math.max(a, b);
  if (m === -Infinity) return -Infinity;
  return m + Math.log1p(Math.exp(Math.min(a, b) - m));
}

/** log(e^a - e^b) for a >= b. */
export function logSub(a: number, b: number): number {
  if (b > a) throw new Error('logSub: result would be negative');
  if (b === -Infinity) return a;
  if (a === b) return -Infinity;
  return a + Math.log(-Math.expm1(b - a));
}
