/**
 * How a quantity becomes an amount for one whole billing period, for every catalog price model.
 *
 * `recurringAmount` is exact (a Rational: only percent_of_plan can produce a fraction of a minor
 * unit); `amountForQuantity` rounds it once, half away from zero, for a full-period invoice line.
 * Proration starts from the exact value so the prorated line is still rounded only once.
 *
 * Quantities are non-negative safe integers. Quantity 0 costs 0 in every model, including flat and
 * percent_of_plan: a flat or percent_of_plan price is for "having the item", so any quantity ≥ 1
 * costs the same single amount and quantity 0 means the item is not there.
 */
import type { PriceModel, PriceTier } from "../catalog/price-model.ts";
import { multiplyRational, type Rational, rational, roundToSafeInteger } from "./rational.ts";

export interface PriceContext {
  /** The plan's recurring amount for the period in minor units; required by percent_of_plan. */
  readonly planAmount?: number;
}

function assertQuantity(quantity: number): void {
  if (!Number.isSafeInteger(quantity) || quantity < 0) {
    throw new RangeError(`quantity must be a non-negative integer, got ${quantity}`);
  }
}

function assertMinorUnits(amount: number, what: string): void {
  if (!Number.isSafeInteger(amount) || amount < 0) {
    throw new RangeError(`${what} must be a non-negative integer of minor units, got ${amount}`);
  }
}

/**
 * Tiers must have strictly ascending positive integer `up_to` bounds, and exactly the last tier is
 * unbounded (`up_to: null`), so every quantity falls in some tier. Throws a RangeError otherwise.
 * The catalog can call this when a price is declared, so a bad price fails at apply time.
 */
export function validateTiers(tiers: readonly PriceTier[]): void {
  if (tiers.length === 0) throw new RangeError("a tiered price needs at least one tier");
  let previous = 0;
  tiers.forEach((tier, i) => {
    const last = i === tiers.length - 1;
    assertMinorUnits(tier.unit_amount, `tiers[${i}].unit_amount`);
    assertMinorUnits(tier.flat_amount ?? 0, `tiers[${i}].flat_amount`);
    if (tier.up_to === null) {
      if (!last) throw new RangeError(`tiers[${i}] has up_to: null but is not the last tier`);
      return;
    }
    if (last) throw new RangeError(`the last tier must have up_to: null, got ${tier.up_to}`);
    if (!Number.isSafeInteger(tier.up_to) || tier.up_to <= previous) {
      throw new RangeError(
        `tiers must ascend: tiers[${i}].up_to = ${tier.up_to} must be an integer above ${previous}`,
      );
    }
    previous = tier.up_to;
  });
}

/** Graduated: each unit at the tier it falls in, plus the flat_amount of every tier reached. */
function graduated(tiers: readonly PriceTier[], quantity: number): bigint {
  let total = 0n;
  let lower = 0;
  for (const tier of tiers) {
    if (quantity <= lower) break;
    const upper = tier.up_to === null ? quantity : Math.min(quantity, tier.up_to);
    total += BigInt(upper - lower) * BigInt(tier.unit_amount) + BigInt(tier.flat_amount ?? 0);
    if (tier.up_to === null) break;
    lower = tier.up_to;
  }
  return total;
}

/** Volume: every unit at the tier the total quantity falls in (up_to inclusive), plus its flat_amount. */
function volume(tiers: readonly PriceTier[], quantity: number): bigint {
  if (quantity === 0) return 0n;
  const tier = tiers.find((t) => t.up_to === null || quantity <= t.up_to);
  // validateTiers guarantees an unbounded last tier, so some tier always matches.
  if (tier === undefined) throw new RangeError(`quantity ${quantity} exceeds the last tier`);
  return BigInt(quantity) * BigInt(tier.unit_amount) + BigInt(tier.flat_amount ?? 0);
}

/** The exact amount for `quantity` over one whole period, in minor units. */
export function recurringAmount(model: PriceModel, quantity: number, context: PriceContext = {}): Rational {
  assertQuantity(quantity);
  switch (model.model) {
    case "flat":
      assertMinorUnits(model.amount, "amount");
      return rational(quantity === 0 ? 0 : model.amount);
    case "per_unit":
      assertMinorUnits(model.unit_amount, "unit_amount");
      return rational(BigInt(quantity) * BigInt(model.unit_amount));
    case "tiered":
      validateTiers(model.tiers);
      return rational(graduated(model.tiers, quantity));
    case "volume":
      validateTiers(model.tiers);
      return rational(volume(model.tiers, quantity));
    case "package": {
      if (!Number.isSafeInteger(model.package_size) || model.package_size <= 0) {
        throw new RangeError(`package_size must be a positive integer, got ${model.package_size}`);
      }
      assertMinorUnits(model.amount, "amount");
      const packages = Math.ceil(quantity / model.package_size);
      return rational(BigInt(packages) * BigInt(model.amount));
    }
    case "percent_of_plan": {
      const { planAmount } = context;
      if (planAmount === undefined) throw new RangeError("percent_of_plan needs context.planAmount");
      assertMinorUnits(planAmount, "planAmount");
      if (quantity === 0) return rational(0);
      return multiplyRational(rational(model.basis_points, 10_000), planAmount);
    }
  }
}

/**
 * The amount for `quantity` over one whole period, in integer minor units: the exact
 * `recurringAmount` rounded once, half away from zero (only percent_of_plan can need rounding).
 */
export function amountForQuantity(model: PriceModel, quantity: number, context: PriceContext = {}): number {
  return roundToSafeInteger(recurringAmount(model, quantity, context));
}

/**
 * The most `model` costs for one whole period at any quantity from 0 to `maxQuantity`, exact. A
 * volume price is not monotone (crossing into a cheaper tier lowers the total), so its most is at
 * the top of some tier; every other model is monotone and costs the most at `maxQuantity`.
 * percent_of_plan has no amount of its own (it is a share of the plan's): null.
 */
export function mostRecurringAmount(model: PriceModel, maxQuantity: number): bigint | null {
  assertQuantity(maxQuantity);
  if (model.model === "percent_of_plan") return null;
  if (model.model !== "volume") return recurringAmount(model, maxQuantity).numerator;
  validateTiers(model.tiers);
  let most = 0n;
  let lower = 0;
  for (const tier of model.tiers) {
    if (maxQuantity <= lower) break;
    const top = tier.up_to === null ? maxQuantity : Math.min(tier.up_to, maxQuantity);
    const amount = volume(model.tiers, top);
    if (amount > most) most = amount;
    if (tier.up_to === null) break;
    lower = tier.up_to;
  }
  return most;
}

/**
 * The price of one unit when the model has a single one (per_unit), else null: flat, tiered, volume,
 * package and percent_of_plan are priced as a whole, so a quantity change on them is a replacement
 * (credit the old amount, charge the new one), never a one-line quantity change.
 */
export function unitAmountOf(model: PriceModel): number | null {
  return model.model === "per_unit" ? model.unit_amount : null;
}
