import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { SubscriptionShape } from "../subscriptions/recurring.ts";
import { DEMO_CATALOG } from "../testing/demo-catalog.ts";
import type { Entitlement } from "./api.ts";
import { decideCheck, graceLimit } from "./check.ts";
import { computeEntitlements, type EntitlementSource } from "./compute.ts";
import { cheapestUpgrade, type UpgradeCatalog } from "./upgrade.ts";

const catalog = DEMO_CATALOG;
const upgradeCatalog: UpgradeCatalog = { currency: "usd", plans: catalog.plans, addOns: catalog.add_ons };

function shape(
  plan: string,
  seats?: number,
  addOns: { key: string; quantity?: number }[] = [],
): SubscriptionShape {
  const p = catalog.plans[plan];
  if (!p) throw new Error(plan);
  return {
    plan: p,
    interval: "month",
    seats: seats ?? p.seats.included,
    addOns: addOns.map((a) => ({
      key: a.key,
      quantity: a.quantity ?? 1,
      definition: catalog.add_ons[a.key] as never,
    })),
  };
}

function source(
  s: SubscriptionShape | null,
  usage: Partial<EntitlementSource["usage"]> = {},
): EntitlementSource {
  return {
    account: { id: "acct_1", externalId: "org_1" },
    features: catalog.features,
    meters: catalog.meters,
    subscription: s && {
      status: "active",
      shape: s,
      cycle: { anchor: new Date("2026-01-10T00:00:00Z"), interval: "month", endsAt: null },
      currentPeriodEnd: new Date("2026-02-10T00:00:00Z"),
      currency: "usd",
    },
    ended: null,
    usage: { meters: {}, gauges: {}, seats: 0, ...usage },
    at: new Date("2026-01-16T12:00:00Z"),
  };
}

describe("computeEntitlements", () => {
  it("combines plan grants, add-on grants × quantity and usage, with each meter's window", () => {
    const view = computeEntitlements(
      source(shape("starter", 7, [{ key: "storage_pack", quantity: 2 }, { key: "advanced_reporting" }]), {
        meters: { api_calls: 9000, exports: 3 },
        gauges: { projects: 4 },
        seats: 6,
      }),
    );
    expect(view.active).toBe(true);
    expect(view.features.storage_gb).toMatchObject({ granted: true, limit: 110, used: 0 });
    expect(view.features.advanced_reporting).toMatchObject({ granted: true, kind: "boolean" });
    expect(view.features.sso).toMatchObject({ granted: false });
    expect(view.features.seats).toMatchObject({ limit: 7, used: 6 });
    expect(view.features.projects).toMatchObject({ limit: 20, used: 4 });
    expect(view.features.api_calls).toMatchObject({
      limit: 10_000,
      used: 9000,
      period_start: "2026-01-10T00:00:00.000Z",
      resets_at: "2026-02-10T00:00:00.000Z",
      overage: { policy: "soft", grace_percent: 10 },
      // the meter rides along, so the SDK can count tracked events before the server does
      meter: { key: "api_calls", event: "api.call", aggregation: "count", reset: "billing_period" },
    });
    expect(view.features.projects?.meter).toBeUndefined();
    // exports reset per calendar month
    expect(view.features.exports?.resets_at).toBe("2026-02-01T00:00:00.000Z");
    expect(view.valid_until).toBe("2026-02-01T00:00:00.000Z");
    const pro = computeEntitlements(source(shape("pro")));
    expect(pro.features.projects).toMatchObject({ unlimited: true, limit: null });
  });

  it("an account without a live subscription is entitled to nothing", () => {
    const view = computeEntitlements(source(null));
    expect(view.active).toBe(false);
    for (const e of Object.values(view.features)) expect(decideCheck(e, view.active).allowed).toBe(false);
  });

  it("an account whose subscription ended shows the usage since the end, never the ended period's", () => {
    const ended = { anchor: new Date("2026-01-10T00:00:00Z"), interval: "month" as const };
    const view = computeEntitlements({
      ...source(null, { meters: { api_calls: 42 } }),
      ended: { ...ended, endsAt: new Date("2026-01-14T09:30:00Z") },
    });
    expect(view).toMatchObject({ active: false, status: "none", plan: null });
    expect(view.features.api_calls).toMatchObject({
      granted: false,
      used: 42,
      period_start: "2026-01-14T09:30:00.000Z",
      resets_at: "2026-02-01T00:00:00.000Z",
    });
    expect(decideCheck(view.features.api_calls, view.active)).toMatchObject({
      allowed: false,
      reason: "account_inactive",
    });
  });
});

const metered = (policy: "hard" | "soft" | "billed", used: number, limit = 100): Entitlement => ({
  feature: "f",
  kind: "metered",
  name: "F",
  granted: true,
  limit,
  unlimited: false,
  used,
  overage: { policy, grace_percent: policy === "soft" ? 10 : null },
  period_start: null,
  resets_at: "2026-02-01T00:00:00.000Z",
});

describe("decideCheck: every reason and overage policy", () => {
  it("hard blocks at the limit", () => {
    expect(decideCheck(metered("hard", 99), true)).toMatchObject({
      allowed: true,
      reason: "within_limit",
      remaining: 1,
      ratio: 0.99,
    });
    expect(decideCheck(metered("hard", 100), true)).toMatchObject({
      allowed: false,
      reason: "limit_reached",
    });
  });
  it("soft allows a grace of grace_percent beyond the limit, then blocks", () => {
    expect(decideCheck(metered("soft", 105), true)).toMatchObject({
      allowed: true,
      reason: "soft_limit_grace",
    });
    expect(decideCheck(metered("soft", 109), true)).toMatchObject({
      allowed: true,
      reason: "soft_limit_grace",
    });
    expect(decideCheck(metered("soft", 110), true)).toMatchObject({
      allowed: false,
      reason: "limit_reached",
    });
  });
  it("billed allows beyond the limit (the overage is priced by billing)", () => {
    expect(decideCheck(metered("billed", 5000), true)).toMatchObject({
      allowed: true,
      reason: "overage_billed",
    });
  });
  it("never answers allowed for a missing entitlement, an inactive account or a feature not in the plan", () => {
    expect(decideCheck(undefined, true)).toMatchObject({ allowed: false, reason: "unknown_feature" });
    expect(decideCheck(metered("billed", 0), false)).toMatchObject({
      allowed: false,
      reason: "account_inactive",
    });
    expect(decideCheck({ ...metered("billed", 0), granted: false }, true)).toMatchObject({
      allowed: false,
      reason: "feature_not_in_plan",
    });
  });
  it("property: hard allows iff used + quantity ≤ limit; soft iff ≤ the grace limit; billed always", () => {
    fc.assert(
      fc.property(fc.nat(10_000), fc.nat(10_000), fc.nat(500), (used, limit, quantity) => {
        const need = used + quantity;
        expect(decideCheck(metered("hard", used, limit), true, quantity).allowed).toBe(need <= limit);
        expect(decideCheck(metered("soft", used, limit), true, quantity).allowed).toBe(
          need <= graceLimit(limit, 10),
        );
        expect(decideCheck(metered("billed", used, limit), true, quantity).allowed).toBe(true);
        expect(
          decideCheck({ ...metered("billed", used, limit), granted: false }, true, quantity).allowed,
        ).toBe(false);
      }),
    );
  });
});

describe("cheapestUpgrade", () => {
  it("Free at its export limit: Starter, $99/month more", () => {
    expect(
      cheapestUpgrade(upgradeCatalog, shape("free"), { feature: "exports", kind: "metered", required: 11 }),
    ).toMatchObject({
      type: "plan",
      key: "starter",
      monthly_delta: { amount: 9900, currency: "usd" },
      recurring: { amount: 9900 },
    });
  });
  it("SSO on Pro: the $49 add-on beats Business (+$350)", () => {
    expect(
      cheapestUpgrade(upgradeCatalog, shape("pro"), { feature: "sso", kind: "boolean", required: 0 }),
    ).toMatchObject({
      type: "add_on",
      key: "sso",
      quantity: 1,
      price: { amount: 4900 },
      monthly_delta: { amount: 4900 },
    });
  });
  it("storage beyond Starter's 10 GB: two 50 GB packs ($20) rather than Pro", () => {
    expect(
      cheapestUpgrade(upgradeCatalog, shape("starter"), {
        feature: "storage_gb",
        kind: "limit",
        required: 70,
      }),
    ).toMatchObject({ type: "add_on", key: "storage_pack", quantity: 2, monthly_delta: { amount: 2000 } });
  });
  it("one more seat on Starter is $15; on Free (max 3 seats) it takes Starter", () => {
    expect(
      cheapestUpgrade(upgradeCatalog, shape("starter", 5), { feature: "seats", kind: "seats", required: 6 }),
    ).toMatchObject({
      type: "seats",
      quantity: 6,
      monthly_delta: { amount: 1500 },
    });
    expect(
      cheapestUpgrade(upgradeCatalog, shape("free"), { feature: "seats", kind: "seats", required: 4 }),
    ).toMatchObject({
      type: "plan",
      key: "starter",
    });
  });
  it("annual subscriptions get the monthly delta as annual ÷ 12", () => {
    const annual = { ...shape("free"), interval: "year" as const };
    // free has no annual price, so start from starter annual → pro annual: (249000 - 99000) / 12
    const starterYear = { ...shape("starter"), interval: "year" as const };
    void annual;
    expect(
      cheapestUpgrade(upgradeCatalog, starterYear, { feature: "batch_export", kind: "boolean", required: 0 }),
    ).toMatchObject({ key: "pro", monthly_delta: { amount: 12_500 }, recurring: { interval: "year" } });
  });
  it("nothing on sale allows it: null", () => {
    expect(
      cheapestUpgrade(upgradeCatalog, shape("business"), {
        feature: "api_calls",
        kind: "metered",
        required: 5_000_000,
      }),
    ).toBeNull();
  });
  it("property: the answer always allows the request and no candidate plan that allows it is cheaper", () => {
    const plans = ["free", "starter", "pro"];
    fc.assert(
      fc.property(
        fc.constantFrom(...plans),
        fc.nat(2_000_000),
        fc.constantFrom("api_calls", "exports", "storage_gb", "projects"),
        (plan, required, feature) => {
          const current = shape(plan);
          const kind = catalog.features[feature]?.kind as "metered";
          const answer = cheapestUpgrade(upgradeCatalog, current, { feature, kind, required });
          for (const [key, p] of Object.entries(catalog.plans)) {
            if (p.tier <= current.plan.tier) continue;
            const s = shape(key);
            const e = computeEntitlements(source(s)).features[feature] as Entitlement;
            if (e.unlimited || (e.limit ?? 0) >= required) {
              expect(answer).not.toBeNull();
              expect(answer?.monthly_delta.amount).toBeLessThanOrEqual(p.prices.month?.base ?? 0);
            }
          }
          if (answer?.type === "plan") {
            const e = computeEntitlements(source(shape(answer.key))).features[feature] as Entitlement;
            expect(e.unlimited || (e.limit ?? 0) >= required).toBe(true);
          }
        },
      ),
    );
  });
});
