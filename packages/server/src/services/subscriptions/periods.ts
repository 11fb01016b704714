import type { PeriodOpening, RenewalPeriod } from "@uptier/core";
import { sql } from "drizzle-orm";
import type { Executor, Tx } from "../../db/client.ts";
import { lastPeriodStartOf } from "../../db/queries/last-period-start.ts";
import { subscriptionPeriods } from "../../db/schema/index.ts";

/**
 * The period record (docs/rules.md, periods 4): each billing period of a subscription, written
 * when it begins, with what opened it and what it charged then for each item. It is the one answer
 * to "is this period billed?" (renewals, a checkout's lapse check, final invoices) and to "what
 * did the period open with?" (the credit cap of quotes and checkouts).
 */
export type PeriodOpener = "subscription_created" | "trial" | "renewal" | "interval_change";

export interface PeriodRecord {
  readonly subscriptionId: string;
  readonly accountId: string;
  readonly period: RenewalPeriod;
  readonly openedBy: PeriodOpener;
  readonly invoiceId: string | null;
  readonly opening: PeriodOpening;
  readonly at: Date;
}

/** Records a period as it begins; one already recorded stays as it was recorded. */
export async function recordPeriod(tx: Tx, record: PeriodRecord): Promise<void> {
  await tx
    .insert(subscriptionPeriods)
    .values({
      subscriptionId: record.subscriptionId,
      accountId: record.accountId,
      periodStart: record.period.start,
      periodEnd: record.period.end,
      openedBy: record.openedBy,
      invoiceId: record.invoiceId,
      opening: record.opening,
      createdAt: record.at,
    })
    .onConflictDoNothing();
}

/** Period records as rows of a jsonb_to_recordset parameter (a checkout batch writes them in its statement). */
export const periodRows = (records: readonly PeriodRecord[]) =>
  records.map((r) => ({
    subscription_id: r.subscriptionId,
    account_id: r.accountId,
    period_start: r.period.start.toISOString(),
    period_end: r.period.end.toISOString(),
    opened_by: r.openedBy,
    invoice_id: r.invoiceId,
    opening: r.opening,
    created_at: r.at.toISOString(),
  }));

/**
 * The start of each subscription's last recorded period (lastPeriodStartOf), read by a statement of
 * its own: run after the subscriptions are locked, it sees every renewal drafted before the lock
 * was granted (draftRenewal drafts and records under the same lock).
 */
export async function lastPeriodStarts(
  db: Executor,
  ids: readonly string[],
): Promise<Map<string, Date | null>> {
  if (ids.length === 0) return new Map();
  const result = (await db.execute(
    sql`select x.id, ${lastPeriodStartOf(sql`x.id`)} as last
      from jsonb_array_elements_text(${JSON.stringify(ids)}::jsonb) as x(id)`,
  )) as unknown as { rows: { id: string; last: string | Date | null }[] };
  return new Map(result.rows.map((r) => [r.id, r.last === null ? null : new Date(r.last)]));
}
