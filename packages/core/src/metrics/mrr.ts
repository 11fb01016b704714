import type { BillingInterval } from "../periods/billing-period.ts";
import { addRational, RATIONAL_ZERO, type Rational, rational } from "../pricing/rational.ts";
import type { RevenueState } from "./revenue-state.ts";

export const MONTHS_IN_INTERVAL: Record<BillingInterval, number> = { month: 1, year: 12 };

/** An amount billed once per interval, per month: exact (an annual $990 is 990/12, never 82.5 rounded). */
export function perMonth(amount: number, interval: BillingInterval): Rational {
  return rational(amount, MONTHS_IN_INTERVAL[interval]);
}

export interface SubscriptionMrr {
  /** the recurring items: plan, seats, add-ons */
  readonly committed: Rational;
  /** the last closed period's usage charges */
  readonly usage: Rational;
  /** headline MRR: committed + usage */
  readonly total: Rational;
}

const NONE: SubscriptionMrr = { committed: RATIONAL_ZERO, usage: RATIONAL_ZERO, total: RATIONAL_ZERO };

/** Whether a subscription in this status is revenue: active and past_due are; a trial, an ended one are not. */
export function countsAsRevenue(state: RevenueState): boolean {
  return state.status === "active" || state.status === "past_due";
}

/** The plan's base, its billed seats and its add-ons, per interval. */
export function committedAmount(state: RevenueState): number {
  return state.base + state.seats.amount + state.addOns.reduce((sum, addOn) => sum + addOn.amount, 0);
}

/**
 * MRR of one subscription in a state (docs/metrics.md, "MRR"): its recurring items and its usage,
 * normalised to a month, exact. Zero unless the status counts as revenue.
 */
export function subscriptionMrr(state: RevenueState | null): SubscriptionMrr {
  if (!state || !countsAsRevenue(state)) return NONE;
  const committed = perMonth(committedAmount(state), state.interval);
  const usage = perMonth(state.usage, state.interval);
  return { committed, usage, total: addRational(committed, usage) };
}

/** The sum of several subscriptions' MRR (a customer's, a segment's). */
export function sumMrr(parts: readonly SubscriptionMrr[]): SubscriptionMrr {
  let committed = RATIONAL_ZERO;
  let usage = RATIONAL_ZERO;
  for (const part of parts) {
    committed = addRational(committed, part.committed);
    usage = addRational(usage, part.usage);
  }
  return { committed, usage, total: addRational(committed, usage) };
}
