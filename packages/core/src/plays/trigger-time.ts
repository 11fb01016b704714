import { addMonthsClamped } from "../periods/billing-period.ts";
import type { TriggerOf } from "./document.ts";
import type { AccountSignals } from "./signals.ts";
import { DAY_MS, iso, liveSubscription, type TriggerResult } from "./trigger-result.ts";

/**
 * The time-based kinds: each fires while the instant at hand is inside its window, once per cycle,
 * and says when to look again (`nextDueAt`). A scheduler that wakes late still fires a window it
 * is inside, and never one that has passed.
 */

const later = (at: Date, days: number) => new Date(at.getTime() + days * DAY_MS);
const atOrAfter = (a: Date, b: Date) => a.getTime() >= b.getTime();

/** plan_tenure: `days` or more on the plan (any plan when none is named). Once per stint on the plan. */
export function planTenure(trigger: TriggerOf<"plan_tenure">, signals: AccountSignals): TriggerResult {
  const sub = liveSubscription(signals);
  if (!sub) return { fired: false, reason: "no subscription", nextDueAt: null };
  if (trigger.plan !== undefined && sub.plan !== trigger.plan)
    return { fired: false, reason: `on plan "${sub.plan}", not "${trigger.plan}"`, nextDueAt: null };
  const due = later(sub.planSince, trigger.days);
  if (!atOrAfter(signals.at, due))
    return {
      fired: false,
      reason: `on "${sub.plan}" since ${iso(sub.planSince)}; ${trigger.days} days at ${iso(due)}`,
      nextDueAt: due,
    };
  return {
    fired: true,
    cycle: `${sub.plan}/${iso(sub.planSince)}`,
    reason: `${trigger.days}+ days on "${sub.plan}" (since ${iso(sub.planSince)})`,
    nextDueAt: null,
  };
}

/**
 * subscription_month: month m (one of `months`) begins at the subscription's start plus m months,
 * month-end clamped (a Jan 31 start: month 1 is Feb 28 or 29), less `days_before`. It fires from that
 * point until the next month's; the cycle is the month number, within this subscription.
 */
export function subscriptionMonth(
  trigger: TriggerOf<"subscription_month">,
  signals: AccountSignals,
): TriggerResult {
  const sub = liveSubscription(signals);
  if (!sub) return { fired: false, reason: "no subscription", nextDueAt: null };
  const point = (m: number) => later(addMonthsClamped(sub.startedAt, m), -trigger.days_before);
  const now = signals.at.getTime();
  const upcoming = trigger.months.filter((m) => point(m).getTime() > now).sort((a, b) => a - b)[0];
  const nextDueAt = upcoming === undefined ? null : point(upcoming);
  const current = trigger.months.find((m) => point(m).getTime() <= now && now < point(m + 1).getTime());
  if (current === undefined)
    return {
      fired: false,
      reason:
        upcoming === undefined
          ? `past every point (months ${trigger.months.join(", ")}) of the subscription begun ${iso(sub.startedAt)}`
          : `month ${upcoming} of the subscription begins at ${iso(point(upcoming))}`,
      nextDueAt,
    };
  return {
    fired: true,
    cycle: `${iso(sub.startedAt)}/month-${current}`,
    reason: `month ${current} of the subscription begun ${iso(sub.startedAt)}`,
    nextDueAt,
  };
}

/**
 * before_renewal: from `days` before the current period ends until it ends, for a subscription that
 * renews (active, no cancellation pending). Once per period (the cycle is the period's end).
 */
export function beforeRenewal(trigger: TriggerOf<"before_renewal">, signals: AccountSignals): TriggerResult {
  const sub = liveSubscription(signals);
  if (!sub) return { fired: false, reason: "no subscription", nextDueAt: null };
  if (sub.status !== "active")
    return { fired: false, reason: `the subscription is ${sub.status}`, nextDueAt: sub.periodEnd };
  if (sub.cancelAt)
    return { fired: false, reason: `the subscription ends at ${iso(sub.cancelAt)}`, nextDueAt: null };
  const due = later(sub.periodEnd, -trigger.days);
  if (!atOrAfter(signals.at, due))
    return {
      fired: false,
      reason: `renews at ${iso(sub.periodEnd)}; ${trigger.days} days before is ${iso(due)}`,
      nextDueAt: due,
    };
  if (atOrAfter(signals.at, sub.periodEnd))
    return { fired: false, reason: `the period ended at ${iso(sub.periodEnd)}`, nextDueAt: null };
  return {
    fired: true,
    cycle: iso(sub.periodEnd),
    reason: `renews at ${iso(sub.periodEnd)}, within ${trigger.days} days`,
    nextDueAt: sub.periodEnd,
  };
}

/** account_age: the account is from `from_days` (inclusive) to `to_days` (exclusive) days old. Once per window. */
export function accountAge(trigger: TriggerOf<"account_age">, signals: AccountSignals): TriggerResult {
  const created = signals.account.createdAt;
  const from = later(created, trigger.from_days);
  const to = trigger.to_days === undefined ? null : later(created, trigger.to_days);
  const window = `${trigger.from_days}–${trigger.to_days ?? ""} days`;
  if (!atOrAfter(signals.at, from))
    return { fired: false, reason: `the account is ${window} old from ${iso(from)}`, nextDueAt: from };
  if (to && atOrAfter(signals.at, to))
    return { fired: false, reason: `the account is past ${window} old since ${iso(to)}`, nextDueAt: null };
  return {
    fired: true,
    cycle: `age/${trigger.from_days}-${trigger.to_days ?? "on"}`,
    reason: `the account is ${Math.floor((signals.at.getTime() - created.getTime()) / DAY_MS)} days old (${window})`,
    nextDueAt: null,
  };
}
