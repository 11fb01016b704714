import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { ResolvedPlan } from "../catalog/validate.ts";
import type { SubscriptionShape } from "../subscriptions/recurring.ts";
import { DEMO_CATALOG } from "../testing/demo-catalog.ts";
import { quoteChange } from "./quote-change.ts";
import type { QuoteInput, QuotePlan } from "./quote-plan.ts";
import { inviteSummary } from "./summary.ts";

const shape = (plan: string, seats: number, interval: "month" | "year" = "month"): SubscriptionShape => ({
  plan: DEMO_CATALOG.plans[plan] as ResolvedPlan,
  interval,
  seats,
  addOns: [],
});

/** The quote of one more seat, as an invite asks for it. */
function oneMoreSeat(from: SubscriptionShape, at: string, extra: Partial<QuoteInput> = {}): QuotePlan {
  const result = quoteChange({
    subscription: {
      shape: from,
      currency: "usd",
      billingCycleAnchor: new Date("2026-01-01T00:00:00Z"),
      trialEnd: null,
    },
    target: { ...from, seats: from.seats + 1 },
    at: new Date(at),
    policy: "period_end",
    seatsInUse: from.seats,
    creditBalance: 0,
    ...extra,
  });
  if (!result.ok) throw new Error(result.refusal.code);
  return result.plan;
}

describe("inviteSummary: the seat an invite needs, said of the member", () => {
  it("says what the seat adds to the bill and what is due today (the seeds' example)", () => {
    const plan = oneMoreSeat(shape("starter", 5), "2026-01-17T00:00:00Z");
    expect(inviteSummary(plan, "usd", 5)).toBe(
      "All 5 seats are taken. Adding this member adds $15.00 to your monthly bill. $7.26 is due today for the remaining 15 days of this cycle.",
    );
  });

  it("says the plan that has the seat when the current one sells no more (Free, 3 seats at most)", () => {
    const from = shape("free", 3);
    const result = quoteChange({
      subscription: {
        shape: from,
        currency: "usd",
        billingCycleAnchor: new Date("2026-01-01T00:00:00Z"),
        trialEnd: null,
      },
      target: shape("starter", 5),
      at: new Date("2026-01-17T00:00:00Z"),
      policy: "period_end",
      seatsInUse: 3,
      creditBalance: 0,
    });
    if (!result.ok) throw new Error(result.refusal.code);
    expect(inviteSummary(result.plan, "usd", 3)).toBe(
      "All 3 seats are taken, the most the Free plan has. Adding this member means upgrading to Starter, which adds $99.00 to your monthly bill. $47.90 is due today for the remaining 15 days of this cycle.",
    );
  });

  it("says the credit applied and a pending change it replaces, never the next invoice", () => {
    const plan = oneMoreSeat(shape("starter", 6), "2026-01-17T00:00:00Z", {
      creditBalance: 200,
      scheduled: { id: "sch_1", effectiveAt: new Date("2026-02-01T00:00:00Z") },
    });
    expect(inviteSummary(plan, "usd", 6)).toBe(
      "All 6 seats are taken. Adding this member adds $15.00 to your monthly bill. $5.26 is due today for the remaining 15 days of this cycle. $2.00 of your credit balance is applied. Your change scheduled for Feb 1, 2026 is canceled and replaced by this one.",
    );
  });

  it("is the quote's own summary with its headline said of the member, less the next invoice", () => {
    const instant = fc
      .integer({ min: Date.UTC(2026, 0, 1), max: Date.UTC(2026, 11, 31) })
      .map((ms) => new Date(Math.floor(ms / 1000) * 1000).toISOString());
    fc.assert(
      fc.property(
        fc.constantFrom("starter", "pro", "business"),
        fc.constantFrom<"month" | "year">("month", "year"),
        fc.integer({ min: 1, max: 200 }),
        instant,
        fc.integer({ min: 0, max: 100_000 }),
        (planKey, interval, seats, at, credit) => {
          const from = shape(
            planKey,
            Math.max(seats, DEMO_CATALOG.plans[planKey]?.seats.included ?? 1),
            interval,
          );
          const plan = oneMoreSeat(from, at, { creditBalance: credit });
          const [headline, ...rest] = plan.summary;
          expect(headline).toMatch(/^Adding 1 seat /);
          expect(inviteSummary(plan, "usd", from.seats)).toBe(
            [
              `All ${from.seats} seats are taken.`,
              `Adding this member ${headline?.slice("Adding 1 seat ".length)}`,
              ...rest.slice(0, -1),
            ].join(" "),
          );
        },
      ),
      { numRuns: 200 },
    );
  });
});
