import { sql } from "drizzle-orm";
import { bigint, index, integer, pgTable, text, uniqueIndex } from "drizzle-orm/pg-core";
import { invoiceLines, invoices } from "./billing.ts";
import { accounts, created, instant } from "./foundation.ts";

/**
 * Credit notes (docs/credit-notes.md): what part of a paid invoice was given back, to the card or
 * to the credit balance. Numbered in their own gap-free sequence, as invoices are.
 */

/** Gap-free credit-note numbers: a counter row updated in the credit note's own transaction. */
export const creditNoteCounters = pgTable("credit_note_counters", {
  vendor: text("vendor").primaryKey(),
  prefix: text("prefix").notNull(),
  lastNumber: integer("last_number").notNull(),
});

export const creditNotes = pgTable(
  "credit_notes",
  {
    id: text("id").primaryKey(),
    accountId: text("account_id")
      .notNull()
      .references(() => accounts.id),
    invoiceId: text("invoice_id")
      .notNull()
      .references(() => invoices.id),
    vendor: text("vendor").notNull(),
    number: text("number").notNull(),
    sequence: integer("sequence").notNull(),
    /** "refund_pending" (committed before the gateway is asked) → "issued"; a credit is issued at once */
    status: text("status").notNull(),
    /** "refund" (to the card that paid) or "credit" (to the customer's balance) */
    outcome: text("outcome").notNull(),
    currency: text("currency").notNull(),
    amount: bigint("amount", { mode: "number" }).notNull(),
    memo: text("memo"),
    /** the payment refunded, its gateway, and the gateway's refund once made */
    gateway: text("gateway"),
    gatewayPaymentId: text("gateway_payment_id"),
    gatewayRefundId: text("gateway_refund_id"),
    /** the API key and Idempotency-Key of the request that made it: its retry finds it here */
    requestKey: text("request_key"),
    createdAt: created(),
    issuedAt: instant("issued_at"),
  },
  (t) => [
    uniqueIndex("credit_notes_vendor_sequence").on(t.vendor, t.sequence),
    uniqueIndex("credit_notes_request_key").on(t.requestKey),
    index("credit_notes_invoice").on(t.invoiceId),
    index("credit_notes_account").on(t.accountId, t.id),
    index("credit_notes_refund_pending").on(t.createdAt).where(sql`status = 'refund_pending'`),
  ],
);

export const creditNoteLines = pgTable(
  "credit_note_lines",
  {
    creditNoteId: text("credit_note_id")
      .notNull()
      .references(() => creditNotes.id),
    position: integer("position").notNull(),
    invoiceLineId: text("invoice_line_id")
      .notNull()
      .references(() => invoiceLines.id),
    /** units credited, when credited by units; null for an amount */
    quantity: bigint("quantity", { mode: "number" }),
    amount: bigint("amount", { mode: "number" }).notNull(),
  },
  (t) => [
    uniqueIndex("credit_note_lines_position").on(t.creditNoteId, t.position),
    index("credit_note_lines_invoice_line").on(t.invoiceLineId),
  ],
);
