// Over ~400 lines: a renewal's three resumable steps (draft, finalize, collect) read best together.
import {
  type FeatureDefinition,
  finalUsage,
  invoiceTotals,
  type MeterDefinition,
  nextRenewalPeriod,
  overageLines,
  periodOpening,
  type QuoteLine,
  type RenewalPeriod,
  renewalDue,
  renewalLines,
} from "@uptier/core";
import { and, desc, eq, inArray, isNull, lte, ne, or, sql } from "drizzle-orm";
import type { Executor, Tx } from "../../db/client.ts";
import { lastPeriodStartOf } from "../../db/queries/last-period-start.ts";
import { meterWindowTotal } from "../../db/queries/meter-window-total.ts";
import { accountInScope } from "../../db/queries/test-clock-scope.ts";
import {
  catalogVersions,
  invoiceLines,
  invoices,
  subscriptions,
  usageCounters,
} from "../../db/schema/index.ts";
import { newId } from "../../ids.ts";
import type { BillingContext } from "../context.ts";
import { recordEvent } from "../events/append.ts";
import { recordPeriod } from "../subscriptions/periods.ts";
import { loadSubscriptions } from "../subscriptions/records.ts";
import { applyDueScheduledChange } from "../subscriptions/scheduled-changes.ts";
import { collectInvoice } from "./collection.ts";
import { finalizeInvoice } from "./finalize.ts";
import { invoiceView } from "./issue.ts";

/**
 * Renewals: at each period end a live subscription gets the invoice of its new period — the
 * recurring items in advance, and the billed overage of the period that ended in arrears — which is
 * then finalized and collected (finalize.ts, collection.ts). Three steps, each its own transaction
 * and each resumable, so a crash between them is finished by the next run:
 *
 *   1. draft    the invoice of the first period not billed yet (a downgrade due at that period end
 *               is applied first, so the new period is priced as it will be); the unique
 *               (subscription, period start) of renewal invoices makes it exactly-once;
 *   2. finalize the draft: credit balance applied, the gap-free number taken, the ledger posted;
 *   3. collect  the first attempt on the default payment method.
 *
 * The first period not billed yet follows from the anchor and the last recorded period (core's
 * nextRenewalPeriod; subscription-periods.ts), which the draft records in its transaction. A job
 * that did not run for a while catches up one period at a time, oldest first.
 */
type InvoiceRow = typeof invoices.$inferSelect;
type SubscriptionRow = typeof subscriptions.$inferSelect;

/** At most this many periods are caught up per subscription and run (a bound, not a rule). */
const MAX_PERIODS_PER_RUN = 24;

// Spelled out (not ${subscriptions.id}): drizzle renders a lone table's column unqualified, which
// inside the subquery would name another table's column.
const lastPeriodStart = lastPeriodStartOf(sql.raw("subscriptions.id"));

/**
 * The latest instant known to be billed: the start of the last recorded period, or the
 * subscription's creation for one with no record (created before the record existed).
 */
function coveredFrom(subscription: SubscriptionRow, lastPeriod: string | Date | null): Date {
  const last = lastPeriod ? new Date(lastPeriod) : null;
  return last && last.getTime() > subscription.createdAt.getTime() ? last : subscription.createdAt;
}

async function coveredAt(db: Executor, subscription: SubscriptionRow): Promise<Date> {
  const [row] = await db
    .select({ last: lastPeriodStart })
    .from(subscriptions)
    .where(eq(subscriptions.id, subscription.id));
  return coveredFrom(subscription, row?.last ?? null);
}

const dueFor = (row: SubscriptionRow, covered: Date): RenewalPeriod =>
  nextRenewalPeriod({
    anchor: row.billingCycleAnchor,
    interval: row.interval as "month" | "year",
    coveredAt: covered,
  });

/**
 * Whether the subscription has a period begun by `at` whose renewal is not drafted yet, from its
 * row and the start of its last recorded period (lastPeriodStartOf): what the renewal job and a
 * checkout ask.
 */
export const renewalPending = (row: SubscriptionRow, lastPeriod: string | Date | null, at: Date): boolean =>
  row.status !== "canceled" && renewalDue(dueFor(row, coveredFrom(row, lastPeriod)), at);

/** The latest catalog's features and meters (an overage price is read from there). */
async function catalogFeatures(db: Executor) {
  const [latest] = await db
    .select({ document: catalogVersions.document })
    .from(catalogVersions)
    .orderBy(desc(catalogVersions.version))
    .limit(1);
  const document = (latest?.document ?? {}) as {
    features?: Record<string, FeatureDefinition>;
    meters?: Record<string, MeterDefinition>;
  };
  return { features: document.features ?? {}, meters: document.meters ?? {} };
}

/** Meter totals of one window of an account (a max meter's total is its largest day). */
async function meterTotals(
  db: Executor,
  accountId: string,
  windowStart: Date,
): Promise<Record<string, number>> {
  const rows = await db
    .select({
      meter: usageCounters.meter,
      value: meterWindowTotal(usageCounters.aggregation, usageCounters.value),
    })
    .from(usageCounters)
    .where(and(eq(usageCounters.accountId, accountId), eq(usageCounters.periodStart, windowStart)))
    .groupBy(usageCounters.meter);
  return Object.fromEntries(rows.map((r) => [r.meter, Number(r.value)]));
}

/**
 * Drafts the renewal invoice of the subscription's first period not billed yet, if it has begun by
 * `dueBy` (the drafting instant `at` unless told: a checkout drafts only the periods begun by its
 * quote's frozen instant). Returns null when nothing is due, the subscription has ended, or another
 * worker drafted it.
 */
export async function draftRenewal(
  billing: BillingContext,
  subscriptionId: string,
  at: Date,
  dueBy: Date = at,
): Promise<InvoiceRow | null> {
  return billing.db.transaction(async (tx) => {
    const [first] = await tx.select().from(subscriptions).where(eq(subscriptions.id, subscriptionId));
    if (!first || first.status === "canceled") return null;
    const covered = await coveredAt(tx, first);
    const tentative = dueFor(first, covered);
    if (!renewalDue(tentative, dueBy)) return null;
    // What was in force at the end of the period that ended: its grants bound the overage.
    const [ended] = await loadSubscriptions(tx, [first], new Date(tentative.start.getTime() - 1));
    // A downgrade (or an annual → monthly switch) due at this period end applies before pricing.
    // It locks the subscription, then its change: the order of every change of a subscription.
    await applyDueScheduledChange(tx, subscriptionId, tentative.start);
    const [row] = await tx
      .select()
      .from(subscriptions)
      .where(eq(subscriptions.id, subscriptionId))
      .for("update");
    if (!row || row.status === "canceled") return null;
    const period = dueFor(row, covered);
    if (!renewalDue(period, dueBy)) return null;
    const [record] = await loadSubscriptions(tx, [row], period.start);
    if (!record || record.state.status === "canceled") return null;
    const lines: QuoteLine[] = renewalLines({ shape: record.shape, period });
    // The overage of the period that just ended (not of a trial), when it ends where this one starts.
    const { currentPeriodStart: start, currentPeriodEnd: end } = ended?.state ?? {};
    if (ended && ended.state.status !== "trialing" && start && end?.getTime() === tentative.start.getTime()) {
      const { features, meters } = await catalogFeatures(tx);
      lines.push(
        ...overageLines({
          shape: ended.shape,
          features,
          meters,
          usage: { meters: await meterTotals(tx, row.accountId, start) },
          period: { start, end },
        }),
      );
    }
    const draft = await insertDraft(tx, billing, row, period, lines, at, "subscription_cycle");
    if (draft)
      await recordPeriod(tx, {
        subscriptionId: row.id,
        accountId: row.accountId,
        period,
        openedBy: "renewal",
        invoiceId: draft.id,
        opening: periodOpening(record.shape),
        at,
      });
    return draft;
  });
}

/** Why an invoice drafted after the fact exists: a period's renewal, or an ended subscription's last usage. */
type DraftReason = "subscription_cycle" | "subscription_final";

async function insertDraft(
  tx: Tx,
  billing: BillingContext,
  subscription: SubscriptionRow,
  period: RenewalPeriod,
  lines: readonly QuoteLine[],
  at: Date,
  reason: DraftReason,
): Promise<InvoiceRow | null> {
  const id = newId("invoice", at);
  const totals = invoiceTotals(lines, 0);
  const [draft] = await tx
    .insert(invoices)
    .values({
      id,
      accountId: subscription.accountId,
      subscriptionId: subscription.id,
      vendor: billing.vendor,
      status: "draft",
      billingReason: reason,
      currency: subscription.currency,
      subtotal: totals.subtotal,
      creditApplied: 0,
      creditAdded: totals.creditAdded,
      amountDue: totals.amountDue,
      amountPaid: 0,
      periodStart: period.start,
      periodEnd: period.end,
      issuedAt: at,
      createdAt: at,
    })
    // the loser of a race (two workers, two nodes) inserts nothing and stops here: one renewal
    // per (subscription, period start), one final invoice per subscription
    .onConflictDoNothing(
      reason === "subscription_cycle"
        ? {
            target: [invoices.subscriptionId, invoices.periodStart],
            where: sql`billing_reason = 'subscription_cycle'`,
          }
        : { target: [invoices.subscriptionId], where: sql`billing_reason = 'subscription_final'` },
    )
    .returning();
  if (!draft) return null;
  const lineRows = lines.map((l, position) => ({
    id: newId("invoiceLine", at),
    invoiceId: id,
    accountId: subscription.accountId,
    subscriptionId: subscription.id,
    position,
    item: l.item,
    description: l.description,
    quantity: l.quantity,
    unitAmount: l.unitAmount,
    amount: l.amount,
    proration: l.proration,
    kind: l.kind,
    periodStart: l.periodStart,
    periodEnd: l.periodEnd,
  }));
  if (lineRows.length > 0) await tx.insert(invoiceLines).values(lineRows);
  await recordEvent(tx, {
    type: "invoice.created",
    accountId: subscription.accountId,
    data: { invoice: invoiceView(draft, lineRows) },
    at,
  });
  return draft;
}

/**
 * Drafts, oldest first, every renewal of the subscription whose period has begun by `dueBy` (at
 * most MAX_PERIODS_PER_RUN of them). Answers how many this call drafted.
 */
export async function draftDueRenewals(
  billing: BillingContext,
  subscriptionId: string,
  at: Date,
  dueBy: Date = at,
): Promise<number> {
  let drafted = 0;
  while (drafted < MAX_PERIODS_PER_RUN && (await draftRenewal(billing, subscriptionId, at, dueBy))) drafted++;
  return drafted;
}

/**
 * The final invoice of an ended subscription: the billed overage of its last period(s), which no
 * renewal carries (Stripe's "invoice now" on cancellation, Lago's termination invoice). Exactly once
 * under the subscription's row lock and the unique index invoices_one_final_per_subscription; no
 * overage means no invoice, only the `final_usage` mark. Rules: docs/invoice-lifecycle.md, "The
 * final invoice of an ended subscription".
 */
export async function draftFinalInvoice(
  billing: BillingContext,
  subscriptionId: string,
  at: Date,
): Promise<InvoiceRow | null> {
  return billing.db.transaction(async (tx) => {
    const [row] = await tx
      .select()
      .from(subscriptions)
      .where(eq(subscriptions.id, subscriptionId))
      .for("update");
    if (!row || row.finalUsage !== null) return null;
    const [record] = await loadSubscriptions(tx, [row], at);
    const endedAt = record?.state.status === "canceled" ? record.state.endedAt : null;
    if (!record || !endedAt) return null;
    const final = finalUsage({
      anchor: row.billingCycleAnchor,
      interval: row.interval as "month" | "year",
      coveredAt: await coveredAt(tx, row),
      endedAt,
      renewable: row.status !== "canceled",
    });
    if (!final.due) return null;
    const lines: QuoteLine[] = [];
    if (final.periods.length > 0) {
      // The grants of the shape it ended with: a change scheduled for the end is never applied to
      // an ended subscription (scheduled-changes.ts), and the grant is not prorated for a period
      // cut short: the customer had the whole allowance in force while it lasted. A period's
      // counters hold only usage timestamped before the end, late events included: usage from the
      // end on is counted in windows that begin at or after it (core's usageWindowAt).
      const { features, meters } = await catalogFeatures(tx);
      for (const period of final.periods)
        lines.push(
          ...overageLines({
            shape: record.shape,
            features,
            meters,
            usage: { meters: await meterTotals(tx, row.accountId, period.start) },
            period,
          }),
        );
    }
    const first = final.periods[0];
    const draft =
      first && lines.length > 0
        ? await insertDraft(
            tx,
            billing,
            row,
            { start: first.start, end: endedAt },
            lines,
            at,
            "subscription_final",
          )
        : null;
    await tx
      .update(subscriptions)
      .set({ finalUsage: lines.length > 0 ? "invoiced" : "none", finalUsageAt: at })
      .where(eq(subscriptions.id, row.id));
    return draft;
  });
}

/**
 * Ended subscriptions whose last usage is not settled yet: stored as canceled, or whose
 * cancellation at period end has passed (the stored status catches up later).
 */
async function finalCandidates(billing: BillingContext, at: Date): Promise<string[]> {
  const rows = await billing.db
    .select({ id: subscriptions.id })
    .from(subscriptions)
    .where(
      and(
        isNull(subscriptions.finalUsage),
        or(eq(subscriptions.status, "canceled"), lte(subscriptions.cancelAt, at)),
        accountInScope(subscriptions.accountId, billing.testClock),
      ),
    );
  return rows.map((r) => r.id);
}

export interface RenewalReport {
  readonly renewed: number;
  /** final invoices drafted (the overage of an ended subscription's last period) */
  readonly final: number;
  readonly finalized: number;
  readonly paid: number;
  readonly failed: number;
}

/**
 * The renewal job: drafts every period that has begun and is not billed yet, then the final
 * invoice of every subscription that has ended (draftFinalInvoice), finalizes every draft renewal
 * and final invoice (also those a dead process left), and makes the first attempt on each. Later
 * attempts belong to the dunning job (billing.retry-invoice-payments).
 */
export async function renewSubscriptions(billing: BillingContext): Promise<RenewalReport> {
  const at = billing.clock();
  const report = { renewed: 0, final: 0, finalized: 0, paid: 0, failed: 0 };
  // One query finds the candidates; each is then drafted in a transaction of its own.
  const live = await billing.db
    .select({ row: subscriptions, last: lastPeriodStart })
    .from(subscriptions)
    .where(
      and(ne(subscriptions.status, "canceled"), accountInScope(subscriptions.accountId, billing.testClock)),
    );
  for (const { row, last } of live)
    if (renewalPending(row, last, at)) report.renewed += await draftDueRenewals(billing, row.id, at);
  // After the renewals: an ended subscription's final invoice waits for every renewal of a period
  // begun before its end (drafted just above), which bills the period before.
  for (const id of await finalCandidates(billing, at))
    if (await draftFinalInvoice(billing, id, at)) report.final++;
  const drafts = await billing.db
    .select({ id: invoices.id })
    .from(invoices)
    .where(
      and(
        eq(invoices.status, "draft"),
        inArray(invoices.billingReason, ["subscription_cycle", "subscription_final"]),
        accountInScope(invoices.accountId, billing.testClock),
      ),
    )
    .orderBy(invoices.periodStart);
  for (const { id } of drafts) {
    const open = await billing.db.transaction((tx) => finalizeInvoice(tx, billing, id, at));
    if (!open) continue;
    report.finalized++;
    if (open.status === "paid") {
      report.paid++;
      continue;
    }
    const { invoice } = await collectInvoice(billing, id, { trigger: "automatic" });
    if (invoice.status === "paid") report.paid++;
    else report.failed++;
  }
  return report;
}
