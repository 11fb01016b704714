import { type LedgerPosting, writeOffPostings } from "@uptier/core";
import type { DomainEventPayloads, DomainEventType } from "@uptier/core/api";
import { and, asc, eq } from "drizzle-orm";
import type { Tx } from "../../db/client.ts";
import { invoiceLines, invoicePayments, invoices } from "../../db/schema/index.ts";
import { DomainError, notFound } from "../errors.ts";
import { type EventToAppend, recordEvent } from "../events/append.ts";
import { postLedger } from "../ledger/post.ts";
import { invoiceView } from "./issue.ts";

/**
 * What finalizing, collecting, voiding and writing off an invoice share: its row locked, its
 * lines, its events, its ledger postings, its attempt in flight, and the write-off.
 */
export type InvoiceRow = typeof invoices.$inferSelect;
export type AttemptRow = typeof invoicePayments.$inferSelect;

export async function lockInvoice(tx: Tx, id: string): Promise<InvoiceRow> {
  const [row] = await tx.select().from(invoices).where(eq(invoices.id, id)).for("update");
  if (!row) throw notFound("invoice", id);
  return row;
}

export async function linesOf(tx: Tx, id: string) {
  return tx
    .select()
    .from(invoiceLines)
    .where(eq(invoiceLines.invoiceId, id))
    .orderBy(asc(invoiceLines.position));
}

type InvoiceEventType = Extract<DomainEventType, `invoice.${string}`>;

export async function invoiceEvent<T extends InvoiceEventType>(
  tx: Tx,
  type: T,
  row: InvoiceRow,
  at: Date,
  extra: Omit<DomainEventPayloads[T], "invoice">,
) {
  const invoice = invoiceView(row, await linesOf(tx, row.id));
  await recordEvent(tx, {
    type,
    accountId: row.accountId,
    data: { invoice, ...extra },
    at,
  } as EventToAppend & {
    at: Date;
  });
}

export function notOpen(row: InvoiceRow, action: string, allowed = "an open invoice"): DomainError {
  return new DomainError(
    "invoice_not_open",
    `Invoice ${row.id} is ${row.status}: only ${allowed} can be ${action}.`,
    { param: "id" },
  );
}

/**
 * Posts one of an invoice's ledger postings (its issue, a payment, a void, a write-off or its
 * reversal), in the invoice's account and currency. `source` names the posting; (source, ledger
 * account) is unique, so each is written once.
 */
export const postFor = (
  tx: Tx,
  invoice: InvoiceRow,
  source: string,
  entries: readonly LedgerPosting[],
  at: Date,
) =>
  postLedger(
    tx,
    { accountId: invoice.accountId, source, invoiceId: invoice.id, currency: invoice.currency, at },
    entries,
  );

export async function pendingAttempt(tx: Tx, invoiceId: string): Promise<AttemptRow | undefined> {
  const [row] = await tx
    .select()
    .from(invoicePayments)
    .where(and(eq(invoicePayments.invoiceId, invoiceId), eq(invoicePayments.status, "pending")));
  return row;
}

export async function writeOff(
  tx: Tx,
  invoice: InvoiceRow,
  at: Date,
  reason: "retries_exhausted" | "manual",
) {
  const [row] = await tx
    .update(invoices)
    .set({ status: "uncollectible", markedUncollectibleAt: at, nextPaymentAttempt: null })
    .where(eq(invoices.id, invoice.id))
    .returning();
  await postFor(
    tx,
    invoice,
    `write_off:${invoice.id}`,
    writeOffPostings(invoice.amountDue - invoice.amountPaid),
    at,
  );
  await invoiceEvent(tx, "invoice.marked_uncollectible", row as InvoiceRow, at, { reason });
}
