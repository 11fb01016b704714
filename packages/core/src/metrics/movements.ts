import {
  addRational,
  negateRational,
  RATIONAL_ZERO,
  type Rational,
  signRational,
  subtractRational,
} from "../pricing/rational.ts";
import type { Bucket } from "./buckets.ts";
import { addSourceParts, NO_SOURCE_PARTS, type SourceParts, sourcesOfChange } from "./expansion-sources.ts";
import { type CustomerHistory, customerMrrBefore, type RevenueHistory, stateBefore } from "./history.ts";
import { countsAsRevenue, subscriptionMrr } from "./mrr.ts";
import type { RevenueChurnReason } from "./revenue-state.ts";

export const MOVEMENT_KINDS = ["new", "expansion", "contraction", "churn", "reactivation"] as const;
export type MovementKind = (typeof MOVEMENT_KINDS)[number];

/** One customer's MRR over a bucket, netted: one movement at most (docs/metrics.md, "Movements"). */
export interface CustomerMovement {
  readonly customer: string;
  /** null when the bucket closed at the MRR it opened with */
  readonly kind: MovementKind | null;
  /** MRR just before the bucket's start, and just before its end */
  readonly opening: Rational;
  readonly closing: Rational;
  /** |closing − opening|: movements are reported as positive amounts */
  readonly amount: Rational;
  /** closing − opening by source, signed */
  readonly sources: SourceParts;
  readonly churnReason: RevenueChurnReason | null;
}

function churnReason(customer: CustomerHistory, bucket: Bucket): RevenueChurnReason {
  for (const timeline of customer.timelines) {
    const opened = stateBefore(timeline, bucket.start);
    if (!opened || signRational(subscriptionMrr(opened).total) <= 0) continue;
    const closed = stateBefore(timeline, bucket.end);
    if (closed && countsAsRevenue(closed)) return "free_plan";
    return closed?.endedBecause ?? "voluntary";
  }
  return "voluntary";
}

/**
 * The customer's movement over [start, end): s = MRR just before start, e = MRR just before end;
 * new or reactivation if s = 0 < e (new when they never had MRR before start), churn if s > 0 = e,
 * expansion if e > s > 0, contraction if s > e > 0. What happened inside the bucket does not count,
 * only where it ended: a same-day up-and-down nets to nothing in a day bucket.
 */
export function customerMovement(customer: CustomerHistory, bucket: Bucket): CustomerMovement {
  const opening = customerMrrBefore(customer, bucket.start).total;
  const closing = customerMrrBefore(customer, bucket.end).total;
  const s = signRational(opening);
  const e = signRational(closing);
  const change = subtractRational(closing, opening);
  const direction = signRational(change);
  let kind: MovementKind | null = null;
  if (s <= 0 && e > 0) {
    const first = customer.firstRevenueAt;
    kind = first && first.getTime() < bucket.start.getTime() ? "reactivation" : "new";
  } else if (s > 0 && e <= 0) kind = "churn";
  else if (s > 0 && direction > 0) kind = "expansion";
  else if (s > 0 && direction < 0) kind = "contraction";
  const sources =
    kind === null
      ? NO_SOURCE_PARTS
      : customer.timelines.reduce<SourceParts>(
          (sum, timeline) =>
            addSourceParts(
              sum,
              sourcesOfChange(stateBefore(timeline, bucket.start), stateBefore(timeline, bucket.end)),
            ),
          NO_SOURCE_PARTS,
        );
  return {
    customer: customer.customer,
    kind,
    opening,
    closing,
    amount: direction < 0 ? negateRational(change) : change,
    sources,
    churnReason: kind === "churn" ? churnReason(customer, bucket) : null,
  };
}

/** The movements of a set of customers added up. */
export interface MovementTotals {
  readonly opening: Rational;
  readonly closing: Rational;
  readonly new: Rational;
  readonly expansion: Rational;
  readonly contraction: Rational;
  readonly churn: Rational;
  readonly reactivation: Rational;
  /** the customers of each kind */
  readonly counts: Readonly<Record<MovementKind, number>>;
  /** the expansion movements' parts by source: they add up to `expansion` */
  readonly expansionBySource: SourceParts;
  /** the contraction movements' parts by source, as positive amounts: they add up to `contraction` */
  readonly contractionBySource: SourceParts;
  /** customers with MRR just before the start, and just before the end */
  readonly activeAtOpening: number;
  readonly activeAtClosing: number;
}

/**
 * Adds up customer movements. opening + new + expansion + reactivation − contraction − churn =
 * closing holds exactly, for any set of customers (a segment, a plan).
 */
export function movementTotals(movements: readonly CustomerMovement[]): MovementTotals {
  const amounts: Record<MovementKind, Rational> = {
    new: RATIONAL_ZERO,
    expansion: RATIONAL_ZERO,
    contraction: RATIONAL_ZERO,
    churn: RATIONAL_ZERO,
    reactivation: RATIONAL_ZERO,
  };
  const counts: Record<MovementKind, number> = {
    new: 0,
    expansion: 0,
    contraction: 0,
    churn: 0,
    reactivation: 0,
  };
  let opening = RATIONAL_ZERO;
  let closing = RATIONAL_ZERO;
  let expansionBySource = NO_SOURCE_PARTS;
  let contractionBySource = NO_SOURCE_PARTS;
  let activeAtOpening = 0;
  let activeAtClosing = 0;
  for (const movement of movements) {
    opening = addRational(opening, movement.opening);
    closing = addRational(closing, movement.closing);
    if (signRational(movement.opening) > 0) activeAtOpening += 1;
    if (signRational(movement.closing) > 0) activeAtClosing += 1;
    if (!movement.kind) continue;
    amounts[movement.kind] = addRational(amounts[movement.kind], movement.amount);
    counts[movement.kind] += 1;
    if (movement.kind === "expansion")
      expansionBySource = addSourceParts(expansionBySource, movement.sources);
    if (movement.kind === "contraction")
      contractionBySource = addSourceParts(contractionBySource, {
        plan: negateRational(movement.sources.plan),
        seats: negateRational(movement.sources.seats),
        add_on: negateRational(movement.sources.add_on),
        usage: negateRational(movement.sources.usage),
        interval_change: negateRational(movement.sources.interval_change),
      });
  }
  return {
    opening,
    closing,
    ...amounts,
    counts,
    expansionBySource,
    contractionBySource,
    activeAtOpening,
    activeAtClosing,
  };
}

export interface BucketMovements extends MovementTotals {
  readonly start: Date;
  readonly end: Date;
  /** the customers that moved, in the history's order */
  readonly movements: readonly CustomerMovement[];
}

/**
 * Every bucket's movements over the customers `include` keeps (all by default): a segment, a plan.
 * `include` is asked per bucket, so a customer is counted in the segment it had at that bucket.
 */
export function movementsByBucket(
  history: RevenueHistory,
  buckets: readonly Bucket[],
  include: (customer: CustomerHistory, bucket: Bucket) => boolean = () => true,
): BucketMovements[] {
  return buckets.map((bucket) => {
    const all = history.customers
      .filter((customer) => include(customer, bucket))
      .map((customer) => customerMovement(customer, bucket));
    return {
      start: bucket.start,
      end: bucket.end,
      ...movementTotals(all),
      movements: all.filter((movement) => movement.kind !== null),
    };
  });
}
