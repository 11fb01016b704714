import type { SubscriptionShape } from "../subscriptions/recurring.ts";

/**
 * When a change takes effect (DESIGN.md canonical rule 5, Stripe's and Chargebee's defaults):
 * - upgrades, seat and add-on additions: immediately, prorated, charged to the stored method;
 * - downgrades, seat and add-on reductions: at period end with no credit, unless the catalog's
 *   `policies.downgrades` is `immediate_with_credit` (credit to the account balance, never a refund);
 * - monthly → annual: immediately, the anchor resets to the change instant;
 * - annual → monthly: at the end of the annual term;
 * - a plan switch carries everything else with it: to a higher tier it is an upgrade, to a lower
 *   tier a downgrade, whatever the seats and add-ons do;
 * - on the same plan, a change that raises some items and lowers others is split: under
 *   `period_end` the raises apply now and the reductions at period end, each part as it would on
 *   its own (see `raisedItems`); under `immediate_with_credit` both apply now.
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
  /** the raises now (immediate), the reductions at period end (period_end), as one quote */
  | { readonly timing: "split" }
  | { readonly timing: "refused"; readonly code: "no_change"; readonly message: string };

/** What changes between two shapes, item by item, in the customer's words. */
export function changeComponents(from: SubscriptionShape, to: SubscriptionShape): ChangeComponent[] {
  const components: ChangeComponent[] = [];
  if (from.plan.key !== to.plan.key || from.plan.tier !== to.plan.tier)
    components.push({
      type: "plan",
      direction: to.plan.tier >= from.plan.tier ? "upgrade" : "downgrade",
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

function raises(c: ChangeComponent): boolean {
  if (c.type === "plan") return c.direction === "upgrade";
  if (c.type === "interval") return c.to === "year";
  return c.to > c.from;
}

export function changeTiming(
  components: readonly ChangeComponent[],
  policy: DowngradePolicy,
  trialing: boolean,
): ChangeTiming {
  if (components.length === 0)
    return { timing: "refused", code: "no_change", message: "The change leaves the subscription as it is." };
  const interval = components.find((c) => c.type === "interval");
  if (interval?.type === "interval") {
    if (interval.to === "year") return { timing: "immediate", resetAnchor: !trialing };
    return trialing ? { timing: "immediate", resetAnchor: false } : { timing: "period_end" };
  }
  if (trialing) return { timing: "immediate", resetAnchor: false };
  if (policy === "immediate_with_credit") return { timing: "immediate", resetAnchor: false };
  const plan = components.find((c) => c.type === "plan");
  if (plan) return raises(plan) ? { timing: "immediate", resetAnchor: false } : { timing: "period_end" };
  if (components.every(raises)) return { timing: "immediate", resetAnchor: false };
  if (components.every((c) => !raises(c))) return { timing: "period_end" };
  return { timing: "split" };
}

/**
 * The part of a split change applied now: `from` with every item that `to` raises taken from `to`
 * (more seats, a new add-on, more units of one) and every item it lowers left as it is until the
 * period end. A split never changes the plan or the interval (changeTiming), so only seats and
 * add-ons differ. Everything either shape requires is in it, so it is as valid as they are.
 */
export function raisedItems(from: SubscriptionShape, to: SubscriptionShape): SubscriptionShape {
  const wanted = new Map(to.addOns.map((a) => [a.key, a]));
  const had = new Set(from.addOns.map((a) => a.key));
  const kept = from.addOns.map((a) => {
    const b = wanted.get(a.key);
    return b && b.quantity > a.quantity ? b : a;
  });
  return {
    ...from,
    seats: Math.max(from.seats, to.seats),
    addOns: [...kept, ...to.addOns.filter((b) => !had.has(b.key))],
  };
}
