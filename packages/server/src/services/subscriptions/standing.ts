import { delinquentEnding, type SubscriptionStatus, standingChange } from "@uptier/core";
import { and, eq, sql } from "drizzle-orm";
import type { Tx } from "../../db/client.ts";
import { seatsInUse } from "../../db/queries/seats-in-use.ts";
import { invoicePayments, invoices, subscriptions } from "../../db/schema/index.ts";
import { recordEvent } from "../events/append.ts";
import { loadSubscriptions } from "./records.ts";
import { pendingChangesOf, subscriptionView } from "./subscriptions.ts";

/**
 * The subscription's standing as its invoices move (core's standing.ts decides; this file reads and
 * writes): past_due and back after a collection attempt, a void or a write-off, and its end when
 * dunning is exhausted. Each locks the subscription row first.
 */

async function lockRow(tx: Tx, id: string) {
  const [row] = await tx.select().from(subscriptions).where(eq(subscriptions.id, id)).for("update");
  return row;
}

/**
 * Retries exhausted: the subscription ends (core's delinquentEnding). The usage of its last period
 * is waived, never put on a final invoice (renewals.ts draftFinalInvoice): the customer has just
 * failed to pay for 30 days and their debt is written off; another invoice would go to the same
 * failing card, through another month of dunning, to another write-off. Collecting is a person's
 * call: the written-off invoice can still be paid by hand.
 */
export async function cancelDelinquent(
  tx: Tx,
  invoice: { readonly id: string; readonly subscriptionId: string | null },
  at: Date,
): Promise<void> {
  if (!invoice.subscriptionId) return;
  const sub = await lockRow(tx, invoice.subscriptionId);
  if (!sub) return;
  const ending = delinquentEnding({ ...sub, status: sub.status as SubscriptionStatus }, at);
  if (!ending) return;
  await tx
    .update(subscriptions)
    .set({
      status: "canceled",
      canceledAt: ending.canceledAt,
      endedAt: ending.endedAt,
      revision: sub.revision + 1,
      updatedAt: at,
      finalUsage: sub.finalUsage ?? ending.finalUsage,
      finalUsageAt: sub.finalUsageAt ?? at,
    })
    .where(eq(subscriptions.id, sub.id));
  await recordEvent(tx, {
    type: "subscription.canceled",
    accountId: sub.accountId,
    data: {
      subscription: sub.id,
      ended_at: ending.endedAt.toISOString(),
      ...(ending.reason ? { reason: ending.reason, invoice: invoice.id } : {}),
    },
    at,
  });
}

/**
 * The subscription's standing from its invoices (core's standingChange): past_due while one of
 * them is open after a failed attempt, active again when none is. A canceled subscription stays
 * canceled.
 */
export async function updateStanding(tx: Tx, subscriptionId: string | null, at: Date): Promise<void> {
  if (!subscriptionId) return;
  const sub = await lockRow(tx, subscriptionId);
  if (!sub) return;
  const [owing] = await tx
    .select({ n: sql<number>`count(*)::int` })
    .from(invoices)
    .where(
      and(
        eq(invoices.subscriptionId, subscriptionId),
        eq(invoices.status, "open"),
        sql`exists (select 1 from ${invoicePayments} p where p.invoice_id = ${invoices.id} and p.status = 'failed')`,
      ),
    );
  const change = standingChange(sub.status as SubscriptionStatus, Number(owing?.n ?? 0) > 0);
  if (!change) return;
  const [before] = await loadSubscriptions(tx, [sub], at);
  const [updated] = await tx
    .update(subscriptions)
    .set({ status: change.status, revision: sub.revision + 1, updatedAt: at })
    .where(eq(subscriptions.id, sub.id))
    .returning();
  const [after] = await loadSubscriptions(tx, [updated as typeof sub], at);
  if (!before || !after) return;
  const used = await seatsInUse(tx, sub.accountId);
  const pending = (await pendingChangesOf(tx, [sub.id])).get(sub.id) ?? null;
  await recordEvent(tx, {
    type: "subscription.updated",
    accountId: sub.accountId,
    data: {
      previous: subscriptionView(before, used, pending),
      subscription: subscriptionView(after, used, pending),
      change: { reason: change.reason },
    },
    at,
  });
}
