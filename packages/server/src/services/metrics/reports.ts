import {
  averageExpansion,
  type Bucket,
  bucketCount,
  bucketsBetween,
  type CohortRetention,
  type CustomerHistory,
  cohortRetention,
  cohortRetentionBy,
  customerMovement,
  customerPlanBefore,
  customerSegmentBefore,
  decimalOf,
  EXPANSION_SOURCES,
  expansionShareOfNewMrr,
  groupInstant,
  isNetNegativeChurn,
  logoChurnRate,
  type MovementTotals,
  movementTotals,
  netMrrChurnRate,
  nrrBand,
  percentOf,
  quickRatio,
  type Rational,
  type RevenueHistory,
  revenueChurnRate,
  revenueSnapshot,
  roundToSafeInteger,
  type SourceParts,
  startCohort,
  trailingWindow,
} from "@uptier/core";
import {
  MAX_METRICS_BUCKETS,
  type MetricsSeriesQuery,
  type MovementBucketView,
  type MovementsView,
  type MrrSeriesView,
  type RetentionQuery,
  type RetentionView,
} from "@uptier/core/api";
import type { Executor } from "../../db/client.ts";
import { DomainError } from "../errors.ts";
import { loadRevenueHistory } from "./revenue-history.ts";

/**
 * The revenue metrics the API answers (docs/metrics.md, "API"): each is core's rule applied to the
 * history the event log gives; here only the range is checked and the numbers shaped for the wire.
 */

const amount = (value: Rational) => roundToSafeInteger(value);
const percent = (value: Rational | null) => (value === null ? null : percentOf(value));
const bySource = (parts: SourceParts) =>
  Object.fromEntries(EXPANSION_SOURCES.map((source) => [source, amount(parts[source])])) as Record<
    (typeof EXPANSION_SOURCES)[number],
    number
  >;

type Filters = Pick<MetricsSeriesQuery, "segment" | "plan">;

/** Whether a customer is in the segment and on the plan asked for, read as docs/metrics.md says. */
function filterOf(history: RevenueHistory, filters: Filters) {
  return (customer: CustomerHistory, bucket: Bucket) => {
    const at = groupInstant(customer, bucket);
    if (filters.plan !== undefined && customerPlanBefore(customer, at) !== filters.plan) return false;
    if (
      filters.segment !== undefined &&
      customerSegmentBefore(customer, at, history.currency ?? "usd") !== filters.segment
    )
      return false;
    return true;
  };
}

/** [from, to): `to` defaults to now, `from` to twelve months before `to`. */
function rangeOf(query: { from?: string | undefined; to?: string | undefined }, now: Date) {
  const to = query.to ? new Date(query.to) : now;
  const from = query.from ? new Date(query.from) : trailingWindow(to).start;
  if (from.getTime() >= to.getTime())
    throw new DomainError("invalid_range", "`from` must be before `to`.", { param: "from" });
  return { from, to };
}

function seriesRange(query: MetricsSeriesQuery, now: Date) {
  const { from, to } = rangeOf(query, now);
  const count = bucketCount(from, to, query.interval);
  if (count > MAX_METRICS_BUCKETS)
    throw new DomainError(
      "range_too_large",
      `The range holds ${count} ${query.interval} buckets; at most ${MAX_METRICS_BUCKETS} can be asked for at once.`,
      { param: "interval" },
    );
  return { from, to, buckets: bucketsBetween(from, to, query.interval) };
}

const seriesFields = (history: RevenueHistory, query: MetricsSeriesQuery, from: Date, to: Date) => ({
  currency: history.currency,
  interval: query.interval,
  from: from.toISOString(),
  to: to.toISOString(),
  segment: query.segment ?? null,
  plan: query.plan ?? null,
});

/** MRR at each bucket's close, with its customers, ARPA and the annual-plan mix. */
export async function mrrSeries(db: Executor, query: MetricsSeriesQuery, now: Date): Promise<MrrSeriesView> {
  const { from, to, buckets } = seriesRange(query, now);
  const history = await loadRevenueHistory(db, now, query.currency);
  const include = filterOf(history, query);
  const data = buckets.map((bucket) => {
    const customers = history.customers.filter((customer) => include(customer, bucket));
    // in force at the bucket's last millisecond: its closing MRR
    const snapshot = revenueSnapshot({ ...history, customers }, new Date(bucket.end.getTime() - 1));
    return {
      start: bucket.start.toISOString(),
      end: bucket.end.toISOString(),
      mrr: amount(snapshot.mrr),
      committed_mrr: amount(snapshot.committed),
      usage_mrr: amount(snapshot.usage),
      customers: snapshot.activeCustomers,
      arpa: snapshot.arpa === null ? null : amount(snapshot.arpa),
      annual_mrr_share: percent(snapshot.annualMrrShare),
    };
  });
  return { object: "mrr_series", ...seriesFields(history, query, from, to), data };
}

function movementView(bucket: Bucket, totals: MovementTotals): MovementBucketView {
  const quick = quickRatio(totals);
  const average = averageExpansion(totals);
  return {
    start: bucket.start.toISOString(),
    end: bucket.end.toISOString(),
    opening_mrr: amount(totals.opening),
    closing_mrr: amount(totals.closing),
    new: amount(totals.new),
    expansion: amount(totals.expansion),
    contraction: amount(totals.contraction),
    churn: amount(totals.churn),
    reactivation: amount(totals.reactivation),
    customers: totals.counts,
    expansion_by_source: bySource(totals.expansionBySource),
    contraction_by_source: bySource(totals.contractionBySource),
    quick_ratio: quick === null ? null : decimalOf(quick),
    logo_churn_rate: percent(logoChurnRate(totals)),
    revenue_churn_rate: percent(revenueChurnRate(totals)),
    net_mrr_churn_rate: percent(netMrrChurnRate(totals)),
    net_negative_churn: isNetNegativeChurn(totals),
    expansion_share_of_new_mrr: percent(expansionShareOfNewMrr(totals)),
    average_expansion: average === null ? null : amount(average),
  };
}

/** Each bucket's movements, and the whole range as one bucket. */
export async function movementSeries(
  db: Executor,
  query: MetricsSeriesQuery,
  now: Date,
): Promise<MovementsView> {
  const { from, to, buckets } = seriesRange(query, now);
  const history = await loadRevenueHistory(db, now, query.currency);
  const include = filterOf(history, query);
  const totalsOf = (bucket: Bucket) =>
    movementTotals(
      history.customers
        .filter((c) => include(c, bucket))
        .map((customer) => customerMovement(customer, bucket)),
    );
  const whole = { start: buckets[0]?.start ?? from, end: buckets.at(-1)?.end ?? to };
  return {
    object: "mrr_movements",
    ...seriesFields(history, query, from, to),
    data: buckets.map((bucket) => movementView(bucket, totalsOf(bucket))),
    total: movementView(whole, totalsOf(whole)),
  };
}

function retentionFields(result: CohortRetention) {
  return {
    customers: result.customers,
    retained_customers: result.retainedCustomers,
    start_mrr: amount(result.start),
    expansion: amount(result.expansion),
    contraction: amount(result.contraction),
    churn: amount(result.churn),
    end_mrr: amount(result.end),
    nrr: percent(result.nrr),
    grr: percent(result.grr),
    nrr_band: result.nrr === null ? null : nrrBand(result.nrr),
  };
}

/** NRR and GRR over the window (trailing twelve months by default), whole and per group. */
export async function retention(db: Executor, query: RetentionQuery, now: Date): Promise<RetentionView> {
  const to = query.to ? new Date(query.to) : now;
  const { from } = rangeOf(
    { from: query.from ?? trailingWindow(to).start.toISOString(), to: to.toISOString() },
    now,
  );
  const window = { start: from, end: to };
  const history = await loadRevenueHistory(db, now, query.currency);
  const include = filterOf(history, query);
  const cohort = { ...history, customers: history.customers.filter((c) => include(c, window)) };
  const groupOf = {
    segment: (c: CustomerHistory, at: Date) => customerSegmentBefore(c, at, history.currency ?? "usd"),
    plan: customerPlanBefore,
    cohort: startCohort,
  };
  const groups = query.group_by ? cohortRetentionBy(cohort, window, groupOf[query.group_by]) : null;
  return {
    object: "retention",
    currency: history.currency,
    from: from.toISOString(),
    to: to.toISOString(),
    segment: query.segment ?? null,
    plan: query.plan ?? null,
    ...retentionFields(cohortRetention(cohort, window)),
    groups: groups ? [...groups].map(([group, result]) => ({ group, ...retentionFields(result) })) : null,
  };
}
