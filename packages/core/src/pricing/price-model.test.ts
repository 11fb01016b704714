import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { PriceModel, type PriceTier } from "../catalog/price-model.ts";
import {
  amountForQuantity,
  mostRecurringAmount,
  recurringAmount,
  unitAmountOf,
  validateTiers,
} from "./price-model.ts";
import { rational } from "./rational.ts";

// The tiers used by the worked examples in docs/pricing-and-proration.md.
const tiers: PriceTier[] = [
  { up_to: 5, unit_amount: 1000, flat_amount: 0 },
  { up_to: 20, unit_amount: 800, flat_amount: 0 },
  { up_to: null, unit_amount: 500, flat_amount: 0 },
];

describe("amountForQuantity: the worked examples of docs/pricing-and-proration.md", () => {
  it("flat: one amount for any quantity ≥ 1, nothing for 0", () => {
    const model: PriceModel = { model: "flat", amount: 4900 };
    expect(amountForQuantity(model, 1)).toBe(4900);
    expect(amountForQuantity(model, 10)).toBe(4900);
    expect(amountForQuantity(model, 0)).toBe(0);
  });

  it("per_unit: 12 seats × $15.00 = $180.00", () => {
    expect(amountForQuantity({ model: "per_unit", unit_amount: 1500 }, 12)).toBe(18_000);
    expect(amountForQuantity({ model: "per_unit", unit_amount: 1500 }, 0)).toBe(0);
  });

  it("tiered (graduated): 25 units = 5 × $10 + 15 × $8 + 5 × $5 = $195.00", () => {
    const model: PriceModel = { model: "tiered", tiers };
    expect(amountForQuantity(model, 25)).toBe(19_500);
    expect(amountForQuantity(model, 5)).toBe(5000);
    expect(amountForQuantity(model, 6)).toBe(5800);
    expect(amountForQuantity(model, 0)).toBe(0);
  });

  it("tiered with a flat fee on the first tier: $20 platform fee + 25 units = $215.00", () => {
    const withFee: PriceTier[] = tiers.map((t, i) => (i === 0 ? { ...t, flat_amount: 2000 } : t));
    expect(amountForQuantity({ model: "tiered", tiers: withFee }, 25)).toBe(21_500);
    expect(amountForQuantity({ model: "tiered", tiers: withFee }, 1)).toBe(3000);
    // a tier's flat amount is added once the quantity reaches the tier
    const secondTierFee: PriceTier[] = tiers.map((t, i) => (i === 1 ? { ...t, flat_amount: 700 } : t));
    expect(amountForQuantity({ model: "tiered", tiers: secondTierFee }, 5)).toBe(5000);
    expect(amountForQuantity({ model: "tiered", tiers: secondTierFee }, 6)).toBe(6500);
  });

  it("volume: all 25 units at the third tier = $125.00; 20 units are still in the second (up_to is inclusive)", () => {
    const model: PriceModel = { model: "volume", tiers };
    expect(amountForQuantity(model, 25)).toBe(12_500);
    expect(amountForQuantity(model, 20)).toBe(16_000);
    expect(amountForQuantity(model, 21)).toBe(10_500);
    expect(amountForQuantity(model, 0)).toBe(0);
    const withFee: PriceTier[] = tiers.map((t, i) => (i === 2 ? { ...t, flat_amount: 1000 } : t));
    expect(amountForQuantity({ model: "volume", tiers: withFee }, 25)).toBe(13_500);
  });

  it("package: 25 units in packs of 10 at $25.00 = 3 packs = $75.00", () => {
    const model: PriceModel = { model: "package", package_size: 10, amount: 2500 };
    expect(amountForQuantity(model, 25)).toBe(7500);
    expect(amountForQuantity(model, 10)).toBe(2500);
    expect(amountForQuantity(model, 11)).toBe(5000);
    expect(amountForQuantity(model, 0)).toBe(0);
  });

  it("percent_of_plan: 15% of a $49.99 plan = 749.85 cents, billed $7.50 (half away from zero)", () => {
    const model: PriceModel = { model: "percent_of_plan", basis_points: 1500 };
    expect(recurringAmount(model, 1, { planAmount: 4999 })).toEqual(rational(14_997, 20));
    expect(amountForQuantity(model, 1, { planAmount: 4999 })).toBe(750);
    expect(amountForQuantity(model, 0, { planAmount: 4999 })).toBe(0);
    expect(amountForQuantity(model, 1, { planAmount: 4899 })).toBe(735); // 734.85
    // an exact half rounds away from zero: 10% of 5 = 0.5 → 1
    expect(amountForQuantity({ model: "percent_of_plan", basis_points: 1000 }, 1, { planAmount: 5 })).toBe(1);
    expect(() => amountForQuantity(model, 1)).toThrow(/planAmount/);
  });

  it("JPY and KWD amounts are minor units like any other: ¥1,500 × 3 = ¥4,500; 4.995 KWD × 2 = 9.990 KWD", () => {
    expect(amountForQuantity({ model: "per_unit", unit_amount: 1500 }, 3)).toBe(4500);
    expect(amountForQuantity({ model: "per_unit", unit_amount: 4995 }, 2)).toBe(9990);
  });
});

describe("validation", () => {
  it("rejects a bad quantity", () => {
    const model: PriceModel = { model: "per_unit", unit_amount: 100 };
    expect(() => amountForQuantity(model, -1)).toThrow(RangeError);
    expect(() => amountForQuantity(model, 1.5)).toThrow(RangeError);
    expect(() => amountForQuantity(model, Number.NaN)).toThrow(RangeError);
  });

  it("requires ascending tiers with exactly the last one unbounded", () => {
    const t = (up_to: number | null): PriceTier => ({ up_to, unit_amount: 100, flat_amount: 0 });
    expect(() => validateTiers([t(10), t(20), t(null)])).not.toThrow();
    expect(() => validateTiers([t(null)])).not.toThrow();
    expect(() => validateTiers([t(20), t(10), t(null)])).toThrow(/ascend/);
    expect(() => validateTiers([t(10), t(10), t(null)])).toThrow(/ascend/);
    expect(() => validateTiers([t(null), t(10)])).toThrow(/not the last/);
    expect(() => validateTiers([t(10), t(20)])).toThrow(/last tier/);
    expect(() => validateTiers([])).toThrow(RangeError);
    expect(() => amountForQuantity({ model: "volume", tiers: [t(10), t(5), t(null)] }, 3)).toThrow(
      RangeError,
    );
    expect(() => amountForQuantity({ model: "tiered", tiers: [t(10)] }, 3)).toThrow(RangeError);
  });

  it("accepts tiers parsed by the catalog schema (flat_amount defaulted)", () => {
    const model = PriceModel.parse({
      model: "tiered",
      tiers: [
        { up_to: 5, unit_amount: 1000 },
        { up_to: null, unit_amount: 500 },
      ],
    });
    expect(amountForQuantity(model, 7)).toBe(6000);
  });

  it("exposes the unit price only for per_unit", () => {
    expect(unitAmountOf({ model: "per_unit", unit_amount: 1500 })).toBe(1500);
    expect(unitAmountOf({ model: "flat", amount: 1500 })).toBeNull();
    expect(unitAmountOf({ model: "tiered", tiers })).toBeNull();
  });
});

/** Valid tiers: strictly ascending bounds, the last unbounded. */
const validTiers = fc
  .array(
    fc.record({
      width: fc.integer({ min: 1, max: 1000 }),
      unit_amount: fc.integer({ min: 0, max: 100_000 }),
      flat_amount: fc.integer({ min: 0, max: 100_000 }),
    }),
    { minLength: 1, maxLength: 6 },
  )
  .map((raw) => {
    let bound = 0;
    return raw.map(({ width, unit_amount, flat_amount }, i): PriceTier => {
      bound += width;
      return { up_to: i === raw.length - 1 ? null : bound, unit_amount, flat_amount };
    });
  });
const quantities = fc.integer({ min: 0, max: 10_000 });

describe("properties", () => {
  it("graduated(q) is monotone non-decreasing in q", () => {
    fc.assert(
      fc.property(validTiers, quantities, quantities, (t, a, b) => {
        const [lo, hi] = a <= b ? [a, b] : [b, a];
        const model: PriceModel = { model: "tiered", tiers: t };
        expect(amountForQuantity(model, hi)).toBeGreaterThanOrEqual(amountForQuantity(model, lo));
      }),
    );
  });

  it("graduated(q + 1) − graduated(q) is the next unit's tier price, plus its flat fee when the tier is entered", () => {
    fc.assert(
      fc.property(validTiers, quantities, (t, q) => {
        const model: PriceModel = { model: "tiered", tiers: t };
        const index = t.findIndex((tier) => tier.up_to === null || q + 1 <= tier.up_to);
        const tier = t[index] as PriceTier;
        const lower = index === 0 ? 0 : ((t[index - 1] as PriceTier).up_to as number);
        const entering = q === lower;
        expect(amountForQuantity(model, q + 1) - amountForQuantity(model, q)).toBe(
          tier.unit_amount + (entering ? tier.flat_amount : 0),
        );
      }),
    );
  });

  it("volume and graduated agree on a single tier", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 100_000 }),
        fc.integer({ min: 0, max: 100_000 }),
        quantities,
        (unit_amount, flat_amount, q) => {
          const single: PriceTier[] = [{ up_to: null, unit_amount, flat_amount }];
          expect(amountForQuantity({ model: "volume", tiers: single }, q)).toBe(
            amountForQuantity({ model: "tiered", tiers: single }, q),
          );
        },
      ),
    );
  });

  it("volume equals quantity × the unit price of the tier containing the quantity, plus its flat fee", () => {
    fc.assert(
      fc.property(validTiers, fc.integer({ min: 1, max: 10_000 }), (t, q) => {
        const tier = t.find((x) => x.up_to === null || q <= x.up_to) as PriceTier;
        expect(amountForQuantity({ model: "volume", tiers: t }, q)).toBe(
          q * tier.unit_amount + tier.flat_amount,
        );
      }),
    );
  });

  it("per_unit is linear and package is per started pack", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1_000_000 }),
        fc.integer({ min: 1, max: 100 }),
        quantities,
        (amount, size, q) => {
          expect(amountForQuantity({ model: "per_unit", unit_amount: amount }, q)).toBe(q * amount);
          const pack = amountForQuantity({ model: "package", package_size: size, amount }, q);
          expect(pack).toBe(Math.ceil(q / size) * amount);
          expect(pack).toBeGreaterThanOrEqual(Math.floor((q * amount) / size));
        },
      ),
    );
  });

  it("percent_of_plan is within half a minor unit of the exact share", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 100_000 }),
        fc.integer({ min: 0, max: 10_000_000 }),
        (bp, plan) => {
          const amount = amountForQuantity({ model: "percent_of_plan", basis_points: bp }, 1, {
            planAmount: plan,
          });
          expect(Math.abs(amount * 10_000 - bp * plan)).toBeLessThanOrEqual(5000);
        },
      ),
    );
  });
});

describe("mostRecurringAmount: the most a price costs up to a quantity", () => {
  const model = fc.oneof(
    fc.integer({ min: 0, max: 10_000 }).map((amount): PriceModel => ({ model: "flat", amount })),
    fc
      .integer({ min: 0, max: 10_000 })
      .map((unit_amount): PriceModel => ({ model: "per_unit", unit_amount })),
    validTiers.map((t): PriceModel => ({ model: "tiered", tiers: t })),
    validTiers.map((t): PriceModel => ({ model: "volume", tiers: t })),
    fc
      .tuple(fc.integer({ min: 1, max: 20 }), fc.integer({ min: 0, max: 10_000 }))
      .map(([package_size, amount]): PriceModel => ({ model: "package", package_size, amount })),
  );

  it("is the largest amount of any quantity from 0 to the bound (volume is not monotone)", () => {
    fc.assert(
      fc.property(model, fc.integer({ min: 0, max: 2500 }), (m, bound) => {
        let most = 0n;
        for (let q = 0; q <= bound; q++) {
          const amount = recurringAmount(m, q).numerator;
          if (amount > most) most = amount;
        }
        expect(mostRecurringAmount(m, bound)).toBe(most);
      }),
    );
  });

  it("finds a volume price's most at the top of a dearer tier below the bound", () => {
    const volume: PriceModel = { model: "volume", tiers };
    // 20 units at $8 = $160 is more than 24 units at $5
    expect(mostRecurringAmount(volume, 24)).toBe(16_000n);
    expect(mostRecurringAmount(volume, 40)).toBe(20_000n);
    expect(mostRecurringAmount({ model: "percent_of_plan", basis_points: 1500 }, 10)).toBeNull();
  });
});
