import type { Segment } from "../accounts/segment.ts";
import type { BillingInterval } from "../periods/billing-period.ts";
import type { SubscriptionStatus } from "../subscriptions/state.ts";

/**
 * What the triggers read: one account's state at the instant at hand (an event's, or a schedule's),
 * assembled by the runtime from its records. Triggers are pure functions of a play's trigger and
 * this snapshot; they read no clock.
 */
export interface AccountSignals {
  /** the instant at hand: the event's, or the schedule's tick */
  readonly at: Date;
  readonly account: AccountFacts;
  /** null: the account has no subscription (or it has ended and none replaced it) */
  readonly subscription: SubscriptionFacts | null;
  /** per feature key: usage before and after the event at hand (equal when nothing was recorded) */
  readonly usage: Readonly<Record<string, FeatureUsage>>;
  /**
   * Named product events (`export.created`, `member.invited`, …) up to `at`: for each name a
   * playbook counts, at least the last `count` of them and every one within its longest window.
   */
  readonly events: readonly ProductEvent[];
  /** checks refused in the current billing period (or usage window), with their reasons */
  readonly denied: readonly DeniedCheck[];
  /** invites refused for lack of seats in the current billing period */
  readonly invitesRefused: readonly RefusedInvite[];
}

export interface AccountFacts {
  readonly createdAt: Date;
  readonly properties: Readonly<Record<string, unknown>>;
  /** core's accountSegment: the `segment` property when it names one, else by annual contract value */
  readonly segment: Segment;
}

export interface SubscriptionFacts {
  readonly plan: string;
  readonly interval: BillingInterval;
  readonly status: SubscriptionStatus;
  /** when the subscription began: subscription_month counts its months from here */
  readonly startedAt: Date;
  /** when the current plan began (the subscription's start, or the last plan change) */
  readonly planSince: Date;
  readonly periodStart: Date;
  readonly periodEnd: Date;
  /** when a requested cancellation takes effect; null when none is pending */
  readonly cancelAt: Date | null;
}

/** A reading of a feature's usage against its limit (null: unlimited, or not granted). */
export interface UsageReading {
  readonly used: number;
  readonly limit: number | null;
}

export interface FeatureUsage {
  readonly before: UsageReading;
  readonly after: UsageReading;
  /** the start of the meter's current window; null for usage that never resets (gauges, counts) */
  readonly windowStart: Date | null;
}

export interface ProductEvent {
  readonly name: string;
  readonly at: Date;
}

export interface DeniedCheck {
  readonly feature: string;
  /** the check's reason: `feature_not_in_plan` and `limit_reached` fire triggers */
  readonly reason: string;
  readonly at: Date;
}

export interface RefusedInvite {
  readonly at: Date;
  /** the seats the subscription had when the invite was refused */
  readonly seats: number;
}
