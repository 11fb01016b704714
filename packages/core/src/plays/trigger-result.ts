import { periodAt } from "../periods/billing-period.ts";
import type { AccountSignals, SubscriptionFacts } from "./signals.ts";

/**
 * What a trigger answers for a snapshot. `cycle` makes a prompt instance unique per (play,
 * account, user, cycle): a play fires at most once per cycle. Time-based kinds also say when the
 * answer may change with nothing but time passing (`nextDueAt`, null: never), so a scheduler knows
 * when to look again.
 */
export type TriggerResult =
  | { readonly fired: false; readonly reason: string; readonly nextDueAt?: Date | null }
  | {
      readonly fired: true;
      readonly cycle: string;
      readonly reason: string;
      readonly nextDueAt?: Date | null;
    };

export const DAY_MS = 86_400_000;

export const iso = (at: Date) => at.toISOString();
export const count = (n: number) => n.toLocaleString("en-US");

/** A subscription that has not ended. */
export function liveSubscription(signals: AccountSignals): SubscriptionFacts | null {
  const sub = signals.subscription;
  return sub && sub.status !== "canceled" ? sub : null;
}

/**
 * The start of the cycle of the per-period kinds (feature_locked, seat_limit_hit): the current
 * billing period, restarted by a plan change within it; without a subscription, the month (from
 * the account's creation, month-end clamped) that holds the instant at hand.
 */
export function billingCycleStart(signals: AccountSignals): Date {
  const sub = liveSubscription(signals);
  if (!sub) return periodAt(signals.account.createdAt, "month", signals.at).start;
  return sub.planSince.getTime() > sub.periodStart.getTime() ? sub.planSince : sub.periodStart;
}
