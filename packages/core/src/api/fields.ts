import { z } from "zod";

/**
 * The words requests and responses share: one definition each, so a request cannot accept a value
 * the response would not name.
 */
export const Instant = z.string().describe("ISO 8601 instant, UTC");
export const MoneyAmount = z.object({ amount: z.number().int(), currency: z.string() });
export const Role = z.enum(["admin", "member"]);
export const MEMBER_STATUSES = ["invited", "active", "removed"] as const;
export const SUBSCRIPTION_STATUSES = ["trialing", "active", "past_due", "canceled"] as const;
export const INVOICE_STATUSES = ["draft", "open", "paid", "void", "uncollectible"] as const;
