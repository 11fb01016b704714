import { MAX_ADD_ONS, MAX_ITEM_AMOUNT, MAX_QUANTITY, MAX_USAGE_VALUE } from "@uptier/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { useTestApi } from "../support/harness.ts";

const api = useTestApi({ catalog: false });
const C = MAX_ITEM_AMOUNT;

const plan = (tier: number, prices: object, seats: object = { included: 0 }, grants: object = {}) => ({
  name: `Plan ${tier}`,
  tier,
  prices,
  seats,
  grants,
});
const catalogOf = (plans: object, addOns: object = {}) => ({
  currency: "usd",
  features: {
    reports: { kind: "boolean", name: "Reports" },
    storage: {
      kind: "metered",
      name: "Storage",
      meter: "bytes",
      overage: { policy: "billed", price: { model: "per_unit", unit_amount: C } },
    },
  },
  meters: { bytes: { event: "stored", aggregation: "sum", property: "bytes", reset: "billing_period" } },
  plans,
  add_ons: addOns,
});

/**
 * The largest catalog the bounds allow: a plan costing the ceiling with a million seats, 48 add-ons
 * at 1000% of the plan, 2 packs costing the ceiling at a million units; and a small plan to move from.
 */
function boundedCatalog() {
  const max = { base: 1_000_000, seat: { model: "per_unit", unit_amount: 999_999 } };
  const addOns: Record<string, object> = {};
  for (let i = 0; i < MAX_ADD_ONS - 2; i++)
    addOns[`support_${i}`] = {
      name: `Support ${i}`,
      prices: {
        month: { model: "percent_of_plan", basis_points: 100_000 },
        year: { model: "percent_of_plan", basis_points: 100_000 },
      },
    };
  for (const key of ["pack_a", "pack_b"])
    addOns[key] = {
      name: key,
      quantity: "multiple",
      prices: {
        month: { model: "per_unit", unit_amount: C / MAX_QUANTITY },
        year: { model: "tiered", tiers: [{ up_to: null, unit_amount: C / MAX_QUANTITY }] },
      },
    };
  return catalogOf(
    {
      small: plan(0, { month: { base: 1000 }, year: { base: 10_000 } }, { included: 1 }, { storage: 0 }),
      max: plan(1, { month: max, year: max }),
    },
    addOns,
  );
}
const allAddOns = (quantity: number) => [
  ...Array.from({ length: MAX_ADD_ONS - 2 }, (_, i) => ({ key: `support_${i}` })),
  { key: "pack_a", quantity },
  { key: "pack_b", quantity },
];

async function account() {
  const external = `ext_${Math.random().toString(36).slice(2)}`;
  return (await api.request("POST", "/v1/accounts", { external_id: external, name: external })).json()
    .id as string;
}

describe("catalogs that would break pricing are refused with the field that breaks it", () => {
  it.each([
    [
      "a seat price of 2^53 − 1",
      catalogOf({
        team: plan(0, { month: { base: 0, seat: { model: "per_unit", unit_amount: 2 ** 53 - 1 } } }),
      }),
      "plans.team.prices.month.seat.unit_amount",
      /at most 1,000,000,000,000 minor units/,
    ],
    [
      "a large base with a percent_of_plan add-on",
      catalogOf(
        { team: plan(0, { month: { base: 2 ** 52 } }) },
        {
          support: {
            name: "Support",
            prices: { month: { model: "percent_of_plan", basis_points: 100_000 } },
          },
        },
      ),
      "plans.team.prices.month.base",
      /at most 1,000,000,000,000 minor units/,
    ],
    [
      "a seat price that overflows only at a million seats",
      catalogOf({
        team: plan(0, { month: { base: 0, seat: { model: "per_unit", unit_amount: 1_000_001 } } }),
      }),
      "plans.team.prices.month.seat",
      /with 1,000,000 seats the plan costs 1,000,001,000,000 minor units per month/,
    ],
  ])("%s: 422 invalid_catalog at its path, nothing applied", async (_, catalog, param, message) => {
    const checked = await api.request("POST", "/v1/catalog/validate", catalog);
    expect(checked.statusCode).toBe(200);
    expect(checked.json()).toEqual({
      valid: false,
      issues: [{ path: param, message: expect.stringMatching(message) }],
    });

    const applied = await api.request("POST", "/v1/catalog", catalog);
    expect(applied.statusCode).toBe(422);
    expect(applied.headers["content-type"]).toMatch(/^application\/problem\+json/);
    expect(applied.json()).toMatchObject({
      code: "invalid_catalog",
      errors: [{ param, message: expect.stringMatching(message) }],
    });
    expect((await api.request("GET", "/v1/catalog")).statusCode).toBe(404);
  });
});

describe("within the bounds, subscriptions and quotes are priced exactly and never 500", () => {
  it("applies the largest catalog the bounds allow", async () => {
    const applied = await api.request("POST", "/v1/catalog", boundedCatalog());
    expect(applied.statusCode).toBe(200);
  });

  it("a million seats and every add-on at its largest: 483 × the ceiling a month", async () => {
    const created = await api.request("POST", "/v1/subscriptions", {
      account: await account(),
      plan: "max",
      seats: MAX_QUANTITY,
      add_ons: allAddOns(MAX_QUANTITY),
    });
    expect(created.statusCode).toBe(201);
    // plan C, 48 × 10C of support, 2 packs at C
    expect(created.json().recurring).toMatchObject({
      amount: 483 * C,
      base: 1_000_000,
      seats: C - 1_000_000,
    });
  });

  it("quotes the move from the smallest to the largest subscription, monthly → annual, to the minor unit", async () => {
    const id = await account();
    expect(
      (await api.request("POST", "/v1/subscriptions", { account: id, plan: "small", seats: 1 })).statusCode,
    ).toBe(201);
    const quote = await api.request("POST", "/v1/quotes", {
      account: id,
      plan: "max",
      interval: "year",
      seats: MAX_QUANTITY,
      add_ons: allAddOns(MAX_QUANTITY),
    });
    expect(quote.statusCode).toBe(201);
    const body = quote.json();
    // the year starts now: Small's month, begun this instant, is credited whole; a whole year charged
    expect(
      body.lines
        .filter((l: { kind: string }) => l.kind === "charge")
        .map((l: { amount: number }) => l.amount),
    ).toEqual(expect.arrayContaining([C, 10 * C]));
    expect(body.subtotal).toBe(body.lines.reduce((s: number, l: { amount: number }) => s + l.amount, 0));
    expect(body.amount_due).toBe(483 * C - 1000);
    // 483 × 10^12 ÷ 12 − 1000, exactly
    expect(body.recurring).toMatchObject({
      after: { amount: 483 * C, interval: "year" },
      delta_per_month: 40_249_999_999_000,
    });
  });

  it("more than the request bounds is a 400, not a price", async () => {
    const id = await account();
    for (const body of [
      { account: id, plan: "max", seats: MAX_QUANTITY + 1 },
      { account: id, plan: "max", add_ons: [{ key: "pack_a", quantity: MAX_QUANTITY + 1 }] },
      { account: id, plan: "max", add_ons: [...allAddOns(1), { key: "pack_a" }] },
    ]) {
      const response = await api.request("POST", "/v1/subscriptions", body);
      expect(response.statusCode).toBe(400);
    }
    expect((await api.request("GET", `/v1/subscriptions?account=${id}`)).json().data).toEqual([]);
  });

  it("any subscription and any change within the bounds answers 2xx or 4xx", async () => {
    const change = fc.record(
      {
        plan: fc.constantFrom("small", "max"),
        interval: fc.constantFrom("month", "year"),
        seats: fc.oneof(fc.constantFrom(1, MAX_QUANTITY), fc.integer({ min: 1, max: MAX_QUANTITY })),
        add_ons: fc
          .subarray(allAddOns(1))
          .chain((chosen) =>
            fc.tuple(
              ...chosen.map((a) =>
                a.key.startsWith("pack")
                  ? fc.integer({ min: 1, max: MAX_QUANTITY }).map((quantity) => ({ key: a.key, quantity }))
                  : fc.constant(a),
              ),
            ),
          ),
      },
      { requiredKeys: ["plan"] },
    );
    await fc.assert(
      fc.asyncProperty(change, change, async (from, to) => {
        const id = await account();
        const created = await api.request("POST", "/v1/subscriptions", { account: id, ...from });
        expect(created.statusCode).toBeLessThan(500);
        if (created.statusCode !== 201) return;
        const quote = await api.request("POST", "/v1/quotes", { account: id, ...to });
        expect(quote.statusCode, quote.body).toBeLessThan(500);
      }),
      { numRuns: 15 },
    );
  });
});

describe("usage values are bounded per event, so a meter total stays a finite number", () => {
  it("a value above 1e15 is rejected on its own; usage, entitlements and checks answer", async () => {
    const id = await account();
    expect((await api.request("POST", "/v1/subscriptions", { account: id, plan: "small" })).statusCode).toBe(
      201,
    );
    const events = [MAX_USAGE_VALUE, MAX_USAGE_VALUE * 1.5, 1.7e308, "1e308", MAX_USAGE_VALUE].map(
      (bytes, i) => ({
        id: `stored-${i}`,
        account: id,
        event: "stored",
        properties: { bytes },
      }),
    );
    const batch = await api.request("POST", "/v1/events", { events });
    expect(batch.statusCode).toBe(200);
    expect(batch.json().results.map((r: { status: string; code?: string }) => r.code ?? r.status)).toEqual([
      "accepted",
      "invalid_property_value",
      "invalid_property_value",
      "invalid_property_value",
      "accepted",
    ]);
    expect(batch.json().results[1].message).toMatch(/send a number from 0 to 1e15/);

    const usage = await api.request("GET", `/v1/accounts/${id}/usage`);
    expect(usage.statusCode).toBe(200);
    const entitlements = await api.request("GET", `/v1/accounts/${id}/entitlements`);
    expect(entitlements.statusCode).toBe(200);
    expect(entitlements.json().features.storage.used).toBe(2 * MAX_USAGE_VALUE);
    const check = await api.request("POST", "/v1/check", { account: id, feature: "storage" });
    expect(check.statusCode).toBe(200);
    expect(check.json()).toMatchObject({ reason: "overage_billed", used: 2 * MAX_USAGE_VALUE });
  });
});
