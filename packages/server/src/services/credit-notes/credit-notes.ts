import {
  allocateCredit,
  type CreditableInvoice,
  type CreditNoteOutcome,
  type CreditRequest,
  creditNotePostings,
} from "@uptier/core";
import type { CreateCreditNoteInput, CreditNoteView, ListCreditNotesQuery } from "@uptier/core/api";
import { and, asc, desc, eq, inArray, lt, lte } from "drizzle-orm";
import type { z } from "zod";
import type { Executor, Tx } from "../../db/client.ts";
import {
  checkouts,
  creditNoteLines,
  creditNotes,
  invoiceLines,
  invoicePayments,
  invoices,
} from "../../db/schema/index.ts";
import { newId } from "../../ids.ts";
import type { BillingContext } from "../context.ts";
import { DomainError, notFound } from "../errors.ts";
import { recordEvent } from "../events/append.ts";
import { type InvoiceRow, linesOf, lockInvoice, postFor } from "../invoices/invoice-records.ts";
import { decodeCursor, type Page, toPage } from "../pagination.ts";
import { takeCreditNoteNumber } from "./numbering.ts";

/**
 * Credit notes on paid invoices (docs/credit-notes.md; the rules in core's invoices/credit-notes.ts).
 * A credit to the balance is issued in one transaction: number, lines, ledger, event. A refund
 * follows checkout refunds: the credit note is committed `refund_pending` (its number taken) before
 * the gateway is asked, with a gateway key derived from its id, so a retry — of the request, or by
 * the recovery job — asks again with the same key and the card is refunded once; its ledger
 * posting and `credit_note.created` are written when the gateway has answered.
 */
export type CreditNoteRow = typeof creditNotes.$inferSelect;
type CreditNoteLineRow = typeof creditNoteLines.$inferSelect;

export async function createCreditNote(
  billing: BillingContext,
  input: z.infer<typeof CreateCreditNoteInput>,
  /** the API key and Idempotency-Key of the request, when it sent one */
  requestKey: string | null,
): Promise<CreditNoteRow> {
  if (requestKey) {
    const [earlier] = await billing.db
      .select()
      .from(creditNotes)
      .where(eq(creditNotes.requestKey, requestKey));
    if (earlier) return finishRefund(billing, earlier);
  }
  const at = billing.clock();
  const note = await billing.db.transaction(async (tx) => {
    const invoice = await lockInvoice(tx, input.invoice).catch((error) => {
      throw error instanceof DomainError ? notFoundInvoice(input.invoice) : error;
    });
    assertCreditable(invoice);
    const creditable = await creditableOf(tx, invoice);
    const request: CreditRequest = input.lines ? { lines: input.lines } : { amount: input.amount as number };
    const allocation = allocateCredit(creditable, request, input.outcome);
    if (!allocation.ok)
      throw new DomainError(allocation.code, allocation.message, { param: allocation.param });
    const payment = input.outcome === "refund" ? await paymentOf(tx, invoice) : null;
    const { number, sequence } = await takeCreditNoteNumber(tx, billing);
    const [row] = await tx
      .insert(creditNotes)
      .values({
        id: newId("creditNote", at),
        accountId: invoice.accountId,
        invoiceId: invoice.id,
        vendor: billing.vendor,
        number,
        sequence,
        status: input.outcome === "refund" ? "refund_pending" : "issued",
        outcome: input.outcome,
        currency: invoice.currency,
        amount: allocation.total,
        memo: input.memo ?? null,
        gateway: payment?.gateway ?? null,
        gatewayPaymentId: payment?.paymentId ?? null,
        requestKey,
        createdAt: at,
        issuedAt: input.outcome === "credit" ? at : null,
      })
      .returning();
    const note = row as CreditNoteRow;
    await tx.insert(creditNoteLines).values(
      allocation.lines.map((l, position) => ({
        creditNoteId: note.id,
        position,
        invoiceLineId: l.line,
        quantity: l.quantity,
        amount: l.amount,
      })),
    );
    if (note.status === "issued") await recordIssued(tx, invoice, note, at);
    return note;
  });
  return finishRefund(billing, note);
}

/**
 * Refunds a credit note still `refund_pending` through the gateway, with its own key (a second ask
 * is answered with the first refund), then issues it. A gateway that fails leaves it pending for a
 * retry.
 */
export async function finishRefund(billing: BillingContext, note: CreditNoteRow): Promise<CreditNoteRow> {
  if (note.status !== "refund_pending") return note;
  const gateway = billing.gateways.get(note.gateway ?? "");
  if (!gateway) throw new Error(`credit note ${note.id}: gateway "${note.gateway}" is not configured`);
  let refundId: string;
  try {
    ({ refundId } = await gateway.refund({
      paymentId: note.gatewayPaymentId as string,
      amount: note.amount,
      idempotencyKey: `uptier_${note.id}_refund`,
    }));
  } catch {
    return note;
  }
  const at = billing.clock();
  return billing.db.transaction(async (tx) => {
    const [issued] = await tx
      .update(creditNotes)
      .set({ status: "issued", gatewayRefundId: refundId, issuedAt: at })
      .where(and(eq(creditNotes.id, note.id), eq(creditNotes.status, "refund_pending")))
      .returning();
    if (!issued) return findCreditNoteRow(tx, note.id);
    const [invoice] = await tx.select().from(invoices).where(eq(invoices.id, note.invoiceId));
    await recordIssued(tx, invoice as InvoiceRow, issued, at);
    return issued;
  });
}

/**
 * The job `billing.refund-credit-notes`: every refund left pending (a gateway that failed, a crash)
 * for over `olderThanMs` — a request still on its way to the gateway is left to finish — asked again.
 */
export async function refundPendingCreditNotes(
  billing: BillingContext,
  options: { olderThanMs?: number } = {},
): Promise<{ refunded: number; pending: number }> {
  const cutoff = new Date(billing.clock().getTime() - (options.olderThanMs ?? 60_000));
  const pending = await billing.db
    .select()
    .from(creditNotes)
    .where(and(eq(creditNotes.status, "refund_pending"), lte(creditNotes.createdAt, cutoff)));
  let refunded = 0;
  for (const note of pending) if ((await finishRefund(billing, note)).status === "issued") refunded++;
  return { refunded, pending: pending.length - refunded };
}

const notFoundInvoice = (id: string) =>
  new DomainError("resource_not_found", `No invoice with id "${id}".`, { param: "invoice" });

function assertCreditable(invoice: InvoiceRow) {
  if (invoice.status === "draft")
    throw new DomainError(
      "invoice_draft",
      `Invoice ${invoice.id} is a draft: it has been neither finalized nor paid, so there is nothing to credit.`,
      { param: "invoice" },
    );
  if (invoice.status !== "paid")
    throw new DomainError(
      "invoice_not_paid",
      `Invoice ${invoice.id} is ${invoice.status}: only a paid invoice can be credited (an open one is voided instead).`,
      { param: "invoice" },
    );
}

/** The invoice as core's allocation reads it: what was paid, and what earlier credit notes took. */
async function creditableOf(tx: Tx, invoice: InvoiceRow): Promise<CreditableInvoice> {
  const lines = await linesOf(tx, invoice.id);
  const earlier = await tx.select().from(creditNotes).where(eq(creditNotes.invoiceId, invoice.id));
  const taken = await linesOfNotes(
    tx,
    earlier.map((n) => n.id),
  );
  return {
    amountPaid: invoice.amountPaid,
    creditApplied: invoice.creditApplied,
    credited: earlier.reduce((s, n) => s + n.amount, 0),
    refunded: earlier.filter((n) => n.outcome === "refund").reduce((s, n) => s + n.amount, 0),
    lines: lines.map((l) => {
      const on = taken.filter((t) => t.invoiceLineId === l.id);
      return {
        id: l.id,
        amount: l.amount,
        quantity: l.quantity,
        creditedAmount: on.reduce((s, t) => s + t.amount, 0),
        creditedQuantity: on.reduce((s, t) => s + (t.quantity ?? 0), 0),
      };
    }),
  };
}

/** The payment that paid the invoice, and its gateway: the checkout's charge, or the attempt that succeeded. */
async function paymentOf(tx: Tx, invoice: InvoiceRow): Promise<{ gateway: string; paymentId: string }> {
  const [paid] = invoice.checkoutId
    ? await tx
        .select({ gateway: checkouts.gateway, paymentId: checkouts.gatewayPaymentId })
        .from(checkouts)
        .where(and(eq(checkouts.id, invoice.checkoutId), eq(checkouts.status, "succeeded")))
    : await tx
        .select({ gateway: invoicePayments.gateway, paymentId: invoicePayments.gatewayPaymentId })
        .from(invoicePayments)
        .where(and(eq(invoicePayments.invoiceId, invoice.id), eq(invoicePayments.status, "succeeded")));
  if (!paid?.gateway || !paid.paymentId)
    throw new DomainError(
      "credit_note_exceeds_refundable",
      `Invoice ${invoice.id} was not paid by card: credit the balance instead.`,
      { param: "outcome" },
    );
  return { gateway: paid.gateway, paymentId: paid.paymentId };
}

/** The ledger posting and the event of a credit note once issued. */
async function recordIssued(tx: Tx, invoice: InvoiceRow, note: CreditNoteRow, at: Date) {
  await postFor(
    tx,
    invoice,
    `credit_note:${note.id}`,
    creditNotePostings(note.amount, note.outcome as CreditNoteOutcome),
    at,
  );
  await recordEvent(tx, {
    type: "credit_note.created",
    accountId: note.accountId,
    data: { credit_note: (await viewsOf(tx, [note]))[0] as CreditNoteView },
    at,
  });
}

async function linesOfNotes(db: Executor, ids: readonly string[]): Promise<CreditNoteLineRow[]> {
  if (ids.length === 0) return [];
  return db
    .select()
    .from(creditNoteLines)
    .where(inArray(creditNoteLines.creditNoteId, [...ids]))
    .orderBy(asc(creditNoteLines.creditNoteId), asc(creditNoteLines.position));
}

async function findCreditNoteRow(db: Executor, id: string): Promise<CreditNoteRow> {
  const [row] = await db.select().from(creditNotes).where(eq(creditNotes.id, id));
  if (!row) throw notFound("credit note", id);
  return row;
}

/** Credit notes as the API shows them, with their lines' descriptions and their invoice's number. */
async function viewsOf(db: Executor, rows: readonly CreditNoteRow[]): Promise<CreditNoteView[]> {
  const lines = await linesOfNotes(
    db,
    rows.map((r) => r.id),
  );
  const invoiceIds = [...new Set(rows.map((r) => r.invoiceId))];
  const numbers = new Map(
    invoiceIds.length === 0
      ? []
      : (
          await db
            .select({ id: invoices.id, number: invoices.number })
            .from(invoices)
            .where(inArray(invoices.id, invoiceIds))
        ).map((i) => [i.id, i.number]),
  );
  const lineIds = [...new Set(lines.map((l) => l.invoiceLineId))];
  const descriptions = new Map(
    lineIds.length === 0
      ? []
      : (
          await db
            .select({ id: invoiceLines.id, description: invoiceLines.description })
            .from(invoiceLines)
            .where(inArray(invoiceLines.id, lineIds))
        ).map((l) => [l.id, l.description]),
  );
  return rows.map((row) => ({
    id: row.id,
    object: "credit_note" as const,
    number: row.number,
    account: row.accountId,
    invoice: row.invoiceId,
    invoice_number: numbers.get(row.invoiceId) ?? null,
    status: row.status as "refund_pending" | "issued",
    outcome: row.outcome as CreditNoteOutcome,
    currency: row.currency,
    amount: row.amount,
    lines: lines
      .filter((l) => l.creditNoteId === row.id)
      .map((l) => ({
        invoice_line: l.invoiceLineId,
        description: descriptions.get(l.invoiceLineId) ?? "",
        quantity: l.quantity,
        amount: l.amount,
      })),
    memo: row.memo,
    refund: row.gatewayRefundId,
    created: row.createdAt.toISOString(),
    issued_at: row.issuedAt?.toISOString() ?? null,
    pdf_url: `/v1/credit_notes/${row.id}/pdf`,
  }));
}

export async function creditNoteView(db: Executor, row: CreditNoteRow): Promise<CreditNoteView> {
  return (await viewsOf(db, [row]))[0] as CreditNoteView;
}

export async function getCreditNote(db: Executor, id: string): Promise<CreditNoteView> {
  return creditNoteView(db, await findCreditNoteRow(db, id));
}

export async function listCreditNotes(
  db: Executor,
  query: z.infer<typeof ListCreditNotesQuery>,
): Promise<Page<CreditNoteView>> {
  const cursor = decodeCursor(query.cursor, "cn");
  const rows = await db
    .select()
    .from(creditNotes)
    .where(
      and(
        cursor ? lt(creditNotes.id, cursor) : undefined,
        query.invoice ? eq(creditNotes.invoiceId, query.invoice) : undefined,
        query.account ? eq(creditNotes.accountId, query.account) : undefined,
      ),
    )
    .orderBy(desc(creditNotes.id))
    .limit(query.limit + 1);
  const views = new Map((await viewsOf(db, rows.slice(0, query.limit))).map((v) => [v.id, v]));
  return toPage(rows, query.limit, (r) => views.get(r.id) as CreditNoteView);
}
