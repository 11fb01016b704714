import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { combinedGrant } from "../entitlements/compute.ts";
import { cheapestUpgrade } from "../entitlements/upgrade.ts";
import { overageLines, renewalLines } from "../invoices/renewal.ts";
import { invoiceTotals } from "../invoices/totals.ts";
import type { BillingInterval } from "../periods/billing-period.ts";
import { recurringAmount } from "../pricing/price-model.ts";
import { roundHalfAwayFromZero } from "../pricing/rational.ts";
import { quoteChange } from "../quotes/quote-change.ts";
import {
  annualContractValue,
  recurringCharges,
  type SubscribedAddOn,
  type SubscriptionShape,
} from "../subscriptions/recurring.ts";
import { checkSubscriptionShape } from "../subscriptions/shape-rules.ts";
import { MAX_ADD_ONS, MAX_BILLED_OVERAGE_FEATURES, MAX_ITEM_AMOUNT, MAX_QUANTITY } from "./bounds.ts";
import { type ResolvedCatalog, validateCatalog } from "./validate.ts";

const C = MAX_ITEM_AMOUNT;

type Doc = Record<string, unknown>;

function valid(doc: unknown): ResolvedCatalog {
  const result = validateCatalog(doc);
  if (!result.ok) throw new Error(`invalid: ${JSON.stringify(result.issues)}`);
  return result.catalog;
}
function issues(doc: unknown) {
  const result = validateCatalog(doc);
  if (result.ok) throw new Error("expected the catalog to be refused");
  return result.issues;
}

const plan = (prices: Doc, seats: Doc = { included: 0 }) => ({ name: "Plan", tier: 0, prices, seats });
const catalogOf = (plans: Doc, addOns: Doc = {}, features: Doc = { f: { kind: "boolean", name: "F" } }) => ({
  currency: "usd",
  features,
  plans,
  add_ons: addOns,
});

describe("catalog bounds: the catalogs that broke pricing are refused, each at its field", () => {
  it("a seat price of 2^53 − 1", () => {
    const doc = catalogOf({
      team: plan({ month: { base: 0, seat: { model: "per_unit", unit_amount: Number.MAX_SAFE_INTEGER } } }),
    });
    expect(issues(doc)).toEqual([
      {
        path: "plans.team.prices.month.seat.unit_amount",
        message: "at most 1,000,000,000,000 minor units (the most one item costs)",
      },
    ]);
  });

  it("a large base with a percent_of_plan add-on", () => {
    const doc = catalogOf(
      { team: plan({ month: { base: 2 ** 52 } }) },
      {
        support: { name: "Support", prices: { month: { model: "percent_of_plan", basis_points: 100_000 } } },
      },
    );
    expect(issues(doc).map((i) => i.path)).toEqual(["plans.team.prices.month.base"]);
  });

  it("a seat price that only overflows at the most seats a plan can have", () => {
    const seat = { model: "per_unit", unit_amount: 1_000_001 };
    const doc = catalogOf({ team: plan({ year: { base: 0, seat } }) });
    expect(issues(doc)).toEqual([
      {
        path: "plans.team.prices.year.seat",
        message:
          "with 1,000,000 seats the plan costs 1,000,001,000,000 minor units per year; a plan costs at most " +
          "1,000,000,000,000 per period (lower the prices or set seats.max)",
      },
    ]);
    // seats.max bounds the seats the price is checked at; included seats are free
    expect(() =>
      valid(catalogOf({ team: plan({ year: { base: 0, seat } }, { included: 0, max: 999_999 }) })),
    ).not.toThrow();
    valid(catalogOf({ team: plan({ year: { base: 0, seat } }, { included: 1 }) }));
  });

  it("the base counts with the seats, to the minor unit", () => {
    const seat = { model: "per_unit", unit_amount: 999_999 };
    // 1,000,000 + 999,999 × 1,000,000 = 10^12 exactly
    valid(catalogOf({ team: plan({ month: { base: 1_000_000, seat } }) }));
    expect(
      issues(catalogOf({ team: plan({ month: { base: 1_000_001, seat } }) })).map((i) => i.path),
    ).toEqual(["plans.team.prices.month.seat"]);
  });

  it("a volume price is checked at the top of its dearest tier, not at the most seats", () => {
    // 100 seats at 10^10 = 10^12; from 101 seats on every seat costs 1
    const seat = {
      model: "volume",
      tiers: [
        { up_to: 100, unit_amount: 10_000_000_000, flat_amount: 1 },
        { up_to: null, unit_amount: 1 },
      ],
    };
    expect(issues(catalogOf({ team: plan({ month: { base: 0, seat } }) }))[0]?.message).toMatch(
      /^with 1,000,000 seats the plan costs 1,000,000,000,001 minor units per month/,
    );
    seat.tiers[0] = { up_to: 100, unit_amount: 10_000_000_000, flat_amount: 0 };
    valid(catalogOf({ team: plan({ month: { base: 0, seat } }) }));
  });

  it("an add-on at its largest quantity: one unit when single, a million when multiple", () => {
    const price = { model: "per_unit", unit_amount: 1_000_001 };
    const addOn = (quantity: string) => ({
      pack: { name: "Pack", quantity, prices: { month: price } },
    });
    valid(catalogOf({ team: plan({ month: { base: 0 } }) }, addOn("single")));
    expect(issues(catalogOf({ team: plan({ month: { base: 0 } }) }, addOn("multiple")))).toEqual([
      {
        path: "add_ons.pack.prices.month",
        message:
          "at 1,000,000 units the add-on costs 1,000,001,000,000 minor units per month; an add-on costs at most " +
          "1,000,000,000,000 per period at its largest quantity",
      },
    ]);
  });

  it("seats.included and seats.max are at most a million", () => {
    const doc = catalogOf({ team: plan({ month: { base: 0 } }, { included: 1_000_001, max: 1_000_001 }) });
    expect(issues(doc)).toEqual([
      { path: "plans.team.seats.included", message: "a subscription has at most 1,000,000 seats" },
      { path: "plans.team.seats.max", message: "a subscription has at most 1,000,000 seats" },
    ]);
  });

  it(`at most ${MAX_BILLED_OVERAGE_FEATURES} features have billed overage`, () => {
    const features: Doc = {};
    const meters: Doc = {};
    for (let i = 0; i <= MAX_BILLED_OVERAGE_FEATURES; i++) {
      features[`f${i}`] = {
        kind: "metered",
        name: `F${i}`,
        meter: "m",
        overage: { policy: "billed", price: { model: "per_unit", unit_amount: 1 } },
      };
    }
    meters.m = { event: "e", aggregation: "count", reset: "billing_period" };
    const doc = { ...catalogOf({ team: plan({ month: { base: 0 } }) }, {}, features), meters };
    expect(issues(doc)).toEqual([
      {
        path: `features.f${MAX_BILLED_OVERAGE_FEATURES}.overage.policy`,
        message: `at most ${MAX_BILLED_OVERAGE_FEATURES} features have billed overage (a renewal bills a line for each)`,
      },
    ]);
    Reflect.deleteProperty(features, `f${MAX_BILLED_OVERAGE_FEATURES}`);
    valid(doc);
  });
});

// ——— The worst case the bounds allow —————————————————————————————————————————————————————

/** A plan costing exactly the ceiling at a million seats, and 50 add-ons at 1000% of it. */
function worstCatalog(): ResolvedCatalog {
  const price = { base: 1_000_000, seat: { model: "per_unit", unit_amount: 999_999 } };
  const addOns: Doc = {};
  for (let i = 0; i < MAX_ADD_ONS; i++)
    addOns[`support_${i}`] = {
      name: `Support ${i}`,
      prices: {
        month: { model: "percent_of_plan", basis_points: 100_000 },
        year: { model: "percent_of_plan", basis_points: 100_000 },
      },
    };
  return valid(catalogOf({ max: plan({ month: price, year: price }) }, addOns));
}

function worstShape(catalog: ResolvedCatalog, interval: BillingInterval): SubscriptionShape {
  return {
    plan: catalog.plans.max as SubscriptionShape["plan"],
    interval,
    seats: MAX_QUANTITY,
    addOns: Object.entries(catalog.add_ons).map(([key, definition]) => ({ key, definition, quantity: 1 })),
  };
}

describe("catalog bounds: the worst case stays exact", () => {
  const catalog = worstCatalog();
  const month = worstShape(catalog, "month");
  const year = worstShape(catalog, "year");

  it("costs 501 × the ceiling per period, and 12 × that a year", () => {
    expect(checkSubscriptionShape(month, 0)).toEqual([]);
    expect(recurringCharges(month).total).toBe(501 * C);
    expect(annualContractValue(month)).toBe(12 * 501 * C);
    expect(12 * 501 * C).toBeLessThanOrEqual(Number.MAX_SAFE_INTEGER);
  });

  it("quotes monthly → annual mid-period to the minor unit", () => {
    const result = quoteChange({
      subscription: {
        shape: month,
        currency: "usd",
        billingCycleAnchor: new Date("2026-01-01T00:00:00Z"),
        trialEnd: null,
      },
      target: year,
      at: new Date("2026-01-16T12:00:00Z"),
      policy: "period_end",
      seatsInUse: 0,
      creditBalance: 0,
    });
    if (!result.ok) throw new Error(JSON.stringify(result.refusal));
    const { lines, totals, recurring } = result.plan;
    // half the month credited (f = 1/2), a whole year charged
    expect(lines.filter((l) => l.kind === "credit").reduce((s, l) => s + l.amount, 0)).toBe((-501 * C) / 2);
    expect(lines.filter((l) => l.kind === "charge").reduce((s, l) => s + l.amount, 0)).toBe(501 * C);
    expect(totals.amountDue).toBe(501 * C - (501 * C) / 2);
    // 501 × 10^12 ÷ 12 − 501 × 10^12 = −459,250,000,000,000 exactly
    expect(recurring.deltaPerMonth).toBe(-459_250_000_000_000);
  });

  it("renews with every billed overage line at the ceiling", () => {
    const features: Doc = {};
    for (let i = 0; i < MAX_BILLED_OVERAGE_FEATURES; i++)
      features[`f${i}`] = {
        kind: "metered",
        name: `F${i}`,
        meter: "m",
        overage: { policy: "billed", price: { model: "per_unit", unit_amount: C } },
      };
    const meters = { m: { event: "e", aggregation: "sum", property: "v", reset: "billing_period" } };
    const withOverage = valid({ ...catalogOf({ p: plan({ month: { base: 0 } }) }, {}, features), meters });
    const grants = Object.fromEntries(Object.keys(features).map((k) => [k, 0]));
    const shape: SubscriptionShape = { ...month, plan: { ...month.plan, grants } };
    const period = { start: new Date("2026-02-01T00:00:00Z"), end: new Date("2026-03-01T00:00:00Z") };
    const overage = overageLines({
      shape,
      features: withOverage.features,
      meters: withOverage.meters,
      usage: { meters: { m: 1e300 } },
      period,
    });
    expect(overage).toHaveLength(MAX_BILLED_OVERAGE_FEATURES);
    expect(overage.every((l) => l.amount === C && l.quantity === Number.MAX_SAFE_INTEGER)).toBe(true);
    expect(overage[0]?.description).toMatch(/\(capped at the most one line bills\)$/);
    const totals = invoiceTotals([...renewalLines({ shape, period }), ...overage], 0);
    expect(totals.subtotal).toBe((501 + MAX_BILLED_OVERAGE_FEATURES) * C);
  });
});

// ——— Any catalog that validates ————————————————————————————————————————————————————————————

/** Amounts that reach the edges: 0, 1, the ceiling, a unit price a million units can take, small ones. */
const amountArb = fc.oneof(
  fc.constantFrom(0, 1, C),
  fc.integer({ min: 0, max: C }),
  fc.integer({ min: 0, max: C / MAX_QUANTITY }),
  fc.integer({ min: 0, max: 10_000 }),
);
const quantityArb = fc.oneof(
  fc.constantFrom(1, MAX_QUANTITY),
  fc.integer({ min: 1, max: MAX_QUANTITY }),
  fc.integer({ min: 1, max: 100 }),
);
const tiersArb = fc
  .tuple(
    fc.uniqueArray(fc.oneof(fc.integer({ min: 1, max: MAX_QUANTITY }), fc.integer({ min: 1, max: 100 })), {
      maxLength: 3,
    }),
    fc.array(fc.tuple(amountArb, fc.oneof(fc.constant(0), amountArb)), { minLength: 4, maxLength: 4 }),
  )
  .map(([bounds, amounts]) =>
    [...[...bounds].sort((a, b) => a - b), null].map((up_to, i) => ({
      up_to,
      unit_amount: amounts[i]?.[0] ?? 0,
      flat_amount: amounts[i]?.[1] ?? 0,
    })),
  );
const priceArb = fc.oneof(
  amountArb.map((amount) => ({ model: "flat", amount })),
  amountArb.map((unit_amount) => ({ model: "per_unit", unit_amount })),
  tiersArb.map((tiers) => ({ model: "tiered", tiers })),
  tiersArb.map((tiers) => ({ model: "volume", tiers })),
  fc.record({ model: fc.constant("package"), package_size: quantityArb, amount: amountArb }),
);
const addOnPriceArb = fc.oneof(
  priceArb,
  fc
    .oneof(fc.constant(100_000), fc.integer({ min: 1, max: 100_000 }))
    .map((basis_points) => ({ model: "percent_of_plan", basis_points })),
);
const pricesArb = <T>(price: fc.Arbitrary<T>) =>
  fc.oneof(
    price.map((month) => ({ month })),
    price.map((year) => ({ year })),
    fc.record({ month: price, year: price }),
  );
const grantArb = fc.oneof(fc.nat(1000), fc.constant(Number.MAX_SAFE_INTEGER), fc.constant("unlimited"));

const docArb = fc
  .record({
    plans: fc.array(
      fc.record({
        prices: pricesArb(fc.record({ base: amountArb, seat: priceArb }, { requiredKeys: ["base"] })),
        included: fc.oneof(fc.nat(10), fc.constant(MAX_QUANTITY), fc.nat(MAX_QUANTITY)),
        max: fc.option(fc.integer({ min: 1, max: MAX_QUANTITY })),
        calls: grantArb,
      }),
      { minLength: 1, maxLength: 3 },
    ),
    addOns: fc.array(
      fc.record({
        prices: pricesArb(addOnPriceArb),
        quantity: fc.constantFrom("single", "multiple"),
        calls: fc.option(grantArb),
      }),
      { maxLength: 4 },
    ),
    overage: priceArb,
  })
  .map(({ plans, addOns, overage }) => ({
    currency: "usd",
    features: {
      calls: {
        kind: "metered",
        name: "Calls",
        meter: "calls",
        overage: { policy: "billed", price: overage },
      },
    },
    meters: { calls: { event: "call", aggregation: "sum", property: "n", reset: "billing_period" } },
    plans: Object.fromEntries(
      plans.map((p, i) => [
        `p${i}`,
        {
          name: `P${i}`,
          tier: i,
          prices: p.prices,
          seats: { included: p.included, max: p.max === null ? null : Math.max(p.max, p.included) },
          grants: { calls: p.calls },
        },
      ]),
    ),
    add_ons: Object.fromEntries(
      addOns.map((a, i) => [
        `a${i}`,
        {
          name: `A${i}`,
          prices: a.prices,
          quantity: a.quantity,
          grants: a.calls === null ? {} : { calls: a.calls },
        },
      ]),
    ),
  }));

/** A shape within the bounds on a catalog: any plan and interval it sells, seats and add-ons as allowed. */
function shapeArb(catalog: ResolvedCatalog): fc.Arbitrary<SubscriptionShape> {
  const sold = Object.values(catalog.plans).flatMap((plan) =>
    (["month", "year"] as const).filter((i) => plan.prices[i]).map((interval) => ({ plan, interval })),
  );
  return fc.constantFrom(...sold).chain(({ plan, interval }) => {
    const least = Math.max(1, plan.seats.included);
    const most = plan.seats.max ?? MAX_QUANTITY;
    const addOns = Object.entries(catalog.add_ons).filter(([, a]) => a.prices[interval]);
    return fc.record({
      plan: fc.constant(plan),
      interval: fc.constant(interval),
      seats: fc.oneof(fc.constantFrom(least, most), fc.integer({ min: least, max: most })),
      addOns: fc
        .subarray(addOns)
        .chain((chosen) =>
          fc.tuple(
            ...chosen.map(([key, definition]) =>
              (definition.quantity === "single" ? fc.constant(1) : quantityArb).map(
                (quantity): SubscribedAddOn => ({ key, definition, quantity }),
              ),
            ),
          ),
        ),
    });
  });
}

/** Σ of the shape's items, each rounded once, added up in bigint: what recurringCharges must equal. */
function exactTotal(shape: SubscriptionShape): bigint {
  const price = shape.plan.prices[shape.interval];
  if (!price) throw new Error("no price");
  const extra = Math.max(0, shape.seats - shape.plan.seats.included);
  const seats = price.seat ? roundHalfAwayFromZero(recurringAmount(price.seat, extra)) : 0n;
  const planAmount = BigInt(price.base) + seats;
  let total = planAmount;
  for (const a of shape.addOns) {
    const model = a.definition.prices[shape.interval];
    if (!model) throw new Error("no add-on price");
    total += roundHalfAwayFromZero(recurringAmount(model, a.quantity, { planAmount: Number(planAmount) }));
  }
  return total;
}

const isSafe = (n: number) => Number.isSafeInteger(n);
const sumOf = (amounts: readonly number[]) => amounts.reduce((s, a) => s + BigInt(a), 0n);

const caseArb = docArb
  .map((doc) => validateCatalog(doc))
  .filter((r): r is Extract<typeof r, { ok: true }> => r.ok)
  .chain(({ catalog }) =>
    fc.record({
      catalog: fc.constant(catalog),
      from: shapeArb(catalog),
      to: shapeArb(catalog),
      // seconds into 2026 and 2027: any instant of a monthly or annual period
      at: fc.integer({ min: 0, max: 2 * 365 * 86_400 }).map((s) => new Date(Date.UTC(2026, 0, 1) + s * 1000)),
      anchorDay: fc.integer({ min: 1, max: 31 }),
      creditBalance: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: C })),
      policy: fc.constantFrom("period_end" as const, "immediate_with_credit" as const),
      used: fc.oneof(fc.nat(), fc.double({ min: 0, max: 1e300, noNaN: true }), fc.constant(Number.MAX_VALUE)),
      required: fc.oneof(fc.nat(), fc.constant(Number.MAX_SAFE_INTEGER)),
    }),
  );

describe("catalog bounds: any catalog that validates prices any change within bounds", () => {
  it("recurring amounts, ACV, renewals and overage are exact safe integers and never throw", () => {
    fc.assert(
      fc.property(caseArb, ({ catalog, from, used }) => {
        expect(checkSubscriptionShape(from, 0)).toEqual([]);
        const charges = recurringCharges(from);
        expect(BigInt(charges.total)).toBe(exactTotal(from));
        expect(charges.total).toBeLessThanOrEqual(501 * C);
        expect(isSafe(annualContractValue(from))).toBe(true);
        const period = { start: new Date("2026-02-01T00:00:00Z"), end: new Date("2026-03-01T00:00:00Z") };
        const lines = [
          ...renewalLines({ shape: from, period }),
          ...overageLines({
            shape: from,
            features: catalog.features,
            meters: catalog.meters,
            usage: { meters: { calls: used } },
            period,
          }),
        ];
        expect(lines.every((l) => isSafe(l.amount) && l.amount <= 10 * C && isSafe(l.quantity))).toBe(true);
        expect(BigInt(invoiceTotals(lines, 0).subtotal)).toBe(sumOf(lines.map((l) => l.amount)));
      }),
      { numRuns: 300 },
    );
  });

  it("a quote of any change is exact to the minor unit and never throws", () => {
    fc.assert(
      fc.property(caseArb, ({ from, to, at, anchorDay, creditBalance, policy }) => {
        const result = quoteChange({
          subscription: {
            shape: from,
            currency: "usd",
            billingCycleAnchor: new Date(Date.UTC(2025, 11, anchorDay)),
            trialEnd: null,
          },
          target: to,
          at,
          policy,
          seatsInUse: 0,
          creditBalance,
        });
        if (!result.ok) return;
        const { lines, totals, recurring, nextInvoice } = result.plan;
        expect(lines.every((l) => isSafe(l.amount))).toBe(true);
        expect(BigInt(totals.subtotal)).toBe(sumOf(lines.map((l) => l.amount)));
        expect(BigInt(totals.creditBalanceAfter)).toBe(
          BigInt(creditBalance) - BigInt(totals.creditApplied) + BigInt(totals.creditAdded),
        );
        for (const n of [
          recurring.before.amount,
          recurring.after.amount,
          recurring.deltaPerMonth,
          nextInvoice.amount,
        ])
          expect(isSafe(n)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it("the cheapest upgrade for any requirement never throws, and offers only what can be bought", () => {
    fc.assert(
      fc.property(caseArb, ({ catalog, from, required }) => {
        const upgradeCatalog = { currency: "usd", plans: catalog.plans, addOns: catalog.add_ons };
        for (const request of [
          { feature: "seats", kind: "seats" as const, required },
          { feature: "calls", kind: "metered" as const, required },
        ]) {
          const option = cheapestUpgrade(upgradeCatalog, from, request);
          if (!option) continue;
          expect(option.quantity).toBeLessThanOrEqual(MAX_QUANTITY);
          expect(isSafe(option.recurring.amount) && isSafe(option.monthly_delta.amount)).toBe(true);
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe("catalog bounds: shapes beyond the bounds are refused, not priced", () => {
  const catalog = worstCatalog();
  const month = worstShape(catalog, "month");

  it("more than a million seats, or add-on units", () => {
    expect(checkSubscriptionShape({ ...month, seats: MAX_QUANTITY + 1 }, 0)).toEqual([
      {
        code: "seat_quantity_above_plan_maximum",
        param: "seats",
        message: "A subscription has at most 1,000,000 seats.",
      },
    ]);
    const pack = {
      name: "Pack",
      prices: { month: { model: "flat" as const, amount: 1 } },
      quantity: "multiple" as const,
      grants: {},
      requires: [],
    };
    const violations = checkSubscriptionShape(
      { ...month, addOns: [{ key: "pack", definition: pack, quantity: MAX_QUANTITY + 1 }] },
      0,
    );
    expect(violations.map((v) => [v.code, v.param])).toEqual([
      ["add_on_quantity_invalid", "add_ons[0].quantity"],
    ]);
  });

  it(`more than ${MAX_ADD_ONS} add-ons`, () => {
    const extra = { ...(month.addOns[0] as SubscribedAddOn), key: "one_more" };
    expect(
      checkSubscriptionShape({ ...month, addOns: [...month.addOns, extra] }, 0).map((v) => [v.code, v.param]),
    ).toEqual([["too_many_add_ons", "add_ons"]]);
  });

  it("a combined grant adds up exactly, and is held at 2^53 − 1 beyond", () => {
    const pack = (grant: number, quantity: number): SubscribedAddOn => ({
      key: "calls",
      definition: {
        name: "Calls",
        prices: { month: { model: "flat", amount: 1 } },
        quantity: "multiple",
        grants: { calls: grant },
        requires: [],
      },
      quantity,
    });
    const withGrants = (planGrant: number, addOn: SubscribedAddOn): SubscriptionShape => ({
      ...month,
      plan: { ...month.plan, grants: { calls: planGrant } },
      addOns: [addOn],
    });
    const limit = (s: SubscriptionShape) => combinedGrant("calls", s).limit;
    expect(limit(withGrants(Number.MAX_SAFE_INTEGER - MAX_QUANTITY * 3, pack(3, MAX_QUANTITY)))).toBe(
      Number.MAX_SAFE_INTEGER,
    );
    expect(limit(withGrants(Number.MAX_SAFE_INTEGER - MAX_QUANTITY * 3, pack(2, MAX_QUANTITY)))).toBe(
      Number.MAX_SAFE_INTEGER - MAX_QUANTITY,
    );
    expect(limit(withGrants(Number.MAX_SAFE_INTEGER, pack(Number.MAX_SAFE_INTEGER, MAX_QUANTITY)))).toBe(
      Number.MAX_SAFE_INTEGER,
    );
    expect(limit(withGrants(5, pack(Number.MAX_SAFE_INTEGER, 2)))).toBe(Number.MAX_SAFE_INTEGER);
  });
});
