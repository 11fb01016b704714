import { voidPostings } from "@uptier/core";
import { eq } from "drizzle-orm";
import type { Tx } from "../../db/client.ts";
import { invoices } from "../../db/schema/index.ts";
import { DomainError } from "../errors.ts";
import { updateStanding } from "../subscriptions/standing.ts";
import {
  type InvoiceRow,
  invoiceEvent,
  lockInvoice,
  notOpen,
  pendingAttempt,
  postFor,
  writeOff,
} from "./invoice-records.ts";

/** What a person does to an open invoice besides paying it: void it, or write it off. */

/** Voids an open invoice: its ledger posting reversed (revenue, receivable, credit spent). */
export async function voidInvoice(tx: Tx, id: string, at: Date): Promise<InvoiceRow> {
  const invoice = await lockInvoice(tx, id);
  await assertSettleable(tx, invoice, "voided");
  const [row] = await tx
    .update(invoices)
    .set({ status: "void", voidedAt: at, nextPaymentAttempt: null })
    .where(eq(invoices.id, id))
    .returning();
  await postFor(tx, invoice, `void:${id}`, voidPostings(invoice), at);
  await invoiceEvent(tx, "invoice.voided", row as InvoiceRow, at, {});
  await updateStanding(tx, invoice.subscriptionId, at);
  return row as InvoiceRow;
}

/** Marks an open invoice uncollectible by hand: written off; the subscription stays (forgiven). */
export async function markUncollectible(tx: Tx, id: string, at: Date): Promise<InvoiceRow> {
  const invoice = await lockInvoice(tx, id);
  await assertSettleable(tx, invoice, "marked uncollectible");
  await writeOff(tx, invoice, at, "manual");
  await updateStanding(tx, invoice.subscriptionId, at);
  const [row] = await tx.select().from(invoices).where(eq(invoices.id, id));
  return row as InvoiceRow;
}

async function assertSettleable(tx: Tx, invoice: InvoiceRow, action: string) {
  if (invoice.status === "paid")
    throw new DomainError(
      "invoice_paid",
      `Invoice ${invoice.id} is paid: it cannot be ${action}. Issue a credit note (POST /v1/credit_notes) to refund or credit it.`,
      { param: "id" },
    );
  if (invoice.status !== "open") throw notOpen(invoice, action);
  if (await pendingAttempt(tx, invoice.id))
    throw new DomainError(
      "invoice_payment_pending",
      `A payment of invoice ${invoice.id} is in progress; retry when it has settled.`,
      { param: "id" },
    );
}
