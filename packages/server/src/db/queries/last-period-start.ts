import { type SQL, sql } from "drizzle-orm";

/**
 * The start of the subscription's last recorded period (docs/rules.md, periods 4): with its
 * creation (renewals.ts coveredFrom), the latest instant known to be billed. Null for a
 * subscription with no record (one created before the record existed whose creation left no event
 * to backfill it from). A scalar subquery: renewals and a checkout's setup read it in their own
 * statements.
 */
export const lastPeriodStartOf = (subscriptionId: SQL) =>
  sql<string | Date | null>`(select max(p.period_start) from subscription_periods p
    where p.subscription_id = ${subscriptionId})`;
