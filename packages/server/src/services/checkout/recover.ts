import { isQuoteExpired, LIVE_CHECKOUT_STATUSES } from "@uptier/core";
import { and, eq, inArray, lt } from "drizzle-orm";
import { accountInScope } from "../../db/queries/test-clock-scope.ts";
import { checkouts } from "../../db/schema/index.ts";
import type { BillingContext } from "../context.ts";
import { recordEvent } from "../events/append.ts";
import { gatewayOf, settleOutcome, settlePending } from "./charge.ts";
import type { CheckoutRow } from "./setup.ts";
import { checkoutView, findCheckout, loadQuote } from "./views.ts";

/** The HTTP answer for a checkout's state: 200 done, 202 still processing or awaiting action. */
export interface RecoveryReport {
  readonly examined: number;
  readonly completed: number;
  readonly failed: number;
  readonly refunded: number;
  readonly canceled: number;
  readonly unresolved: number;
}

/**
 * The recovery job: resolves checkouts left mid-way (a crash between the gateway's yes and our
 * commit, a timeout, an abandoned 3-D Secure) by asking the gateway again with the same key, and
 * gives back charges that can no longer buy what was quoted. Safe to run anywhere, any time, twice.
 */
export async function recoverCheckouts(
  billing: BillingContext,
  options: { olderThanMs?: number } = {},
): Promise<RecoveryReport> {
  const now = billing.clock();
  const cutoff = new Date(now.getTime() - (options.olderThanMs ?? 60_000));
  const stuck = await billing.db
    .select()
    .from(checkouts)
    .where(
      and(
        inArray(checkouts.status, LIVE_CHECKOUT_STATUSES),
        lt(checkouts.updatedAt, cutoff),
        accountInScope(checkouts.accountId, billing.testClock),
      ),
    );
  const report = { examined: stuck.length, completed: 0, failed: 0, refunded: 0, canceled: 0, unresolved: 0 };
  for (const checkout of stuck) {
    let row = checkout;
    try {
      if (row.status === "pending") row = await settlePending(billing, row);
      else if (row.status === "requires_action") {
        const quote = await loadQuote(billing.db, row.quoteId);
        const outcome = await gatewayOf(billing, row).retrieve(row.gatewayPaymentId as string);
        if (outcome.status === "requires_action" && isQuoteExpired(quote.expiresAt, now)) {
          await gatewayOf(billing, row).cancel(
            row.gatewayPaymentId as string,
            `${row.gatewayIdempotencyKey}_cancel`,
          );
          row = await settleOutcome(billing, row.id, {
            status: "canceled",
            paymentId: row.gatewayPaymentId as string,
          });
        } else row = await settleOutcome(billing, row.id, outcome);
      }
      if (row.status === "refund_pending") row = await refundCheckout(billing, row);
    } catch {
      report.unresolved++;
      continue;
    }
    if (row.status === "succeeded") report.completed++;
    else if (row.status === "failed") report.failed++;
    else if (row.status === "refunded") report.refunded++;
    else if (row.status === "canceled") report.canceled++;
    else report.unresolved++;
  }
  return report;
}

/** Gives back a charge that bought nothing (the refund key is derived from the checkout too). */
export async function refundCheckout(billing: BillingContext, row: CheckoutRow): Promise<CheckoutRow> {
  if (row.status !== "refund_pending") return row;
  await gatewayOf(billing, row).refund({
    paymentId: row.gatewayPaymentId as string,
    amount: row.amount,
    idempotencyKey: `${row.gatewayIdempotencyKey}_refund`,
  });
  const at = billing.clock();
  return billing.db.transaction(async (tx) => {
    const [updated] = await tx
      .update(checkouts)
      .set({ status: "refunded", completedAt: at, updatedAt: at })
      .where(and(eq(checkouts.id, row.id), eq(checkouts.status, "refund_pending")))
      .returning();
    if (updated)
      await recordEvent(tx, {
        type: "checkout.refunded" as const,
        accountId: row.accountId,
        data: { checkout: checkoutView(updated) },
        at,
      });
    return updated ?? (await findCheckout(tx, row.id));
  });
}
