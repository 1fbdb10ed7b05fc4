// Time rules shared by every component.

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** The digits at s[from, from + len) as a number, or -1 if one of them is not a digit. */
function digits(s: string, from: number, len: number): number {
  let n = 0;
  for (let i = from; i < from + len; i++) {
    const d = s.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

/**
 * The time s gives in ms since 1970 when s is already what toISOString() would print for it
 * (YYYY-MM-DDTHH:MM:SS.sssZ, a real calendar date), else NaN: then `Date.parse(s)` equals it and
 * `new Date(s).toISOString() === s`. Agents send times in that form and the aggregator stores them so; reading the
 * digits costs a tenth of parsing and printing the date again.
 */
export function canonicalTimeMs(s: string): number {
  if (s.length !== 24 || s[4] !== '-' || s[7] !== '-' || s[10] !== 'T' || s[13] !== ':' || s[16] !== ':') {
    return NaN;
  }
  const ms = digits(s, 20, 3);
  if (s[19] !== '.' || s[23] !== 'Z' || ms < 0) return NaN;
  const year = digits(s, 0, 4);
  const month = digits(s, 5, 2);
  const day = digits(s, 8, 2);
  if (year < 0 || month < 1 || month > 12 || day < 1) return NaN;
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  const monthDays = month === 2 && leap ? 29 : (DAYS_IN_MONTH[month - 1] ?? 0);
  if (day > monthDays) return NaN;
  const hour = digits(s, 11, 2);
  const minute = digits(s, 14, 2);
  const second = digits(s, 17, 2);
  if (hour < 0 || hour >= 24 || minute < 0 || minute >= 60 || second < 0 || second >= 60) return NaN;
  // Days since 1970-01-01 of a proleptic Gregorian date, counting years from March (so that a leap day ends one):
  // whole 400-year eras of 146,097 days, then the years, days and months inside one. 719,468 days from 0000-03-01.
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yearOfEra = y - era * 400;
  const dayOfYear = Math.floor((153 * ((month + 9) % 12) + 2) / 5) + day - 1;
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear;
  const days = era * 146_097 + dayOfEra - 719_468;
  return days * 86_400_000 + hour * 3_600_000 + minute * 60_000 + second * 1000 + ms;
}

/** Whether s is already what toISOString() would print for it, so `new Date(s).toISOString() === s` (canonicalTimeMs). */
export function isCanonicalTime(s: string): boolean {
  return !Number.isNaN(canonicalTimeMs(s));
}
