import { eq } from "drizzle-orm";
import type { Executor } from "../../db/client.ts";
import { checkouts, quotes } from "../../db/schema/index.ts";
import { notFound } from "../errors.ts";
import type { CheckoutRow, QuoteRow } from "./setup.ts";

export function checkoutView(row: CheckoutRow) {
  const iso = (d: Date | null) => d?.toISOString() ?? null;
  const next = row.nextAction as { type: string; clientSecret: string | null; url: string | null } | null;
  return {
    id: row.id,
    object: "checkout" as const,
    account: row.accountId,
    quote: row.quoteId,
    subscription: row.subscriptionId,
    status: row.status as
      | "pending"
      | "succeeded"
      | "failed"
      | "requires_action"
      | "canceled"
      | "refund_pending"
      | "refunded",
    amount: row.amount,
    currency: row.currency,
    payment_method: row.paymentMethodId,
    gateway: row.gateway,
    payment: row.gatewayPaymentId,
    authorized_by: row.authorizedBy,
    invoice: row.invoiceId,
    next_action:
      row.status === "requires_action" && next
        ? {
            type: next.type,
            client_secret: next.clientSecret,
            url: next.url,
            confirm_url: `/v1/checkouts/${row.id}/confirm`,
          }
        : null,
    failure: row.failureCode ? { code: row.failureCode, message: row.failureMessage ?? "" } : null,
    attribution: row.attribution ?? null,
    created: row.createdAt.toISOString(),
    completed_at: iso(row.completedAt),
  };
}
export type CheckoutView = ReturnType<typeof checkoutView>;

export async function loadQuote(db: Executor, id: string): Promise<QuoteRow> {
  const [row] = await db.select().from(quotes).where(eq(quotes.id, id));
  if (!row) throw notFound("quote", id);
  return row;
}

export async function findCheckout(db: Executor, id: string): Promise<CheckoutRow> {
  const [row] = await db.select().from(checkouts).where(eq(checkouts.id, id));
  if (!row) throw notFound("checkout", id);
  return row;
}

export async function getCheckout(db: Executor, id: string): Promise<CheckoutView> {
  return checkoutView(await findCheckout(db, id));
}
