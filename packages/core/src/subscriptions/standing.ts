import type { SubscriptionStatus } from "./state.ts";

/**
 * A subscription's standing follows its invoices (docs/invoice-lifecycle.md): `past_due` while one
 * of them is open after a failed attempt, back to `active` when none is (paid, voided, or forgiven
 * by hand). A canceled subscription stays canceled: paying a written-off debt settles the debt, it
 * does not resume the service.
 */
export type StandingReason = "payment_failed" | "invoice_settled";

/**
 * The standing a subscription moves to, and why (the reason of its subscription.updated event), or
 * null when it stays as it is. `owing`: an invoice of it is open after a failed attempt.
 */
export function standingChange(
  status: SubscriptionStatus,
  owing: boolean,
): { readonly status: SubscriptionStatus; readonly reason: StandingReason } | null {
  if (status === "canceled") return null;
  const next = owing ? "past_due" : status === "past_due" ? "active" : status;
  return next === status ? null : { status: next, reason: owing ? "payment_failed" : "invoice_settled" };
}

/** What is stored of a subscription that matters to how it ends. */
export interface EndingSubscription {
  readonly status: SubscriptionStatus;
  readonly cancelAt: Date | null;
  readonly canceledAt: Date | null;
}

/** How a subscription ends when its dunning is exhausted. */
export interface DelinquentEnding {
  readonly endedAt: Date;
  readonly canceledAt: Date | null;
  /** "delinquent" churn, or null when a scheduled cancellation had ended it already */
  readonly reason: "delinquent" | null;
  /** the usage of its last period is never billed: the debt it would add to was written off */
  readonly finalUsage: "waived";
}

/**
 * Retries exhausted at `at`: the subscription ends now, as delinquent churn (docs/rules.md, revenue
 * 2) — unless a scheduled cancellation that has passed ended it already, by the customer's choice
 * (its stored status catches up lazily): then it is settled as ended at cancel_at, with no
 * delinquent reason, which would misdate the churn and misname its cause. Null for one already
 * canceled.
 */
export function delinquentEnding(sub: EndingSubscription, at: Date): DelinquentEnding | null {
  if (sub.status === "canceled") return null;
  const endedBefore = sub.cancelAt !== null && sub.cancelAt.getTime() <= at.getTime();
  return endedBefore && sub.cancelAt
    ? { endedAt: sub.cancelAt, canceledAt: sub.canceledAt, reason: null, finalUsage: "waived" }
    : { endedAt: at, canceledAt: at, reason: "delinquent", finalUsage: "waived" };
}
