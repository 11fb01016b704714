import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { AddOnDefinition } from "../catalog/document.ts";
import type { PriceModel } from "../catalog/price-model.ts";
import type { ResolvedPlan } from "../catalog/validate.ts";
import { formatMoney } from "../money/money.ts";
import type { BillingInterval } from "../periods/billing-period.ts";
import { DEMO_CATALOG } from "../testing/demo-catalog.ts";
import { annualContractValue, recurringCharges, type SubscribedAddOn } from "./recurring.ts";

const catalog = DEMO_CATALOG;

function plan(key: string): ResolvedPlan {
  const found = catalog.plans[key];
  if (!found) throw new Error(`no plan ${key}`);
  return found;
}
function addOn(key: string, quantity = 1): SubscribedAddOn {
  const definition = catalog.add_ons[key];
  if (!definition) throw new Error(`no add-on ${key}`);
  return { key, definition, quantity };
}
const usd = (amount: number) => formatMoney({ amount, currency: "usd" });
const charges = (planKey: string, interval: BillingInterval, seats: number, addOns: SubscribedAddOn[] = []) =>
  recurringCharges({ plan: plan(planKey), interval, seats, addOns });

describe("recurringCharges: the demo catalog's numbers", () => {
  it("Starter with 2 seats beyond its 5: $99 + 2 × $15 = $129/month", () => {
    const starter = charges("starter", "month", 7);
    expect(starter).toEqual({ base: 9900, extraSeats: 2, seats: 3000, addOns: [], total: 12_900 });
    expect(usd(starter.total)).toBe("$129.00");
  });

  it("charges nothing for seats within the included ones, and gives nothing back for fewer", () => {
    expect(charges("starter", "month", 5)).toMatchObject({ extraSeats: 0, seats: 0, total: 9900 });
    expect(charges("starter", "month", 1)).toMatchObject({ extraSeats: 0, seats: 0, total: 9900 });
    expect(charges("free", "month", 3)).toMatchObject({ base: 0, seats: 0, total: 0 });
  });

  it("Starter annual: $990 + 2 × $150 = $1,290/year", () => {
    expect(charges("starter", "year", 7)).toMatchObject({ base: 99_000, seats: 30_000, total: 129_000 });
  });

  it("Business prices extra seats by volume: every extra seat at the tier the count falls in", () => {
    // 25 seats included; tiers on the extra seats: ≤ 50 at $15, ≤ 200 at $12, beyond at $9.
    expect(charges("business", "month", 25)).toMatchObject({ extraSeats: 0, seats: 0, total: 59_900 });
    expect(charges("business", "month", 26)).toMatchObject({ extraSeats: 1, seats: 1500, total: 61_400 });
    expect(charges("business", "month", 75)).toMatchObject({ extraSeats: 50, seats: 75_000, total: 134_900 });
    expect(charges("business", "month", 76)).toMatchObject({ extraSeats: 51, seats: 61_200, total: 121_100 });
    expect(charges("business", "month", 225)).toMatchObject({ extraSeats: 200, seats: 240_000 });
    expect(charges("business", "month", 226)).toMatchObject({ extraSeats: 201, seats: 180_900 });
    expect(charges("business", "year", 76)).toMatchObject({ seats: 51 * 12_000, total: 599_000 + 612_000 });
  });

  it("prices flat and per-unit add-ons", () => {
    const pro = charges("pro", "month", 10, [addOn("sso"), addOn("storage_pack", 3)]);
    expect(pro.addOns).toEqual([
      { key: "sso", amount: 4900 },
      { key: "storage_pack", amount: 3000 },
    ]);
    expect(pro.total).toBe(24_900 + 4900 + 3000);
  });

  it("prices premium support at 15% of the plan, seats included, other add-ons excluded", () => {
    // Pro with 12 seats: $249 + 2 × $15 = $279; 15% of $279 = $41.85.
    const pro = charges("pro", "month", 12, [addOn("premium_support")]);
    expect(pro.addOns).toEqual([{ key: "premium_support", amount: 4185 }]);
    expect(pro.total).toBe(27_900 + 4185);
    const withPacks = charges("pro", "month", 12, [addOn("storage_pack", 3), addOn("premium_support")]);
    expect(withPacks.addOns).toEqual([
      { key: "storage_pack", amount: 3000 },
      { key: "premium_support", amount: 4185 },
    ]);
    // Business with 76 seats: (599 + 51 × 12) × 15% = $181.65.
    expect(charges("business", "month", 76, [addOn("premium_support")]).addOns).toEqual([
      { key: "premium_support", amount: 18_165 },
    ]);
  });

  it("rounds a percent-of-plan amount once, half away from zero", () => {
    const support = (basis_points: number): SubscribedAddOn => ({
      key: "support",
      definition: {
        ...(catalog.add_ons.premium_support as AddOnDefinition),
        prices: { month: { model: "percent_of_plan", basis_points } },
      },
      quantity: 1,
    });
    const at = (base: number, basisPoints: number) =>
      recurringCharges({
        plan: { ...plan("pro"), prices: { month: { base } } },
        interval: "month",
        seats: 1,
        addOns: [support(basisPoints)],
      }).addOns[0]?.amount;
    expect(at(10, 1500)).toBe(2); // 1.5 → 2
    expect(at(10, 1400)).toBe(1); // 1.4 → 1
    expect(at(9999, 1500)).toBe(1500); // 1499.85 → 1500
    expect(at(0, 1500)).toBe(0);
  });

  it("refuses an interval the plan or an add-on is not sold per", () => {
    expect(() => charges("free", "year", 3)).toThrow(RangeError);
    const monthlyOnly: SubscribedAddOn = {
      key: "monthly_only",
      definition: {
        ...(catalog.add_ons.sso as AddOnDefinition),
        prices: { month: { model: "flat", amount: 100 } },
      },
      quantity: 1,
    };
    expect(() => charges("pro", "year", 10, [monthlyOnly])).toThrow(/no year price/);
  });
});

describe("annualContractValue", () => {
  it("is a month's total × 12, or a year's total × 1", () => {
    expect(annualContractValue({ plan: plan("starter"), interval: "month", seats: 7, addOns: [] })).toBe(
      154_800,
    );
    expect(annualContractValue({ plan: plan("starter"), interval: "year", seats: 7, addOns: [] })).toBe(
      129_000,
    );
    expect(annualContractValue({ plan: plan("pro"), interval: "month", seats: 10, addOns: [] })).toBe(
      298_800,
    );
    expect(annualContractValue({ plan: plan("pro"), interval: "year", seats: 10, addOns: [] })).toBe(249_000);
    expect(annualContractValue({ plan: plan("free"), interval: "month", seats: 3, addOns: [] })).toBe(0);
  });

  it("annual is 10 × monthly: $990 a year instead of 12 × $99, two months ($198) free", () => {
    const monthly = annualContractValue({ plan: plan("starter"), interval: "month", seats: 5, addOns: [] });
    const annual = annualContractValue({ plan: plan("starter"), interval: "year", seats: 5, addOns: [] });
    expect(usd(annual)).toBe("$990.00");
    expect(usd(monthly - annual)).toBe("$198.00");
  });
});

// ——— Property tests ———————————————————————————————————————————————————————————————————————

const PAID = ["starter", "pro", "business"] as const;
const ADD_ONS = ["advanced_reporting", "sso", "storage_pack", "premium_support"] as const;

/** A subscription to a paid demo plan with any seats and any add-ons (availability is not priced). */
const shapeArb = fc.record({
  plan: fc.constantFrom(...PAID).map(plan),
  interval: fc.constantFrom<BillingInterval>("month", "year"),
  seats: fc.integer({ min: 0, max: 1000 }),
  addOns: fc
    .subarray([...ADD_ONS])
    .chain((keys) =>
      fc.tuple(
        ...keys.map((key) =>
          fc
            .integer({ min: 1, max: 20 })
            .map((q) => addOn(key, catalog.add_ons[key]?.quantity === "multiple" ? q : 1)),
        ),
      ),
    ),
});

describe("recurringCharges: properties", () => {
  it("total = base + seats + add-ons, every part a non-negative integer", () => {
    fc.assert(
      fc.property(shapeArb, (shape) => {
        const c = recurringCharges(shape);
        const parts = [c.base, c.seats, ...c.addOns.map((a) => a.amount)];
        for (const part of parts) expect(Number.isSafeInteger(part) && part >= 0).toBe(true);
        expect(c.total).toBe(parts.reduce((a, b) => a + b, 0));
        expect(c.extraSeats).toBe(Math.max(0, shape.seats - shape.plan.seats.included));
        expect(c.addOns.map((a) => a.key)).toEqual(shape.addOns.map((a) => a.key));
      }),
    );
  });

  it("premium support is 15% of base + seats, rounded half away from zero", () => {
    fc.assert(
      fc.property(shapeArb, (shape) => {
        const c = recurringCharges({ ...shape, addOns: [addOn("premium_support")] });
        const planAmount = c.base + c.seats;
        // 15% = 3/20; amounts are non-negative, so half away from zero is floor(x + 1/2).
        expect(c.addOns[0]?.amount).toBe(Math.floor((planAmount * 3) / 20 + 0.5));
      }),
    );
  });

  it("ACV is 12 × the monthly total or 1 × the yearly total", () => {
    fc.assert(
      fc.property(shapeArb, (shape) => {
        const { total } = recurringCharges(shape);
        expect(annualContractValue(shape)).toBe(shape.interval === "month" ? 12 * total : total);
      }),
    );
  });

  it("ACV never decreases when seats are added, with per-unit or graduated seat prices", () => {
    const graduated: PriceModel = {
      model: "tiered",
      tiers: [
        { up_to: 50, unit_amount: 1500, flat_amount: 0 },
        { up_to: 200, unit_amount: 1200, flat_amount: 0 },
        { up_to: null, unit_amount: 900, flat_amount: 0 },
      ],
    };
    const business = plan("business");
    const graduatedBusiness: ResolvedPlan = {
      ...business,
      prices: { month: { base: 59_900, seat: graduated }, year: { base: 599_000, seat: graduated } },
    };
    const plans = [plan("free"), plan("starter"), plan("pro"), graduatedBusiness];
    fc.assert(
      fc.property(
        fc.constantFrom(...plans),
        fc.constantFrom<BillingInterval>("month", "year"),
        fc.integer({ min: 0, max: 1000 }),
        fc.integer({ min: 0, max: 300 }),
        fc.boolean(),
        (p, interval, seats, more, support) => {
          fc.pre(p.prices[interval] !== undefined);
          const addOns = support ? [addOn("premium_support")] : [];
          const acv = (n: number) => annualContractValue({ plan: p, interval, seats: n, addOns });
          expect(acv(seats + more)).toBeGreaterThanOrEqual(acv(seats));
        },
      ),
    );
  });

  it("documents the volume cliff: the demo's Business seats can cost less with one more seat", () => {
    // Volume pricing (Stripe's model) prices every extra seat at the tier the count reaches, so the
    // 51st extra seat lowers the bill: 50 × $15 = $750 but 51 × $12 = $612.
    const acv = (seats: number) =>
      annualContractValue({ plan: plan("business"), interval: "month", seats, addOns: [] });
    expect(acv(76)).toBeLessThan(acv(75));
    expect(acv(75) - acv(76)).toBe(12 * 13_800);
  });
});
