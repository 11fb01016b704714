/**
 * Test support: random catalogs for property tests of money rules (core's and the server's). Every
 * plan and add-on has a month and a year price, so any interval switch can be asked for; seat prices
 * are per-unit, graduated, volume or package, bases are often $0, and add-ons take every model.
 */
import fc from "fast-check";
import type { CatalogInput } from "../catalog/document.ts";
import type { PriceModel } from "../catalog/price-model.ts";

const amountArb = fc.oneof(fc.integer({ min: 0, max: 60_000 }), fc.constantFrom(0, 1, 999, 1500, 4245, 9999));

/** Ascending tiers, the last unbounded. */
const tiersArb = fc
  .array(fc.tuple(fc.integer({ min: 1, max: 6 }), amountArb, fc.constantFrom(0, 0, 500)), {
    minLength: 1,
    maxLength: 3,
  })
  .map((steps) => {
    let upTo = 0;
    return steps.map(([step, unit_amount, flat_amount], i) => {
      upTo += step;
      return { up_to: i === steps.length - 1 ? null : upTo, unit_amount, flat_amount };
    });
  });

export const seatPriceArb: fc.Arbitrary<PriceModel> = fc.oneof(
  amountArb.map((unit_amount) => ({ model: "per_unit" as const, unit_amount })),
  tiersArb.map((tiers) => ({ model: "tiered" as const, tiers })),
  tiersArb.map((tiers) => ({ model: "volume" as const, tiers })),
  fc
    .tuple(fc.integer({ min: 1, max: 5 }), amountArb)
    .map(([package_size, amount]) => ({ model: "package" as const, package_size, amount })),
);

const addOnPriceArb: fc.Arbitrary<PriceModel> = fc.oneof(
  seatPriceArb,
  amountArb.map((amount) => ({ model: "flat" as const, amount })),
  fc
    .integer({ min: 1, max: 5000 })
    .map((basis_points) => ({ model: "percent_of_plan" as const, basis_points })),
);

const baseArb = fc.oneof(fc.constant(0), amountArb);
const planPriceArb = fc.record({ base: baseArb, seat: seatPriceArb });

export interface RandomCatalogOptions {
  /** the catalog's downgrade policy; random when not given */
  readonly downgrades?: "period_end" | "immediate_with_credit";
}

/** A catalog document (as a file holds it) of 2 or 3 plans in tier order and 0 to 2 add-ons. */
export function randomCatalogArb(options: RandomCatalogOptions = {}): fc.Arbitrary<CatalogInput> {
  return fc
    .record({
      plans: fc.array(
        fc.record({ month: planPriceArb, year: planPriceArb, included: fc.integer({ min: 0, max: 3 }) }),
        { minLength: 2, maxLength: 3 },
      ),
      addOns: fc.array(fc.record({ month: addOnPriceArb, year: addOnPriceArb }), { maxLength: 2 }),
      downgrades: options.downgrades
        ? fc.constant(options.downgrades)
        : fc.constantFrom<"period_end" | "immediate_with_credit">("period_end", "immediate_with_credit"),
    })
    .map(({ plans, addOns, downgrades }) => ({
      currency: "usd",
      features: { seats: { kind: "seats" as const, name: "Seats" } },
      plans: Object.fromEntries(
        plans.map((p, i) => [
          `plan_${i + 1}`,
          {
            name: `Plan ${i + 1}`,
            tier: i + 1,
            prices: { month: p.month, year: p.year },
            seats: { included: p.included },
          },
        ]),
      ),
      add_ons: Object.fromEntries(
        addOns.map((a, i) => [
          `add_on_${i + 1}`,
          {
            name: `Add-on ${i + 1}`,
            prices: { month: a.month, year: a.year },
            quantity: "multiple" as const,
          },
        ]),
      ),
      policies: { downgrades },
    }));
}

/** Billing-cycle anchors, month-end ones (the 28th to the 31st) often. */
export const anchorArb: fc.Arbitrary<Date> = fc
  .tuple(
    fc.integer({ min: 2024, max: 2030 }),
    fc.integer({ min: 0, max: 11 }),
    fc.oneof(fc.integer({ min: 1, max: 31 }), fc.integer({ min: 28, max: 31 })),
    fc.integer({ min: 0, max: 86_399 }),
  )
  .map(([year, month, day, second]) => {
    const last = new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
    return new Date(Date.UTC(year, month, Math.min(day, last)) + second * 1000);
  });
