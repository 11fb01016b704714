import type { Trigger } from "./document.ts";
import type { AccountSignals } from "./signals.ts";
import { eventCount, featureLocked, seatLimitHit } from "./trigger-behaviour.ts";
import type { TriggerResult } from "./trigger-result.ts";
import { accountAge, beforeRenewal, planTenure, subscriptionMonth } from "./trigger-time.ts";
import { limitReached, usageRatio } from "./trigger-usage.ts";

export { eventCount, featureLocked, seatLimitHit } from "./trigger-behaviour.ts";
export type { TriggerResult } from "./trigger-result.ts";
export { accountAge, beforeRenewal, planTenure, subscriptionMonth } from "./trigger-time.ts";
export { limitReached, usageRatio } from "./trigger-usage.ts";

/** The kinds that fire with time alone: a scheduler looks again at their `nextDueAt`. */
export const TIME_BASED_KINDS = [
  "plan_tenure",
  "subscription_month",
  "before_renewal",
  "account_age",
] as const;

/** Whether a play's trigger fires for this snapshot, and the cycle that makes it fire once. Pure. */
export function evaluateTrigger(trigger: Trigger, signals: AccountSignals): TriggerResult {
  switch (trigger.kind) {
    case "usage_ratio":
      return usageRatio(trigger, signals);
    case "limit_reached":
      return limitReached(trigger, signals);
    case "feature_locked":
      return featureLocked(trigger, signals);
    case "event_count":
      return eventCount(trigger, signals);
    case "seat_limit_hit":
      return seatLimitHit(trigger, signals);
    case "plan_tenure":
      return planTenure(trigger, signals);
    case "subscription_month":
      return subscriptionMonth(trigger, signals);
    case "before_renewal":
      return beforeRenewal(trigger, signals);
    case "account_age":
      return accountAge(trigger, signals);
  }
}
