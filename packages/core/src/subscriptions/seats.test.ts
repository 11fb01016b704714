import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { ResolvedPlan } from "../catalog/validate.ts";
import { DEMO_CATALOG } from "../testing/demo-catalog.ts";
import { hasFreeSeat, seatsAfterReduction, seatsCover } from "./seats.ts";
import { checkSubscriptionShape } from "./shape-rules.ts";

const count = fc.integer({ min: 0, max: 10_000 });

describe("seats: the seats paid for cover the people using them", () => {
  it("an invite fits while fewer people use seats than are paid for", () => {
    expect(hasFreeSeat(5, 4)).toBe(true);
    expect(hasFreeSeat(5, 5)).toBe(false);
    expect(hasFreeSeat(5, 6)).toBe(false);
    fc.assert(fc.property(count, count, (seats, used) => hasFreeSeat(seats, used) === used < seats));
  });

  it("a reduction applied later is held at the seats in use, and never raises the seats otherwise", () => {
    expect(seatsAfterReduction(3, 5)).toBe(5);
    expect(seatsAfterReduction(5, 3)).toBe(5);
    fc.assert(
      fc.property(count, count, (seats, used) => {
        const kept = seatsAfterReduction(seats, used);
        expect(seatsCover(kept, used)).toBe(true);
        expect(kept).toBe(seatsCover(seats, used) ? seats : used);
        expect(kept).toBe(Math.max(seats, used));
      }),
    );
  });

  it("a shape is refused below the seats in use exactly when its seats do not cover them", () => {
    const starter = DEMO_CATALOG.plans.starter as ResolvedPlan;
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 500 }), fc.integer({ min: 0, max: 500 }), (seats, used) => {
        const violations = checkSubscriptionShape(
          { plan: starter, interval: "month", seats, addOns: [] },
          used,
        );
        const below = violations.some((v) => v.code === "seat_quantity_below_usage");
        expect(below).toBe(!seatsCover(seats, used));
      }),
    );
  });
});
