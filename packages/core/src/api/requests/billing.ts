import { z } from "zod";
import { Interval } from "../../catalog/document.ts";
import { DEFAULT_QUOTE_TTL_SECONDS } from "../../quotes/expiry.ts";
import { INVOICE_STATUSES } from "../fields.ts";
import { AccountId, CatalogKey, ListQuery, ResourceId } from "./common.ts";
import { AddOnSelections, SeatCount } from "./subscriptions.ts";

/** A subscription change as a quote asks for it: each field is the state after the change. */
export const ChangeFields = z
  .object({
    plan: CatalogKey.optional().describe("The plan after the change"),
    interval: Interval.optional(),
    seats: SeatCount.optional().describe("Total seats after the change"),
    add_ons: AddOnSelections.optional().describe("The full list of add-ons after the change"),
  })
  .strict();

export const CreateQuoteInput = ChangeFields.extend({
  account: AccountId,
  expires_in: z
    .number()
    .int()
    .min(60)
    .max(86_400)
    .default(DEFAULT_QUOTE_TTL_SECONDS)
    .describe("Seconds until the quote expires (default 15 minutes)"),
}).strict();

/** The admin who authorises a charge, named by member id or by their user id in the vendor's product. */
const Actor = {
  member: z.string().min(1).max(64).optional().describe("The admin member authorising the charge (mbr_…)"),
  user_id: z.string().min(1).max(255).optional().describe("…or that admin's user id in your product"),
};

export const CheckoutInput = z
  .object({
    quote: z.string().min(1).max(64).describe("The quote to apply (qt_…)"),
    ...Actor,
    payment_method: z.string().min(1).max(64).optional().describe("Defaults to the account's default method"),
  })
  .strict();

export const AuthorizeInput = z
  .object({ quote: z.string().min(1).max(64).describe("The seat quote from members/preview"), ...Actor })
  .strict();

/**
 * Stored payment methods are gateway tokens only: a card number never reaches Uptier (the browser
 * gives it to the gateway, which returns a token). Anything that looks like a card number is refused.
 */
export const AttachPaymentMethodInput = z
  .object({
    gateway: z.enum(["sandbox", "stripe"]).optional().describe("Defaults to the deployment's gateway"),
    token: z
      .string()
      .min(3)
      .max(255)
      .regex(/^[A-Za-z0-9_]+$/, "must be a gateway token such as pm_… (letters, digits, underscores)")
      .describe("The gateway's token: Stripe pm_…, or a sandbox test token"),
    customer: z.string().min(1).max(255).optional().describe("The gateway's customer (Stripe cus_…)"),
    brand: z.string().max(40).optional(),
    last4: z
      .string()
      .regex(/^\d{4}$/)
      .optional(),
    exp_month: z.number().int().min(1).max(12).optional(),
    exp_year: z.number().int().min(2000).max(2100).optional(),
    default: z.boolean().optional().describe("Make it the account's default (the first one always is)"),
  })
  .strict();

export const PaymentMethodParams = z.object({ id: ResourceId, payment_method: ResourceId }).strict();

export const PayInvoiceInput = z
  .object({
    payment_method: z
      .string()
      .min(1)
      .max(64)
      .optional()
      .describe("The payment method to charge (pm_…); defaults to the account's default method"),
  })
  .strict()
  .default({});

export const ListInvoicesQuery = ListQuery.extend({
  account: z.string().max(64).optional(),
  status: z.enum(INVOICE_STATUSES).optional(),
}).strict();

/** The largest amount a credit note may name: a trillion minor units, far past any invoice. */
const MAX_CREDIT_AMOUNT = 1_000_000_000_000;

export const CreditNoteLineInput = z
  .object({
    line: ResourceId.describe("The invoice line to credit (il_…)"),
    quantity: z.number().int().min(1).max(1_000_000).optional().describe("Units of the line to credit"),
    amount: z
      .number()
      .int()
      .min(1)
      .max(MAX_CREDIT_AMOUNT)
      .optional()
      .describe("Minor units of the line to credit"),
  })
  .strict()
  .refine((l) => l.quantity === undefined || l.amount === undefined, {
    message: "give a line's quantity or its amount, not both",
    path: ["amount"],
  })
  .describe("A line credited whole (neither field), by some of its units, or by an amount");

/**
 * A credit note on a paid invoice (docs/credit-notes.md): lines of it, or an amount spread over its
 * lines; refunded to the card that paid, or credited to the customer's balance.
 */
export const CreateCreditNoteInput = z
  .object({
    invoice: ResourceId.describe("The paid invoice (inv_…)"),
    outcome: z
      .enum(["refund", "credit"])
      .describe("refund: to the card that paid; credit: to the customer's balance"),
    lines: z.array(CreditNoteLineInput).min(1).max(100).optional(),
    amount: z
      .number()
      .int()
      .min(1)
      .max(MAX_CREDIT_AMOUNT)
      .optional()
      .describe("Minor units, spread over the lines"),
    memo: z.string().max(500).optional().describe("Why, as the credit note shows it"),
  })
  .strict()
  .refine((b) => (b.lines === undefined) !== (b.amount === undefined), {
    message: "give either lines or an amount",
    path: ["amount"],
  });

export const ListCreditNotesQuery = ListQuery.extend({
  invoice: z.string().max(64).optional(),
  account: z.string().max(64).optional(),
}).strict();
