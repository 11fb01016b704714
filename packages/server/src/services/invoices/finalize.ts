import { invoicePostings, invoiceTotals } from "@uptier/core";
import { eq } from "drizzle-orm";
import type { Tx } from "../../db/client.ts";
import { creditBalance } from "../../db/queries/credit-balance.ts";
import { accounts, invoices } from "../../db/schema/index.ts";
import type { BillingContext } from "../context.ts";
import { type InvoiceRow, invoiceEvent, linesOf, lockInvoice, postFor } from "./invoice-records.ts";
import { takeInvoiceNumber } from "./issue.ts";

/**
 * Finalizes a draft: applies the credit balance (locked with the account, so two invoices never
 * spend the same credit), takes the gap-free number, posts the invoice to the ledger. Nothing due
 * (a free plan, or credit covering it all) makes it paid at once; otherwise it is open and its
 * first attempt due now. Returns null when the invoice is not a draft any more (finalized by
 * another worker).
 */
export async function finalizeInvoice(
  tx: Tx,
  billing: BillingContext,
  id: string,
  at: Date,
): Promise<InvoiceRow | null> {
  const draft = await lockInvoice(tx, id);
  if (draft.status !== "draft") return null;
  await tx.select({ id: accounts.id }).from(accounts).where(eq(accounts.id, draft.accountId)).for("update");
  const lines = await linesOf(tx, id);
  const totals = invoiceTotals(lines, await creditBalance(tx, draft.accountId, draft.currency));
  const { number, sequence } = await takeInvoiceNumber(tx, billing);
  const settled = totals.amountDue === 0;
  const [row] = await tx
    .update(invoices)
    .set({
      status: settled ? "paid" : "open",
      number,
      sequence,
      subtotal: totals.subtotal,
      creditApplied: totals.creditApplied,
      creditAdded: totals.creditAdded,
      amountDue: totals.amountDue,
      amountPaid: 0,
      issuedAt: at,
      finalizedAt: at,
      paidAt: settled ? at : null,
      nextPaymentAttempt: settled ? null : at,
    })
    .where(eq(invoices.id, id))
    .returning();
  const open = row as InvoiceRow;
  await postFor(tx, open, `invoice:${id}`, invoicePostings(totals), at);
  await invoiceEvent(tx, "invoice.finalized", open, at, {});
  if (settled) await invoiceEvent(tx, "invoice.paid", open, at, {});
  return open;
}
