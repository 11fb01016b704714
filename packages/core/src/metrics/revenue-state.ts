import type { SubscriptionView } from "../api/responses.ts";
import type { BillingInterval } from "../periods/billing-period.ts";
import type { SubscriptionStatus } from "../subscriptions/state.ts";

/** Why a customer's MRR fell to zero (docs/metrics.md, "Churn"). */
export type RevenueChurnReason = "voluntary" | "delinquent" | "free_plan";

/**
 * What the revenue metrics read of one subscription in force over a stretch of time: its recurring
 * items per billing interval, in minor units, net of the discounts in force and before tax. One-off
 * charges, proration lines and credits are not part of it: they are not recurring revenue.
 */
export interface RevenueState {
  readonly status: SubscriptionStatus;
  readonly interval: BillingInterval;
  readonly currency: string;
  readonly plan: string;
  readonly planVersion: number;
  /** the plan's base price per interval */
  readonly base: number;
  /** every seat (the included ones among them) and what the seats beyond the included ones cost */
  readonly seats: { readonly total: number; readonly included: number; readonly amount: number };
  readonly addOns: readonly { readonly key: string; readonly quantity: number; readonly amount: number }[];
  /** the last closed period's usage charges (overage lines), per interval; 0 without metered billing */
  readonly usage: number;
  /** why it ended, for a canceled subscription */
  readonly endedBecause?: "voluntary" | "delinquent";
}

/**
 * The revenue state a subscription's API view describes. The view's `recurring` is what the
 * renewal bills; its status says whether it counts (a trial, an ended subscription do not).
 */
export function revenueStateOfView(
  view: SubscriptionView,
  options: { usage?: number; endedBecause?: "voluntary" | "delinquent" } = {},
): RevenueState {
  return {
    status: view.status,
    interval: view.interval,
    currency: view.currency,
    plan: view.plan,
    planVersion: view.plan_version,
    base: view.recurring.base,
    seats: { total: view.seats, included: view.seats_included, amount: view.recurring.seats },
    addOns: view.add_ons.map((addOn) => ({
      key: addOn.key,
      quantity: addOn.quantity,
      amount: view.recurring.add_ons.find((a) => a.key === addOn.key)?.amount ?? 0,
    })),
    usage: options.usage ?? 0,
    ...(options.endedBecause ? { endedBecause: options.endedBecause } : {}),
  };
}
