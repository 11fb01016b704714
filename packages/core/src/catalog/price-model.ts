import { z } from "zod";
import { formatCount, MAX_ITEM_AMOUNT } from "./bounds.ts";

/** A non-negative integer amount in the catalog currency's minor units, at most the item ceiling. */
export const MinorUnits = z
  .number()
  .int()
  .nonnegative()
  .max(MAX_ITEM_AMOUNT, `at most ${formatCount(MAX_ITEM_AMOUNT)} minor units (the most one item costs)`);

/** One tier of a tiered or volume price. `up_to: null` is the last, unbounded tier. */
export const PriceTier = z
  .object({
    up_to: z.number().int().positive().nullable(),
    unit_amount: MinorUnits,
    flat_amount: MinorUnits.default(0),
  })
  .strict();

/**
 * How a quantity becomes an amount, per billing interval (Stripe's models, which users know):
 * - flat: one amount, whatever the quantity;
 * - per_unit: quantity × unit_amount;
 * - tiered (graduated): each unit priced at the tier it falls in, plus each reached tier's flat_amount;
 * - volume: every unit priced at the tier the total quantity falls in, plus that tier's flat_amount;
 * - package: amount per started block of package_size units;
 * - percent_of_plan: a share of the plan's recurring amount (premium support), in basis points.
 */
export const PriceModel = z.discriminatedUnion("model", [
  z.object({ model: z.literal("flat"), amount: MinorUnits }).strict(),
  z.object({ model: z.literal("per_unit"), unit_amount: MinorUnits }).strict(),
  z.object({ model: z.literal("tiered"), tiers: z.array(PriceTier).min(1) }).strict(),
  z.object({ model: z.literal("volume"), tiers: z.array(PriceTier).min(1) }).strict(),
  z
    .object({ model: z.literal("package"), package_size: z.number().int().positive(), amount: MinorUnits })
    .strict(),
  z
    .object({ model: z.literal("percent_of_plan"), basis_points: z.number().int().positive().max(100_000) })
    .strict(),
]);
export type PriceModel = z.infer<typeof PriceModel>;
export type PriceTier = z.infer<typeof PriceTier>;
