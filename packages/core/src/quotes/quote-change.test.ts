import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type ResolvedPlan, validateCatalog } from "../catalog/validate.ts";
import { periodAt } from "../periods/billing-period.ts";
import { prorationFraction } from "../pricing/proration.ts";
import {
  multiplyRational,
  type Rational,
  roundHalfAwayFromZero,
  subtractRational,
  toRational,
} from "../pricing/rational.ts";
import type { SubscribedAddOn, SubscriptionShape } from "../subscriptions/recurring.ts";
import { quoteChange, quoteLapsed, quotePeriod } from "./quote-change.ts";
import type { QuoteInput, QuotePlan } from "./quote-plan.ts";

const catalog = DEMO_CATALOG;
const plan = (key: string) => catalog.plans[key] as ResolvedPlan;
const addOn = (key: string, quantity = 1): SubscribedAddOn => ({
  key,
  definition: catalog.add_ons[key] as SubscribedAddOn["definition"],
  quantity,
});
const shape = (
  planKey: string,
  seats: number,
  interval: "month" | "year" = "month",
  addOns: SubscribedAddOn[] = [],
): SubscriptionShape => ({ plan: plan(planKey), interval, seats, addOns });

function quote(
  from: SubscriptionShape,
  to: SubscriptionShape,
  at: string,
  extra: Partial<QuoteInput> & { anchor?: string; currency?: string; cancelAt?: string } = {},
) {
  const { anchor, currency, cancelAt, ...rest } = extra;
  return quoteChange({
    subscription: {
      shape: from,
      currency: currency ?? "usd",
      billingCycleAnchor: new Date(anchor ?? "2026-01-01T00:00:00Z"),
      trialEnd: null,
      cancelAt: cancelAt ? new Date(cancelAt) : null,
    },
    target: to,
    at: new Date(at),
    policy: "period_end",
    seatsInUse: 0,
    creditBalance: 0,
    ...rest,
  });
}

function ok(result: ReturnType<typeof quoteChange>): QuotePlan {
  if (!result.ok) throw new Error(`refused: ${JSON.stringify(result.refusal)}`);
  return result.plan;
}
const amounts = (p: QuotePlan) => p.lines.map((l) => l.amount);

describe("quoteChange: the seat the seeds promise", () => {
  it("adding a $15 seat with 15 days left of 31 is one line of $7.26, due today", () => {
    const p = ok(quote(shape("starter", 5), shape("starter", 6), "2026-01-17T00:00:00Z"));
    expect(p.timing).toBe("immediate");
    expect(p.lines).toHaveLength(1);
    expect(p.lines[0]).toMatchObject({
      item: "seats",
      amount: 726,
      quantity: 1,
      unitAmount: 1500,
      kind: "charge",
      description: "Remaining time on 1 × Starter seat after 2026-01-17",
    });
    expect(p.totals).toMatchObject({ subtotal: 726, amountDue: 726, creditApplied: 0, creditAdded: 0 });
    expect(p.recurring).toEqual({
      before: { amount: 9900, interval: "month" },
      after: { amount: 11_400, interval: "month" },
      deltaPerMonth: 1500,
    });
    expect(p.nextInvoice).toEqual({ date: new Date("2026-02-01T00:00:00Z"), amount: 11_400 });
    expect(p.summary).toEqual([
      "Adding 1 seat adds $15.00 to your monthly bill.",
      "$7.26 is due today for the remaining 15 days of this cycle.",
      "Your next invoice, on Feb 1, 2026, will be $114.00.",
    ]);
  });

  it("prices seats in February of a leap year over its 29 days", () => {
    const p = ok(
      quote(shape("starter", 5), shape("starter", 6), "2024-02-15T00:00:00Z", {
        anchor: "2024-01-01T00:00:00Z",
      }),
    );
    expect(amounts(p)).toEqual([776]); // R(1500 × 15/29) = R(775.86)
    expect(p.period).toEqual({
      start: new Date("2024-02-01T00:00:00Z"),
      end: new Date("2024-03-01T00:00:00Z"),
    });
  });

  it("clamps an anchor on the 31st to Feb 28 and prorates over that period", () => {
    const p = ok(
      quote(shape("starter", 5), shape("starter", 6), "2026-02-14T00:00:00Z", {
        anchor: "2026-01-31T00:00:00Z",
      }),
    );
    expect(p.period.end).toEqual(new Date("2026-02-28T00:00:00Z"));
    expect(amounts(p)).toEqual([750]); // 14 of 28 days
    expect(p.nextInvoice.date).toEqual(new Date("2026-02-28T00:00:00Z"));
  });

  it("bills JPY in whole yen", () => {
    const jpy = validateCatalog({
      currency: "jpy",
      features: { seats: { kind: "seats", name: "Seats" } },
      plans: {
        team: {
          name: "Team",
          tier: 1,
          prices: { month: { base: 0, seat: { model: "per_unit", unit_amount: 1500 } } },
          seats: { included: 0 },
        },
      },
    });
    if (!jpy.ok) throw new Error("bad catalog");
    const team = jpy.catalog.plans.team as ResolvedPlan;
    const p = ok(
      quote(
        { plan: team, interval: "month", seats: 2, addOns: [] },
        { plan: team, interval: "month", seats: 5, addOns: [] },
        "2026-01-22T00:00:00Z",
        { currency: "jpy" },
      ),
    );
    expect(amounts(p)).toEqual([1452]); // R(3 × 1500 × 10/31)
    expect(p.summary[0]).toBe("Adding 3 seats adds ¥4,500 to your monthly bill.");
    expect(p.summary[1]).toBe("¥1,452 is due today for the remaining 10 days of this cycle.");
  });

  it("charges the whole seat in the first second of a period and almost nothing in the last", () => {
    const first = ok(quote(shape("starter", 5), shape("starter", 6), "2026-01-01T00:00:00.999Z"));
    expect(amounts(first)).toEqual([1500]);
    const last = ok(quote(shape("starter", 5), shape("starter", 6), "2026-01-31T23:59:59Z"));
    expect(amounts(last)).toEqual([0]);
    expect(last.totals.amountDue).toBe(0);
    expect(last.summary[1]).toBe("Nothing is due today.");
  });
});

describe("quoteChange: plans, add-ons, intervals", () => {
  it("upgrades an annual plan in month 7: credit the unused Starter year, charge the Pro remainder", () => {
    const p = ok(quote(shape("starter", 5, "year"), shape("pro", 5, "year"), "2026-07-01T00:00:00Z"));
    expect(p.lines.map((l) => [l.item, l.kind, l.amount])).toEqual([
      ["plan", "credit", -49_907], // R(99 000 × 184/365)
      ["plan", "charge", 125_523], // R(249 000 × 184/365)
    ]);
    expect(p.totals.amountDue).toBe(75_616);
    expect(p.recurring.deltaPerMonth).toBe(12_500); // (249 000 − 99 000) ÷ 12
    expect(p.summary[0]).toBe("Upgrading from Starter to Pro adds $1,500.00 to your annual bill.");
    expect(p.nextInvoice.date).toEqual(new Date("2027-01-01T00:00:00Z"));
  });

  it("co-terms a seat added mid-term on an annual contract", () => {
    const p = ok(quote(shape("starter", 5, "year"), shape("starter", 7, "year"), "2026-07-01T00:00:00Z"));
    expect(amounts(p)).toEqual([15_123]); // R(2 × 15 000 × 184/365) = R(15 123.29)
    expect(p.lines[0]?.periodEnd).toEqual(new Date("2027-01-01T00:00:00Z"));
  });

  it("switches a plan and credits the old plan's extra seats", () => {
    const p = ok(quote(shape("starter", 8), shape("pro", 12), "2026-01-17T00:00:00Z"));
    expect(p.lines.map((l) => [l.item, l.kind, l.amount])).toEqual([
      ["plan", "credit", -4790],
      ["plan", "charge", 12_048],
      ["seats", "credit", -2177], // R(3 × 1500 × 15/31)
      ["seats", "charge", 1452], // R(2 × 1500 × 15/31)
    ]);
  });

  it("adds a flat add-on and a capacity pack together, and prices premium support on the plan", () => {
    const p = ok(
      quote(
        shape("pro", 12),
        shape("pro", 12, "month", [addOn("premium_support"), addOn("sso"), addOn("storage_pack", 2)]),
        "2026-01-16T12:00:00Z",
      ),
    );
    // half a month: premium support 15% of $279 = $41.85 → R(2092.5) = 2093
    expect(p.lines.map((l) => [l.item, l.amount])).toEqual([
      ["add_on:premium_support", 2093],
      ["add_on:sso", 2450],
      ["add_on:storage_pack", 1000],
    ]);
    expect(p.summary[0]).toBe("Your monthly bill goes from $279.00 to $389.85.");
  });

  it("switches monthly → annual at once: the anchor resets, a full year less the unused month", () => {
    const p = ok(quote(shape("starter", 5), shape("starter", 5, "year"), "2026-01-17T00:00:00Z"));
    expect(p.timing).toBe("immediate");
    expect(p.newAnchor).toEqual(new Date("2026-01-17T00:00:00Z"));
    expect(p.lines.map((l) => [l.kind, l.amount, l.proration])).toEqual([
      ["credit", -4790, true],
      ["charge", 99_000, false],
    ]);
    expect(p.lines[1]?.periodEnd).toEqual(new Date("2027-01-17T00:00:00Z"));
    expect(p.totals.amountDue).toBe(94_210);
    expect(p.nextInvoice).toEqual({ date: new Date("2027-01-17T00:00:00Z"), amount: 99_000 });
    expect(p.summary[0]).toBe(
      "Switching to annual billing: $990.00 a year instead of $1,188.00 a year on monthly billing — you save $198.00 a year.",
    );
    expect(p.summary[1]).toBe(
      "$942.10 is due today: a full year at $990.00 less $47.90 for the unused part of this month. Your billing date moves to Jan 17, 2026.",
    );
  });

  it("moves annual → monthly at the end of the term", () => {
    const p = ok(quote(shape("starter", 5, "year"), shape("starter", 5), "2026-07-01T00:00:00Z"));
    expect(p).toMatchObject({ timing: "period_end", lines: [], newAnchor: new Date("2027-01-01T00:00:00Z") });
    expect(p.totals.amountDue).toBe(0);
  });

  it("schedules downgrades and seat reductions for the period end, with no credit", () => {
    const down = ok(quote(shape("pro", 10), shape("starter", 5), "2026-01-17T00:00:00Z"));
    expect(down).toMatchObject({
      timing: "period_end",
      lines: [],
      effectiveAt: new Date("2026-02-01T00:00:00Z"),
    });
    expect(down.summary).toEqual([
      "Moving from Pro to Starter lowers your monthly bill by $150.00 from Feb 1, 2026.",
      "Nothing is due today; the change takes effect on Feb 1, 2026.",
      "Your next invoice, on Feb 1, 2026, will be $99.00.",
    ]);
    const fewer = ok(quote(shape("starter", 8), shape("starter", 6), "2026-01-17T00:00:00Z"));
    expect(fewer.timing).toBe("period_end");
    expect(fewer.summary[0]).toBe("Removing 2 seats lowers your monthly bill by $30.00 from Feb 1, 2026.");
  });

  it("credits a downgrade to the balance when the catalog says immediate_with_credit", () => {
    const p = ok(
      quote(shape("pro", 10), shape("starter", 5), "2026-01-17T00:00:00Z", {
        policy: "immediate_with_credit",
      }),
    );
    expect(amounts(p)).toEqual([-12_048, 4790]);
    expect(p.totals).toEqual({
      subtotal: -7258,
      creditApplied: 0,
      amountDue: 0,
      creditAdded: 7258,
      creditBalanceAfter: 7258,
    });
    expect(p.nextInvoice.amount).toBe(9900 - 7258);
    expect(p.summary).toContain(
      "$72.58 for unused time goes to your credit balance and is applied to your next invoices.",
    );
  });

  it("spends the credit balance before the card", () => {
    const p = ok(
      quote(shape("starter", 5), shape("starter", 6), "2026-01-17T00:00:00Z", { creditBalance: 500 }),
    );
    expect(p.totals).toEqual({
      subtotal: 726,
      creditApplied: 500,
      amountDue: 226,
      creditAdded: 0,
      creditBalanceAfter: 0,
    });
  });

  it("caps a credit at what was charged for the item this period", () => {
    const p = ok(
      quote(shape("pro", 12), shape("starter", 5), "2026-01-17T00:00:00Z", {
        policy: "immediate_with_credit",
        history: { seats: { charged: 726, credited: 500 } },
      }),
    );
    expect(p.lines.find((l) => l.item === "seats" && l.kind === "credit")?.amount).toBe(-226);
  });

  it("prorates nothing in a trial", () => {
    const p = ok(
      quoteChange({
        subscription: {
          shape: shape("pro", 10),
          currency: "usd",
          billingCycleAnchor: new Date("2026-01-31T00:00:00Z"),
          trialEnd: new Date("2026-01-31T00:00:00Z"),
        },
        target: shape("pro", 15),
        at: new Date("2026-01-17T00:00:00Z"),
        policy: "period_end",
        seatsInUse: 3,
        creditBalance: 0,
      }),
    );
    expect(p).toMatchObject({ timing: "immediate", trial: true, lines: [] });
    expect(p.summary[1]).toBe("Nothing is due today: changes during a trial are not charged.");
    expect(p.nextInvoice.date).toEqual(new Date("2026-01-31T00:00:00Z"));
  });
});

describe("quoteChange: refusals", () => {
  it("refuses the plan the subscription is already on", () => {
    expect(quote(shape("pro", 10), shape("pro", 10), "2026-01-17T00:00:00Z")).toMatchObject({
      ok: false,
      refusal: { code: "already_on_plan", param: "plan" },
    });
  });
  it("refuses seats below the seats in use", () => {
    expect(
      quote(shape("starter", 8), shape("starter", 6), "2026-01-17T00:00:00Z", { seatsInUse: 7 }),
    ).toMatchObject({
      ok: false,
      refusal: { code: "seat_quantity_below_usage", param: "seats" },
    });
  });
  it("refuses seats below the seats in use in a change that also raises an item", () => {
    expect(
      quote(
        shape("starter", 8),
        shape("starter", 6, "month", [addOn("advanced_reporting")]),
        "2026-01-17T00:00:00Z",
        { seatsInUse: 7 },
      ),
    ).toMatchObject({ ok: false, refusal: { code: "seat_quantity_below_usage", param: "seats" } });
  });
  it("refuses any change of a subscription canceled at period end, until it is resumed", () => {
    for (const to of [
      shape("starter", 6),
      shape("pro", 5),
      shape("starter", 4),
      shape("starter", 5, "year"),
    ]) {
      const result = quote(shape("starter", 5), to, "2026-01-17T00:00:00Z", {
        cancelAt: "2026-02-01T00:00:00Z",
      });
      expect(result).toMatchObject({
        ok: false,
        refusal: {
          code: "subscription_ending",
          param: "account",
          message: expect.stringContaining("canceled as of Feb 1, 2026"),
        },
      });
    }
    const resumed = quote(shape("starter", 5), shape("starter", 6), "2026-01-17T00:00:00Z");
    expect(resumed.ok).toBe(true);
  });

  it("refuses an add-on not sold on the plan", () => {
    expect(
      quote(shape("starter", 5), shape("starter", 5, "month", [addOn("sso")]), "2026-01-17T00:00:00Z"),
    ).toMatchObject({
      ok: false,
      refusal: { code: "add_on_not_available" },
    });
  });
});

describe("quoteChange: a change that raises some items and lowers others on the same plan", () => {
  const from = shape("starter", 6, "month", [addOn("advanced_reporting")]);
  const to = shape("starter", 8);

  it("charges +2 seats now and removes Advanced reporting at the period end, as one quote", () => {
    const p = ok(quote(from, to, "2026-01-17T00:00:00Z"));
    expect(p.timing).toBe("split");
    expect(p.effectiveAt).toEqual(new Date("2026-01-17T00:00:00Z"));
    // the raises alone: R(2 × 1500 × 15/31) = R(1451.61)
    expect(p.lines.map((l) => [l.item, l.kind, l.quantity, l.unitAmount, l.amount])).toEqual([
      ["seats", "charge", 2, 1500, 1452],
    ]);
    expect(p.totals).toEqual({
      subtotal: 1452,
      creditApplied: 0,
      amountDue: 1452,
      creditAdded: 0,
      creditBalanceAfter: 0,
    });
    expect(p.split).toEqual({
      now: {
        to: shape("starter", 8, "month", [addOn("advanced_reporting")]),
        components: [{ type: "seats", from: 6, to: 8 }],
      },
      scheduled: {
        effectiveAt: new Date("2026-02-01T00:00:00Z"),
        to,
        components: [
          { type: "add_on", key: "advanced_reporting", name: "Advanced reporting", from: 1, to: 0 },
        ],
        newAnchor: null,
      },
    });
    expect(p.to).toEqual(to);
    // $99 + 1 seat + $29 → $99 + 3 seats
    expect(p.recurring).toEqual({
      before: { amount: 14_300, interval: "month" },
      after: { amount: 14_400, interval: "month" },
      deltaPerMonth: 100,
    });
    expect(p.nextInvoice).toEqual({ date: new Date("2026-02-01T00:00:00Z"), amount: 14_400 });
    expect(p.summary).toEqual([
      "Adding 2 seats adds $30.00 to your monthly bill.",
      "$14.52 is due today for the remaining 15 days of this cycle.",
      "Removing Advanced reporting lowers your monthly bill by $29.00 from Feb 1, 2026.",
      "Your next invoice, on Feb 1, 2026, will be $144.00.",
    ]);
  });

  it("adds SSO now and drops 2 seats and 2 storage packs at the period end", () => {
    const p = ok(
      quote(
        shape("pro", 14, "month", [addOn("storage_pack", 3)]),
        shape("pro", 12, "month", [addOn("sso"), addOn("storage_pack", 1)]),
        "2026-01-17T00:00:00Z",
      ),
    );
    expect(p.timing).toBe("split");
    expect(p.lines.map((l) => [l.item, l.amount])).toEqual([["add_on:sso", 2371]]); // R(4900 × 15/31)
    expect(p.split?.now.to).toEqual(shape("pro", 14, "month", [addOn("storage_pack", 3), addOn("sso")]));
    // $249 + 4 seats + 3 packs = $339 → $249 + 2 seats + SSO + 1 pack = $338
    expect(p.recurring).toMatchObject({
      before: { amount: 33_900 },
      after: { amount: 33_800 },
      deltaPerMonth: -100,
    });
    expect(p.nextInvoice.amount).toBe(33_800);
    expect(p.summary).toEqual([
      "Adding SSO adds $49.00 to your monthly bill.",
      "$23.71 is due today for the remaining 15 days of this cycle.",
      "Your monthly bill goes from $388.00 to $338.00 from Feb 1, 2026.",
      "Your next invoice, on Feb 1, 2026, will be $338.00.",
    ]);
  });

  it("co-terms the raise on an annual contract and schedules the reduction for the term's end", () => {
    const p = ok(
      quote(
        shape("starter", 7, "year", [addOn("advanced_reporting")]),
        shape("starter", 9, "year"),
        "2026-07-01T00:00:00Z",
      ),
    );
    expect(p.timing).toBe("split");
    expect(amounts(p)).toEqual([15_123]); // R(2 × 15 000 × 184/365)
    expect(p.lines[0]?.periodEnd).toEqual(new Date("2027-01-01T00:00:00Z"));
    expect(p.split?.scheduled.effectiveAt).toEqual(new Date("2027-01-01T00:00:00Z"));
    // (99 000 + 4 × 15 000) − (99 000 + 2 × 15 000 + 29 000) = +1000 a year, 83.33 a month
    expect(p.recurring.deltaPerMonth).toBe(83);
    expect(p.nextInvoice).toEqual({ date: new Date("2027-01-01T00:00:00Z"), amount: 159_000 });
  });

  it("spends the credit balance on the part due now and the rest on the next invoice", () => {
    const p = ok(quote(from, to, "2026-01-17T00:00:00Z", { creditBalance: 2000 }));
    expect(p.totals).toMatchObject({ creditApplied: 1452, amountDue: 0, creditBalanceAfter: 548 });
    expect(p.nextInvoice.amount).toBe(14_400 - 548);
    expect(p.summary.slice(1, 3)).toEqual([
      "Nothing is due today.",
      "$14.52 of your credit balance is applied.",
    ]);
  });

  it("applies the whole change at once, reductions credited, when the catalog says immediate_with_credit", () => {
    const p = ok(quote(from, to, "2026-01-17T00:00:00Z", { policy: "immediate_with_credit" }));
    expect(p.timing).toBe("immediate");
    expect(p.split).toBeNull();
    expect(p.lines.map((l) => [l.item, l.amount])).toEqual([
      ["seats", 1452],
      ["add_on:advanced_reporting", -1403], // R(−2900 × 15/31)
    ]);
    expect(p.totals.amountDue).toBe(49);
  });

  it("applies the whole change at once for nothing in a trial", () => {
    const p = ok(
      quoteChange({
        subscription: {
          shape: from,
          currency: "usd",
          billingCycleAnchor: new Date("2026-01-31T00:00:00Z"),
          trialEnd: new Date("2026-01-31T00:00:00Z"),
        },
        target: to,
        at: new Date("2026-01-17T00:00:00Z"),
        policy: "period_end",
        seatsInUse: 0,
        creditBalance: 0,
      }),
    );
    expect(p).toMatchObject({ timing: "immediate", trial: true, lines: [], split: null });
  });
});

describe("quoteChange: a plan change with parts that lower the bill (docs/rules.md, periods 5)", () => {
  it("a higher plan with fewer seats: the new plan now at the current seats, the seat cut at the period end", () => {
    // Pro with 30 seats ($249 + 20 × $15 = $549) → Business with 28 ($599 + 3 × $15 = $644)
    const p = ok(quote(shape("pro", 30), shape("business", 28), "2026-01-17T00:00:00Z"));
    expect(p.timing).toBe("split");
    expect(p.split?.now.to).toEqual(shape("business", 30));
    // f = 15/31; Business at 30 seats is $599 + 5 × $15
    expect(p.lines.map((l) => [l.item, l.kind, l.amount])).toEqual([
      ["plan", "credit", -12_048], // R(24 900 × 15/31)
      ["plan", "charge", 28_984], // R(59 900 × 15/31)
      ["seats", "credit", -14_516], // R(20 × 1500 × 15/31)
      ["seats", "charge", 3629], // R(5 × 1500 × 15/31)
    ]);
    expect(p.totals.amountDue).toBe(6049);
    expect(p.split?.scheduled).toMatchObject({
      effectiveAt: new Date("2026-02-01T00:00:00Z"),
      components: [{ type: "seats", from: 30, to: 28 }],
    });
    expect(p.nextInvoice).toEqual({ date: new Date("2026-02-01T00:00:00Z"), amount: 64_400 });
    expect(p.summary).toEqual([
      "Upgrading from Pro to Business adds $125.00 to your monthly bill.",
      "$60.49 is due today for the remaining 15 days of this cycle.",
      "Removing 2 seats lowers your monthly bill by $30.00 from Feb 1, 2026.",
      "Your next invoice, on Feb 1, 2026, will be $644.00.",
    ]);
    // the whole change at once would credit the 2 seats cut: R(2 × 1500 × 15/31) = $14.52 less today
    const atOnce = ok(
      quote(shape("pro", 30), shape("business", 28), "2026-01-17T00:00:00Z", {
        policy: "immediate_with_credit",
      }),
    );
    expect(p.totals.amountDue - atOnce.totals.amountDue).toBe(1452);
  });

  it("a lower plan with more seats: the seats now on the current plan, the plan at the period end", () => {
    // Pro with 12 seats ($279) → Starter with 14 ($99 + 9 × $15 = $234)
    const p = ok(quote(shape("pro", 12), shape("starter", 14), "2026-01-17T00:00:00Z"));
    expect(p.timing).toBe("split");
    expect(p.split?.now.to).toEqual(shape("pro", 14));
    expect(p.lines.map((l) => [l.item, l.kind, l.quantity, l.amount])).toEqual([
      ["seats", "charge", 2, 1452],
    ]);
    expect(p.split?.scheduled.components).toEqual([
      { type: "plan", direction: "downgrade", from: "Pro", to: "Starter" },
    ]);
    expect(p.summary).toEqual([
      "Adding 2 seats adds $30.00 to your monthly bill.",
      "$14.52 is due today for the remaining 15 days of this cycle.",
      "Moving from Pro to Starter lowers your monthly bill by $75.00 from Feb 1, 2026.",
      "Your next invoice, on Feb 1, 2026, will be $234.00.",
    ]);
  });

  it("annual → monthly with a higher plan: the upgrade now on the annual term, monthly from the term end", () => {
    const p = ok(quote(shape("starter", 5, "year"), shape("pro", 5), "2026-07-01T00:00:00Z"));
    expect(p.timing).toBe("split");
    expect(p.split?.now.to).toEqual(shape("pro", 5, "year"));
    expect(p.lines.map((l) => [l.item, l.kind, l.amount])).toEqual([
      ["plan", "credit", -49_907], // R(99 000 × 184/365)
      ["plan", "charge", 125_523], // R(249 000 × 184/365)
    ]);
    expect(p.split?.scheduled).toMatchObject({
      effectiveAt: new Date("2027-01-01T00:00:00Z"),
      newAnchor: new Date("2027-01-01T00:00:00Z"),
      components: [{ type: "interval", from: "year", to: "month" }],
    });
    expect(p.recurring).toEqual({
      before: { amount: 99_000, interval: "year" },
      after: { amount: 24_900, interval: "month" },
      deltaPerMonth: 16_650, // $249 − $990 ÷ 12
    });
    expect(p.summary).toEqual([
      "Upgrading from Starter to Pro adds $1,500.00 to your annual bill.",
      "$756.16 is due today for the remaining 184 days of this cycle.",
      "Switching to monthly billing at the end of your annual term on Jan 1, 2027: $249.00 a month.",
      "Your next invoice, on Jan 1, 2027, will be $249.00.",
    ]);
  });

  it("monthly → annual opens a new period: a lower plan and fewer seats go with it at once", () => {
    const p = ok(quote(shape("pro", 12), shape("starter", 5, "year"), "2026-01-17T00:00:00Z"));
    expect(p).toMatchObject({
      timing: "immediate",
      split: null,
      newAnchor: new Date("2026-01-17T00:00:00Z"),
    });
    expect(p.lines.map((l) => [l.item, l.kind, l.amount])).toEqual([
      ["plan", "credit", -12_048],
      ["seats", "credit", -1452],
      ["plan", "charge", 99_000],
    ]);
  });

  it("a higher plan the old add-on is not sold on drops it with the switch, credited as the plan is", () => {
    // SSO is sold on Pro only: Business includes it
    const p = ok(
      quote(shape("pro", 12, "month", [addOn("sso")]), shape("business", 12), "2026-01-17T00:00:00Z"),
    );
    expect(p).toMatchObject({ timing: "immediate", split: null });
    expect(p.lines.find((l) => l.item === "add_on:sso")).toMatchObject({ kind: "credit", amount: -2371 });
  });

  it("a lower plan: an add-on only it sells waits for it, the seats added apply now", () => {
    const p = ok(
      quote(shape("business", 30), shape("pro", 32, "month", [addOn("sso")]), "2026-01-17T00:00:00Z"),
    );
    expect(p.timing).toBe("split");
    expect(p.split?.now.to).toEqual(shape("business", 32));
    expect(p.split?.scheduled.components.map((c) => c.type)).toEqual(["plan", "add_on"]);
  });
});

describe("quoteChange: the subscription as it is, while a change is scheduled", () => {
  const pending = { id: "sch_1", effectiveAt: new Date("2026-02-01T00:00:00Z") };

  it("cancels the scheduled change: nothing due, nothing else changed", () => {
    const p = ok(
      quote(shape("starter", 6), shape("starter", 6), "2026-01-17T00:00:00Z", { scheduled: pending }),
    );
    expect(p).toMatchObject({
      timing: "immediate",
      components: [],
      lines: [],
      split: null,
      replacesScheduled: pending,
      recurring: { deltaPerMonth: 0 },
    });
    expect(p.totals.amountDue).toBe(0);
    expect(p.summary).toEqual([
      "Your change scheduled for Feb 1, 2026 is canceled: your subscription stays as it is.",
      "Nothing is due today.",
      "Your next invoice, on Feb 1, 2026, will be $114.00.",
    ]);
  });

  it("is already_on_plan when nothing is scheduled", () => {
    expect(quote(shape("starter", 6), shape("starter", 6), "2026-01-17T00:00:00Z")).toMatchObject({
      ok: false,
      refusal: { code: "already_on_plan" },
    });
  });
});

describe("quoteChange: two changes in one period", () => {
  it("prorates each change against the state it replaces", () => {
    const first = ok(
      quote(shape("starter", 5), shape("starter", 7), "2026-03-11T00:00:00Z", {
        anchor: "2026-03-01T00:00:00Z",
      }),
    );
    expect(amounts(first)).toEqual([2032]); // R(2 × 1500 × 21/31)
    const second = ok(
      quote(shape("starter", 7), shape("pro", 7), "2026-03-21T00:00:00Z", { anchor: "2026-03-01T00:00:00Z" }),
    );
    expect(second.lines.map((l) => [l.item, l.amount])).toEqual([
      ["plan", -3513], // R(9900 × 11/31)
      ["plan", 8835], // R(24 900 × 11/31)
      ["seats", -1065], // R(2 × 1500 × 11/31): Pro includes the 7 seats
    ]);
  });
});

describe("quoteChange: a change while another is scheduled for the period end", () => {
  const pending = { id: "sch_1", effectiveAt: new Date("2026-02-01T00:00:00Z") };

  it("an added seat says it cancels the scheduled reduction, and prices the same as without one", () => {
    const plain = ok(quote(shape("starter", 6), shape("starter", 7), "2026-01-17T00:00:00Z"));
    const p = ok(
      quote(shape("starter", 6), shape("starter", 7), "2026-01-17T00:00:00Z", { scheduled: pending }),
    );
    expect(p.replacesScheduled).toEqual(pending);
    expect(plain.replacesScheduled).toBeNull();
    expect({ ...p, replacesScheduled: null, summary: [] }).toEqual({ ...plain, summary: [] });
    expect(p.summary).toEqual([
      "Adding 1 seat adds $15.00 to your monthly bill.",
      "$7.26 is due today for the remaining 15 days of this cycle.",
      "Your change scheduled for Feb 1, 2026 is canceled and replaced by this one.",
      "Your next invoice, on Feb 1, 2026, will be $129.00.",
    ]);
  });

  it("a new reduction for the period end replaces the pending one", () => {
    const p = ok(
      quote(shape("starter", 6), shape("starter", 4), "2026-01-17T00:00:00Z", { scheduled: pending }),
    );
    expect(p.timing).toBe("period_end");
    expect(p.summary).toContain(
      "Your change scheduled for Feb 1, 2026 is canceled and replaced by this one.",
    );
  });

  it("a split change says it once, before the next invoice", () => {
    const p = ok(
      quote(
        shape("starter", 6, "month", [addOn("advanced_reporting")]),
        shape("starter", 8),
        "2026-01-17T00:00:00Z",
        { scheduled: pending },
      ),
    );
    expect(p.timing).toBe("split");
    expect(p.replacesScheduled).toEqual(pending);
    expect(p.summary.filter((s) => s.includes("scheduled for"))).toHaveLength(1);
    expect(p.summary.at(-2)).toBe(
      "Your change scheduled for Feb 1, 2026 is canceled and replaced by this one.",
    );
  });
});

// ——— Property tests ———————————————————————————————————————————————————————————————————————

// Anchors and changes on whole seconds, as the server stores them.
const instantArb = fc
  .integer({ min: Date.UTC(2024, 0, 1) / 1000, max: Date.UTC(2030, 0, 1) / 1000 })
  .map((s) => new Date(s * 1000));
const exactOf = (r: Rational) => r;
const within = (value: number, exact: Rational, tolerance: Rational) => {
  const diff = subtractRational(toRational(value), exact);
  const abs = diff.numerator < 0n ? { ...diff, numerator: -diff.numerator } : diff;
  return subtractRational(tolerance, abs).numerator >= 0n;
};

describe("quoteChange: properties", () => {
  it("a plan switch at t: credit + charge per item = (A₁ − A₀)·f within 1 minor unit per line", () => {
    fc.assert(
      fc.property(
        instantArb,
        instantArb,
        fc.constantFrom("starter", "pro", "business"),
        fc.constantFrom("starter", "pro", "business"),
        fc.integer({ min: 1, max: 300 }),
        fc.constantFrom<"month" | "year">("month", "year"),
        (anchor, at, a, b, seats, interval) => {
          fc.pre(a !== b && at.getTime() >= anchor.getTime());
          const from = shape(a, Math.max(seats, plan(a).seats.included), interval);
          const to = shape(b, Math.max(seats, plan(b).seats.included), interval);
          const result = quote(from, to, at.toISOString(), {
            anchor: anchor.toISOString(),
            policy: "immediate_with_credit",
          });
          const p = ok(result);
          const period = periodAt(anchor, interval, at);
          const f = prorationFraction(period, at);
          const total = (s: SubscriptionShape) => {
            const price = s.plan.prices[interval];
            const extra = Math.max(0, s.seats - s.plan.seats.included);
            const seatsAmount = price?.seat ? recurring(price.seat, extra) : 0;
            return (price?.base ?? 0) + seatsAmount;
          };
          const exact = exactOf(multiplyRational(total(to) - total(from), f));
          expect(within(p.totals.subtotal, exact, toRational(p.lines.length))).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("a change and its reverse in the same second net to exactly 0", () => {
    fc.assert(
      fc.property(
        instantArb,
        fc.integer({ min: 0, max: 31 * 86_400_000 }),
        fc.integer({ min: 5, max: 60 }),
        fc.integer({ min: 1, max: 40 }),
        fc.subarray(["advanced_reporting", "storage_pack"]),
        (anchor, offset, seats, added, addOnKeys) => {
          const at = new Date(anchor.getTime() + offset);
          const extras = addOnKeys.map((k) => addOn(k));
          const a = shape("starter", seats);
          const b = shape("starter", seats + added, "month", extras);
          const opts = { anchor: anchor.toISOString(), policy: "immediate_with_credit" as const };
          const there = ok(quote(a, b, at.toISOString(), opts));
          const back = ok(
            quote(b, a, new Date(Math.floor(at.getTime() / 1000) * 1000 + 999).toISOString(), opts),
          );
          expect(there.totals.subtotal + back.totals.subtotal).toBe(0);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("a sequence of seat additions never bills more than the exact time-weighted amount + 1 per line", () => {
    fc.assert(
      fc.property(
        instantArb,
        fc.array(fc.tuple(fc.integer({ min: 0, max: 28 * 86_400 }), fc.integer({ min: 1, max: 9 })), {
          minLength: 1,
          maxLength: 8,
        }),
        (anchor, steps) => {
          const sorted = [...steps].sort((x, y) => x[0] - y[0]);
          let current = shape("starter", 5);
          let billed = 0;
          let exact = toRational(0);
          let lines = 0;
          for (const [seconds, add] of sorted) {
            const at = new Date(anchor.getTime() + seconds * 1000);
            const next = shape("starter", current.seats + add);
            const p = ok(quote(current, next, at.toISOString(), { anchor: anchor.toISOString() }));
            const period = periodAt(anchor, "month", at);
            exact = toRational(
              subtractRational(exact, multiplyRational(-add * 1500, prorationFraction(period, at))),
            );
            billed += p.totals.amountDue;
            lines += p.lines.length;
            current = next;
          }
          const over = subtractRational(toRational(billed), exact);
          expect(subtractRational(toRational(lines), over).numerator >= 0n).toBe(true);
          expect(BigInt(billed) <= roundHalfAwayFromZero(exact) + BigInt(lines)).toBe(true);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe("quoteChange: a split change, at any instant", () => {
  const ADD_ONS = {
    starter: ["advanced_reporting", "storage_pack"],
    pro: ["advanced_reporting", "sso", "storage_pack", "premium_support"],
  };
  const quantityArb = (key: string) =>
    catalog.add_ons[key]?.quantity === "multiple"
      ? fc.integer({ min: 0, max: 4 })
      : fc.integer({ min: 0, max: 1 });
  const itemsArb = (planKey: "starter" | "pro") =>
    fc.record({
      seats: fc.tuple(fc.integer({ min: 1, max: 60 }), fc.integer({ min: 1, max: 60 })),
      addOns: fc.tuple(
        ...ADD_ONS[planKey].map((key) => fc.tuple(fc.constant(key), quantityArb(key), quantityArb(key))),
      ),
    });
  const changeArb = fc.constantFrom<"starter" | "pro">("starter", "pro").chain((planKey) =>
    fc.record({
      planKey: fc.constant(planKey),
      items: itemsArb(planKey),
      interval: fc.constantFrom<"month" | "year">("month", "year"),
      anchor: instantArb,
      offset: fc.integer({ min: 0, max: 400 * 86_400 }),
      creditBalance: fc.constantFrom(0, 0, 500, 100_000),
    }),
  );
  const shapeWith = (
    planKey: string,
    interval: "month" | "year",
    seats: number,
    quantities: [string, number][],
  ) =>
    shape(
      planKey,
      seats,
      interval,
      quantities.filter(([, q]) => q > 0).map(([key, q]) => addOn(key, q)),
    );

  it("charges the lines of the raises alone now and schedules the whole target for the period end", () => {
    fc.assert(
      fc.property(changeArb, ({ planKey, items, interval, anchor, offset, creditBalance }) => {
        const [seats0, seats1] = items.seats;
        const deltas = [seats1 - seats0, ...items.addOns.map(([, q0, q1]) => q1 - q0)];
        fc.pre(deltas.some((d) => d > 0) && deltas.some((d) => d < 0));
        const from = shapeWith(
          planKey,
          interval,
          seats0,
          items.addOns.map(([k, q0]) => [k, q0]),
        );
        const to = shapeWith(
          planKey,
          interval,
          seats1,
          items.addOns.map(([k, , q1]) => [k, q1]),
        );
        // every raised item at its target, every lowered one as it is
        const raisesAlone = shapeWith(
          planKey,
          interval,
          Math.max(seats0, seats1),
          items.addOns.map(([k, q0, q1]) => [k, Math.max(q0, q1)]),
        );
        const at = new Date(anchor.getTime() + offset * 1000);
        const opts = { anchor: anchor.toISOString(), creditBalance };
        const p = ok(quote(from, to, at.toISOString(), opts));
        const alone = ok(quote(from, raisesAlone, at.toISOString(), opts));
        const period = periodAt(anchor, interval, at);
        expect(p.timing).toBe("split");
        expect(alone.timing).toBe("immediate");
        expect(p.lines).toEqual(alone.lines);
        expect(p.totals).toEqual(alone.totals);
        expect(p.period).toEqual({ start: period.start, end: period.end });
        // the same items (the order of add-ons is the subscription's, then the new ones)
        const byKey = (x: SubscriptionShape) => ({
          ...x,
          addOns: [...x.addOns].sort((a, b) => (a.key < b.key ? -1 : 1)),
        });
        expect(byKey(p.split?.now.to as SubscriptionShape)).toEqual(byKey(raisesAlone));
        expect(p.split?.scheduled).toMatchObject({ effectiveAt: period.end, to });
        expect(p.to).toEqual(to);
        // the reductions on their own, from where the raises leave the subscription: no charge, no credit
        const rest = ok(
          quote(raisesAlone, to, at.toISOString(), {
            ...opts,
            creditBalance: alone.totals.creditBalanceAfter,
          }),
        );
        expect(rest).toMatchObject({ timing: "period_end", lines: [], effectiveAt: period.end });
        expect(p.nextInvoice).toEqual(rest.nextInvoice);
        expect(p.recurring.after).toEqual(rest.recurring.after);
      }),
      { numRuns: 300 },
    );
  });
});

describe("quoteLapsed: a quote applies only within the period it priced", () => {
  const sub = { billingCycleAnchor: new Date("2026-01-31T00:00:00Z"), trialEnd: null };
  const at = (iso: string) => new Date(iso);

  it("a quote of 2 minutes before the period's end lapses at that end, not a millisecond before", () => {
    // anchored on the 31st: the period after Jan 31 ends on Feb 28 (month-end clamping)
    const { period } = quotePeriod(sub, "month", at("2026-02-27T23:58:00Z"));
    expect(period).toEqual({ start: at("2026-01-31T00:00:00Z"), end: at("2026-02-28T00:00:00Z") });
    expect(quoteLapsed(period, at("2026-02-27T23:59:59.999Z"))).toBe(false);
    expect(quoteLapsed(period, at("2026-02-28T00:00:00Z"))).toBe(true);
    const { period: march } = quotePeriod(sub, "month", at("2026-03-30T23:58:00Z"));
    expect(march).toEqual({ start: at("2026-02-28T00:00:00Z"), end: at("2026-03-31T00:00:00Z") });
    expect(quoteLapsed(march, at("2026-03-31T00:00:00Z"))).toBe(true);
  });

  it("lapses once the next period is billed, whatever the clock says", () => {
    const { period } = quotePeriod(sub, "month", at("2026-03-30T23:58:00Z"));
    const before = at("2026-03-30T23:59:00Z");
    expect(quoteLapsed(period, before, at("2026-02-28T00:00:00Z"))).toBe(false);
    expect(quoteLapsed(period, before, at("2026-03-31T00:00:00Z"))).toBe(true);
  });

  it("in a trial, the period is the rest of the trial", () => {
    const trial = { billingCycleAnchor: at("2026-02-14T00:00:00Z"), trialEnd: at("2026-02-14T00:00:00Z") };
    const q = quotePeriod(trial, "month", at("2026-02-13T12:00:00Z"));
    expect(q).toEqual({
      trialing: true,
      period: { start: at("2026-02-13T12:00:00Z"), end: at("2026-02-14T00:00:00Z") },
    });
    expect(quoteLapsed(q.period, at("2026-02-14T00:00:00Z"))).toBe(true);
    expect(quotePeriod(trial, "month", at("2026-02-14T00:00:00Z")).trialing).toBe(false);
  });

  it("is the period quoteChange prices against, and a quote applies from its frozen instant to that period's end", () => {
    fc.assert(
      fc.property(
        instantArb,
        fc.integer({ min: 0, max: 400 * 86_400_000 }),
        fc.constantFrom<"month" | "year">("month", "year"),
        (anchor, offset, interval) => {
          const frozen = new Date(anchor.getTime() + offset);
          const p = ok(
            quote(shape("starter", 5, interval), shape("starter", 6, interval), frozen.toISOString(), {
              anchor: anchor.toISOString(),
            }),
          );
          const { period } = quotePeriod({ billingCycleAnchor: anchor, trialEnd: null }, interval, frozen);
          expect(period).toEqual(p.period);
          expect(quoteLapsed(period, frozen)).toBe(false);
          expect(quoteLapsed(period, new Date(period.end.getTime() - 1))).toBe(false);
          expect(quoteLapsed(period, period.end)).toBe(true);
          expect(quoteLapsed(period, frozen, period.start)).toBe(false);
          expect(quoteLapsed(period, frozen, period.end)).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });
});

import { recurringAmount } from "../pricing/price-model.ts";
import { roundToSafeInteger } from "../pricing/rational.ts";
import { DEMO_CATALOG } from "../testing/demo-catalog.ts";

function recurring(model: Parameters<typeof recurringAmount>[0], quantity: number): number {
  return roundToSafeInteger(recurringAmount(model, quantity));
}
