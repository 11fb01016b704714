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
 * - on the same plan, a change that raises some items and lowers others has no single timing, so
 *   it is refused (quote the addition and the reduction separately).
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
  | { readonly timing: "refused"; readonly code: "no_change" | "mixed_change"; readonly message: string };

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
  const plan = components.find((c) => c.type === "plan");
  const up = plan ? raises(plan) : components.every(raises);
  const down = plan ? !raises(plan) : components.every((c) => !raises(c));
  if (!up && !down)
    return {
      timing: "refused",
      code: "mixed_change",
      message:
        "This change raises some items and lowers others on the same plan: additions apply now and reductions at period end, so quote them separately.",
    };
  if (up || policy === "immediate_with_credit") return { timing: "immediate", resetAnchor: false };
  return { timing: "period_end" };
}
