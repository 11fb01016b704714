import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { SubscriptionView } from "../api/responses.ts";
import { addRational, equalsRational, rational, roundToSafeInteger } from "../pricing/rational.ts";
import { revenueState, revenueStateArb, seatsAt } from "../testing/revenue-histories.ts";
import { perMonth, subscriptionMrr, sumMrr } from "./mrr.ts";
import { revenueStateOfView } from "./revenue-state.ts";

describe("subscriptionMrr (docs/metrics.md, MRR)", () => {
  it("adds the plan, the billed seats and the add-ons: Team, 5 seats, premium support → $148.35", () => {
    const state = revenueState({
      seats: seatsAt(5, 3, 1500),
      addOns: [{ key: "premium_support", quantity: 1, amount: 1935 }],
    });
    expect(subscriptionMrr(state).committed).toEqual(rational(14_835));
    expect(subscriptionMrr(state).total).toEqual(rational(14_835));
  });

  it("divides an annual price by 12 exactly and rounds only the total: 3 × $1,000/year is $250.00", () => {
    const annual = revenueState({ interval: "year", base: 100_000 });
    expect(subscriptionMrr(annual).total).toEqual(rational(25_000, 3)); // 8333.33…
    const three = sumMrr([annual, annual, annual].map(subscriptionMrr));
    expect(three.total).toEqual(rational(25_000));
    // Rounding each one first would lose a cent: 3 × 8333 = 24 999.
    expect(3 * roundToSafeInteger(subscriptionMrr(annual).total)).toBe(24_999);
    expect(subscriptionMrr(revenueState({ interval: "year", base: 99_000 })).total).toEqual(rational(8250));
  });

  it("counts the last closed period's usage charges as usage MRR, beside the committed MRR", () => {
    const monthly = subscriptionMrr(revenueState({ usage: 5001 }));
    expect(monthly.committed).toEqual(rational(9900));
    expect(monthly.usage).toEqual(rational(5001));
    expect(monthly.total).toEqual(rational(14_901));
    const annual = subscriptionMrr(revenueState({ interval: "year", base: 99_000, usage: 12_000 }));
    expect(annual.usage).toEqual(rational(1000));
  });

  it("counts active and past_due, not a trial nor an ended subscription", () => {
    expect(subscriptionMrr(revenueState({ status: "past_due" })).total).toEqual(rational(9900));
    expect(subscriptionMrr(revenueState({ status: "trialing" })).total).toEqual(rational(0));
    expect(subscriptionMrr(revenueState({ status: "canceled" })).total).toEqual(rational(0));
    expect(subscriptionMrr(null).total).toEqual(rational(0));
  });

  it("property: total = committed + usage, each the interval's amount ÷ its months, never negative", () => {
    fc.assert(
      fc.property(revenueStateArb, (state) => {
        const mrr = subscriptionMrr(state);
        expect(equalsRational(mrr.total, addRational(mrr.committed, mrr.usage))).toBe(true);
        const counts = state.status === "active" || state.status === "past_due";
        const committed = state.base + state.seats.amount + state.addOns.reduce((s, a) => s + a.amount, 0);
        expect(mrr.committed).toEqual(counts ? perMonth(committed, state.interval) : rational(0));
        expect(mrr.total.numerator >= 0n).toBe(true);
      }),
    );
  });
});

describe("revenueStateOfView", () => {
  it("reads the recurring items of a subscription's API view", () => {
    const view = {
      id: "sub_1",
      object: "subscription",
      account: "acct_1",
      plan: "team",
      plan_version: 2,
      interval: "month",
      seats: 5,
      seats_included: 3,
      seats_in_use: 4,
      add_ons: [{ key: "premium_support", quantity: 1, version: 1 }],
      status: "active",
      currency: "usd",
      recurring: {
        amount: 14_835,
        currency: "usd",
        interval: "month",
        base: 9900,
        seats: 3000,
        add_ons: [{ key: "premium_support", amount: 1935 }],
      },
      billing_cycle_anchor: "2026-01-01T00:00:00.000Z",
      current_period_start: "2026-01-01T00:00:00.000Z",
      current_period_end: "2026-02-01T00:00:00.000Z",
      trial_end: null,
      cancel_at_period_end: false,
      cancel_at: null,
      ended_at: null,
      scheduled_change: null,
      revision: 3,
      created: "2026-01-01T00:00:00.000Z",
      updated: "2026-01-01T00:00:00.000Z",
    } satisfies SubscriptionView;
    const state = revenueStateOfView(view, { usage: 120 });
    expect(state).toEqual(
      revenueState({
        planVersion: 2,
        seats: { total: 5, included: 3, amount: 3000 },
        addOns: [{ key: "premium_support", quantity: 1, amount: 1935 }],
        usage: 120,
      }),
    );
    expect(subscriptionMrr(state).total).toEqual(rational(14_955));
    expect(
      revenueStateOfView({ ...view, status: "canceled" }, { endedBecause: "delinquent" }).endedBecause,
    ).toBe("delinquent");
  });
});
