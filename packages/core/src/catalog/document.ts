import { z } from "zod";
import { isCurrency } from "../money/currency.ts";
import { formatCount, MAX_QUANTITY } from "./bounds.ts";
import { MinorUnits, PriceModel } from "./price-model.ts";

/**
 * The catalog as code: the file a vendor checks in (YAML or JSON) and applies with
 * `uptier catalog apply`. This zod schema is the one definition; the published JSON Schema
 * (catalog.schema.json) is generated from it.
 */
const Key = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[a-z][a-z0-9_]*$/, "must be lower snake_case, starting with a letter");

const Name = z.string().min(1).max(200);

export const FeatureKind = z.enum(["boolean", "limit", "metered", "seats"]);
export type FeatureKind = z.infer<typeof FeatureKind>;

/** What happens when a metered feature reaches its grant. */
export const OveragePolicy = z.discriminatedUnion("policy", [
  z.object({ policy: z.literal("hard") }).strict(),
  z
    .object({
      policy: z.literal("soft"),
      /** Usage may exceed the limit by this share before it is blocked (a grace for spikes). */
      grace_percent: z.number().int().min(1).max(1000),
    })
    .strict(),
  z.object({ policy: z.literal("billed"), price: PriceModel }).strict(),
]);
export type OveragePolicy = z.infer<typeof OveragePolicy>;

export const FeatureDefinition = z
  .object({
    kind: FeatureKind,
    name: Name,
    description: z.string().max(2000).optional(),
    /** metered features: the meter whose per-period total is checked against the grant */
    meter: Key.optional(),
    unit: z.string().max(40).optional(),
    overage: OveragePolicy.optional(),
  })
  .strict();
export type FeatureDefinition = z.infer<typeof FeatureDefinition>;

export const MeterAggregation = z.enum(["count", "sum", "max", "unique_count"]);
export const MeterReset = z.enum(["billing_period", "calendar_month", "never"]);

export const MeterDefinition = z
  .object({
    /** the usage event name this meter counts */
    event: z.string().min(1).max(200),
    aggregation: MeterAggregation,
    /** sum, max and unique_count read this event property */
    property: z.string().min(1).max(200).optional(),
    reset: MeterReset,
  })
  .strict();
export type MeterDefinition = z.infer<typeof MeterDefinition>;

/** A grant: on (true), off (false), a number, or unlimited. */
export const Grant = z.union([z.boolean(), z.number().int().nonnegative(), z.literal("unlimited")]);
export type Grant = z.infer<typeof Grant>;

export const Interval = z.enum(["month", "year"]);

const SeatCount = z
  .number()
  .int()
  .max(MAX_QUANTITY, `a subscription has at most ${formatCount(MAX_QUANTITY)} seats`);

export const PlanPrice = z
  .object({
    /** the recurring base price of the plan per interval */
    base: MinorUnits,
    /** the price of seats beyond the included ones (per_unit, volume or tiered) */
    seat: PriceModel.optional(),
  })
  .strict();
export type PlanPrice = z.infer<typeof PlanPrice>;

export const PlanDefinition = z
  .object({
    name: Name,
    description: z.string().max(2000).optional(),
    /** the upgrade order: a higher tier is an upgrade */
    tier: z.number().int().nonnegative(),
    /** inherit the grants of another plan, overriding some */
    extends: Key.optional(),
    prices: z.object({ month: PlanPrice.optional(), year: PlanPrice.optional() }).strict(),
    seats: z
      .object({
        included: SeatCount.nonnegative(),
        /** no more seats than this can be bought (null: no cap but the subscription's, MAX_QUANTITY) */
        max: SeatCount.positive().nullable().default(null),
      })
      .strict(),
    grants: z.record(Key, Grant).default({}),
    trial_days: z.number().int().nonnegative().max(365).default(0),
  })
  .strict();
export type PlanDefinition = z.infer<typeof PlanDefinition>;

export const AddOnDefinition = z
  .object({
    name: Name,
    description: z.string().max(2000).optional(),
    prices: z.object({ month: PriceModel.optional(), year: PriceModel.optional() }).strict(),
    /** single: on or off; multiple: a quantity (capacity packs) */
    quantity: z.enum(["single", "multiple"]).default("single"),
    /** what one unit of the add-on grants; numbers add up per unit */
    grants: z.record(Key, Grant).default({}),
    /** plans the add-on can be bought on (default: all) */
    plans: z.array(Key).optional(),
    requires: z.array(Key).default([]),
  })
  .strict();
export type AddOnDefinition = z.infer<typeof AddOnDefinition>;

export const CatalogDocument = z
  .object({
    $schema: z.string().optional(),
    currency: z.string().refine(isCurrency, "must be a lower-case ISO 4217 currency code such as usd"),
    features: z.record(Key, FeatureDefinition),
    meters: z.record(Key, MeterDefinition).default({}),
    plans: z.record(Key, PlanDefinition),
    add_ons: z.record(Key, AddOnDefinition).default({}),
    /** how changes take effect (docs/rules.md, periods 5) */
    policies: z
      .object({
        downgrades: z.enum(["period_end", "immediate_with_credit"]).default("period_end"),
      })
      .strict()
      .default({ downgrades: "period_end" }),
  })
  .strict();
export type CatalogDocument = z.infer<typeof CatalogDocument>;
export type CatalogInput = z.input<typeof CatalogDocument>;
