import type { SubscribedAddOn, SubscriptionShape } from "../subscriptions/recurring.ts";
import { addOnSold } from "../subscriptions/shape-rules.ts";

/**
 * When a change takes effect (docs/rules.md, periods 5, Stripe's and Chargebee's defaults):
 * - upgrades, seat and add-on additions: immediately, prorated, charged to the stored method;
 * - downgrades, seat and add-on reductions: at period end with no credit, unless the catalog's
 *   `policies.downgrades` is `immediate_with_credit` (credit to the account balance, never a refund);
 * - monthly → annual: immediately, the anchor resets to the change instant, every other part of the
 *   change with it (it opens a new period);
 * - annual → monthly: at the end of the annual term, whatever the policy;
 * - a change with several parts (plan, seats, add-ons, interval) is split by direction: the parts
 *   that raise the bill now, the parts that lower it as the policy says (`partsAppliedNow`);
 * - in a trial nothing is prorated: every change applies at once for nothing.
 */
export type DowngradePolicy = "period_end" | "immediate_with_credit";

export type ChangeComponent =
  | {
      readonly type: "plan";
      readonly direction: "upgrade" | "downgrade";
      readonly from: string;
      readonly to: string;
    }
  | { readonly type: "interval"; readonly from: "month" | "year"; readonly to: "month" | "year" }
  | { readonly type: "seats"; readonly from: number; readonly to: number }
  | {
      readonly type: "add_on";
      readonly key: string;
      readonly name: string;
      readonly from: number;
      readonly to: number;
    };

export type ChangeTiming =
  | { readonly timing: "immediate"; readonly resetAnchor: boolean }
  | { readonly timing: "period_end" }
  /** some parts now (the subscription becomes `now`, immediate), the rest at period end, as one quote */
  | { readonly timing: "split"; readonly now: SubscriptionShape }
  | { readonly timing: "refused"; readonly code: "no_change"; readonly message: string };

/** A plan of the same or a higher tier is an upgrade. */
const planRaises = (from: SubscriptionShape, to: SubscriptionShape) => to.plan.tier >= from.plan.tier;

/** What changes between two shapes, item by item, in the customer's words. */
export function changeComponents(from: SubscriptionShape, to: SubscriptionShape): ChangeComponent[] {
  const components: ChangeComponent[] = [];
  if (from.plan.key !== to.plan.key || from.plan.tier !== to.plan.tier)
    components.push({
      type: "plan",
      direction: planRaises(from, to) ? "upgrade" : "downgrade",
      from: from.plan.name,
      to: to.plan.name,
    });
  if (from.interval !== to.interval)
    components.push({ type: "interval", from: from.interval, to: to.interval });
  if (from.seats !== to.seats) components.push({ type: "seats", from: from.seats, to: to.seats });
  const before = new Map(from.addOns.map((a) => [a.key, a]));
  const after = new Map(to.addOns.map((a) => [a.key, a]));
  for (const key of [...new Set([...before.keys(), ...after.keys()])].sort()) {
    const a = before.get(key);
    const b = after.get(key);
    if ((a?.quantity ?? 0) !== (b?.quantity ?? 0))
      components.push({
        type: "add_on",
        key,
        name: (b ?? a)?.definition.name ?? key,
        from: a?.quantity ?? 0,
        to: b?.quantity ?? 0,
      });
  }
  return components;
}

/** Whether a component of a change raises the bill (so it applies now, whatever the policy). */
export function raises(c: ChangeComponent): boolean {
  if (c.type === "plan") return c.direction === "upgrade";
  if (c.type === "interval") return c.to === "year";
  return c.to > c.from;
}

const sameShape = (a: SubscriptionShape, b: SubscriptionShape) => changeComponents(a, b).length === 0;

export function changeTiming(
  from: SubscriptionShape,
  to: SubscriptionShape,
  policy: DowngradePolicy,
  trialing: boolean,
): ChangeTiming {
  if (sameShape(from, to))
    return { timing: "refused", code: "no_change", message: "The change leaves the subscription as it is." };
  if (trialing) return { timing: "immediate", resetAnchor: false };
  if (from.interval === "month" && to.interval === "year") return { timing: "immediate", resetAnchor: true };
  const now = partsAppliedNow(from, to, policy);
  if (sameShape(now, to)) return { timing: "immediate", resetAnchor: false };
  if (sameShape(now, from)) return { timing: "period_end" };
  return { timing: "split", now };
}

/**
 * The subscription a change leaves until the period end (docs/rules.md, periods 5: a change is split by
 * direction). Each part — the plan, the seats, each add-on — is taken from `to` when it raises the
 * bill, or when the policy applies reductions at once; otherwise it stays as in `from` until the
 * period end. The interval stays: annual → monthly waits for the term's end (monthly → annual is
 * never split, see changeTiming). So a higher plan with fewer seats is the new plan now at the
 * current seats; a lower plan with more seats is the seats now on the current plan.
 *
 * A part only exists with what it depends on, so the result is a shape the catalog sells whenever
 * `from` and `to` are: a plan not sold per the current interval waits for the interval; an add-on
 * the plan in force does not sell (or not per the interval) goes with the plan that drops it or
 * waits for the plan that sells it, and so does an add-on whose required add-on is not there; seats
 * stop at the plan's maximum. Applying this to its own result changes nothing, and applying it from
 * the result to `to` changes nothing either: the two parts are an immediate change and a change at
 * period end of their own.
 */
export function partsAppliedNow(
  from: SubscriptionShape,
  to: SubscriptionShape,
  policy: DowngradePolicy,
): SubscriptionShape {
  const applies = (raised: boolean) => raised || policy === "immediate_with_credit";
  const { interval } = from;
  const planChanges = from.plan.key !== to.plan.key || from.plan.tier !== to.plan.tier;
  const plan = planChanges && applies(planRaises(from, to)) && to.plan.prices[interval] ? to.plan : from.plan;
  const seats = Math.min(applies(to.seats > from.seats) ? to.seats : from.seats, plan.seats.max ?? Infinity);
  const before = new Map(from.addOns.map((a) => [a.key, a]));
  const after = new Map(to.addOns.map((a) => [a.key, a]));
  let addOns: SubscribedAddOn[] = [];
  for (const key of new Set([...before.keys(), ...after.keys()])) {
    const a = before.get(key);
    const b = after.get(key);
    const chosen = applies((b?.quantity ?? 0) > (a?.quantity ?? 0)) ? b : a;
    if (chosen && addOnSold(chosen.definition, plan, interval)) addOns.push(chosen);
  }
  for (let dropped = true; dropped; ) {
    const keys = new Set(addOns.map((a) => a.key));
    const kept = addOns.filter((a) => a.definition.requires.every((r) => keys.has(r)));
    dropped = kept.length < addOns.length;
    addOns = kept;
  }
  return { plan, interval, seats, addOns };
}
