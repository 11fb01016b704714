import { type Segment, type SegmentBounds, segmentForAcv } from "../accounts/segment.ts";
import { compareRational, multiplyRational, roundToSafeInteger, signRational } from "../pricing/rational.ts";
import { type Bucket, bucketStart } from "./buckets.ts";
import { type CustomerHistory, customerMrrBefore, stateBefore } from "./history.ts";
import { subscriptionMrr } from "./mrr.ts";

/**
 * The attributes metrics group customers by, each read just before an instant (a window's or a
 * bucket's start), so a customer stays in the group it started the window in.
 */

/** Segment by annual contract value: committed MRR × 12 (usage is not contracted), rounded once. */
export function customerSegmentBefore(
  customer: CustomerHistory,
  at: Date,
  currency: string,
  bounds?: SegmentBounds,
): Segment {
  const acv = roundToSafeInteger(multiplyRational(customerMrrBefore(customer, at).committed, 12));
  return segmentForAcv(acv, currency, bounds);
}

/** The plan of the customer's largest subscription in force (ties: the first plan key in order); null without one. */
export function customerPlanBefore(customer: CustomerHistory, at: Date): string | null {
  let best: { plan: string; mrr: ReturnType<typeof subscriptionMrr> } | null = null;
  for (const timeline of customer.timelines) {
    const state = stateBefore(timeline, at);
    const mrr = subscriptionMrr(state);
    if (!state || signRational(mrr.total) <= 0) continue;
    const order = best ? compareRational(mrr.total, best.mrr.total) : 1;
    if (!best || order > 0 || (order === 0 && state.plan < best.plan)) best = { plan: state.plan, mrr };
  }
  return best?.plan ?? null;
}

/** The start cohort: the calendar month of the customer's first MRR above zero ("2026-03"); null if never. */
export function startCohort(customer: CustomerHistory): string | null {
  if (!customer.firstRevenueAt) return null;
  return bucketStart(customer.firstRevenueAt, "month").toISOString().slice(0, 7);
}

/**
 * The instant a customer's group is read at for a bucket: its opening, or its closing when it had
 * no MRR at the opening (a new customer belongs to the segment it starts in, not to "no revenue").
 */
export function groupInstant(customer: CustomerHistory, bucket: Bucket): Date {
  return signRational(customerMrrBefore(customer, bucket.start).total) > 0 ? bucket.start : bucket.end;
}
