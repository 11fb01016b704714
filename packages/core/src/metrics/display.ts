import { multiplyRational, type Rational, roundHalfAwayFromZero } from "../pricing/rational.ts";

/** An exact ratio shown at `decimals` places, rounded half away from zero: 215000/198000 → 1.09 at 2. */
export function decimalOf(ratio: Rational, decimals = 2): number {
  const scale = 10 ** decimals;
  return Number(roundHalfAwayFromZero(multiplyRational(ratio, scale))) / scale;
}

/** A ratio as a percentage at `decimals` places, rounded half away from zero: 215000/198000 → 108.59. */
export function percentOf(ratio: Rational, decimals = 2): number {
  return decimalOf(multiplyRational(ratio, 100), decimals);
}
