import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { AddOnDefinition } from "../catalog/document.ts";
import type { ResolvedPlan } from "../catalog/validate.ts";
import type { BillingInterval } from "../periods/billing-period.ts";
import { DEMO_CATALOG } from "../testing/demo-catalog.ts";
import { recurringCharges, type SubscribedAddOn, type SubscriptionShape } from "./recurring.ts";
import { checkSubscriptionShape } from "./shape-rules.ts";

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
function custom(key: string, changes: Partial<AddOnDefinition>, quantity = 1): SubscribedAddOn {
  const definition: AddOnDefinition = {
    name: key,
    prices: { month: { model: "flat", amount: 1000 }, year: { model: "flat", amount: 10_000 } },
    quantity: "single",
    grants: {},
    requires: [],
    ...changes,
  };
  return { key, definition, quantity };
}
const shape = (
  planKey: string,
  interval: BillingInterval,
  seats: number,
  addOns: SubscribedAddOn[] = [],
) => ({
  plan: plan(planKey),
  interval,
  seats,
  addOns,
});
const codes = (s: SubscriptionShape, seatsInUse: number) =>
  checkSubscriptionShape(s, seatsInUse).map((v) => [v.code, v.param]);

describe("checkSubscriptionShape", () => {
  it("accepts a shape that keeps every rule", () => {
    const pro = shape("pro", "month", 12, [addOn("sso"), addOn("storage_pack", 3), addOn("premium_support")]);
    expect(checkSubscriptionShape(pro, 12)).toEqual([]);
    expect(checkSubscriptionShape(shape("free", "month", 3), 3)).toEqual([]);
    expect(checkSubscriptionShape(shape("business", "year", 500, [addOn("premium_support")]), 1)).toEqual([]);
  });

  it("interval_not_available: Free is not sold per year", () => {
    const [violation, ...rest] = checkSubscriptionShape(shape("free", "year", 3), 1);
    expect(rest).toEqual([]);
    expect(violation).toEqual({
      code: "interval_not_available",
      param: "interval",
      message: "The Free plan is not sold per year.",
    });
  });

  it("seat_quantity_above_plan_maximum: Free has at most 3 seats", () => {
    expect(codes(shape("free", "month", 4), 1)).toEqual([["seat_quantity_above_plan_maximum", "seats"]]);
    expect(checkSubscriptionShape(shape("free", "month", 4), 1)[0]?.message).toBe(
      "The Free plan has at most 3 seats; upgrade the plan for more.",
    );
    expect(codes(shape("starter", "month", 10_000), 1)).toEqual([]); // no cap
  });

  it("seat_quantity_below_usage: seats cannot drop below invited + active members", () => {
    expect(codes(shape("starter", "month", 5), 6)).toEqual([["seat_quantity_below_usage", "seats"]]);
    expect(codes(shape("starter", "month", 6), 6)).toEqual([]);
    expect(checkSubscriptionShape(shape("starter", "month", 5), 6)[0]?.message).toMatch(
      /6 seats are in use .* before reducing seats to 5/,
    );
  });

  it("add_on_not_available: SSO is sold on Pro only", () => {
    expect(codes(shape("starter", "month", 5, [addOn("storage_pack"), addOn("sso")]), 1)).toEqual([
      ["add_on_not_available", "add_ons[1].key"],
    ]);
    expect(checkSubscriptionShape(shape("starter", "month", 5, [addOn("sso")]), 1)[0]?.message).toBe(
      "The SSO add-on is not available on the Starter plan.",
    );
  });

  it("add_on_interval_not_available: a monthly-only add-on on a yearly subscription", () => {
    const monthly = custom("monthly_only", { prices: { month: { model: "flat", amount: 500 } } });
    expect(codes(shape("pro", "year", 10, [monthly]), 1)).toEqual([
      ["add_on_interval_not_available", "add_ons[0].key"],
    ]);
    expect(codes(shape("pro", "month", 10, [monthly]), 1)).toEqual([]);
  });

  it("add_on_quantity_invalid: single add-ons are 1, multiple ones whole units ≥ 1", () => {
    expect(codes(shape("pro", "month", 10, [addOn("sso", 2)]), 1)).toEqual([
      ["add_on_quantity_invalid", "add_ons[0].quantity"],
    ]);
    for (const quantity of [0, -1, 1.5, Number.NaN])
      expect(codes(shape("pro", "month", 10, [addOn("storage_pack", quantity)]), 1)).toEqual([
        ["add_on_quantity_invalid", "add_ons[0].quantity"],
      ]);
    expect(codes(shape("pro", "month", 10, [addOn("storage_pack", 7)]), 1)).toEqual([]);
    expect(checkSubscriptionShape(shape("pro", "month", 10, [addOn("sso", 2)]), 1)[0]?.message).toBe(
      "The SSO add-on is on or off: its quantity is 1.",
    );
  });

  it("add_on_requires: an add-on needs the add-ons it requires on the same subscription", () => {
    const audit = custom("audit_export", { name: "Audit export", requires: ["sso"] });
    expect(codes(shape("pro", "month", 10, [audit]), 1)).toEqual([["add_on_requires", "add_ons[0].key"]]);
    expect(checkSubscriptionShape(shape("pro", "month", 10, [audit]), 1)[0]?.message).toBe(
      'The Audit export add-on requires the "sso" add-on.',
    );
    expect(codes(shape("pro", "month", 10, [audit, addOn("sso")]), 1)).toEqual([]);
  });

  it("reports every violation at once, in order", () => {
    const audit = custom("audit_export", { requires: ["advanced_reporting"], plans: ["business"] });
    expect(codes(shape("free", "year", 4, [addOn("sso", 2), audit]), 9)).toEqual([
      ["interval_not_available", "interval"],
      ["seat_quantity_above_plan_maximum", "seats"],
      ["seat_quantity_below_usage", "seats"],
      ["add_on_not_available", "add_ons[0].key"],
      ["add_on_quantity_invalid", "add_ons[0].quantity"],
      ["add_on_not_available", "add_ons[1].key"],
      ["add_on_requires", "add_ons[1].key"],
    ]);
  });
});

// ——— Property tests ———————————————————————————————————————————————————————————————————————

const PLANS = ["free", "starter", "pro", "business"] as const;
const ADD_ONS = ["advanced_reporting", "sso", "storage_pack", "premium_support"] as const;

describe("checkSubscriptionShape: properties", () => {
  const anyShape = fc.record({
    plan: fc.constantFrom(...PLANS).map(plan),
    interval: fc.constantFrom<BillingInterval>("month", "year"),
    seats: fc.integer({ min: 0, max: 400 }),
    addOns: fc
      .subarray([...ADD_ONS])
      .chain((keys) =>
        fc.tuple(...keys.map((key) => fc.constantFrom(0, 1, 1, 2, 5, 1.5).map((q) => addOn(key, q)))),
      ),
  });

  it("a shape without violations can always be priced", () => {
    fc.assert(
      fc.property(anyShape, fc.integer({ min: 0, max: 400 }), (s, seatsInUse) => {
        if (checkSubscriptionShape(s, seatsInUse).length > 0) return;
        const { total } = recurringCharges(s);
        expect(Number.isSafeInteger(total) && total >= 0).toBe(true);
      }),
    );
  });

  it("is deterministic, and every violation names a known parameter", () => {
    fc.assert(
      fc.property(anyShape, fc.integer({ min: 0, max: 400 }), (s, seatsInUse) => {
        const violations = checkSubscriptionShape(s, seatsInUse);
        expect(checkSubscriptionShape(s, seatsInUse)).toEqual(violations);
        for (const v of violations)
          expect(v.param).toMatch(/^(interval|seats|add_ons\[\d+\]\.(key|quantity))$/);
      }),
    );
  });

  it("more members in use than seats is always a violation, and never otherwise", () => {
    fc.assert(
      fc.property(anyShape, fc.integer({ min: 0, max: 400 }), (s, seatsInUse) => {
        const below = checkSubscriptionShape(s, seatsInUse).some(
          (v) => v.code === "seat_quantity_below_usage",
        );
        expect(below).toBe(s.seats < seatsInUse);
      }),
    );
  });
});
