import { sql } from "drizzle-orm";
import { bigint, check, pgTable, text } from "drizzle-orm/pg-core";
import { created } from "./foundation.ts";

/**
 * The sandbox gateway's own books, as Stripe keeps them on its side: kept in the database so a
 * restart forgets no payment and a payment awaiting 3-D Secure can be completed by any node.
 * Nothing of ours references these rows; they stand for the gateway, outside our ledger.
 */
export const sandboxPayments = pgTable(
  "sandbox_payments",
  {
    /** sbpi_…: what the charge answered as the payment's id (a decline answered none) */
    id: text("id").primaryKey(),
    /** the caller's idempotency key: the same key answers this payment again */
    idempotencyKey: text("idempotency_key").notNull().unique(),
    /** amount, currency and token of the first request: the same key with others is refused */
    fingerprint: text("fingerprint").notNull(),
    amount: bigint("amount", { mode: "number" }).notNull(),
    currency: text("currency").notNull(),
    token: text("token").notNull(),
    /** succeeded, requires_action, declined, canceled */
    status: text("status").notNull(),
    /** a decline's gateway code, issuer's reason and message */
    declineCode: text("decline_code"),
    declineReason: text("decline_reason"),
    declineMessage: text("decline_message"),
    refunded: bigint("refunded", { mode: "number" }).notNull().default(0),
    createdAt: created(),
  },
  (t) => [check("sandbox_payments_refund_within", sql`${t.refunded} between 0 and ${t.amount}`)],
);

export const sandboxRefunds = pgTable("sandbox_refunds", {
  /** the caller's idempotency key: a refund asked twice is made once */
  idempotencyKey: text("idempotency_key").primaryKey(),
  id: text("id").notNull().unique(),
  paymentId: text("payment_id")
    .notNull()
    .references(() => sandboxPayments.id),
  amount: bigint("amount", { mode: "number" }).notNull(),
  createdAt: created(),
});
