// When a predicted technique is expected: a label and its upper bound in seconds, from the tactic distance between the
// current technique and the predicted one in the ICS matrix (Initial Access ... Impact, 12 tactics; a technique's
// position is its earliest tactic). ATT&CK carries no timing data, so the minute figures are a stated convention, not
// a measurement: a later stage is further away in time the more tactics the attacker still has to go through. The
// bound is what validation uses: a prediction is validated by an alert showing the technique within it.
export interface Timeframe {
  label: string;
  seconds: number;
}

/** Buckets by tactic distance d = position(predicted) - position(current), clamped at 0. */
export const TIMEFRAMES: readonly { maxDistance: number; timeframe: Timeframe }[] = [
  { maxDistance: 0, timeframe: { label: '0-15 minutes', seconds: 900 } },
  { maxDistance: 2, timeframe: { label: '15-60 minutes', seconds: 3600 } },
  { maxDistance: 5, timeframe: { label: '1-4 hours', seconds: 14_400 } },
  { maxDistance: Infinity, timeframe: { label: '4-24 hours', seconds: 86_400 } },
];

/** Timeframe of `predicted` after `current`; an unknown position counts as the widest bucket. */
export function timeframeFor(current: number | undefined, predicted: number | undefined): Timeframe {
  const last = TIMEFRAMES[TIMEFRAMES.length - 1]!.timeframe;
  if (current === undefined || predicted === undefined) return last;
  const d = Math.max(0, predicted - current);
  return TIMEFRAMES.find((b) => d <= b.maxDistance)?.timeframe ?? last;
}
