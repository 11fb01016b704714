import {
  addRational,
  compareRational,
  divideRational,
  type Rational,
  signRational,
  subtractRational,
} from "../pricing/rational.ts";
import type { MovementTotals } from "./movements.ts";

/**
 * The ratios read off a period's movements (docs/metrics.md, "Ratios"). Each is exact, and null
 * when its denominator is 0 (no ratio is made up for an empty period).
 */
const ratio = (numerator: Rational, denominator: Rational | number): Rational | null =>
  signRational(denominator) === 0 ? null : divideRational(numerator, denominator);

/** (new + expansion + reactivation) ÷ (contraction + churn): MRR gained per MRR lost. */
export function quickRatio(totals: MovementTotals): Rational | null {
  return ratio(
    addRational(addRational(totals.new, totals.expansion), totals.reactivation),
    addRational(totals.contraction, totals.churn),
  );
}

/** Customers who churned ÷ customers active at the opening. */
export function logoChurnRate(totals: MovementTotals): Rational | null {
  return ratio(divideRational(totals.counts.churn, 1), totals.activeAtOpening);
}

/** Churned MRR ÷ opening MRR. */
export function revenueChurnRate(totals: MovementTotals): Rational | null {
  return ratio(totals.churn, totals.opening);
}

/** (churn + contraction) ÷ opening MRR. */
export function grossMrrChurnRate(totals: MovementTotals): Rational | null {
  return ratio(addRational(totals.churn, totals.contraction), totals.opening);
}

/** (churn + contraction − expansion) ÷ opening MRR: below zero is net negative churn. */
export function netMrrChurnRate(totals: MovementTotals): Rational | null {
  return ratio(
    subtractRational(addRational(totals.churn, totals.contraction), totals.expansion),
    totals.opening,
  );
}

/** Expansion out-ran what was lost to churn and contraction (seed 002). */
export function isNetNegativeChurn(totals: MovementTotals): boolean {
  return compareRational(totals.expansion, addRational(totals.churn, totals.contraction)) > 0;
}

/** Expansion ÷ all MRR gained (new + expansion + reactivation). */
export function expansionShareOfNewMrr(totals: MovementTotals): Rational | null {
  return ratio(totals.expansion, addRational(addRational(totals.new, totals.expansion), totals.reactivation));
}

/** Expansion MRR ÷ the customers who expanded. */
export function averageExpansion(totals: MovementTotals): Rational | null {
  return ratio(totals.expansion, totals.counts.expansion);
}
