import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { DEMO_CATALOG_YAML } from "../testing/demo-catalog.ts";
import type { Grant } from "./document.ts";
import { type CatalogIssue, MAX_PLAN_CHAIN, validateCatalog } from "./validate.ts";

const demoYaml = DEMO_CATALOG_YAML;

type Doc = Record<string, unknown>;

/** A fresh copy of the demo catalog as read from YAML, safe to mutate. */
const demo = (): Doc => parse(demoYaml) as Doc;

/**
 * The demo catalog with edits applied: each key is a dotted path ("plans.pro.extends",
 * "add_ons.sso.plans.1"), each value the new value there (undefined removes the field).
 */
function demoWith(edits: Record<string, unknown>): Doc {
  const doc = demo();
  for (const [path, value] of Object.entries(edits)) {
    const keys = path.split(".");
    const last = keys.pop() as string;
    let node = doc;
    for (const key of keys) node = node[key] as Doc;
    if (value === undefined) Reflect.deleteProperty(node, last);
    else node[last] = value;
  }
  return doc;
}

function issuesOf(input: unknown): readonly CatalogIssue[] {
  const result = validateCatalog(input);
  if (result.ok) throw new Error("expected the catalog to be rejected");
  return result.issues;
}

/** The catalog is rejected with exactly these issue paths (in any order). */
function expectPaths(input: unknown, paths: readonly string[]): readonly CatalogIssue[] {
  const issues = issuesOf(input);
  expect(issues.map((i) => i.path).sort()).toEqual([...paths].sort());
  return issues;
}

/** The catalog is rejected with exactly one issue, at `path`, whose message matches. */
function expectIssue(input: unknown, path: string, message: RegExp): void {
  const issues = expectPaths(input, [path]);
  expect(issues[0]?.message).toMatch(message);
}

describe("validateCatalog: the demo catalog", () => {
  const result = validateCatalog(demo());
  if (!result.ok) throw new Error(`the demo catalog is invalid: ${JSON.stringify(result.issues)}`);
  const { plans, add_ons } = result.catalog;

  it("validates, with every plan and add-on", () => {
    expect(result.catalog.currency).toBe("usd");
    expect(Object.keys(plans)).toEqual(["free", "starter", "pro", "business"]);
    expect(Object.keys(add_ons)).toEqual(["advanced_reporting", "sso", "storage_pack", "premium_support"]);
  });

  it("resolves Pro's grants through extends (pro → starter → free)", () => {
    const pro = plans.pro;
    expect(pro?.key).toBe("pro");
    expect(pro).not.toHaveProperty("extends");
    expect(pro?.grants).toEqual({
      projects: "unlimited",
      api_calls: 100_000,
      exports: 1000,
      storage_gb: 100,
      batch_export: true,
    });
    expect(pro?.grants).not.toHaveProperty("sso");
  });

  it("lets a child override its parent and inherit the rest (business ← pro ← starter ← free)", () => {
    expect(plans.business?.grants).toEqual({
      projects: "unlimited", // from pro
      api_calls: 1_000_000,
      exports: "unlimited",
      storage_gb: 1000,
      batch_export: true, // from pro
      advanced_reporting: true,
      sso: true,
      audit_log: true,
    });
    expect(plans.starter?.grants).toEqual({ projects: 20, api_calls: 10_000, exports: 100, storage_gb: 10 });
    expect(plans.free?.grants).toEqual({ projects: 5, api_calls: 1000, exports: 10, storage_gb: 1 });
  });

  it("fills the documented defaults", () => {
    expect(plans.free?.seats).toEqual({ included: 3, max: 3 });
    expect(plans.starter?.seats).toEqual({ included: 5, max: null });
    expect(plans.pro?.trial_days).toBe(0);
    expect(add_ons.sso?.quantity).toBe("single");
    expect(add_ons.storage_pack?.quantity).toBe("multiple");
    expect(add_ons.premium_support?.grants).toEqual({});
    expect(add_ons.sso?.requires).toEqual([]);
    expect(result.catalog.meters.api_calls?.reset).toBe("billing_period");
    expect(result.catalog.policies).toEqual({ downgrades: "period_end" });
    expect(plans.business?.prices.month?.seat).toEqual({
      model: "volume",
      tiers: [
        { up_to: 50, unit_amount: 1500, flat_amount: 0 },
        { up_to: 200, unit_amount: 1200, flat_amount: 0 },
        { up_to: null, unit_amount: 900, flat_amount: 0 },
      ],
    });
  });

  it("does not modify its input", () => {
    const input = demo();
    const before = JSON.stringify(input);
    validateCatalog(input);
    expect(JSON.stringify(input)).toBe(before);
  });
});

describe("validateCatalog: features and meters", () => {
  it("a metered feature needs a meter", () => {
    expectIssue(
      demoWith({ "features.api_calls.meter": undefined }),
      "features.api_calls.meter",
      /needs a meter/,
    );
  });

  it("a metered feature's meter must exist", () => {
    expectIssue(
      demoWith({ "features.api_calls.meter": "api_requests" }),
      "features.api_calls.meter",
      /unknown meter "api_requests"/,
    );
  });

  it("looks references up among the catalog's own keys, not Object.prototype's", () => {
    // "constructor" is a valid key: it must not resolve to Object.prototype.constructor.
    expectIssue(
      demoWith({ "features.api_calls.meter": "constructor" }),
      "features.api_calls.meter",
      /unknown meter "constructor"/,
    );
    expectIssue(demoWith({ "plans.pro.extends": "constructor" }), "plans.pro.extends", /unknown plan/);
    expectIssue(
      demoWith({ "plans.pro.grants.constructor": 5 }),
      "plans.pro.grants.constructor",
      /unknown feature "constructor"/,
    );
    expectIssue(demoWith({ "add_ons.sso.plans": ["constructor"] }), "add_ons.sso.plans[0]", /unknown plan/);
    expectIssue(
      demoWith({ "add_ons.sso.requires": ["constructor"] }),
      "add_ons.sso.requires[0]",
      /unknown add-on/,
    );
    // …while a feature, plan or meter really named "constructor" is found.
    const named = demoWith({
      "meters.constructor": { event: "build", aggregation: "count", reset: "never" },
      "features.api_calls.meter": "constructor",
    });
    expect(validateCatalog(named).ok).toBe(true);
  });

  it("only metered features have a meter or an overage policy", () => {
    expectIssue(
      demoWith({ "features.projects.meter": "api_calls" }),
      "features.projects.meter",
      /only metered features have a meter \(this one is limit\)/,
    );
    expectIssue(
      demoWith({ "features.projects.overage": { policy: "hard" } }),
      "features.projects.overage",
      /only metered features have an overage policy/,
    );
  });

  it("only one feature can be of kind seats", () => {
    expectIssue(
      demoWith({ "features.members": { kind: "seats", name: "Members" } }),
      "features.members",
      /only one feature can be of kind seats/,
    );
  });

  it.each(["sum", "max", "unique_count"])("a %s meter needs the event property it reads", (aggregation) => {
    expectIssue(
      demoWith({ "meters.api_calls.aggregation": aggregation }),
      "meters.api_calls.property",
      new RegExp(`a ${aggregation} meter needs the event property`),
    );
    const withProperty = demoWith({
      "meters.api_calls.aggregation": aggregation,
      "meters.api_calls.property": "tokens",
    });
    expect(validateCatalog(withProperty).ok).toBe(true);
  });
});

describe("validateCatalog: grants", () => {
  it("must reference an existing feature (plans and add-ons)", () => {
    expectIssue(demoWith({ "plans.pro.grants.storage": 5 }), "plans.pro.grants.storage", /unknown feature/);
    expectIssue(
      demoWith({ "add_ons.storage_pack.grants.storage": 50 }),
      "add_ons.storage_pack.grants.storage",
      /unknown feature "storage"/,
    );
  });

  it("must fit the feature's kind", () => {
    expectIssue(
      demoWith({ "plans.pro.grants.sso": 1 }),
      "plans.pro.grants.sso",
      /"sso" is a boolean feature: grant true or false/,
    );
    expectIssue(demoWith({ "plans.pro.grants.sso": "unlimited" }), "plans.pro.grants.sso", /boolean feature/);
    expectIssue(
      demoWith({ "plans.pro.grants.projects": true }),
      "plans.pro.grants.projects",
      /"projects" is a limit feature: grant a number, "unlimited" or false/,
    );
    expectIssue(
      demoWith({ "plans.free.grants.api_calls": true }),
      "plans.free.grants.api_calls",
      /metered feature/,
    );
    expectIssue(
      demoWith({ "plans.pro.grants.seats": 10 }),
      "plans.pro.grants.seats",
      /seats are granted by the plan's seats section/,
    );
    expectIssue(demoWith({ "add_ons.sso.grants.sso": 1 }), "add_ons.sso.grants.sso", /boolean feature/);
  });

  it("accepts false, a number or unlimited for limit and metered features", () => {
    for (const grant of [false, 0, 7, "unlimited"])
      expect(validateCatalog(demoWith({ "plans.pro.grants.projects": grant })).ok).toBe(true);
  });

  it("rejects negative and fractional numbers", () => {
    expectPaths(demoWith({ "plans.pro.grants.projects": -1 }), ["plans.pro.grants.projects"]);
    expectPaths(demoWith({ "plans.pro.grants.projects": 2.5 }), ["plans.pro.grants.projects"]);
  });
});

describe("validateCatalog: plans", () => {
  it("extends must name an existing plan", () => {
    expectIssue(
      demoWith({ "plans.pro.extends": "enterprise" }),
      "plans.pro.extends",
      /unknown plan "enterprise"/,
    );
  });

  it("rejects a plan extending itself", () => {
    expectIssue(demoWith({ "plans.free.extends": "free" }), "plans.free.extends", /cycle: free → free/);
  });

  it("rejects a 3-plan extends cycle, naming the plans", () => {
    // pro → starter → free (→ pro): business extends into the cycle without being part of it.
    expectIssue(
      demoWith({ "plans.free.extends": "pro" }),
      "plans.free.extends",
      /plans extend each other in a cycle: free → pro → starter → free/,
    );
    const triangle = {
      currency: "usd",
      features: {},
      plans: {
        a: { name: "A", tier: 0, extends: "c", prices: { month: { base: 0 } }, seats: { included: 1 } },
        b: { name: "B", tier: 1, extends: "a", prices: { month: { base: 100 } }, seats: { included: 1 } },
        c: { name: "C", tier: 2, extends: "b", prices: { month: { base: 200 } }, seats: { included: 1 } },
      },
    };
    expectIssue(triangle, "plans.a.extends", /a → c → b → a/);
  });

  /** A chain of `n` plans, p0 ← p1 ← … written children first: each walk up it is as long as the chain. */
  function chain(n: number) {
    const plans: Record<string, Record<string, unknown>> = {};
    for (let i = n - 1; i >= 0; i--)
      plans[`p${i}`] = {
        name: `P${i}`,
        tier: i,
        ...(i > 0 ? { extends: `p${i - 1}` } : {}),
        prices: { month: { base: i } },
        seats: { included: 1 },
        grants: { [`f${i % 3}`]: i },
      };
    const limit = (name: string) => ({ kind: "limit", name });
    return { currency: "usd", features: { f0: limit("F0"), f1: limit("F1"), f2: limit("F2") }, plans };
  }

  it(`an extends chain has at most ${MAX_PLAN_CHAIN} plans, each resolving its whole chain`, () => {
    const result = validateCatalog(chain(MAX_PLAN_CHAIN));
    if (!result.ok) throw new Error(JSON.stringify(result.issues));
    expect(result.catalog.plans.p19?.grants).toEqual({ f0: 18, f1: 19, f2: 17 });
    expectIssue(
      chain(MAX_PLAN_CHAIN + 1),
      `plans.p${MAX_PLAN_CHAIN}.extends`,
      /an extends chain has at most 20 plans \("p20" is plan 21 of its chain\)/,
    );
  });

  it("follows a chain and a cycle deeper than the call stack, once each", () => {
    const n = 20_000;
    expectIssue(chain(n), `plans.p${MAX_PLAN_CHAIN}.extends`, /at most 20 plans/);
    const cyclic = chain(n);
    (cyclic.plans.p0 as Record<string, unknown>).extends = `p${n - 1}`;
    expectIssue(
      cyclic,
      `plans.p${n - 1}.extends`,
      new RegExp(`cycle: p${n - 1} → p${n - 2} → .* → p1 → p0 → p${n - 1}$`),
    );
  });

  it("tiers are unique", () => {
    expectIssue(
      demoWith({ "plans.business.tier": 2 }),
      "plans.business.tier",
      /tier 2 is already used by plan "pro"/,
    );
  });

  it("a plan needs a month or a year price", () => {
    expectIssue(demoWith({ "plans.pro.prices": {} }), "plans.pro.prices", /month or a year price/);
    expect(validateCatalog(demoWith({ "plans.pro.prices.month": undefined })).ok).toBe(true);
  });

  it("seats.max cannot be below seats.included", () => {
    expectIssue(demoWith({ "plans.free.seats.max": 2 }), "plans.free.seats.max", /below seats.included/);
    expect(validateCatalog(demoWith({ "plans.free.seats.max": null })).ok).toBe(true);
  });

  it("seat tiers ascend, and only the last one is unbounded", () => {
    const tiers = "plans.business.prices.month.seat.tiers";
    expectIssue(demoWith({ [`${tiers}.1.up_to`]: 50 }), `${tiers}[1].up_to`, /ascending order/);
    expectIssue(demoWith({ [`${tiers}.1.up_to`]: 20 }), `${tiers}[1].up_to`, /ascending order/);
    expectIssue(demoWith({ [`${tiers}.2.up_to`]: 500 }), `${tiers}[2].up_to`, /last tier must be unbounded/);
    expectIssue(
      demoWith({ [`${tiers}.0.up_to`]: null }),
      `${tiers}[0].up_to`,
      /only the last tier can be unbounded/,
    );
  });

  it("percent_of_plan prices only add-ons", () => {
    expectIssue(
      demoWith({ "plans.pro.prices.month.seat": { model: "percent_of_plan", basis_points: 1000 } }),
      "plans.pro.prices.month.seat.model",
      /percent_of_plan prices only add-ons/,
    );
    expectIssue(
      demoWith({
        "features.api_calls.overage": {
          policy: "billed",
          price: { model: "percent_of_plan", basis_points: 100 },
        },
      }),
      "features.api_calls.overage.price.model",
      /only add-ons/,
    );
  });

  it("billed overage needs a meter that resets per billing period", () => {
    const billed = { policy: "billed", price: { model: "per_unit", unit_amount: 1 } };
    // exports counts per calendar month
    expectIssue(
      demoWith({ "features.exports.overage": billed }),
      "features.exports.overage.policy",
      /resets per billing period \("exports" resets per calendar month\)/,
    );
    expectIssue(
      demoWith({ "features.exports.overage": billed, "meters.exports.reset": "never" }),
      "features.exports.overage.policy",
      /"exports" never resets/,
    );
    // api_calls counts per billing period
    expect(validateCatalog(demoWith({ "features.api_calls.overage": billed })).ok).toBe(true);
  });

  it("checks the tiers of a billed overage price", () => {
    const overage = {
      policy: "billed",
      price: {
        model: "tiered",
        tiers: [
          { up_to: 10_000, unit_amount: 2 },
          { up_to: 5000, unit_amount: 1 },
          { up_to: null, unit_amount: 1 },
        ],
      },
    };
    expectIssue(
      demoWith({ "features.api_calls.overage": overage }),
      "features.api_calls.overage.price.tiers[1].up_to",
      /ascending/,
    );
  });
});

describe("validateCatalog: add-ons", () => {
  it("plans must name existing plans, by index", () => {
    expectIssue(
      demoWith({ "add_ons.sso.plans": ["pro", "enterprise"] }),
      "add_ons.sso.plans[1]",
      /unknown plan "enterprise"/,
    );
  });

  it("requires must name existing add-ons, by index", () => {
    expectIssue(
      demoWith({ "add_ons.sso.requires": ["saml"] }),
      "add_ons.sso.requires[0]",
      /unknown add-on "saml"/,
    );
    expectIssue(
      demoWith({ "add_ons.sso.requires": ["advanced_reporting", "saml"] }),
      "add_ons.sso.requires[1]",
      /unknown add-on "saml"/,
    );
  });

  it("accepts a chain of requirements", () => {
    const chain = demoWith({
      "add_ons.sso.requires": ["advanced_reporting"],
      "add_ons.advanced_reporting.requires": ["storage_pack"],
    });
    expect(validateCatalog(chain).ok).toBe(true);
  });

  it("rejects a requires cycle, naming the add-ons", () => {
    expectIssue(
      demoWith({
        "add_ons.sso.requires": ["advanced_reporting"],
        "add_ons.advanced_reporting.requires": ["storage_pack"],
        "add_ons.storage_pack.requires": ["sso"],
      }),
      "add_ons.advanced_reporting.requires",
      /add-ons require each other in a cycle: advanced_reporting → storage_pack → sso → advanced_reporting/,
    );
    expectIssue(demoWith({ "add_ons.sso.requires": ["sso"] }), "add_ons.sso.requires", /sso → sso/);
  });

  it("an add-on needs a month or a year price", () => {
    expectIssue(demoWith({ "add_ons.sso.prices": {} }), "add_ons.sso.prices", /month or a year price/);
  });

  it("checks the tiers of an add-on price", () => {
    const tiered = { model: "volume", tiers: [{ up_to: 10, unit_amount: 1000 }] };
    expectIssue(
      demoWith({ "add_ons.storage_pack.prices.month": tiered }),
      "add_ons.storage_pack.prices.month.tiers[0].up_to",
      /last tier must be unbounded/,
    );
  });

  it("reports every problem at once", () => {
    expectPaths(
      demoWith({
        "features.api_calls.meter": "nope",
        "plans.pro.extends": "nope",
        "plans.business.tier": 1,
        "add_ons.sso.plans": ["nope"],
        "add_ons.sso.requires": ["nope"],
      }),
      [
        "features.api_calls.meter",
        "plans.pro.extends",
        "plans.business.tier",
        "add_ons.sso.plans[0]",
        "add_ons.sso.requires[0]",
      ],
    );
  });
});

describe("validateCatalog: the document's shape", () => {
  it("rejects unknown fields, each at its own path", () => {
    expectIssue(demoWith({ colour: "blue" }), "colour", /unknown field/);
    expectIssue(demoWith({ "plans.pro.colour": "blue" }), "plans.pro.colour", /unknown field/);
    expectIssue(
      demoWith({ "plans.pro.prices.month.discount": 10 }),
      "plans.pro.prices.month.discount",
      /unknown field/,
    );
    expectIssue(demoWith({ "features.sso.label": "SSO" }), "features.sso.label", /unknown field/);
    expectIssue(demoWith({ "meters.exports.window": "1d" }), "meters.exports.window", /unknown field/);
    expectIssue(
      demoWith({ "add_ons.sso.prices.month.currency": "eur" }),
      "add_ons.sso.prices.month.currency",
      /unknown field/,
    );
    expectPaths(demoWith({ "plans.pro.colour": "blue", "plans.pro.size": 1 }), [
      "plans.pro.colour",
      "plans.pro.size",
    ]);
  });

  it("rejects an invalid currency", () => {
    for (const currency of ["USD", "dollar", "xyz", "", 840, null])
      expectIssue(demoWith({ currency }), "currency", /.+/);
    expectIssue(demoWith({ currency: "USD" }), "currency", /lower-case ISO 4217/);
    expectPaths(demoWith({ currency: undefined }), ["currency"]);
    for (const currency of ["eur", "jpy", "kwd"])
      expect(validateCatalog(demoWith({ currency })).ok).toBe(true);
  });

  it("rejects negative amounts", () => {
    expectPaths(demoWith({ "plans.pro.prices.month.base": -1 }), ["plans.pro.prices.month.base"]);
    expectPaths(demoWith({ "plans.pro.prices.month.seat.unit_amount": -1500 }), [
      "plans.pro.prices.month.seat.unit_amount",
    ]);
    expectPaths(demoWith({ "plans.business.prices.year.seat.tiers.1.unit_amount": -12_000 }), [
      "plans.business.prices.year.seat.tiers[1].unit_amount",
    ]);
    expectPaths(demoWith({ "add_ons.sso.prices.month.amount": -4900 }), ["add_ons.sso.prices.month.amount"]);
    expectPaths(demoWith({ "plans.pro.seats.included": -1 }), ["plans.pro.seats.included"]);
  });

  it("rejects amounts that are not integers of minor units", () => {
    expectPaths(demoWith({ "plans.pro.prices.month.base": 249.99 }), ["plans.pro.prices.month.base"]);
    expectPaths(demoWith({ "add_ons.sso.prices.month.amount": "49.00" }), [
      "add_ons.sso.prices.month.amount",
    ]);
  });

  it("rejects keys that are not lower snake_case, at their path", () => {
    expectPaths(demoWith({ "features.API calls": { kind: "boolean", name: "API" } }), ["features.API calls"]);
    expectPaths(demoWith({ "add_ons.sso.plans": ["Pro"] }), ["add_ons.sso.plans[0]"]);
  });

  it("rejects what is not a catalog at all", () => {
    for (const input of [null, undefined, 42, "currency: usd", []])
      expect(validateCatalog(input).ok).toBe(false);
    expectPaths({}, ["currency", "features", "plans"]);
  });
});

// ——— Property tests ———————————————————————————————————————————————————————————————————————

const keyArb = fc.stringMatching(/^[a-z][a-z0-9_]{0,11}$/);
const amountArb = fc.integer({ min: 0, max: 1_000_000 });

type Kind = "boolean" | "limit" | "metered" | "seats";

const tiersArb = fc
  .tuple(
    fc.uniqueArray(fc.integer({ min: 1, max: 1000 }), { maxLength: 3 }),
    fc.array(amountArb, { minLength: 4, maxLength: 4 }),
  )
  .map(([bounds, amounts]) =>
    [...[...bounds].sort((a, b) => a - b), null].map((up_to, i) => ({ up_to, unit_amount: amounts[i] ?? 0 })),
  );

/** Every price model but percent_of_plan, which only add-ons may use. */
const priceArb = fc.oneof(
  amountArb.map((amount) => ({ model: "flat", amount })),
  amountArb.map((unit_amount) => ({ model: "per_unit", unit_amount })),
  tiersArb.map((tiers) => ({ model: "tiered", tiers })),
  tiersArb.map((tiers) => ({ model: "volume", tiers })),
  fc.record({
    model: fc.constant("package"),
    package_size: fc.integer({ min: 1, max: 100 }),
    amount: amountArb,
  }),
);
const addOnPriceArb = fc.oneof(
  priceArb,
  fc.integer({ min: 1, max: 100_000 }).map((basis_points) => ({ model: "percent_of_plan", basis_points })),
);

/** A month price, a year price, or both (never neither). */
function pricesArb<T>(price: fc.Arbitrary<T>): fc.Arbitrary<{ month?: T; year?: T }> {
  return fc.oneof(
    price.map((month) => ({ month })),
    price.map((year) => ({ year })),
    fc.record({ month: price, year: price }),
  );
}

function grantArb(kind: Kind): fc.Arbitrary<Grant> {
  return kind === "boolean"
    ? fc.boolean()
    : fc.oneof(fc.nat(10_000), fc.constant<Grant>("unlimited"), fc.constant<Grant>(false));
}

function grantsArb(features: Record<string, Kind>): fc.Arbitrary<Record<string, Grant>> {
  const grantable = Object.entries(features).filter(([, kind]) => kind !== "seats");
  const entries = grantable.map(([key, kind]) => fc.option(grantArb(kind).map((g) => [key, g] as const)));
  return fc
    .tuple(...entries)
    .map((pairs) => Object.fromEntries(pairs.filter((p): p is readonly [string, Grant] => p !== null)));
}

const featuresArb = fc
  .tuple(
    fc.uniqueArray(keyArb, { minLength: 1, maxLength: 6 }),
    fc.array(fc.constantFrom<Kind>("boolean", "limit", "metered"), { minLength: 6, maxLength: 6 }),
    fc.boolean(),
  )
  .map(([keys, kinds, withSeats]) => {
    const features: Record<string, Kind> = {};
    keys.forEach((key, i) => {
      features[key] = withSeats && i === 0 ? "seats" : (kinds[i] ?? "boolean");
    });
    return features;
  });

/** Catalogs that follow every rule: references exist, extends and requires point backwards only. */
const catalogArb = fc
  .record({ currency: fc.constantFrom("usd", "eur", "jpy", "kwd"), kinds: featuresArb })
  .chain(({ currency, kinds }) => {
    const metered = Object.keys(kinds).filter((k) => kinds[k] === "metered");
    const meterArb = fc.constantFrom("count", "sum", "max", "unique_count").chain((aggregation) =>
      fc.record({
        event: fc.constant("event.happened"),
        aggregation: fc.constant(aggregation),
        reset: fc.constantFrom("billing_period", "calendar_month", "never"),
        ...(aggregation === "count" ? {} : { property: fc.constant("value") }),
      }),
    );
    const overageArb = fc.oneof(
      fc.constant({ policy: "hard" }),
      fc.integer({ min: 1, max: 1000 }).map((grace_percent) => ({ policy: "soft", grace_percent })),
      priceArb.map((price) => ({ policy: "billed", price })),
    );
    const featureArb = (key: string, kind: Kind) =>
      fc.record(
        {
          kind: fc.constant(kind),
          name: fc.constant(key.toUpperCase()),
          ...(kind === "metered" ? { meter: fc.constant(`m_${key}`), overage: overageArb } : {}),
        },
        { requiredKeys: ["kind", "name", ...(kind === "metered" ? ["meter" as const] : [])] },
      );
    const planArb = fc
      .record({
        name: fc.constant("Plan"),
        prices: pricesArb(fc.record({ base: amountArb, seat: priceArb }, { requiredKeys: ["base"] })),
        included: fc.nat(50),
        extra: fc.option(fc.nat(100)),
        grants: grantsArb(kinds),
        trial_days: fc.option(fc.nat(365), { nil: undefined }),
      })
      .map(({ included, extra, trial_days, ...plan }) => ({
        ...plan,
        seats: { included, max: extra === null ? null : Math.max(1, included + extra) },
        ...(trial_days === undefined ? {} : { trial_days }),
      }));
    return fc
      .record({
        currency: fc.constant(currency),
        features: fc.record(
          Object.fromEntries(Object.entries(kinds).map(([k, kind]) => [k, featureArb(k, kind)])),
        ),
        meters: fc.record(Object.fromEntries(metered.map((k) => [`m_${k}`, meterArb]))),
        plans: fc
          .tuple(
            fc.uniqueArray(keyArb, { minLength: 1, maxLength: 4 }),
            fc.uniqueArray(fc.nat(20), { minLength: 4, maxLength: 4 }),
            fc.array(planArb, { minLength: 4, maxLength: 4 }),
            fc.array(fc.option(fc.nat()), { minLength: 4, maxLength: 4 }),
          )
          .map(([keys, tiers, defs, parents]) =>
            Object.fromEntries(
              keys.map((key, i) => {
                const parent = parents[i];
                const extendsKey = i > 0 && parent != null ? keys[parent % i] : undefined;
                return [key, { ...defs[i], tier: tiers[i], ...(extendsKey ? { extends: extendsKey } : {}) }];
              }),
            ),
          ),
      })
      .map((doc) => {
        // billed overage is only valid on a meter that resets per billing period
        const meters = { ...doc.meters } as Record<string, { reset: string }>;
        for (const feature of Object.values(doc.features) as {
          meter?: string;
          overage?: { policy: string };
        }[])
          if (feature.overage?.policy === "billed" && feature.meter && meters[feature.meter])
            meters[feature.meter] = { ...meters[feature.meter], reset: "billing_period" };
        return { ...doc, meters };
      })
      .chain((doc) => {
        const planKeys = Object.keys(doc.plans);
        const addOnArb = fc.record(
          {
            name: fc.constant("Add-on"),
            prices: pricesArb(addOnPriceArb),
            quantity: fc.constantFrom("single", "multiple"),
            grants: grantsArb(kinds),
            plans: fc.subarray(planKeys),
            requires: fc.constant([] as string[]),
          },
          { requiredKeys: ["name", "prices"] },
        );
        return fc
          .tuple(
            fc.uniqueArray(keyArb, { maxLength: 3 }),
            fc.array(addOnArb, { minLength: 3, maxLength: 3 }),
            fc.array(fc.array(fc.nat(), { maxLength: 2 }), { minLength: 3, maxLength: 3 }),
          )
          .map(([keys, defs, requires]) => ({
            ...doc,
            add_ons: Object.fromEntries(
              keys.map((key, i) => {
                const earlier = keys.slice(0, i);
                const required = earlier.length
                  ? [...new Set((requires[i] ?? []).map((n) => earlier[n % earlier.length] as string))]
                  : [];
                return [key, { ...defs[i], requires: required }];
              }),
            ),
          }));
      });
  });

/** The grants a plan should resolve to: its extends chain merged from the root, children winning. */
function expectedGrants(
  plans: Record<string, { extends?: string; grants: Record<string, Grant> }>,
  key: string,
) {
  const chain: string[] = [];
  for (let k: string | undefined = key; k; k = plans[k]?.extends) chain.unshift(k);
  return Object.assign({}, ...chain.map((k) => plans[k]?.grants)) as Record<string, Grant>;
}

describe("validateCatalog: properties", () => {
  it("accepts every catalog built by the rules, and flattens extends", () => {
    fc.assert(
      fc.property(catalogArb, (doc) => {
        const result = validateCatalog(doc);
        if (!result.ok) throw new Error(JSON.stringify(result.issues));
        const plans = doc.plans as Record<string, { extends?: string; grants: Record<string, Grant> }>;
        for (const [key, plan] of Object.entries(result.catalog.plans)) {
          expect(plan.key).toBe(key);
          expect(plan).not.toHaveProperty("extends");
          expect(plan.grants).toEqual(expectedGrants(plans, key));
        }
      }),
      { numRuns: 300 },
    );
  });

  it("is deterministic and leaves its input alone", () => {
    fc.assert(
      fc.property(catalogArb, (doc) => {
        const before = JSON.stringify(doc);
        const first = validateCatalog(doc);
        expect(validateCatalog(doc)).toEqual(first);
        expect(validateCatalog(JSON.parse(before))).toEqual(first);
        expect(JSON.stringify(doc)).toBe(before);
      }),
      { numRuns: 100 },
    );
  });

  it("is deterministic and total on arbitrary JSON", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (input) => {
        const first = validateCatalog(input);
        expect(first.ok).toBe(false);
        expect(validateCatalog(input)).toEqual(first);
      }),
    );
  });

  it("names the field of a dangling plan reference, wherever it is", () => {
    fc.assert(
      fc.property(catalogArb, fc.nat(), (doc, n) => {
        const keys = Object.keys(doc.plans);
        const key = keys[n % keys.length] as string;
        const broken = {
          ...doc,
          plans: { ...doc.plans, [key]: { ...doc.plans[key], extends: "no_such_plan" } },
        };
        expect(issuesOf(broken)).toEqual([
          { path: `plans.${key}.extends`, message: 'unknown plan "no_such_plan"' },
        ]);
      }),
      { numRuns: 100 },
    );
  });
});
