import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { CatalogInput } from "../catalog/document.ts";
import { type ResolvedCatalog, validateCatalog } from "../catalog/validate.ts";
import { recurringCharges, type SubscriptionShape } from "../subscriptions/recurring.ts";
import { seatsCover } from "../subscriptions/seats.ts";
import { checkSubscriptionShape } from "../subscriptions/shape-rules.ts";
import { DEMO_CATALOG } from "../testing/demo-catalog.ts";
import { randomCatalogArb } from "../testing/random-catalog.ts";
import { invitePath, inviteRefusalReason } from "./invite-path.ts";
import type { UpgradeCatalog } from "./upgrade.ts";

const upgradeCatalogOf = (c: ResolvedCatalog): UpgradeCatalog => ({
  currency: c.currency,
  plans: c.plans,
  addOns: c.add_ons,
});

function shape(catalog: ResolvedCatalog, plan: string, seats?: number): SubscriptionShape {
  const p = catalog.plans[plan];
  if (!p) throw new Error(plan);
  return { plan: p, interval: "month", seats: seats ?? p.seats.included, addOns: [] };
}

describe("invitePath: the cheapest way to admit one more member", () => {
  const demo = upgradeCatalogOf(DEMO_CATALOG);

  it("a free seat needs nothing", () => {
    expect(invitePath(demo, shape(DEMO_CATALOG, "starter", 5), 4)).toEqual({ path: "free_seat" });
  });

  it("Starter with every seat taken: one more seat ($15)", () => {
    expect(invitePath(demo, shape(DEMO_CATALOG, "starter", 5), 5)).toEqual({ path: "add_seat", seats: 6 });
    expect(inviteRefusalReason(shape(DEMO_CATALOG, "starter", 5))).toBe("no_free_seat");
  });

  it("Free at its 3-seat maximum: Starter, at its 5 included seats", () => {
    const free = shape(DEMO_CATALOG, "free", 3);
    expect(invitePath(demo, free, 3)).toEqual({ path: "change_plan", plan: "starter", seats: 5, addOns: [] });
    expect(inviteRefusalReason(free)).toBe("plan_seat_maximum");
  });

  it("nothing on sale admits the member: null", () => {
    const capped = { ...demo, plans: { free: DEMO_CATALOG.plans.free as ResolvedCatalog["plans"][string] } };
    expect(invitePath(capped, shape(DEMO_CATALOG, "free", 3), 3)).toBeNull();
  });

  /** Random catalogs whose plans sometimes cap their seats. */
  const caseArb = fc
    .tuple(
      randomCatalogArb(),
      fc.array(fc.option(fc.integer({ min: 1, max: 8 })), { minLength: 3, maxLength: 3 }),
    )
    .map(([doc, maxima]): ResolvedCatalog => {
      const plans = Object.fromEntries(
        Object.entries(doc.plans).map(([key, p], i) => {
          const max = maxima[i] ?? null;
          const included = max === null ? p.seats.included : Math.min(p.seats.included, max);
          return [key, { ...p, seats: { included, max } }];
        }),
      );
      const result = validateCatalog({ ...doc, plans } satisfies CatalogInput);
      if (!result.ok) throw new Error(JSON.stringify(result.issues));
      return result.catalog;
    })
    .chain((catalog) =>
      fc.record({
        catalog: fc.constant(catalog),
        plan: fc.constantFrom(...Object.keys(catalog.plans)),
        extra: fc.integer({ min: 0, max: 3 }),
        inUse: fc.integer({ min: 0, max: 12 }),
      }),
    )
    .filter(({ catalog, plan, extra, inUse }) => {
      const p = catalog.plans[plan];
      const seats = Math.max(p?.seats.included ?? 0, inUse) + extra;
      return p !== undefined && (p.seats.max === null || seats <= p.seats.max);
    });

  it("property: the path admits the member, and no cheaper on-sale path does", () => {
    fc.assert(
      fc.property(caseArb, ({ catalog, plan, extra, inUse }) => {
        const p = catalog.plans[plan] as ResolvedCatalog["plans"][string];
        const current = shape(catalog, plan, Math.max(p.seats.included, inUse) + extra);
        const chosen = invitePath(upgradeCatalogOf(catalog), current, inUse);
        const monthly = (s: SubscriptionShape) => recurringCharges(s).total;
        // every path there is: more seats here, or a higher-tier plan on this interval, at the seats it needs
        const admitting = [
          { ...current, seats: Math.max(current.seats, inUse + 1) },
          ...Object.values(catalog.plans)
            .filter((q) => q.tier > p.tier && q.prices.month)
            .map((q) => ({
              ...current,
              plan: q,
              seats: Math.max(current.seats, q.seats.included, inUse + 1),
            })),
        ].filter((s) => checkSubscriptionShape(s, inUse).length === 0 && seatsCover(s.seats, inUse + 1));
        if (seatsCover(current.seats, inUse + 1)) {
          expect(chosen).toEqual({ path: "free_seat" });
          return;
        }
        if (admitting.length === 0) {
          expect(chosen).toBeNull();
          return;
        }
        expect(chosen).not.toBeNull();
        const target: SubscriptionShape =
          chosen?.path === "change_plan"
            ? { ...current, plan: catalog.plans[chosen.plan] as typeof p, seats: chosen.seats }
            : { ...current, seats: chosen?.path === "add_seat" ? chosen.seats : current.seats };
        expect(chosen?.path).not.toBe("free_seat");
        if (chosen?.path === "change_plan") expect(target.plan.tier).toBeGreaterThan(p.tier);
        expect(checkSubscriptionShape(target, inUse)).toEqual([]);
        expect(seatsCover(target.seats, inUse + 1)).toBe(true);
        const cheapest = Math.min(...admitting.map(monthly));
        expect(monthly(target)).toBe(cheapest);
        if (chosen?.path === "change_plan") {
          // one more seat here would have been refused or cost more
          const seat = { ...current, seats: inUse + 1 };
          const seatAllowed = checkSubscriptionShape(seat, inUse).length === 0;
          expect(!seatAllowed || monthly(seat) > monthly(target)).toBe(true);
          expect(inviteRefusalReason(current) === "plan_seat_maximum" || seatAllowed).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
  });
});
