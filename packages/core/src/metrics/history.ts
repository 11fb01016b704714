import { signRational } from "../pricing/rational.ts";
import { type SubscriptionMrr, subscriptionMrr, sumMrr } from "./mrr.ts";
import type { RevenueState } from "./revenue-state.ts";

/** A subscription's revenue state from `at` until its timeline's next change. */
export interface RevenueChange {
  readonly at: Date;
  readonly state: RevenueState;
}

/** One subscription's revenue states over time, in time order; before its first change it is absent. */
export interface RevenueTimeline {
  readonly customer: string;
  readonly subscription: string;
  readonly changes: readonly RevenueChange[];
}

/** One customer's subscriptions, and the first instant they had MRR above zero (null: never). */
export interface CustomerHistory {
  readonly customer: string;
  readonly timelines: readonly RevenueTimeline[];
  readonly firstRevenueAt: Date | null;
}

/** Every customer's history, in one currency (metrics never add amounts of two currencies). */
export interface RevenueHistory {
  readonly currency: string | null;
  readonly customers: readonly CustomerHistory[];
}

/** Index of the last change at or before `at` (strictly before with `strict`), or -1. */
function lastChangeIndex(changes: readonly RevenueChange[], at: number, strict: boolean): number {
  let low = 0;
  let high = changes.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    const t = (changes[mid] as RevenueChange).at.getTime();
    if (strict ? t < at : t <= at) low = mid + 1;
    else high = mid;
  }
  return low - 1;
}

/** The state in force at `at`: a change at `at` itself is in force. */
export function stateInForce(timeline: RevenueTimeline, at: Date): RevenueState | null {
  return timeline.changes[lastChangeIndex(timeline.changes, at.getTime(), false)]?.state ?? null;
}

/** The state in force just before `at`: what a bucket starting at `at` opens with. */
export function stateBefore(timeline: RevenueTimeline, at: Date): RevenueState | null {
  return timeline.changes[lastChangeIndex(timeline.changes, at.getTime(), true)]?.state ?? null;
}

/** A customer's MRR just before `at` (so a change at `at` belongs to the bucket that starts there). */
export function customerMrrBefore(customer: CustomerHistory, at: Date): SubscriptionMrr {
  return sumMrr(customer.timelines.map((timeline) => subscriptionMrr(stateBefore(timeline, at))));
}

/** A customer's MRR in force at `at`. */
export function customerMrrAt(customer: CustomerHistory, at: Date): SubscriptionMrr {
  return sumMrr(customer.timelines.map((timeline) => subscriptionMrr(stateInForce(timeline, at))));
}

function firstRevenueAt(timelines: readonly RevenueTimeline[]): Date | null {
  const instants = [...new Set(timelines.flatMap((t) => t.changes.map((c) => c.at.getTime())))].sort(
    (a, b) => a - b,
  );
  for (const instant of instants) {
    const mrr = sumMrr(timelines.map((t) => subscriptionMrr(stateInForce(t, new Date(instant)))));
    if (signRational(mrr.total) > 0) return new Date(instant);
  }
  return null;
}

/**
 * Groups subscription timelines by customer. Refuses (RangeError) a timeline out of time order, a
 * subscription given twice, and states in more than one currency.
 */
export function revenueHistory(timelines: readonly RevenueTimeline[]): RevenueHistory {
  let currency: string | null = null;
  const seen = new Set<string>();
  const byCustomer = new Map<string, RevenueTimeline[]>();
  for (const timeline of timelines) {
    if (seen.has(timeline.subscription))
      throw new RangeError(`subscription ${timeline.subscription} is given twice`);
    seen.add(timeline.subscription);
    let previous = Number.NEGATIVE_INFINITY;
    for (const change of timeline.changes) {
      const at = change.at.getTime();
      if (!(at >= previous))
        throw new RangeError(`subscription ${timeline.subscription}: changes out of order`);
      previous = at;
      currency ??= change.state.currency;
      if (change.state.currency !== currency)
        throw new RangeError(`currencies ${currency} and ${change.state.currency} cannot be added up`);
    }
    const list = byCustomer.get(timeline.customer);
    if (list) list.push(timeline);
    else byCustomer.set(timeline.customer, [timeline]);
  }
  const customers = [...byCustomer].map(([customer, list]) => ({
    customer,
    timelines: list,
    firstRevenueAt: firstRevenueAt(list),
  }));
  return { currency, customers };
}
