import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { type ResolvedCatalog, type ResolvedPlan, validateCatalog } from "../catalog/validate.ts";
import { periodAt } from "../periods/billing-period.ts";
import { quoteChange } from "../quotes/quote-change.ts";
import type { QuotePlan } from "../quotes/quote-plan.ts";
import type { SubscriptionShape } from "../subscriptions/recurring.ts";
import { DEMO_CATALOG, DEMO_CATALOG_YAML } from "../testing/demo-catalog.ts";
import { ANNUAL_OFFER_LAST_MONTH, annualSwitchSavings } from "./annual-savings.ts";
import {
  formatOfferMoney,
  type OfferContext,
  offerTexts,
  offerVariables,
  projectedUsage,
  wholeDaysLeft,
  wholeMonthsBetween,
} from "./offer-variables.ts";

const starter = (
  seats = 5,
  interval: "month" | "year" = "month",
  catalog: ResolvedCatalog = DEMO_CATALOG,
) => ({
  plan: catalog.plans.starter as ResolvedPlan,
  interval,
  seats,
  addOns: [],
});

const START = new Date("2026-01-15T00:00:00Z");

function priced(from: SubscriptionShape, to: SubscriptionShape, at: Date): QuotePlan {
  const result = quoteChange({
    subscription: { shape: from, currency: "usd", billingCycleAnchor: START, trialEnd: null },
    target: to,
    at,
    policy: "period_end",
    seatsInUse: from.seats,
    creditBalance: 0,
  });
  if (!result.ok) throw new Error(result.refusal.code);
  return result.plan;
}

function context(at: Date, over: Partial<OfferContext> = {}): OfferContext {
  const shape = over.subscription?.shape ?? starter();
  return {
    catalog: DEMO_CATALOG,
    account: { name: "Acme <Labs>" },
    member: { name: "Ada" },
    subscription: { shape, startedAt: START, period: periodAt(START, shape.interval, at) },
    seatsInUse: 5,
    at,
    ...over,
  };
}

describe("the annual math of seed 004 ($99/month, $990/year)", () => {
  it("month 3: paid $297, pay $990 for the full year, save $99 on the spot", () => {
    expect(annualSwitchSavings(9900, 99000, 3)).toEqual({
      paidSoFar: 29700,
      fullYearSavings: 19800,
      savings: 9900,
    });
    const at = new Date("2026-04-15T00:00:00Z");
    const text = offerTexts(
      offerVariables(context(at, { quote: priced(starter(), starter(5, "year"), at) })),
    );
    expect(text).toMatchObject({
      months_subscribed: "3",
      "annual.paid_so_far": "$297",
      "annual.price": "$990",
      "annual.savings": "$99",
      "offer.price": "$990",
      "offer.interval": "year",
      // the checkout's own number: a full year less the credit for the month the renewal just billed
      "offer.due_today": "$891",
    });
  });

  it("month 6: you'd have saved $99 at month 3, you can still save $33", () => {
    expect(annualSwitchSavings(9900, 99000, 6).savings).toBe(3300);
    const text = offerTexts(offerVariables(context(new Date("2026-07-15T00:00:00Z"))));
    expect(text).toMatchObject({
      months_subscribed: "6",
      "annual.paid_so_far": "$594",
      "annual.missed_savings": "$99",
      "annual.savings": "$33",
    });
  });

  it("month 0 is the full two months free; from month 9 the saving has run out (the bonus nudge)", () => {
    expect(annualSwitchSavings(9900, 99000, 0).savings).toBe(19800);
    expect(annualSwitchSavings(9900, 99000, ANNUAL_OFFER_LAST_MONTH).savings).toBe(0);
    expect(annualSwitchSavings(9900, 99000, 12).savings).toBe(0);
    expect(annualSwitchSavings(9900, 99000, 30).savings).toBe(0);
    const month9 = offerVariables(
      context(new Date("2026-10-15T00:00:00Z"), { bonus: "an extra seat for 3 months" }),
    );
    expect(offerTexts(month9)).toMatchObject({ "annual.savings": "$0", bonus: "an extra seat for 3 months" });
  });

  it("is a saving of at most the full year's, in whole minor units, never negative, fading month by month", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 10_000_000 }),
        fc.integer({ min: 0, max: 200_000_000 }),
        fc.integer({ min: 0, max: 24 }),
        fc.integer({ min: 1, max: 12 }),
        (monthly, annual, months, last) => {
          const now = annualSwitchSavings(monthly, annual, months, last);
          expect(Number.isSafeInteger(now.savings)).toBe(true);
          expect(now.savings).toBeGreaterThanOrEqual(0);
          expect(now.savings).toBeLessThanOrEqual(now.fullYearSavings);
          expect(now.fullYearSavings).toBe(Math.max(0, 12 * monthly - annual));
          expect(now.paidSoFar).toBe(monthly * months);
          expect(annualSwitchSavings(monthly, annual, months + 1, last).savings).toBeLessThanOrEqual(
            now.savings,
          );
          if (months >= last) expect(now.savings).toBe(0);
          expect(formatOfferMoney({ amount: now.savings, currency: "usd" })).not.toContain("-");
        },
      ),
    );
  });

  it("refuses nonsense rather than promise a saving", () => {
    expect(() => annualSwitchSavings(-1, 0, 1)).toThrow(RangeError);
    expect(() => annualSwitchSavings(9900, 99000, 1.5)).toThrow(RangeError);
    expect(() => annualSwitchSavings(9900, 99000, 1, 13)).toThrow(RangeError);
  });

  it("offers no annual math to an annual subscription", () => {
    const shape = starter(5, "year");
    const vars = offerVariables(
      context(new Date("2026-04-15T00:00:00Z"), {
        subscription: {
          shape,
          startedAt: START,
          period: periodAt(START, "year", new Date("2026-04-15T00:00:00Z")),
        },
      }),
    );
    expect(vars["annual.savings"]).toBeUndefined();
    expect(vars["plan.price"]).toMatchObject({ text: "$990", money: { amount: 99000, currency: "usd" } });
  });
});

describe("offerVariables", () => {
  it("prices the seat of seed 000: $15 a month, $7.26 today for 15 days of 31", () => {
    const anchor = new Date("2026-01-01T00:00:00Z");
    const at = new Date("2026-01-17T00:00:00Z");
    const quote = quoteChange({
      subscription: { shape: starter(5), currency: "usd", billingCycleAnchor: anchor, trialEnd: null },
      target: starter(6),
      at,
      policy: "period_end",
      seatsInUse: 5,
      creditBalance: 0,
    });
    if (!quote.ok) throw new Error(quote.refusal.code);
    const vars = offerVariables(
      context(at, {
        quote: quote.plan,
        subscription: { shape: starter(5), startedAt: anchor, period: periodAt(anchor, "month", at) },
      }),
    );
    expect(vars["seat.price"]).toEqual({
      kind: "money",
      text: "$15",
      money: { amount: 1500, currency: "usd" },
    });
    expect(vars["offer.due_today"]).toEqual({
      kind: "money",
      text: "$7.26",
      money: { amount: 726, currency: "usd" },
    });
    expect(offerTexts(vars)).toMatchObject({
      "offer.price": "$114",
      "seats.used": "5",
      "seats.limit": "5",
      days_left: "15",
      "plan.name": "Starter",
      "plan.price": "$99",
      "plan.interval": "month",
      "account.name": "Acme <Labs>",
      "member.name": "Ada",
    });
  });

  it("has no seat price on a plan whose seats are capped (Free: 3 of 3)", () => {
    const free: SubscriptionShape = {
      plan: DEMO_CATALOG.plans.free as ResolvedPlan,
      interval: "month",
      seats: 3,
      addOns: [],
    };
    const at = new Date("2026-02-01T00:00:00Z");
    const vars = offerVariables(
      context(at, { subscription: { shape: free, startedAt: START, period: periodAt(START, "month", at) } }),
    );
    expect(vars["seat.price"]).toBeUndefined();
    expect(offerTexts(vars)).toMatchObject({ "next_plan.name": "Starter", "next_plan.price": "$99" });
  });

  it("tells the 80% alert its numbers: usage, limit, percent, calls left, the next plan's limit", () => {
    const at = new Date("2026-02-05T00:00:00Z");
    const vars = offerVariables(context(at, { usage: { feature: "api_calls", used: 8_050 } }));
    expect(offerTexts(vars)).toMatchObject({
      "feature.name": "API calls",
      "usage.used": "8,050",
      "usage.limit": "10,000",
      "usage.percent": "80",
      "usage.left": "1,950",
      "next_plan.name": "Pro",
      "next_plan.price": "$249",
      "next_plan.limit": "100,000",
    });
    expect(vars["usage.left"]).toEqual({ kind: "count", text: "1,950", value: 1950 });
    expect(vars["overage.cost"]).toBeUndefined(); // the demo's API calls are a soft limit, not billed
  });

  it("compares billed overage at the rate so far with what the upgrade adds", () => {
    const doc = parse(DEMO_CATALOG_YAML);
    doc.features.api_calls.overage = {
      policy: "billed",
      price: { model: "package", package_size: 100, amount: 100 },
    };
    const checked = validateCatalog(doc);
    if (!checked.ok) throw new Error(JSON.stringify(checked.issues));
    const catalog = checked.catalog;
    const shape = starter(5, "month", catalog);
    const anchor = new Date("2026-04-01T00:00:00Z"); // April: 30 days
    const at = new Date("2026-04-11T00:00:00Z"); // 10 days in
    const pro = { ...shape, plan: catalog.plans.pro as ResolvedPlan, seats: 10 };
    const quote = quoteChange({
      subscription: { shape, currency: "usd", billingCycleAnchor: anchor, trialEnd: null },
      target: pro,
      at,
      policy: "period_end",
      seatsInUse: 5,
      creditBalance: 0,
    });
    if (!quote.ok) throw new Error(quote.refusal.code);
    const vars = offerVariables({
      ...context(at),
      catalog,
      subscription: { shape, startedAt: anchor, period: periodAt(anchor, "month", at) },
      usage: { feature: "api_calls", used: 9_500 },
      quote: quote.plan,
    });
    // 9,500 in 10 days → 28,500 by day 30: 18,500 over 10,000 → 185 packages of 100 at $1
    expect(offerTexts(vars)).toMatchObject({ "overage.cost": "$185", "overage.savings": "$35" });
  });

  it("leaves out what the situation does not supply", () => {
    const vars = offerVariables(context(new Date("2026-02-05T00:00:00Z"), { member: null }));
    for (const name of [
      "member.name",
      "feature.name",
      "usage.used",
      "offer.price",
      "bonus",
      "annual.missed_savings",
    ])
      expect(vars[name as keyof typeof vars]).toBeUndefined();
  });

  it("counts money in whole minor units and formats it as the catalog's currency", () => {
    fc.assert(
      fc.property(fc.integer({ min: -10_000_000, max: 10_000_000 }), (amount) => {
        const usd = formatOfferMoney({ amount, currency: "usd" });
        expect(usd).toBe(
          amount % 100 === 0
            ? `${amount < 0 ? "-" : ""}$${Math.abs(amount / 100).toLocaleString("en-US")}`
            : `${amount < 0 ? "-" : ""}$${(Math.abs(amount) / 100).toLocaleString("en-US", { minimumFractionDigits: 2 })}`,
        );
      }),
    );
    expect(formatOfferMoney({ amount: 100000, currency: "jpy" })).toBe("¥100,000");
    expect(formatOfferMoney({ amount: 1500, currency: "kwd" })).toMatch(/^KWD\s1\.500$/);
    expect(formatOfferMoney({ amount: 2000, currency: "kwd" })).toMatch(/^KWD\s2$/);
  });
});

describe("calendar helpers", () => {
  it("counts whole months on clamped boundaries and whole days as the quote does", () => {
    const jan31 = new Date("2026-01-31T12:00:00Z");
    expect(wholeMonthsBetween(jan31, new Date("2026-02-28T11:59:59Z"))).toBe(0);
    expect(wholeMonthsBetween(jan31, new Date("2026-02-28T12:00:00Z"))).toBe(1);
    expect(wholeMonthsBetween(jan31, new Date("2026-03-31T12:00:00Z"))).toBe(2);
    expect(wholeMonthsBetween(jan31, new Date("2025-12-01T00:00:00Z"))).toBe(0);
    expect(wholeDaysLeft({ end: new Date("2026-02-01T00:00:00Z") }, new Date("2026-01-17T00:00:00Z"))).toBe(
      15,
    );
    expect(wholeDaysLeft({ end: new Date("2026-02-01T00:00:00Z") }, new Date("2026-02-02T00:00:00Z"))).toBe(
      0,
    );
  });

  it("projects usage linearly, counting the first day as a day", () => {
    const period = { start: new Date("2026-04-01T00:00:00Z"), end: new Date("2026-05-01T00:00:00Z") };
    expect(projectedUsage(100, period, new Date("2026-04-01T00:05:00Z"))).toBe(3000);
    expect(projectedUsage(9500, period, new Date("2026-04-11T00:00:00Z"))).toBe(28500);
    expect(projectedUsage(9500, period, new Date("2026-05-01T00:00:00Z"))).toBe(9500);
  });
});
