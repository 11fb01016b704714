import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { ResolvedPlan } from "../catalog/validate.ts";
import { periodAt } from "../periods/billing-period.ts";
import type { SubscriptionShape } from "../subscriptions/recurring.ts";
import {
  burstArb,
  byItem,
  capCuts,
  play,
  resolved,
  type Scenario,
  scenarioArb,
} from "../testing/period-scenarios.ts";

/**
 * The credit cap against the one-line rounding of quantity changes (docs/pricing-and-proration.md,
 * "The cap and one-line rounding"). A quantity change at one unit price is one rounded line
 * R(Δq·p·f) (rules.md, periods 3), so an item's one-line changes can add up to less than its whole
 * credit R(q·p·f) in the same second; the cap (periods 4) then cuts that credit to what was charged.
 * The cut on an item is at most ⌈k/2⌉ minor units, k its one-line quantity changes since it was
 * last charged whole (the period's opening, or a change that replaced or added it).
 */
/** Changes spread over a period, or a burst of them in one second (where the cap bites). */
const anyScenario = fc.oneof(
  { arbitrary: scenarioArb("immediate_with_credit"), weight: 1 },
  { arbitrary: burstArb("immediate_with_credit"), weight: 3 },
);

describe("the credit cap and one-line rounding", () => {
  it("cuts an item's credit by at most ⌈k/2⌉, k its one-line changes since it was charged whole, at any instants", () => {
    fc.assert(
      fc.property(anyScenario, (s) => {
        const run = play(s, "immediate_with_credit");
        for (let i = 1; i < s.shapes.length; i++) {
          const target = s.shapes[i] as SubscriptionShape;
          const at = run.instantOf(i);
          const step = run.price(target, at);
          if (!step.ok) continue;
          for (const [item, cut] of capCuts(step.plan, run.uncapped(target, at))) {
            expect(cut, item).toBeGreaterThan(0);
            expect(cut, item).toBeLessThanOrEqual(run.cutBound(item));
          }
          run.apply(step.plan);
        }
      }),
      { numRuns: 600 },
    );
  });

  it("a change and its reverse in the same second net to exactly 0 and charge the card nothing", () => {
    fc.assert(
      // with a change pending for the period end or not: each replaces it, and none prices differently
      fc.property(anyScenario, fc.boolean(), (s, pending) => {
        const effectiveAt = periodAt(s.anchor, s.interval, s.anchor).end;
        const scheduled = pending ? { id: "sch_pending", effectiveAt } : null;
        const run = play(s, "immediate_with_credit", scheduled);
        const last = s.shapes.length - 1;
        for (let i = 1; i < last; i++) {
          const step = run.price(s.shapes[i] as SubscriptionShape, run.instantOf(i));
          if (!step.ok) continue;
          run.apply(step.plan);
        }
        const at = run.instantOf(last);
        const before = run.current();
        const there = run.price(s.shapes[last] as SubscriptionShape, at);
        fc.pre(there.ok);
        if (!there.ok) return;
        const cuts = capCuts(there.plan, run.uncapped(s.shapes[last] as SubscriptionShape, at));
        for (const [item, cut] of cuts) expect(cut, item).toBeLessThanOrEqual(run.cutBound(item));
        const cut = [...cuts.values()].reduce((sum, c) => sum + c, 0);
        run.apply(there.plan);
        const back = run.price(before, new Date(at.getTime() + s.jitterMs));
        expect(back.ok).toBe(true);
        if (!back.ok) return;
        // The forward credit is cut by the cap only by the rounding of earlier one-line quantity
        // changes (the bound above, and the examples below); the pair then nets to the cut.
        expect(there.plan.totals.subtotal + back.plan.totals.subtotal).toBe(cut);
        if (cut > 0) return;
        const forward = byItem(there.plan.lines);
        for (const [item, amount] of byItem(back.plan.lines))
          expect(amount + (forward.get(item) ?? 0)).toBe(0);
        expect(back.plan.totals.amountDue).toBe(0);
      }),
      { numRuns: 400 },
    );
  });

  it("a cap cut by rounding: one-line seat additions charge less than the seats' whole credit", () => {
    // Seats at $14.99 (1 included), 3 of them from 1 by two one-line additions at f = 2 677 402 /
    // 2 678 400: R(1499·f) = 1498 each, 2996 charged; a plan switch in the same second credits the
    // two seats whole, R(2 · 1499 · f) = 2997, capped at 2996; switching back charges 2997.
    const catalog = resolved({
      currency: "usd",
      features: { seats: { kind: "seats", name: "Seats" } },
      plans: {
        a: {
          name: "A",
          tier: 1,
          prices: { month: { base: 0, seat: { model: "per_unit", unit_amount: 1499 } } },
          seats: { included: 1 },
        },
        b: {
          name: "B",
          tier: 2,
          prices: { month: { base: 0, seat: { model: "per_unit", unit_amount: 1000 } } },
          seats: { included: 1 },
        },
      },
    });
    const a = catalog.plans.a as ResolvedPlan;
    const b = catalog.plans.b as ResolvedPlan;
    const shapes = [1, 2, 3].map(
      (seats): SubscriptionShape => ({ plan: a, interval: "month", seats, addOns: [] }),
    );
    const onB: SubscriptionShape = { plan: b, interval: "month", seats: 3, addOns: [] };
    const s: Scenario = {
      catalog,
      anchor: new Date("2026-01-01T00:00:00Z"),
      interval: "month",
      shapes: [...shapes, onB, shapes[2] as SubscriptionShape],
      instants: [0, 998 / 2_678_400, 998 / 2_678_400, 998 / 2_678_400, 998 / 2_678_400],
      jitterMs: 0,
    };
    const run = play(s, "immediate_with_credit");
    const amountsAt = (i: number) => {
      const step = run.price(s.shapes[i] as SubscriptionShape, run.instantOf(i));
      if (!step.ok) throw new Error(step.refusal.message);
      run.apply(step.plan);
      return step.plan.lines.map((l) => l.amount);
    };
    expect([amountsAt(1), amountsAt(2)]).toEqual([[1498], [1498]]);
    expect(run.cutBound("seats")).toBe(1);
    expect(amountsAt(3)).toEqual([-2996, 1999]);
    expect(amountsAt(4)).toEqual([-1999, 2997]);
  });

  it("the bound is reached: three one-cent seats added in one second, then a switch", () => {
    // $0.01 seats on B (1 included), none on A; anchor Jan 1, 2026, every change at
    // 2026-01-19T14:24:00Z, f = 1 071 360 / 2 678 400 = 2/5. A → B at 2 seats adds the seat item,
    // R(0.4) = 0; three one-seat additions charge R(0.4) = 0 each (k = 3); a switch to C credits B's
    // 4 seats whole, R(1.6) = 2, capped at the 0 charged: cut 2 = ⌈3/2⌉. After one addition it is
    // R(0.8) = 1 = ⌈1/2⌉, after two R(1.2) = 1 = ⌈2/2⌉.
    const plan = (name: string, tier: number, base: number, seat?: number) => ({
      name,
      tier,
      prices: { month: { base, ...(seat ? { seat: { model: "per_unit", unit_amount: seat } } : {}) } },
      seats: { included: 1 },
    });
    const catalog = resolved({
      currency: "usd",
      features: { seats: { kind: "seats", name: "Seats" } },
      plans: { a: plan("A", 1, 1000), b: plan("B", 2, 2000, 1), c: plan("C", 3, 3000, 1) },
    });
    const on = (key: string, seats: number): SubscriptionShape => ({
      plan: catalog.plans[key] as ResolvedPlan,
      interval: "month",
      seats,
      addOns: [],
    });
    const at = 1_607_040.5 / 2_678_400;
    const s: Scenario = {
      catalog,
      anchor: new Date("2026-01-01T00:00:00Z"),
      interval: "month",
      shapes: [on("a", 2), on("b", 2), on("b", 3), on("b", 4), on("b", 5)],
      instants: [at, at, at, at, at],
      jitterMs: 0,
    };
    const run = play(s, "immediate_with_credit");
    expect(run.instantOf(1).toISOString()).toBe("2026-01-19T14:24:00.000Z");
    const cutOfSwitch = () => {
      const target = on("c", run.current().seats);
      const step = run.price(target, run.instantOf(1));
      if (!step.ok) throw new Error(step.refusal.message);
      const seats = step.plan.lines.filter((l) => l.item === "seats").map((l) => l.amount);
      return { seats, cut: capCuts(step.plan, run.uncapped(target, run.instantOf(1))).get("seats") ?? 0 };
    };
    const cuts: number[] = [];
    const bounds: number[] = [];
    for (let i = 1; i < s.shapes.length; i++) {
      const step = run.price(s.shapes[i] as SubscriptionShape, run.instantOf(i));
      if (!step.ok) throw new Error(step.refusal.message);
      expect(byItem(step.plan.lines).get("seats")).toBe(0);
      run.apply(step.plan);
      if (i === 1) continue;
      cuts.push(cutOfSwitch().cut);
      bounds.push(run.cutBound("seats"));
    }
    expect(cuts).toEqual([1, 1, 2]);
    expect(bounds).toEqual(cuts);
    // 4 seats: credited R(4 × 1 × 2/5) = 2, capped at 0; C's 4 seats charged 2
    expect(cutOfSwitch().seats).toEqual([0, 2]);
  });
});
