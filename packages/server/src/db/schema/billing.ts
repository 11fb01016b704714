import { sql } from "drizzle-orm";
import {
  bigint,
  boolean,
  index,
  integer,
  json,
  jsonb,
  pgTable,
  primaryKey,
  text,
  uniqueIndex,
} from "drizzle-orm/pg-core";
import { checkoutHoldsQuote } from "../queries/checkout-status.ts";
import { accounts, created, instant, subscriptions } from "./foundation.ts";

/**
 * Quotes, checkouts, payment methods, invoices and the ledger. Money is integer minor units with its
 * currency; every exactly-once promise is a unique constraint here, never a matter of timing.
 */

/** A gateway token for a stored payment method: never a card number. */
export const paymentMethods = pgTable(
  "payment_methods",
  {
    id: text("id").primaryKey(),
    accountId: text("account_id")
      .notNull()
      .references(() => accounts.id),
    gateway: text("gateway").notNull(),
    /** the gateway's token (Stripe: pm_…; sandbox: a test token) */
    token: text("token").notNull(),
    /** the gateway's customer the token is attached to (Stripe: cus_…) */
    customerRef: text("customer_ref"),
    brand: text("brand"),
    last4: text("last4"),
    expMonth: integer("exp_month"),
    expYear: integer("exp_year"),
    isDefault: boolean("is_default").notNull().default(false),
    createdAt: created(),
    detachedAt: instant("detached_at"),
  },
  (t) => [
    index("payment_methods_account").on(t.accountId, t.id),
    uniqueIndex("payment_methods_one_default").on(t.accountId).where(sql`is_default and detached_at is null`),
  ],
);

/** The change a quote prices, as stored: the price versions it locked. */
export interface QuoteTarget {
  readonly plan: string;
  readonly planVersionId: string;
  readonly interval: "month" | "year";
  readonly seats: number;
  readonly addOns: readonly { key: string; versionId: string; quantity: number }[];
}

export type QuotePurpose =
  | { readonly type: "change" }
  | { readonly type: "seat_for_invite"; readonly email: string };

/** A priced change, frozen at its instant with the prices it used, until it expires. */
export const quotes = pgTable(
  "quotes",
  {
    id: text("id").primaryKey(),
    accountId: text("account_id")
      .notNull()
      .references(() => accounts.id),
    subscriptionId: text("subscription_id")
      .notNull()
      .references(() => subscriptions.id),
    /** the subscription's revision the quote was priced on: any change since makes it stale */
    subscriptionRevision: integer("subscription_revision").notNull(),
    currency: text("currency").notNull(),
    /** the frozen instant: the checkout prices the change at this instant, not its own */
    frozenAt: instant("frozen_at").notNull(),
    expiresAt: instant("expires_at").notNull(),
    /** the target: plan version, interval, seats, add-on versions (the locked prices) */
    target: json("target").$type<QuoteTarget>().notNull(),
    /** why the quote was made: a plain change, or the seat for an invite */
    purpose: json("purpose").$type<QuotePurpose>().notNull(),
    timing: text("timing").notNull(),
    amountDue: bigint("amount_due", { mode: "number" }).notNull(),
    /** the API view as shown, lines and summaries included */
    view: json("view").notNull(),
    createdAt: created(),
  },
  (t) => [index("quotes_account").on(t.accountId, t.id)],
);

/**
 * The intent of a checkout, committed before the gateway is called (docs/rules.md, conventions: exactly once): the
 * gateway's idempotency key is derived from its id, and the recovery job resolves any left mid-way.
 * States: pending → succeeded | failed | requires_action → (succeeded | failed | canceled) | refunded.
 */
/** Which prompt led to a checkout: the one whose quote it applies. */
export interface CheckoutAttribution {
  readonly prompt: string;
  readonly play: string;
  readonly variant: string | null;
}

export const checkouts = pgTable(
  "checkouts",
  {
    id: text("id").primaryKey(),
    accountId: text("account_id")
      .notNull()
      .references(() => accounts.id),
    quoteId: text("quote_id")
      .notNull()
      .references(() => quotes.id),
    subscriptionId: text("subscription_id").notNull(),
    status: text("status").notNull(),
    /** the admin member who authorised the charge */
    authorizedBy: text("authorized_by").notNull(),
    amount: bigint("amount", { mode: "number" }).notNull(),
    currency: text("currency").notNull(),
    paymentMethodId: text("payment_method_id"),
    gateway: text("gateway"),
    gatewayIdempotencyKey: text("gateway_idempotency_key").notNull().unique(),
    gatewayPaymentId: text("gateway_payment_id"),
    nextAction: jsonb("next_action"),
    failureCode: text("failure_code"),
    failureMessage: text("failure_message"),
    /** what else the checkout does when it completes (the invite of a member) */
    effects: jsonb("effects").notNull().default({}),
    invoiceId: text("invoice_id"),
    /** the prompt whose quote this checkout applies, its play and variant (docs/plays.md, "Attribution") */
    attribution: jsonb("attribution").$type<CheckoutAttribution | null>(),
    attempts: integer("attempts").notNull().default(0),
    createdAt: created(),
    updatedAt: instant("updated_at").notNull().defaultNow(),
    completedAt: instant("completed_at"),
  },
  (t) => [
    // One live checkout per quote: 20 concurrent checkouts of one quote make one charge. A failed one
    // (declined card) leaves room for a retry with another card.
    uniqueIndex("checkouts_one_live_per_quote").on(t.quoteId).where(checkoutHoldsQuote),
    index("checkouts_status").on(t.status, t.updatedAt),
    index("checkouts_account").on(t.accountId, t.id),
  ],
);

/** A change scheduled for the period end (downgrades, seat reductions, annual → monthly). */
export const scheduledChanges = pgTable(
  "scheduled_changes",
  {
    id: text("id").primaryKey(),
    accountId: text("account_id").notNull(),
    subscriptionId: text("subscription_id")
      .notNull()
      .references(() => subscriptions.id),
    quoteId: text("quote_id").notNull(),
    effectiveAt: instant("effective_at").notNull(),
    target: jsonb("target").notNull(),
    status: text("status").notNull(),
    createdAt: created(),
    appliedAt: instant("applied_at"),
  },
  (t) => [uniqueIndex("scheduled_changes_one_pending").on(t.subscriptionId).where(sql`status = 'scheduled'`)],
);

/** Gap-free invoice numbers: a counter row updated in the invoice's transaction (sequences have gaps). */
export const invoiceCounters = pgTable("invoice_counters", {
  vendor: text("vendor").primaryKey(),
  prefix: text("prefix").notNull(),
  lastNumber: integer("last_number").notNull(),
});

export const invoices = pgTable(
  "invoices",
  {
    id: text("id").primaryKey(),
    accountId: text("account_id")
      .notNull()
      .references(() => accounts.id),
    subscriptionId: text("subscription_id"),
    /** at most one invoice per checkout */
    checkoutId: text("checkout_id").unique(),
    vendor: text("vendor").notNull(),
    /** taken from the vendor's counter at finalization: a draft has none, so numbering stays gap-free */
    number: text("number"),
    sequence: integer("sequence"),
    status: text("status").notNull(),
    /**
     * why it exists, as Stripe names it: "subscription_cycle" for a renewal, "subscription_final" for
     * the overage of an ended subscription's last period; null for a checkout's
     */
    billingReason: text("billing_reason"),
    currency: text("currency").notNull(),
    subtotal: bigint("subtotal", { mode: "number" }).notNull(),
    creditApplied: bigint("credit_applied", { mode: "number" }).notNull(),
    creditAdded: bigint("credit_added", { mode: "number" }).notNull(),
    amountDue: bigint("amount_due", { mode: "number" }).notNull(),
    amountPaid: bigint("amount_paid", { mode: "number" }).notNull(),
    gatewayPaymentId: text("gateway_payment_id"),
    periodStart: instant("period_start"),
    periodEnd: instant("period_end"),
    issuedAt: instant("issued_at").notNull(),
    paidAt: instant("paid_at"),
    createdAt: created(),
    /** when the draft became open (its number taken, its ledger posted) */
    finalizedAt: instant("finalized_at"),
    /** the open invoice's collection schedule: the first attempt, or the next retry (dunning) */
    nextPaymentAttempt: instant("next_payment_attempt"),
    /** when the invoice went void or uncollectible */
    voidedAt: instant("voided_at"),
    markedUncollectibleAt: instant("marked_uncollectible_at"),
  },
  (t) => [
    uniqueIndex("invoices_vendor_sequence").on(t.vendor, t.sequence),
    index("invoices_account").on(t.accountId, t.id),
    // A subscription's period is renewed exactly once, whatever runs the job, however often: the
    // loser of a race inserts nothing. A voided renewal keeps its period (it is not billed again).
    uniqueIndex("invoices_one_renewal_per_period")
      .on(t.subscriptionId, t.periodStart)
      .where(sql`billing_reason = 'subscription_cycle'`),
    // An ended subscription gets at most one final invoice (the overage of its last period).
    uniqueIndex("invoices_one_final_per_subscription")
      .on(t.subscriptionId)
      .where(sql`billing_reason = 'subscription_final'`),
    index("invoices_collection").on(t.status, t.nextPaymentAttempt),
  ],
);

/**
 * One attempt to collect an open invoice through the gateway. Written (pending) and committed
 * before the gateway is called; the gateway's idempotency key is derived from the invoice and the
 * attempt's number, and (invoice, attempt) is unique, so two workers never make the same attempt
 * and a crash between the gateway's answer and our commit is finished by asking again with the
 * same key (the gateway answers with the first outcome, never a second charge).
 * States: pending → succeeded | failed.
 */
export const invoicePayments = pgTable(
  "invoice_payments",
  {
    id: text("id").primaryKey(),
    invoiceId: text("invoice_id")
      .notNull()
      .references(() => invoices.id),
    accountId: text("account_id").notNull(),
    /** 1 for the first attempt, then each retry */
    attempt: integer("attempt").notNull(),
    /** "automatic" (renewal, dunning) or "manual" (POST /v1/invoices/{id}/pay) */
    trigger: text("trigger").notNull(),
    status: text("status").notNull(),
    amount: bigint("amount", { mode: "number" }).notNull(),
    currency: text("currency").notNull(),
    paymentMethodId: text("payment_method_id"),
    gateway: text("gateway"),
    gatewayIdempotencyKey: text("gateway_idempotency_key").notNull().unique(),
    gatewayPaymentId: text("gateway_payment_id"),
    failureCode: text("failure_code"),
    failureMessage: text("failure_message"),
    createdAt: created(),
    completedAt: instant("completed_at"),
  },
  (t) => [
    uniqueIndex("invoice_payments_attempt").on(t.invoiceId, t.attempt),
    index("invoice_payments_status").on(t.status, t.createdAt),
  ],
);

export const invoiceLines = pgTable(
  "invoice_lines",
  {
    id: text("id").primaryKey(),
    invoiceId: text("invoice_id")
      .notNull()
      .references(() => invoices.id),
    accountId: text("account_id").notNull(),
    subscriptionId: text("subscription_id"),
    position: integer("position").notNull(),
    /** "plan", "seats", "add_on:<key>": what the credit cap adds up per item and period */
    item: text("item").notNull(),
    description: text("description").notNull(),
    /** bigint: an overage line's quantity is the usage beyond the grant, unbounded (up to 2^53 − 1) */
    quantity: bigint("quantity", { mode: "number" }).notNull(),
    unitAmount: bigint("unit_amount", { mode: "number" }),
    amount: bigint("amount", { mode: "number" }).notNull(),
    proration: boolean("proration").notNull(),
    kind: text("kind").notNull(),
    periodStart: instant("period_start").notNull(),
    periodEnd: instant("period_end").notNull(),
  },
  (t) => [
    uniqueIndex("invoice_lines_position").on(t.invoiceId, t.position),
    index("invoice_lines_subscription").on(t.subscriptionId, t.periodEnd),
  ],
);

/**
 * Each billing period of a subscription, recorded when it began (docs/rules.md, periods 4): what
 * opened it and what it charged then for each item, the opening the credit cap starts from. A
 * period is billed exactly when it is here; the renewal job drafts the first period after the last
 * one (services/subscriptions/periods.ts). Written with what opens it, in its transaction: the
 * subscription's creation (its first period, or its trial), a renewal's draft, a checkout that
 * switches to annual.
 */
export const subscriptionPeriods = pgTable(
  "subscription_periods",
  {
    subscriptionId: text("subscription_id")
      .notNull()
      .references(() => subscriptions.id),
    accountId: text("account_id").notNull(),
    periodStart: instant("period_start").notNull(),
    periodEnd: instant("period_end").notNull(),
    /** "subscription_created", "trial", "renewal" or "interval_change" (monthly → annual) */
    openedBy: text("opened_by").notNull(),
    /** the invoice that billed the opening (a renewal, the checkout's); null when none did */
    invoiceId: text("invoice_id"),
    /** per item ("plan", "seats", "add_on:<key>"), its full-period amount as the period began */
    opening: jsonb("opening").notNull(),
    createdAt: created(),
  },
  // A switch to annual at a period's first second opens a year that starts with the month it ends.
  (t) => [primaryKey({ columns: [t.subscriptionId, t.periodStart, t.periodEnd] })],
);

/**
 * Double-entry ledger, debits positive: each posting (an invoice, a payment, a refund) sums to 0.
 * The unique (source, ledger account) makes every posting exactly-once.
 */
export const ledgerEntries = pgTable(
  "ledger_entries",
  {
    seq: bigint("seq", { mode: "number" }).primaryKey().generatedAlwaysAsIdentity(),
    accountId: text("account_id").notNull(),
    /**
     * "invoice:<id>", "payment:<checkout id>", "refund:<checkout id>", "invoice_payment:<attempt id>",
     * "void:<invoice id>", "write_off:<invoice id>", "write_off_reversal:<invoice id>",
     * "credit_note:<credit note id>"
     */
    source: text("source").notNull(),
    invoiceId: text("invoice_id"),
    checkoutId: text("checkout_id"),
    ledgerAccount: text("ledger_account").notNull(),
    amount: bigint("amount", { mode: "number" }).notNull(),
    currency: text("currency").notNull(),
    createdAt: created(),
  },
  (t) => [
    uniqueIndex("ledger_entries_posting").on(t.source, t.ledgerAccount),
    index("ledger_entries_account").on(t.accountId, t.ledgerAccount),
  ],
);
