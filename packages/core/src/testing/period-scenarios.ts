/**
 * Test support: a billing period played through quoteChange as the server plays it — each change
 * priced with the period's history (its recorded opening and the lines applied so far) and the
 * credit balance it left — on random catalogs, for the property tests of the credit cap.
 */
import fc from "fast-check";
import { type ResolvedCatalog, type ResolvedPlan, validateCatalog } from "../catalog/validate.ts";
import { type BillingInterval, periodAt } from "../periods/billing-period.ts";
import { isQuantityChange } from "../pricing/proration.ts";
import type { DowngradePolicy } from "../quotes/change-rules.ts";
import { subscriptionItems } from "../quotes/items.ts";
import { type ItemChanges, periodHistory, periodOpening } from "../quotes/period-charges.ts";
import { quoteChange } from "../quotes/quote-change.ts";
import type { PendingScheduledChange, QuoteLine, QuotePlan } from "../quotes/quote-plan.ts";
import type { SubscribedAddOn, SubscriptionShape } from "../subscriptions/recurring.ts";
import { anchorArb, randomCatalogArb } from "./random-catalog.ts";

export function resolved(doc: unknown): ResolvedCatalog {
  const result = validateCatalog(doc);
  if (!result.ok) throw new Error(`invalid random catalog: ${JSON.stringify(result.issues)}`);
  return result.catalog;
}

/** A shape of the catalog: a plan, at least its included seats (and one), some add-ons. */
export function shapeArb(
  catalog: ResolvedCatalog,
  interval: BillingInterval,
): fc.Arbitrary<SubscriptionShape> {
  const plans = Object.values(catalog.plans) as ResolvedPlan[];
  const addOnKeys = Object.keys(catalog.add_ons);
  return fc
    .record({
      plan: fc.constantFrom(...plans),
      extra: fc.integer({ min: 0, max: 8 }),
      addOns: fc.array(fc.tuple(fc.constantFrom("", ...addOnKeys), fc.integer({ min: 1, max: 4 })), {
        maxLength: 2,
      }),
    })
    .map(({ plan, extra, addOns }) => {
      const chosen = new Map(addOns.filter(([k]) => k !== ""));
      return {
        plan,
        interval,
        seats: Math.max(1, plan.seats.included) + extra,
        addOns: [...chosen]
          .sort(([a], [b]) => (a < b ? -1 : 1))
          .map(
            ([key, quantity]): SubscribedAddOn => ({
              key,
              quantity,
              definition: catalog.add_ons[key] as SubscribedAddOn["definition"],
            }),
          ),
      };
    });
}

export interface Scenario {
  readonly catalog: ResolvedCatalog;
  readonly anchor: Date;
  readonly interval: BillingInterval;
  /** the shape the period began with, then the shape after each change */
  readonly shapes: readonly SubscriptionShape[];
  /** when each change is made, as parts of the period in [0, 1), in order */
  readonly instants: readonly number[];
  readonly jitterMs: number;
}

/**
 * Changes spread over the period, or all in one second (where rounding is all that separates a
 * credit from what was charged, so the cap bites).
 */
const instantsArb = fc.oneof(
  fc.array(fc.double({ min: 0, max: 0.999_999, noNaN: true }), { minLength: 6, maxLength: 6 }),
  fc.double({ min: 0, max: 0.999_999, noNaN: true }).map((at) => Array.from({ length: 6 }, () => at)),
);

export const scenarioArb = (policy: DowngradePolicy): fc.Arbitrary<Scenario> =>
  fc
    .tuple(
      randomCatalogArb({ downgrades: policy }),
      anchorArb,
      fc.constantFrom<BillingInterval>("month", "year"),
    )
    .chain(([doc, anchor, interval]) => {
      const catalog = resolved(doc);
      return fc.record({
        catalog: fc.constant(catalog),
        anchor: fc.constant(anchor),
        interval: fc.constant(interval),
        shapes: fc.array(shapeArb(catalog, interval), { minLength: 2, maxLength: 6 }),
        instants: instantsArb,
        jitterMs: fc.integer({ min: 0, max: 999 }),
      });
    })
    .map((s) => ({ ...s, instants: [...s.instants].sort((a, b) => a - b) }));

/** A one-line quantity change: seats and one add-on's units moved by a few (never below 1). */
interface QuantityStep {
  readonly seats: number;
  readonly addOn: number;
  readonly units: number;
}

function stepped(shape: SubscriptionShape, step: QuantityStep): SubscriptionShape {
  const i = shape.addOns.length === 0 ? -1 : step.addOn % shape.addOns.length;
  return {
    ...shape,
    seats: Math.max(1, shape.plan.seats.included, shape.seats + step.seats),
    addOns: shape.addOns.map((a, j) =>
      j === i ? { ...a, quantity: Math.max(1, a.quantity + step.units) } : a,
    ),
  };
}

/**
 * Where the cap bites: every change in one second, from a period that began with nothing but a plan
 * at its included seats (so no item was paid for time already used, which would leave the cap room
 * to spare). A first change charges items whole (a switch, additions), a few quantity changes at
 * one price follow (one rounded line each), then any change — often a switch, which credits each
 * item whole.
 */
export const burstArb = (policy: DowngradePolicy): fc.Arbitrary<Scenario> =>
  fc
    .tuple(
      randomCatalogArb({ downgrades: policy }),
      anchorArb,
      fc.constantFrom<BillingInterval>("month", "year"),
    )
    .chain(([doc, anchor, interval]) => {
      const catalog = resolved(doc);
      const stepArb = fc.record({
        seats: fc.integer({ min: -1, max: 4 }),
        addOn: fc.nat(3),
        units: fc.integer({ min: -1, max: 3 }),
      });
      return fc.record({
        catalog: fc.constant(catalog),
        anchor: fc.constant(anchor),
        interval: fc.constant(interval),
        start: fc.constantFrom(...(Object.values(catalog.plans) as ResolvedPlan[])).map(
          (plan): SubscriptionShape => ({
            plan,
            interval,
            seats: Math.max(1, plan.seats.included),
            addOns: [],
          }),
        ),
        base: shapeArb(catalog, interval),
        steps: fc.array(stepArb, { minLength: 2, maxLength: 5 }),
        last: shapeArb(catalog, interval),
        // any second but the first (where f = 1 and nothing is rounded), unbiased
        at: fc.noBias(fc.integer({ min: 1, max: 999_999 })).map((n) => n / 1_000_000),
        jitterMs: fc.integer({ min: 0, max: 999 }),
      });
    })
    .map(({ start, base, steps, last, at, ...rest }) => {
      const shapes = [start, base];
      for (const step of steps) shapes.push(stepped(shapes.at(-1) as SubscriptionShape, step));
      shapes.push(last);
      return { ...rest, shapes, instants: shapes.map(() => at) };
    });

/** A period's changes as the server reads them back: per item, charges and credits added up. */
function addLines(changes: Map<string, { charged: number; credited: number }>, lines: readonly QuoteLine[]) {
  for (const line of lines) {
    const known = changes.get(line.item) ?? { charged: 0, credited: 0 };
    if (line.amount > 0) known.charged += line.amount;
    else known.credited -= line.amount;
    changes.set(line.item, known);
  }
}

export const asChanges = (changes: Map<string, { charged: number; credited: number }>): ItemChanges[] =>
  [...changes].map(([item, c]) => ({ item, ...c }));

/** A quote's lines added up per item. */
export const byItem = (lines: readonly QuoteLine[]) => {
  const sums = new Map<string, number>();
  for (const l of lines) sums.set(l.item, (sums.get(l.item) ?? 0) + l.amount);
  return sums;
};

/**
 * Plays a scenario's changes through quoteChange as the server does: each priced with the period's
 * history and the credit balance it left, with `scheduled` pending (or none). Keeps, per item, the
 * number of its one-line quantity changes since it was last charged whole (the period's opening, or
 * a change that replaced or added it): what the cap may cut of its credit is bounded by it.
 */
export function play(s: Scenario, policy: DowngradePolicy, scheduled: PendingScheduledChange | null = null) {
  const period = periodAt(s.anchor, s.interval, s.anchor);
  const length = period.end.getTime() - period.start.getTime();
  const opening = periodOpening(s.shapes[0] as SubscriptionShape);
  const changes = new Map<string, { charged: number; credited: number }>();
  const quantityLines = new Map<string, number>();
  let balance = 0;
  let current = s.shapes[0] as SubscriptionShape;
  const quote = (
    target: SubscriptionShape,
    at: Date,
    history: Parameters<typeof quoteChange>[0]["history"],
  ) =>
    quoteChange({
      subscription: { shape: current, currency: "usd", billingCycleAnchor: s.anchor, trialEnd: null },
      target,
      at,
      policy,
      seatsInUse: 0,
      creditBalance: balance,
      history,
      scheduled,
    });
  const price = (target: SubscriptionShape, at: Date) =>
    quote(target, at, periodHistory(opening, asChanges(changes)));
  /** the same quote with no cap at all */
  const uncapped = (target: SubscriptionShape, at: Date) => {
    const unlimited = { charged: Number.MAX_SAFE_INTEGER, credited: 0 };
    const keys = [...Object.keys(opening), ...changes.keys(), ...Object.keys(periodOpening(target))];
    return quote(target, at, Object.fromEntries(keys.map((k) => [k, unlimited])));
  };
  const apply = (plan: QuotePlan) => {
    const before = new Map(subscriptionItems(plan.from).map((i) => [i.key, i.item]));
    const after = new Map(subscriptionItems(plan.split?.now.to ?? plan.to).map((i) => [i.key, i.item]));
    for (const item of new Set(plan.lines.map((l) => l.item))) {
      const a = before.get(item);
      const b = after.get(item);
      const oneLine = a !== undefined && b !== undefined && isQuantityChange(a, b);
      quantityLines.set(item, oneLine ? (quantityLines.get(item) ?? 0) + 1 : 0);
    }
    addLines(changes, plan.lines);
    balance = plan.totals.creditBalanceAfter;
    current = plan.split?.now.to ?? plan.to;
  };
  const instantOf = (i: number) =>
    new Date(period.start.getTime() + Math.floor(((s.instants[i] ?? 0) * length) / 1000) * 1000);
  /** the most the cap may cut of an item's credit now: ½ minor unit per one-line change, rounded up */
  const cutBound = (item: string) => Math.ceil((quantityLines.get(item) ?? 0) / 2);
  return {
    period,
    opening,
    changes,
    price,
    uncapped,
    apply,
    instantOf,
    cutBound,
    current: () => current,
  };
}

/** How much the cap took off a quote's credits, per item (items with nothing cut are absent). */
export function capCuts(plan: QuotePlan, uncapped: ReturnType<typeof quoteChange>): Map<string, number> {
  if (!uncapped.ok) throw new Error(uncapped.refusal.message);
  const credits = (lines: readonly QuoteLine[]) => byItem(lines.filter((l) => l.kind === "credit"));
  const capped = credits(plan.lines);
  const cuts = new Map<string, number>();
  for (const [item, credit] of credits(uncapped.plan.lines)) {
    const cut = (capped.get(item) ?? 0) - credit;
    if (cut !== 0) cuts.set(item, cut);
  }
  return cuts;
}
