import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { ResolvedPlan } from "../catalog/validate.ts";
import { renewalLines } from "../invoices/renewal.ts";
import { periodAt } from "../periods/billing-period.ts";
import type { SubscribedAddOn, SubscriptionShape } from "../subscriptions/recurring.ts";
import { asChanges, byItem, play, resolved, scenarioArb, shapeArb } from "../testing/period-scenarios.ts";
import { anchorArb, randomCatalogArb } from "../testing/random-catalog.ts";
import { periodHistory, periodOpening } from "./period-charges.ts";
import { quoteChange } from "./quote-change.ts";

describe("the period's charges: the opening recorded when it began, then the changes", () => {
  it("credits never exceed what each item was charged in the period, whatever the changes", () => {
    fc.assert(
      fc.property(scenarioArb("immediate_with_credit"), (s) => {
        const run = play(s, "immediate_with_credit");
        for (let i = 1; i < s.shapes.length; i++) {
          const step = run.price(s.shapes[i] as SubscriptionShape, run.instantOf(i));
          if (!step.ok) continue;
          run.apply(step.plan);
          for (const [item, history] of Object.entries(periodHistory(run.opening, asChanges(run.changes))))
            expect(history.credited, item).toBeLessThanOrEqual(history.charged);
        }
      }),
      { numRuns: 300 },
    );
  });

  it("the cap depends on the period's record alone: the same changes, however quotes were asked, price the same", () => {
    fc.assert(
      fc.property(scenarioArb("immediate_with_credit"), fc.array(fc.nat(), { maxLength: 6 }), (s, asked) => {
        // Once with only the changes applied, once with quotes of other shapes asked in between:
        // pricing is pure, so no quote asked moves what a later one caps.
        const plain = play(s, "immediate_with_credit");
        const busy = play(s, "immediate_with_credit");
        for (let i = 1; i < s.shapes.length; i++) {
          const at = plain.instantOf(i);
          for (const k of asked) busy.price(s.shapes[k % s.shapes.length] as SubscriptionShape, at);
          const a = plain.price(s.shapes[i] as SubscriptionShape, at);
          const b = busy.price(s.shapes[i] as SubscriptionShape, at);
          expect(b).toEqual(a);
          if (a.ok) plain.apply(a.plan);
          if (b.ok) busy.apply(b.plan);
        }
      }),
      { numRuns: 100 },
    );
  });

  it("the opening is what a renewal charges, and what a switch to annual charges for its year", () => {
    fc.assert(
      fc.property(
        randomCatalogArb().chain((doc) => {
          const catalog = resolved(doc);
          return fc.tuple(
            shapeArb(catalog, "month"),
            shapeArb(catalog, "year"),
            anchorArb,
            fc.double({ min: 0, max: 0.999, noNaN: true }),
          );
        }),
        ([monthly, annual, anchor, part]) => {
          const period = periodAt(anchor, "month", anchor);
          const renewal = byItem(renewalLines({ shape: monthly, period }));
          for (const [item, amount] of Object.entries(periodOpening(monthly)))
            expect(renewal.get(item) ?? 0, item).toBe(amount);
          const at = new Date(
            period.start.getTime() +
              Math.floor(((period.end.getTime() - period.start.getTime()) * part) / 1000) * 1000,
          );
          const switched = quoteChange({
            subscription: { shape: monthly, currency: "usd", billingCycleAnchor: anchor, trialEnd: null },
            target: annual,
            at,
            policy: "period_end",
            seatsInUse: 0,
            creditBalance: 0,
          });
          if (!switched.ok) throw new Error(switched.refusal.message);
          const opens = switched.plan.opens;
          expect(opens?.period).toEqual({ start: at, end: switched.plan.nextInvoice.date });
          expect(opens?.opening).toEqual(periodOpening(annual));
          const year = byItem(
            switched.plan.lines.filter(
              (l) => l.periodStart.getTime() === at.getTime() && l.kind === "charge",
            ),
          );
          for (const [item, amount] of Object.entries(opens?.opening ?? {}))
            expect(year.get(item) ?? 0, item).toBe(amount);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("an item absent from the period's history was charged nothing: its credit is capped at 0", () => {
    const doc = {
      currency: "usd",
      features: { seats: { kind: "seats", name: "Seats" } },
      plans: {
        basic: {
          name: "Basic",
          tier: 1,
          prices: { month: { base: 0, seat: { model: "per_unit", unit_amount: 4245 } } },
          seats: { included: 1 },
        },
      },
      add_ons: { extra: { name: "Extra", prices: { month: { model: "flat", amount: 1000 } } } },
    };
    const catalog = resolved(doc);
    const basic = catalog.plans.basic as ResolvedPlan;
    const extra: SubscribedAddOn = {
      key: "extra",
      quantity: 1,
      definition: catalog.add_ons.extra as SubscribedAddOn["definition"],
    };
    const from: SubscriptionShape = { plan: basic, interval: "month", seats: 3, addOns: [extra] };
    const input = {
      subscription: {
        shape: from,
        currency: "usd",
        billingCycleAnchor: new Date("2026-01-01T00:00:00Z"),
        trialEnd: null,
      },
      target: { ...from, addOns: [] },
      at: new Date("2026-01-17T00:00:00Z"),
      policy: "immediate_with_credit" as const,
      seatsInUse: 0,
      creditBalance: 0,
    };
    // the add-on was added after the period began, at no charge (an administrative change)
    const opening = periodOpening({ ...from, addOns: [] });
    const capped = quoteChange({ ...input, history: periodHistory(opening, []) });
    expect(capped.ok && capped.plan.lines).toEqual([
      expect.objectContaining({ item: "add_on:extra", amount: 0 }),
    ]);
    // without a history, the shape is taken as billed in full: R(1000 × 15/31)
    const full = quoteChange(input);
    expect(full.ok && full.plan.lines[0]?.amount).toBe(-484);
  });
});
