import { z } from "zod";
import { SEGMENTS } from "../accounts/segment.ts";
import { Interval } from "../catalog/document.ts";
import {
  INVOICE_STATUSES,
  Instant,
  MEMBER_STATUSES,
  MoneyAmount,
  Role,
  SUBSCRIPTION_STATUSES,
} from "./fields.ts";

/**
 * Response schemas of the foundation resources: they document the API in /openapi.json and the
 * serializer checks every response against them, so the docs cannot drift from what is sent.
 */

export const AccountResponse = z
  .object({
    id: z.string(),
    object: z.literal("account"),
    external_id: z.string(),
    name: z.string(),
    properties: z.record(z.string(), z.unknown()),
    subscription: z.string().nullable().describe("The live subscription, if any"),
    annual_contract_value: MoneyAmount.nullable(),
    segment: z
      .enum(SEGMENTS)
      .describe(
        "The account's `segment` property when set, else by ACV: SMB < $10k, mid-market $10k–$50k, enterprise > $50k",
      ),
    test_clock: z.string().nullable().describe("The test clock the account lives by, if any"),
    created: Instant,
    updated: Instant,
  })
  .meta({ id: "Account" });

export const TestClockResponse = z
  .object({
    id: z.string(),
    object: z.literal("test_clock"),
    name: z.string().nullable(),
    frozen_time: Instant.describe("The clock's time: its accounts' billing and plays have run up to it"),
    status: z
      .enum(["ready", "advancing"])
      .describe("advancing until everything due up to `advancing_to` has run"),
    advancing_to: Instant.nullable(),
    steps: z.number().int().describe("Due instants stopped at by all advances so far"),
    accounts: z.number().int().describe("Accounts on the clock"),
    created: Instant,
  })
  .meta({ id: "TestClock" });

export const DeletedTestClockResponse = z
  .object({ id: z.string(), object: z.literal("test_clock"), deleted: z.literal(true) })
  .meta({ id: "DeletedTestClock" });

export const MemberResponse = z
  .object({
    id: z.string(),
    object: z.literal("member"),
    account: z.string(),
    user_id: z.string().nullable(),
    email: z.string(),
    name: z.string().nullable().describe("The person's name; prompts greet them by it, else by email"),
    role: Role,
    properties: z
      .record(z.string(), z.union([z.string(), z.number(), z.boolean()]))
      .describe("What the plays' member audience rules test"),
    status: z.enum(MEMBER_STATUSES),
    created: Instant,
    activated_at: Instant.nullable(),
    removed_at: Instant.nullable(),
  })
  .meta({ id: "Member" });

const QuoteShape = z.object({
  plan: z.string(),
  interval: Interval,
  seats: z.number().int(),
  add_ons: z.array(z.object({ key: z.string(), quantity: z.number().int() })),
});
const ShapeChange = z.object({ from: QuoteShape, to: QuoteShape });

/** A line as quotes and invoices print it. */
const LineFields = {
  item: z.string(),
  description: z.string(),
  quantity: z.number().int(),
  unit_amount: z.number().int().nullable(),
  amount: z.number().int().describe("Minor units: ≥ 0 for a charge, ≤ 0 for a credit"),
  proration: z.boolean(),
  kind: z.enum(["charge", "credit"]),
  period_start: Instant,
  period_end: Instant,
};

export const ScheduledChangeResponse = z
  .object({
    id: z.string(),
    effective_at: Instant.describe("When it applies: the end of the current period or annual term"),
    quote: z.string().describe("The quote whose checkout scheduled it"),
    to: QuoteShape.describe("The subscription once it applies (seats never below the seats then in use)"),
  })
  .meta({ id: "ScheduledChange" });

export const SubscriptionResponse = z
  .object({
    id: z.string(),
    object: z.literal("subscription"),
    account: z.string(),
    plan: z.string(),
    plan_version: z.number().int(),
    interval: Interval,
    seats: z.number().int(),
    seats_included: z.number().int(),
    seats_in_use: z.number().int(),
    add_ons: z.array(
      z.object({ key: z.string(), quantity: z.number().int(), version: z.number().int().nullable() }),
    ),
    status: z.enum(SUBSCRIPTION_STATUSES),
    currency: z.string(),
    recurring: z.object({
      amount: z.number().int(),
      currency: z.string(),
      interval: Interval,
      base: z.number().int(),
      seats: z.number().int(),
      add_ons: z.array(z.object({ key: z.string(), amount: z.number().int() })).readonly(),
    }),
    billing_cycle_anchor: Instant,
    current_period_start: Instant.nullable(),
    current_period_end: Instant.nullable(),
    trial_end: Instant.nullable(),
    cancel_at_period_end: z.boolean(),
    cancel_at: Instant.nullable(),
    ended_at: Instant.nullable(),
    scheduled_change: ScheduledChangeResponse.nullable().describe(
      "The change waiting for the period end (a downgrade, a reduction, annual → monthly, the later part of a split change); POST /v1/subscriptions/{id}/scheduled_change/cancel cancels it",
    ),
    revision: z
      .number()
      .int()
      .describe("Bumped by every change; a quote priced on an older revision is stale"),
    created: Instant,
    updated: Instant,
  })
  .meta({ id: "Subscription" });

export function listOf<T extends z.ZodType>(item: T) {
  return z.object({
    object: z.literal("list"),
    data: z.array(item).readonly(),
    has_more: z.boolean(),
    next_cursor: z.string().nullable().describe("Pass as `cursor` for the next page"),
  });
}

const Recurring = z.object({ amount: z.number().int(), interval: Interval });

export const QuoteResponse = z
  .object({
    id: z.string(),
    object: z.literal("quote"),
    account: z.string(),
    subscription: z.string(),
    subscription_revision: z
      .number()
      .int()
      .describe("The revision priced; a checkout of an older one is stale"),
    status: z.enum(["open", "expired"]),
    currency: z.string(),
    created: Instant,
    priced_at: Instant.describe("The frozen instant: the checkout charges the change as of this instant"),
    expires_at: Instant,
    purpose: z.object({
      type: z.enum(["change", "seat_for_invite"]),
      email: z.string().optional().describe("The invitee, for a seat bought for an invite"),
    }),
    change: ShapeChange,
    timing: z
      .enum(["immediate", "period_end", "split"])
      .describe(
        "split: a change on the same plan that raises some items and lowers others; the raises apply now (lines, amount_due), the reductions at the period end (scheduled)",
      ),
    effective_at: Instant.describe("When the change (a split: its immediate part) takes effect"),
    billing_cycle_anchor_after: Instant.nullable().describe("Set when the change moves the billing date"),
    lines: z.array(z.object(LineFields)),
    subtotal: z.number().int(),
    credit_applied: z.number().int(),
    amount_due: z.number().int().describe("Charged now to the stored payment method"),
    credit_to_balance: z.number().int(),
    credit_balance_after: z.number().int(),
    recurring: z.object({
      before: Recurring,
      after: Recurring,
      delta_per_month: z.number().int(),
    }),
    next_invoice: z.object({ date: Instant, amount: z.number().int() }),
    scheduled: z
      .object({ effective_at: Instant, change: ShapeChange })
      .nullable()
      .describe(
        "The part of a split change that waits for the period end, with no credit: from the shape after the immediate part to the whole target",
      ),
    replaces_scheduled_change: z
      .object({ id: z.string(), effective_at: Instant })
      .nullable()
      .describe(
        "The subscription's pending scheduled change, which a checkout of this quote cancels (any change, immediate or scheduled, replaces it; the summary says so)",
      ),
    summary: z.array(z.string()).readonly(),
    summary_text: z.string(),
  })
  .meta({ id: "Quote" });

export const CheckoutResponse = z
  .object({
    id: z.string(),
    object: z.literal("checkout"),
    account: z.string(),
    quote: z.string(),
    subscription: z.string(),
    status: z
      .enum(["pending", "succeeded", "failed", "requires_action", "canceled", "refund_pending", "refunded"])
      .describe("pending until the gateway answers; requires_action waits for the customer (3-D Secure)"),
    amount: z.number().int().describe("Minor units charged (or to be charged) to the payment method"),
    currency: z.string(),
    payment_method: z.string().nullable(),
    gateway: z.string().nullable(),
    payment: z.string().nullable().describe("The gateway's payment id"),
    authorized_by: z.string().nullable().describe("The admin member who authorised the charge"),
    invoice: z.string().nullable(),
    next_action: z
      .object({
        type: z.string(),
        client_secret: z.string().nullable(),
        url: z.string().nullable(),
        confirm_url: z.string(),
      })
      .nullable(),
    failure: z.object({ code: z.string(), message: z.string() }).nullable(),
    attribution: z
      .object({ prompt: z.string(), play: z.string(), variant: z.string().nullable() })
      .nullable()
      .describe("The prompt whose quote this checkout applies, its play and experiment variant"),
    created: Instant,
    completed_at: Instant.nullable(),
  })
  .meta({ id: "Checkout" });

export const InvoiceLineResponse = z.object({ id: z.string(), ...LineFields });

export const InvoiceResponse = z
  .object({
    id: z.string(),
    object: z.literal("invoice"),
    number: z.string().nullable().describe("Gap-free per vendor, given at finalization; a draft has none"),
    account: z.string(),
    subscription: z.string().nullable(),
    checkout: z.string().nullable(),
    status: z.enum(INVOICE_STATUSES),
    currency: z.string(),
    lines: z.array(InvoiceLineResponse).readonly(),
    subtotal: z.number().int(),
    total: z.number().int(),
    credit_applied: z.number().int(),
    credit_to_balance: z.number().int(),
    amount_due: z.number().int(),
    amount_paid: z.number().int(),
    amount_remaining: z.number().int(),
    payment: z.string().nullable(),
    period_start: Instant.nullable(),
    period_end: Instant.nullable(),
    issued_at: Instant,
    paid_at: Instant.nullable(),
    billing_reason: z.enum(["subscription_cycle", "subscription_final", "subscription_update"]),
    finalized_at: Instant.nullable(),
    next_payment_attempt: Instant.nullable(),
    voided_at: Instant.nullable(),
    marked_uncollectible_at: Instant.nullable(),
    html_url: z.string(),
    pdf_url: z.string().describe("The PDF (once finalized: a draft has none)"),
  })
  .meta({ id: "Invoice" });

export const CreditNoteResponse = z
  .object({
    id: z.string(),
    object: z.literal("credit_note"),
    number: z.string().describe("Gap-free per vendor, in its own sequence apart from invoices"),
    account: z.string(),
    invoice: z.string(),
    invoice_number: z.string().nullable(),
    status: z
      .enum(["refund_pending", "issued"])
      .describe("refund_pending until the gateway has refunded the card; a credit is issued at once"),
    outcome: z.enum(["refund", "credit"]),
    currency: z.string(),
    amount: z.number().int().describe("Minor units credited: Σ lines"),
    lines: z
      .array(
        z.object({
          invoice_line: z.string(),
          description: z.string(),
          quantity: z.number().int().nullable().describe("Units credited, when credited by units"),
          amount: z.number().int(),
        }),
      )
      .readonly(),
    memo: z.string().nullable(),
    refund: z.string().nullable().describe("The gateway's refund id"),
    created: Instant,
    issued_at: Instant.nullable(),
    pdf_url: z.string(),
  })
  .meta({ id: "CreditNote" });

export const PaymentMethodResponse = z
  .object({
    id: z.string(),
    object: z.literal("payment_method"),
    account: z.string(),
    gateway: z.string(),
    brand: z.string().nullable(),
    last4: z.string().nullable(),
    exp_month: z.number().int().nullable(),
    exp_year: z.number().int().nullable(),
    default: z.boolean(),
    created: Instant,
    detached_at: Instant.nullable(),
  })
  .meta({ id: "PaymentMethod" });

export type AccountView = z.infer<typeof AccountResponse>;
export type TestClockView = z.infer<typeof TestClockResponse>;
export type MemberView = z.infer<typeof MemberResponse>;
export type SubscriptionView = z.infer<typeof SubscriptionResponse>;
export type QuoteView = z.infer<typeof QuoteResponse>;
export type CheckoutView = z.infer<typeof CheckoutResponse>;
export type InvoiceView = z.infer<typeof InvoiceResponse>;
export type PaymentMethodView = z.infer<typeof PaymentMethodResponse>;
export type CreditNoteView = z.infer<typeof CreditNoteResponse>;
