import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { AddOnDefinition, CatalogInput } from "../catalog/document.ts";
import type { PriceModel } from "../catalog/price-model.ts";
import { type ResolvedCatalog, validateCatalog } from "../catalog/validate.ts";
import type { BillingInterval } from "../periods/billing-period.ts";
import { recurringCharges, type SubscriptionShape } from "../subscriptions/recurring.ts";
import { addOnSold, checkSubscriptionShape } from "../subscriptions/shape-rules.ts";
import { DEMO_CATALOG } from "../testing/demo-catalog.ts";
import {
  type ChangeComponent,
  changeComponents,
  changeTiming,
  type DowngradePolicy,
  partsAppliedNow,
  raises,
} from "./change-rules.ts";
import { quoteChange } from "./quote-change.ts";
import type { QuoteInput, QuotePlan } from "./quote-plan.ts";

const demoShape = (
  plan: string,
  seats: number,
  interval: BillingInterval = "month",
  addOns: string[] = [],
) => ({
  plan: DEMO_CATALOG.plans[plan] as SubscriptionShape["plan"],
  interval,
  seats,
  addOns: addOns.map((key) => ({
    key,
    definition: DEMO_CATALOG.add_ons[key] as AddOnDefinition,
    quantity: 1,
  })),
});

describe("partsAppliedNow: a change split by direction (docs/rules.md, periods 5)", () => {
  it("a higher plan with fewer seats: the new plan now at the current seats", () => {
    const now = partsAppliedNow(demoShape("pro", 30), demoShape("business", 28), "period_end");
    expect([now.plan.key, now.seats]).toEqual(["business", 30]);
  });

  it("a lower plan with more seats: the seats now on the current plan", () => {
    const now = partsAppliedNow(demoShape("pro", 12), demoShape("starter", 14), "period_end");
    expect([now.plan.key, now.seats]).toEqual(["pro", 14]);
  });

  it("annual → monthly with a higher plan: the plan now on the annual term", () => {
    const now = partsAppliedNow(demoShape("starter", 5, "year"), demoShape("pro", 5), "period_end");
    expect([now.plan.key, now.interval]).toEqual(["pro", "year"]);
  });

  it("under immediate_with_credit everything but annual → monthly applies now", () => {
    const from = demoShape("pro", 12, "year", ["sso"]);
    const now = partsAppliedNow(from, demoShape("starter", 5, "month"), "immediate_with_credit");
    expect([now.plan.key, now.seats, now.interval, now.addOns]).toEqual(["starter", 5, "year", []]);
  });

  it("an add-on the new plan does not sell goes with the old plan; one only the new plan sells waits for it", () => {
    // SSO is sold on Pro only (Business includes it)
    const up = partsAppliedNow(
      demoShape("pro", 12, "month", ["sso"]),
      demoShape("business", 12),
      "period_end",
    );
    expect([up.plan.key, up.addOns]).toEqual(["business", []]);
    const down = partsAppliedNow(
      demoShape("business", 30),
      demoShape("pro", 30, "month", ["sso"]),
      "period_end",
    );
    expect([down.plan.key, down.addOns]).toEqual(["business", []]);
  });

  it("a plan not sold per the current interval waits for the interval", () => {
    const monthlyOnly = {
      ...demoShape("pro", 5),
      plan: { ...demoShape("pro", 5).plan, prices: { month: { base: 24_900 } } },
    };
    const now = partsAppliedNow(demoShape("starter", 5, "year"), monthlyOnly, "period_end");
    expect(now.plan.key).toBe("starter");
  });

  it("monthly → annual is never split: every part of it applies with the switch", () => {
    expect(changeTiming(demoShape("pro", 12), demoShape("starter", 5, "year"), "period_end", false)).toEqual({
      timing: "immediate",
      resetAnchor: true,
    });
  });
});

// ——— Property tests on random catalogs ——————————————————————————————————————————————————————

const amountArb = fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 60_000 }));
const tiersArb = fc
  .uniqueArray(fc.integer({ min: 1, max: 40 }), { maxLength: 3 })
  .chain((bounds) =>
    fc.tuple(
      ...[...[...bounds].sort((a, b) => a - b), null].map((up_to) =>
        fc.record({ up_to: fc.constant(up_to), unit_amount: amountArb, flat_amount: amountArb }),
      ),
    ),
  );
/** A seat price: per-unit, graduated, volume or package. */
const seatPriceArb: fc.Arbitrary<PriceModel> = fc.oneof(
  amountArb.map((unit_amount) => ({ model: "per_unit", unit_amount }) as const),
  tiersArb.map((tiers) => ({ model: "tiered", tiers }) as const),
  tiersArb.map((tiers) => ({ model: "volume", tiers }) as const),
  fc
    .record({ package_size: fc.integer({ min: 1, max: 10 }), amount: amountArb })
    .map((p) => ({ model: "package", ...p }) as const),
);
const addOnPriceArb: fc.Arbitrary<PriceModel> = fc.oneof(
  seatPriceArb,
  amountArb.map((amount) => ({ model: "flat", amount }) as const),
  fc
    .integer({ min: 1, max: 5000 })
    .map((basis_points) => ({ model: "percent_of_plan", basis_points }) as const),
);
const planPriceArb = fc.record({ base: amountArb, seat: seatPriceArb }, { requiredKeys: ["base"] });
/** Each interval priced, or (when `every` is false) possibly only one of them. */
const pricesArb = <T>(price: fc.Arbitrary<T>, every: boolean) =>
  every
    ? fc.record({ month: price, year: price })
    : fc
        .record({ month: fc.option(price, { nil: undefined }), year: fc.option(price, { nil: undefined }) })
        .filter((p) => p.month !== undefined || p.year !== undefined)
        .map((p) => Object.fromEntries(Object.entries(p).filter(([, v]) => v !== undefined)));

/**
 * A valid catalog: 2–4 plans on distinct tiers, with $0 or paid bases and any seat price model,
 * and up to 4 add-ons of any price model. `open`: every plan and add-on sold per both intervals,
 * no seat maximum, no plan lists and no required add-ons, so no part of a change depends on another.
 */
const catalogArb = (open: boolean): fc.Arbitrary<ResolvedCatalog> =>
  fc
    .record({
      tiers: fc.uniqueArray(fc.integer({ min: 0, max: 5 }), { minLength: 2, maxLength: 4 }),
      currency: fc.constantFrom("usd", "jpy"),
    })
    .chain(({ tiers, currency }) =>
      fc.record({
        currency: fc.constant(currency),
        plans: fc.tuple(
          ...tiers.map((tier) =>
            fc.record({
              tier: fc.constant(tier),
              prices: pricesArb(planPriceArb, open),
              included: fc.integer({ min: 0, max: 8 }),
              max: open ? fc.constant(null) : fc.option(fc.integer({ min: 1, max: 40 }), { nil: null }),
            }),
          ),
        ),
        addOns: fc.array(
          fc.record({
            prices: pricesArb(addOnPriceArb, open),
            multiple: fc.boolean(),
            plans: open
              ? fc.constant(undefined)
              : fc.option(fc.subarray(tiers.map((_, i) => `p${i}`)), { nil: undefined }),
            requires: open ? fc.constant([] as number[]) : fc.subarray([0, 1, 2]),
          }),
          { maxLength: 4 },
        ),
      }),
    )
    .map(({ currency, plans, addOns }) => {
      const doc: CatalogInput = {
        currency,
        features: {},
        plans: Object.fromEntries(
          plans.map((p, i) => [
            `p${i}`,
            {
              name: `Plan ${i}`,
              tier: p.tier,
              prices: p.prices,
              seats: { included: p.included, max: p.max === null ? null : p.included + p.max },
            },
          ]),
        ),
        add_ons: Object.fromEntries(
          addOns.map((a, i) => [
            `a${i}`,
            {
              name: `Add-on ${i}`,
              prices: a.prices,
              quantity: a.multiple ? "multiple" : "single",
              ...(a.plans ? { plans: a.plans } : {}),
              // only earlier add-ons, so requirements never form a cycle
              requires: a.requires.filter((r) => r < i).map((r) => `a${r}`),
            },
          ]),
        ),
      };
      const checked = validateCatalog(doc);
      if (!checked.ok) throw new Error(`a generated catalog is invalid: ${JSON.stringify(checked.issues)}`);
      return checked.catalog;
    });

/** A shape the catalog sells: a plan per an interval it is sold per, seats within its maximum, add-ons it sells. */
const shapeArb = (catalog: ResolvedCatalog): fc.Arbitrary<SubscriptionShape> => {
  const plans = Object.values(catalog.plans);
  const addOns = Object.entries(catalog.add_ons);
  return fc
    .record({
      plan: fc.constantFrom(...plans),
      interval: fc.constantFrom<BillingInterval>("month", "year"),
      seats: fc.integer({ min: 1, max: 60 }),
      picks: fc.tuple(...addOns.map(() => fc.option(fc.integer({ min: 1, max: 5 }), { nil: null }))),
    })
    .map(({ plan, interval: wanted, seats, picks }) => {
      const interval = plan.prices[wanted] ? wanted : wanted === "month" ? "year" : "month";
      let chosen = addOns.flatMap(([key, definition], i) => {
        const q = picks[i];
        if (q == null || !addOnSold(definition, plan, interval)) return [];
        return [{ key, definition, quantity: definition.quantity === "multiple" ? q : 1 }];
      });
      for (;;) {
        const keys = new Set(chosen.map((a) => a.key));
        const kept = chosen.filter((a) => a.definition.requires.every((r) => keys.has(r)));
        if (kept.length === chosen.length) break;
        chosen = kept;
      }
      return { plan, interval, seats: Math.max(1, Math.min(seats, plan.seats.max ?? seats)), addOns: chosen };
    });
};

// Whole seconds, anchors on month ends among them.
const anchorArb = fc.oneof(
  fc
    .constantFrom("2024-01-31", "2024-02-29", "2025-03-31", "2026-01-30", "2026-08-31")
    .map((d) => new Date(`${d}T00:00:00Z`)),
  fc
    .integer({ min: Date.UTC(2024, 0, 1) / 1000, max: Date.UTC(2029, 0, 1) / 1000 })
    .map((s) => new Date(s * 1000)),
);

const changeArb = (open: boolean) =>
  catalogArb(open).chain((catalog) =>
    fc
      .record({
        catalog: fc.constant(catalog),
        from: shapeArb(catalog),
        to: shapeArb(catalog),
        anchor: anchorArb,
        offset: fc.integer({ min: 0, max: 400 * 86_400 }),
        used: fc.integer({ min: 0, max: 60 }),
        creditBalance: fc.constantFrom(0, 0, 700, 1_000_000),
      })
      .filter(({ from, to }) => changeComponents(from, to).length > 0)
      .map((c) => ({ ...c, used: Math.min(c.used, c.from.seats, c.to.seats) })),
  );

type Change = { from: SubscriptionShape; to: SubscriptionShape; anchor: Date; offset: number } & {
  used: number;
  creditBalance: number;
  catalog: ResolvedCatalog;
};

function quoted(change: Change, policy: DowngradePolicy, extra: Partial<QuoteInput> = {}) {
  const result = quoteChange({
    subscription: {
      shape: change.from,
      currency: change.catalog.currency,
      billingCycleAnchor: change.anchor,
      trialEnd: null,
    },
    target: change.to,
    at: new Date(change.anchor.getTime() + change.offset * 1000),
    policy,
    seatsInUse: change.used,
    creditBalance: change.creditBalance,
    ...extra,
  });
  if (!result.ok) throw new Error(`refused: ${JSON.stringify(result.refusal)}`);
  return result.plan;
}

const opensAnnualTerm = ({ from, to }: Change) => from.interval === "month" && to.interval === "year";

/** The subscription in force until the period end, as the quote has it. */
const shapeNow = (p: QuotePlan): SubscriptionShape =>
  p.split ? p.split.now.to : p.timing === "period_end" ? p.from : p.to;

const quantityOf = (s: SubscriptionShape, key: string) => s.addOns.find((a) => a.key === key)?.quantity ?? 0;

/** The value a component of a change has in a shape: its `from`, its `to`, or something else. */
function sideOf(c: ChangeComponent, from: SubscriptionShape, to: SubscriptionShape, s: SubscriptionShape) {
  const value = (x: SubscriptionShape) =>
    c.type === "plan"
      ? x.plan.key
      : c.type === "interval"
        ? x.interval
        : c.type === "seats"
          ? x.seats
          : quantityOf(x, c.key);
  if (value(s) === value(to)) return "to";
  if (value(s) === value(from)) return "from";
  return "neither";
}

/**
 * Why a part of a change may sit on the other side of the split: the subscription in force cannot
 * hold it there. Seats stop at the plan's maximum; an add-on is absent when the plan in force does
 * not sell it (per its interval) or lacks an add-on it requires; a plan waits for an interval it is
 * sold per.
 */
function cannotHold(c: ChangeComponent, to: SubscriptionShape, now: SubscriptionShape): boolean {
  if (c.type === "plan") return !to.plan.prices[now.interval];
  if (c.type === "seats") return now.seats === now.plan.seats.max;
  if (c.type === "add_on") {
    const definition = (to.addOns.find((a) => a.key === c.key) ?? now.addOns.find((a) => a.key === c.key))
      ?.definition;
    return (
      quantityOf(now, c.key) === 0 &&
      (definition === undefined ||
        !addOnSold(definition, now.plan, now.interval) ||
        definition.requires.some((r) => quantityOf(now, r) === 0))
    );
  }
  return false;
}

describe("a change split by direction, on random catalogs", () => {
  it("with no part depending on another: every raise now, every reduction at the period end", () => {
    fc.assert(
      fc.property(changeArb(true), (change) => {
        const p = quoted(change, "period_end");
        const now = shapeNow(p);
        // monthly → annual opens a new period: every part of the change goes with it
        const annual = opensAnnualTerm(change);
        for (const c of changeComponents(change.from, change.to))
          expect([c, sideOf(c, change.from, change.to, now)]).toEqual([
            c,
            annual || raises(c) ? "to" : "from",
          ]);
        if (p.split) {
          expect(p.split.now.components.every(raises)).toBe(true);
          expect(p.split.scheduled.components.some(raises)).toBe(false);
        }
      }),
      { numRuns: 300 },
    );
  });

  it("in any catalog: a raise waits, or a reduction applies now, only when the subscription in force cannot hold it", () => {
    fc.assert(
      fc.property(changeArb(false), (change) => {
        const p = quoted(change, "period_end");
        const now = shapeNow(p);
        expect(checkSubscriptionShape(now, change.used)).toEqual([]);
        if (opensAnnualTerm(change)) {
          expect(p.timing).toBe("immediate");
          return;
        }
        for (const c of changeComponents(change.from, change.to)) {
          const side = sideOf(c, change.from, change.to, now);
          if (side !== (raises(c) ? "to" : "from"))
            expect([c, cannotHold(c, change.to, now)]).toEqual([c, true]);
          // a plan lower than the one in force never applies before the period end
          if (c.type === "plan" && !raises(c)) expect(side).toBe("from");
        }
      }),
      { numRuns: 400 },
    );
  });

  it("the two parts compose to the target: each is the quote of its own change", () => {
    fc.assert(
      fc.property(changeArb(false), (change) => {
        const p = quoted(change, "period_end");
        expect(p.to).toEqual(change.to);
        expect(recurringCharges(change.to).total).toBe(p.recurring.after.amount);
        if (!p.split) return;
        const alone = quoted({ ...change, to: p.split.now.to }, "period_end");
        expect(alone.timing).toBe("immediate");
        expect(p.lines).toEqual(alone.lines);
        expect(p.totals).toEqual(alone.totals);
        const rest = quoted(
          { ...change, from: p.split.now.to, creditBalance: alone.totals.creditBalanceAfter },
          "period_end",
        );
        expect(rest).toMatchObject({ timing: "period_end", lines: [], effectiveAt: p.period.end });
        expect(p.split.scheduled).toEqual({
          effectiveAt: p.period.end,
          to: change.to,
          components: rest.components,
          newAnchor: rest.newAnchor,
        });
        expect(p.nextInvoice).toEqual(rest.nextInvoice);
        // every part ends where the target has it
        for (const c of changeComponents(change.from, change.to))
          expect(sideOf(c, change.from, change.to, p.split.scheduled.to)).toBe("to");
      }),
      { numRuns: 300 },
    );
  });

  it("under immediate_with_credit everything applies now, save annual → monthly at the term end", () => {
    fc.assert(
      fc.property(changeArb(false), (change) => {
        const p = quoted(change, "immediate_with_credit");
        const monthly = change.from.interval === "year" && change.to.interval === "month";
        if (!monthly) {
          expect([p.timing, p.split]).toEqual(["immediate", null]);
          return;
        }
        const now = shapeNow(p);
        expect(now.interval).toBe("year");
        for (const c of changeComponents(change.from, change.to))
          if (c.type !== "interval" && sideOf(c, change.from, change.to, now) !== "to")
            expect([c, cannotHold(c, change.to, now)]).toEqual([c, true]);
      }),
      { numRuns: 300 },
    );
  });

  it("a change and its reverse in the same second, both applied now, net to exactly 0", () => {
    fc.assert(
      fc.property(changeArb(false), fc.integer({ min: 0, max: 999 }), (change, ms) => {
        const to = { ...change.to, interval: change.from.interval };
        fc.pre(checkSubscriptionShape(to, 0).length === 0 && changeComponents(change.from, to).length > 0);
        const there = quoted({ ...change, to, creditBalance: 0 }, "immediate_with_credit");
        const back = quoted(
          { ...change, from: to, to: change.from, creditBalance: 0 },
          "immediate_with_credit",
          {
            at: new Date(change.anchor.getTime() + change.offset * 1000 + ms),
          },
        );
        expect([there.timing, back.timing]).toEqual(["immediate", "immediate"]);
        expect(there.totals.subtotal + back.totals.subtotal).toBe(0);
      }),
      { numRuns: 300 },
    );
  });
});
