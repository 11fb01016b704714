import { z } from "zod";
import { MeterAggregation, MeterReset } from "../catalog/document.ts";
import { MAX_USAGE_VALUE } from "../metering/meters.ts";

/**
 * The wire shapes of entitlement checks, entitlements and usage: one definition that the server
 * validates and serialises with and the SDK types and decides with.
 */
export const CheckReason = z.enum([
  "within_limit",
  "soft_limit_grace",
  /** over the grant on a metered feature whose overage is billed: allowed, priced later */
  "overage_billed",
  "limit_reached",
  "feature_not_in_plan",
  "unknown_feature",
  "account_inactive",
]);
export type CheckReason = z.infer<typeof CheckReason>;

export const FeatureKindWire = z.enum(["boolean", "limit", "metered", "seats"]);

export const Overage = z.object({
  policy: z.enum(["hard", "soft", "billed"]),
  grace_percent: z.number().nullable(),
});

/**
 * The meter behind a metered feature's `used`, as the catalog defines it, with its key: what lets the
 * SDK apply a tracked event to its cached usage at once (with core's meterContribution) instead of
 * waiting for the server's count.
 */
export const EntitlementMeter = z.object({
  key: z.string(),
  event: z.string(),
  aggregation: MeterAggregation,
  property: z.string().optional(),
  reset: MeterReset,
});
export type EntitlementMeter = z.infer<typeof EntitlementMeter>;

/** One feature's entitlement for an account at an instant: the grant and the usage against it. */
export const Entitlement = z.object({
  feature: z.string(),
  kind: FeatureKindWire,
  name: z.string(),
  /** in the plan (or an add-on): a boolean grant that is on, or a limit, or unlimited */
  granted: z.boolean(),
  /** the limit; null when unlimited or for boolean features */
  limit: z.number().nullable(),
  unlimited: z.boolean(),
  /** usage against the limit (meter total in its window, reported gauge, seats in use); null for boolean */
  used: z.number().nullable(),
  overage: Overage.nullable(),
  period_start: z.string().nullable(),
  /** when the usage resets (the end of the meter's window); null when it never does */
  resets_at: z.string().nullable(),
  /** metered features: the meter that counts `used` (absent for other kinds, and from older servers) */
  meter: EntitlementMeter.optional(),
});
export type Entitlement = z.infer<typeof Entitlement>;

const MoneyAmount = z.object({ amount: z.number().int(), currency: z.string() });

export const UpgradeOption = z.object({
  type: z.enum(["plan", "add_on", "seats"]),
  key: z.string(),
  name: z.string(),
  /** add-on units or total seats after the change; 1 for a plan */
  quantity: z.number().int(),
  /** what the item itself costs per interval after the change */
  price: z.object({ amount: z.number().int(), currency: z.string(), interval: z.enum(["month", "year"]) }),
  /** the subscription's new recurring total per interval */
  recurring: z.object({
    amount: z.number().int(),
    currency: z.string(),
    interval: z.enum(["month", "year"]),
  }),
  /** how much the monthly bill changes (annual ÷ 12, rounded half away from zero) */
  monthly_delta: MoneyAmount,
});
export type UpgradeOption = z.infer<typeof UpgradeOption>;

export const CheckInput = z
  .object({
    account: z.string().min(1).max(255).describe("Account id (acct_…) or your external id"),
    feature: z.string().min(1).max(64),
    quantity: z.number().int().min(0).max(1_000_000_000).default(1),
    record: z
      .boolean()
      .default(false)
      .describe(
        "When allowed, record the usage atomically with the check (metered count/sum and limit features)",
      ),
  })
  .strict();
export type CheckInput = z.infer<typeof CheckInput>;

export const CheckResult = z.object({
  object: z.literal("check"),
  account: z.string(),
  feature: z.string(),
  allowed: z.boolean(),
  kind: FeatureKindWire.nullable(),
  limit: z.number().nullable(),
  used: z.number().nullable(),
  remaining: z.number().nullable(),
  ratio: z.number().nullable(),
  resetsAt: z.string().nullable(),
  reason: CheckReason,
  upgrade: UpgradeOption.nullable(),
  recorded: z.boolean(),
});
export type CheckResult = z.infer<typeof CheckResult>;

export const EntitlementsView = z.object({
  object: z.literal("entitlements"),
  account: z.string(),
  external_id: z.string(),
  active: z.boolean(),
  status: z.enum(["trialing", "active", "past_due", "canceled", "none"]),
  plan: z.string().nullable(),
  currency: z.string().nullable(),
  computed_at: z.string(),
  /** entitlements change when this instant passes (a usage window or the billing period ends) */
  valid_until: z.string().nullable(),
  features: z.record(z.string(), Entitlement),
});
export type EntitlementsView = z.infer<typeof EntitlementsView>;

export const UsageView = z.object({
  object: z.literal("usage"),
  account: z.string(),
  period: z.object({ start: z.string(), end: z.string() }).nullable(),
  features: z.array(
    z.object({
      feature: z.string(),
      kind: FeatureKindWire,
      name: z.string(),
      used: z.number(),
      limit: z.number().nullable(),
      unlimited: z.boolean(),
      ratio: z.number().nullable(),
      period_start: z.string().nullable(),
      resets_at: z.string().nullable(),
      /** per UTC day of the current window: the meter's increments that day (max meters: the day's max) */
      daily: z.array(z.object({ date: z.string(), value: z.number() })).nullable(),
    }),
  ),
});
export type UsageView = z.infer<typeof UsageView>;

export const GaugeInput = z
  .object({
    value: z
      .number()
      .nonnegative()
      .max(MAX_USAGE_VALUE)
      .describe("The current amount (e.g. projects in use)"),
  })
  .strict();
