import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { equalsRational, type Rational, rational, subtractRational } from "../pricing/rational.ts";
import { revenueState, revenueStateArb, seatsAt } from "../testing/revenue-histories.ts";
import { type SourceParts, sourcesOfChange, sumSourceParts } from "./expansion-sources.ts";
import { subscriptionMrr } from "./mrr.ts";

const parts = (values: Partial<Record<keyof SourceParts, Rational>>): SourceParts => ({
  plan: rational(0),
  seats: rational(0),
  add_on: rational(0),
  usage: rational(0),
  interval_change: rational(0),
  ...values,
});

const team = (seats: number, extra: Partial<Parameters<typeof revenueState>[0]> = {}) =>
  revenueState({ seats: seatsAt(seats, 3, 1500), ...extra });
const business = (seats: number, extra: Partial<Parameters<typeof revenueState>[0]> = {}) =>
  revenueState({ plan: "business", base: 29_900, seats: seatsAt(seats, 10, 1200), ...extra });

describe("sourcesOfChange (docs/metrics.md, Expansion by source)", () => {
  it("seats: Team 5 → 8 seats at $15 is +$45.00 of seats", () => {
    expect(sourcesOfChange(team(5), team(8))).toEqual(parts({ seats: rational(4500) }));
  });

  it("plan: Team → Business at 8 seats is +$125.00 of plan (the seats Business includes are the plan's)", () => {
    expect(sourcesOfChange(team(8), business(8))).toEqual(parts({ plan: rational(12_500) }));
  });

  it("plan and seats together: Team 5 → Business 14 is seats 9 × $15 = $135 and plan $83", () => {
    expect(sourcesOfChange(team(5), business(14))).toEqual(
      parts({ seats: rational(13_500), plan: rational(8300) }),
    );
  });

  it("a percent-of-plan add-on that follows the plan goes with the plan", () => {
    const from = team(3, { addOns: [{ key: "premium_support", quantity: 1, amount: 1485 }] });
    const to = business(8, { addOns: [{ key: "premium_support", quantity: 1, amount: 4485 }] });
    expect(sourcesOfChange(from, to)).toEqual(parts({ plan: rational(23_000) }));
    const moreSeats = team(5, { addOns: [{ key: "premium_support", quantity: 1, amount: 1935 }] });
    expect(sourcesOfChange(from, moreSeats)).toEqual(parts({ seats: rational(3450) }));
  });

  it("add_on: an add-on bought, or bought in a larger quantity", () => {
    const packs = (quantity: number) =>
      team(3, { addOns: [{ key: "packs", quantity, amount: quantity * 2500 }] });
    expect(sourcesOfChange(team(3), packs(2))).toEqual(parts({ add_on: rational(5000) }));
    expect(sourcesOfChange(packs(2), packs(1))).toEqual(parts({ add_on: rational(-2500) }));
  });

  it("usage: the last closed period's usage charges going from $12.34 to $50.01", () => {
    expect(sourcesOfChange(team(3, { usage: 1234 }), team(3, { usage: 5001 }))).toEqual(
      parts({ usage: rational(3767) }),
    );
  });

  it("interval_change: Team at 5 seats, $129 a month → $1,290 a year ($107.50 a month) is −$21.50", () => {
    const annual = team(5, { interval: "year", base: 99_000, seats: seatsAt(5, 3, 15_000) });
    expect(sourcesOfChange(team(5), annual)).toEqual(parts({ interval_change: rational(-2150) }));
  });

  it("annual seats count per month: +2 seats at $150/year is +$25.00 of seats", () => {
    const annual = (seats: number) =>
      team(seats, { interval: "year", base: 99_000, seats: seatsAt(seats, 3, 15_000) });
    expect(sourcesOfChange(annual(3), annual(5))).toEqual(parts({ seats: rational(2500) }));
  });

  it("a side not in force counts as nothing: a trial converting is every item appearing", () => {
    const converted = team(5, { addOns: [{ key: "packs", quantity: 1, amount: 2500 }] });
    expect(sourcesOfChange(team(5, { status: "trialing" }), converted)).toEqual(
      parts({ plan: rational(9900), seats: rational(3000), add_on: rational(2500) }),
    );
    expect(sourcesOfChange(converted, null)).toEqual(
      parts({ plan: rational(-9900), seats: rational(-3000), add_on: rational(-2500) }),
    );
  });

  it("property: the parts add up to the MRR change exactly, for any two states", () => {
    const side = fc.option(revenueStateArb, { nil: null });
    fc.assert(
      fc.property(side, side, (from, to) => {
        const delta = subtractRational(subscriptionMrr(to).total, subscriptionMrr(from).total);
        expect(equalsRational(sumSourceParts(sourcesOfChange(from, to)), delta)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });
});
