/**
 * The annual-switch nudges' dollar math (seed 004, on a $99/month plan sold at $990/year):
 *   month 3 — "paid $297 … pay $990 for the full year — that's 2 months free. You save $99 on the spot."
 *   month 6 — "If you'd switched at month 3, you'd have saved $99 already. You can still save $33."
 *   month 9 — "Last chance on this annual offer" with a bonus instead of a saving.
 *
 * The rule that gives exactly these numbers, for a monthly price P, an annual price A and m whole
 * months since the subscription started (docs/plays.md, "The annual math"):
 *
 *   full year's saving      S = 12·P − A                              (2 months free: $198)
 *   saving of a switch now  S · (12 − m)/12 · (W − m)/W,   W = 9      (0 from month W on)
 *
 * the year's saving on the share of the first year still ahead, (12 − m)/12, kept in the share of
 * the offer's window still ahead, (W − m)/W: the offer runs from the start to the month-9 "last
 * chance", where a bonus takes over from a saving that has run out. $198 at month 0, $99 at month 3
 * ($198 · 9/12 · 6/9), $33 at month 6 ($198 · 6/12 · 3/9), $0 at month 9. "Paid so far" is m · P
 * ($297 at month 3). The saving is exact until one final rounding down to the minor unit (a promise
 * never rounds up), and never negative: an annual price at or above 12 months saves nothing.
 */
import { multiplyRational, rational } from "../pricing/rational.ts";

/** The month of the last annual nudge: the offer's saving has run out by then (seed 004's month 9). */
export const ANNUAL_OFFER_LAST_MONTH = 9;

export interface AnnualSwitch {
  /** what the subscription paid over the whole months so far, at today's monthly price */
  readonly paidSoFar: number;
  /** 12 × monthly − annual, floored at 0: "2 months free" */
  readonly fullYearSavings: number;
  /** what switching now saves, by the rule above */
  readonly savings: number;
}

function checkAmount(amount: number, what: string): void {
  if (!Number.isSafeInteger(amount) || amount < 0)
    throw new RangeError(`${what} must be a whole number of minor units ≥ 0, got ${amount}`);
}

/** Floor of a non-negative exact value, as minor units. */
function floorMinor(numerator: bigint, denominator: bigint): number {
  return Number(numerator / denominator);
}

/**
 * What switching from monthly to annual saves after `months` whole months, by the rule in this
 * file's comment. `lastMonth` is the offer window's end (W), 1–12.
 */
export function annualSwitchSavings(
  monthly: number,
  annual: number,
  months: number,
  lastMonth: number = ANNUAL_OFFER_LAST_MONTH,
): AnnualSwitch {
  checkAmount(monthly, "the monthly price");
  checkAmount(annual, "the annual price");
  if (!Number.isSafeInteger(months) || months < 0)
    throw new RangeError(`months must be a whole number ≥ 0, got ${months}`);
  if (!Number.isInteger(lastMonth) || lastMonth < 1 || lastMonth > 12)
    throw new RangeError(`the offer's last month must be from 1 to 12, got ${lastMonth}`);
  const paidSoFar = monthly * months;
  if (!Number.isSafeInteger(paidSoFar)) throw new RangeError("the amount paid so far is out of range");
  const full = Math.max(0, 12 * monthly - annual);
  if (full === 0 || months >= lastMonth) return { paidSoFar, fullYearSavings: full, savings: 0 };
  const exact = multiplyRational(full, rational((12 - months) * (lastMonth - months), 12 * lastMonth));
  return { paidSoFar, fullYearSavings: full, savings: floorMinor(exact.numerator, exact.denominator) };
}
