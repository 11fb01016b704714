import { type SQLWrapper, sql } from "drizzle-orm";

/**
 * A meter's total over usage_counters rows of one window (core's aggregateEvents): the largest value
 * for a max meter, the sum for the others (count, sum and unique_count add up). An aggregate: the
 * rows are grouped by meter (and window, or day); every row of a meter has its aggregation.
 */
export const meterWindowTotal = (aggregation: SQLWrapper, value: SQLWrapper) =>
  sql<string>`case when min(${aggregation}) = 'max' then max(${value}) else sum(${value}) end`;

/** Two partial totals of one meter window combined (core's combineTotals): a counter's upsert. */
export const combinedMeterTotal = (aggregation: SQLWrapper, a: SQLWrapper, b: SQLWrapper) =>
  sql<string>`case when ${aggregation} = 'max' then greatest(${a}, ${b}) else ${a} + ${b} end`;
