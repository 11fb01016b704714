import type { SubscriptionShape } from "../subscriptions/recurring.ts";
import { hasFreeSeat } from "../subscriptions/seats.ts";
import { addOnsKeptOn, cheapestUpgrade, seatsOnPlan, type UpgradeCatalog } from "./upgrade.ts";

/**
 * Why an invite without a free seat is refused: the seats paid for are taken (one more can be
 * bought), or the plan sells no more seats than it has (another plan is needed).
 */
export type InviteRefusalReason = "no_free_seat" | "plan_seat_maximum";

export function inviteRefusalReason(shape: SubscriptionShape): InviteRefusalReason {
  const max = shape.plan.seats.max;
  return max !== null && shape.seats + 1 > max ? "plan_seat_maximum" : "no_free_seat";
}

/**
 * What an invite needs to go through: nothing (a seat is free), more seats on the current plan, or
 * another plan on the same interval whose seats admit one more member. Null when nothing on sale
 * admits them.
 */
export type InvitePath =
  | { readonly path: "free_seat" }
  | { readonly path: "add_seat"; readonly seats: number }
  | {
      readonly path: "change_plan";
      readonly plan: string;
      readonly seats: number;
      /** the add-ons kept: those the plan sells on the interval */
      readonly addOns: readonly { readonly key: string; readonly quantity: number }[];
    };

/**
 * The cheapest path that admits one more member than `inUse`, in the order a check names an upgrade
 * (cheapestUpgrade: by monthly delta, then seats before plans, then plans by tier): seats on the
 * current plan when its maximum allows them, else the cheapest higher-tier plan sold on the same
 * interval whose seat maximum admits `inUse + 1`, at its included seats or more, keeping the add-ons it sells. Pure.
 */
export function invitePath(
  catalog: UpgradeCatalog,
  current: SubscriptionShape,
  inUse: number,
): InvitePath | null {
  if (hasFreeSeat(current.seats, inUse)) return { path: "free_seat" };
  const option = cheapestUpgrade(catalog, current, { feature: "seats", kind: "seats", required: inUse + 1 });
  if (!option) return null;
  if (option.type === "seats") return { path: "add_seat", seats: option.quantity };
  const plan = catalog.plans[option.key];
  if (option.type !== "plan" || !plan) return null;
  return {
    path: "change_plan",
    plan: option.key,
    seats: seatsOnPlan(current, plan, inUse + 1),
    addOns: addOnsKeptOn(current, plan).map((a) => ({ key: a.key, quantity: a.quantity })),
  };
}
