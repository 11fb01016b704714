import { addMonthsClamped } from "../periods/billing-period.ts";
import {
  addRational,
  compareRational,
  divideRational,
  RATIONAL_ZERO,
  type Rational,
  signRational,
  subtractRational,
} from "../pricing/rational.ts";
import type { Bucket } from "./buckets.ts";
import { type CustomerHistory, customerMrrBefore, type RevenueHistory } from "./history.ts";

/** The seed's four numbers: the start cohort's MRR and what happened to it over the window. */
export interface RetentionParts {
  readonly start: Rational;
  readonly expansion: Rational;
  readonly contraction: Rational;
  readonly churn: Rational;
}

/** NRR = (start + expansion − contraction − churn) ÷ start; null for an empty cohort. */
export function netRevenueRetention(parts: RetentionParts): Rational | null {
  if (signRational(parts.start) <= 0) return null;
  const end = subtractRational(
    addRational(parts.start, parts.expansion),
    addRational(parts.contraction, parts.churn),
  );
  return divideRational(end, parts.start);
}

/** GRR = (start − contraction − churn) ÷ start: NRR without expansion, never above 100%; null for an empty cohort. */
export function grossRevenueRetention(parts: RetentionParts): Rational | null {
  if (signRational(parts.start) <= 0) return null;
  return divideRational(
    subtractRational(parts.start, addRational(parts.contraction, parts.churn)),
    parts.start,
  );
}

export interface CohortRetention extends RetentionParts {
  /** the cohort: customers with MRR just before the window's start */
  readonly customers: number;
  /** of them, those with MRR just before its end */
  readonly retainedCustomers: number;
  /** Σ of the cohort's MRR just before the window's end: start + expansion − contraction − churn */
  readonly end: Rational;
  readonly nrr: Rational | null;
  readonly grr: Rational | null;
}

/**
 * NRR and GRR over a window [start, end) on the cohort of customers active just before its start
 * (docs/metrics.md, "Retention"): each customer netted over the whole window (s its MRR at the
 * start, e at the end), expansion e − s when e > s, contraction s − e when 0 < e < s, churn s when
 * e = 0. Customers new or returning during the window are not in the cohort.
 */
export function cohortRetention(
  history: RevenueHistory,
  window: Bucket,
  include: (customer: CustomerHistory) => boolean = () => true,
): CohortRetention {
  let start = RATIONAL_ZERO;
  let end = RATIONAL_ZERO;
  let expansion = RATIONAL_ZERO;
  let contraction = RATIONAL_ZERO;
  let churn = RATIONAL_ZERO;
  let customers = 0;
  let retainedCustomers = 0;
  for (const customer of history.customers) {
    const s = customerMrrBefore(customer, window.start).total;
    if (signRational(s) <= 0 || !include(customer)) continue;
    const e = customerMrrBefore(customer, window.end).total;
    customers += 1;
    start = addRational(start, s);
    end = addRational(end, e);
    if (signRational(e) <= 0) churn = addRational(churn, s);
    else {
      retainedCustomers += 1;
      const order = compareRational(e, s);
      if (order > 0) expansion = addRational(expansion, subtractRational(e, s));
      if (order < 0) contraction = addRational(contraction, subtractRational(s, e));
    }
  }
  const parts = { start, expansion, contraction, churn };
  return {
    ...parts,
    customers,
    retainedCustomers,
    end,
    nrr: netRevenueRetention(parts),
    grr: grossRevenueRetention(parts),
  };
}

/** The window of `months` calendar months ending at `end` (trailing twelve months by default). */
export function trailingWindow(end: Date, months = 12): Bucket {
  return { start: addMonthsClamped(end, -months), end };
}

/**
 * Retention per group, the group read of each customer at the window's start (segment, plan, start
 * cohort): customers the function puts in no group (null) are left out.
 */
export function cohortRetentionBy(
  history: RevenueHistory,
  window: Bucket,
  groupOf: (customer: CustomerHistory, at: Date) => string | null,
): Map<string, CohortRetention> {
  const groups = new Map<string, CustomerHistory[]>();
  for (const customer of history.customers) {
    if (signRational(customerMrrBefore(customer, window.start).total) <= 0) continue;
    const group = groupOf(customer, window.start);
    if (group === null) continue;
    const list = groups.get(group);
    if (list) list.push(customer);
    else groups.set(group, [customer]);
  }
  const result = new Map<string, CohortRetention>();
  for (const [group, customers] of [...groups].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
    result.set(group, cohortRetention({ currency: history.currency, customers }, window));
  return result;
}
