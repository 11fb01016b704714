import { type BillingInterval, periodAt } from "../periods/billing-period.ts";

export type SubscriptionStatus = "trialing" | "active" | "past_due" | "canceled";

/** What is stored of a subscription's life cycle; everything else is derived from it and the time. */
export interface StoredLifecycle {
  readonly status: SubscriptionStatus;
  readonly interval: BillingInterval;
  readonly billingCycleAnchor: Date;
  readonly createdAt: Date;
  readonly trialEnd: Date | null;
  readonly cancelAt: Date | null;
  readonly endedAt: Date | null;
}

export interface LifecycleState {
  readonly status: SubscriptionStatus;
  readonly currentPeriodStart: Date | null;
  readonly currentPeriodEnd: Date | null;
  readonly endedAt: Date | null;
}

/**
 * The subscription's status and current period at an instant. Periods are never stored: they follow
 * from the billing-cycle anchor (month-end clamping), so they cannot drift. A trial is its own
 * period [created, trial end) and the anchor is the trial's end; a cancellation at period end takes
 * effect at the end of the period it was requested in.
 */
export function lifecycleAt(sub: StoredLifecycle, at: Date): LifecycleState {
  const ended = (endedAt: Date): LifecycleState => ({
    status: "canceled",
    currentPeriodStart: null,
    currentPeriodEnd: null,
    endedAt,
  });
  if (sub.status === "canceled") return ended(sub.endedAt ?? sub.cancelAt ?? at);
  if (sub.cancelAt && at.getTime() >= sub.cancelAt.getTime()) return ended(sub.cancelAt);
  if (sub.trialEnd && at.getTime() < sub.trialEnd.getTime())
    return {
      status: "trialing",
      currentPeriodStart: sub.createdAt,
      currentPeriodEnd: sub.trialEnd,
      endedAt: null,
    };
  const period = periodAt(sub.billingCycleAnchor, sub.interval, at);
  return {
    status: sub.status === "trialing" ? "active" : sub.status,
    currentPeriodStart: period.start,
    currentPeriodEnd: period.end,
    endedAt: null,
  };
}
