import type { AddOnDefinition, FeatureKind } from "../catalog/document.ts";
import type { ResolvedPlan } from "../catalog/validate.ts";
import { rational, roundToSafeInteger } from "../pricing/rational.ts";
import {
  recurringCharges,
  type SubscribedAddOn,
  type SubscriptionShape,
} from "../subscriptions/recurring.ts";
import { addOnSold, checkSubscriptionShape } from "../subscriptions/shape-rules.ts";
import type { UpgradeOption } from "./api.ts";
import { combinedGrant } from "./compute.ts";

/** The plans and add-ons on sale (their current versions). */
export interface UpgradeCatalog {
  readonly currency: string;
  readonly plans: Readonly<Record<string, ResolvedPlan>>;
  readonly addOns: Readonly<Record<string, AddOnDefinition>>;
}

export interface UpgradeRequest {
  readonly feature: string;
  readonly kind: FeatureKind;
  /** the total the feature must allow (used + quantity); ignored for boolean features */
  readonly required: number;
}

interface Candidate {
  readonly option: UpgradeOption;
  readonly rank: number;
}

function allows(kind: FeatureKind, feature: string, shape: SubscriptionShape, required: number): boolean {
  if (kind === "seats") return shape.seats >= required;
  const grant = combinedGrant(feature, shape);
  if (!grant.on) return false;
  if (kind === "boolean" || grant.unlimited) return true;
  return (grant.limit ?? 0) >= required;
}

/** A change of shape priced against the current one; null when the shape breaks a catalog rule. */
function price(
  current: SubscriptionShape,
  next: SubscriptionShape,
  currency: string,
): { total: number; monthlyDelta: number; charges: ReturnType<typeof recurringCharges> } | null {
  if (checkSubscriptionShape(next, 0).length > 0) return null;
  try {
    const before = recurringCharges(current).total;
    const charges = recurringCharges(next);
    const delta = charges.total - before;
    const monthlyDelta = next.interval === "year" ? roundToSafeInteger(rational(delta, 12)) : delta;
    void currency;
    return { total: charges.total, monthlyDelta, charges };
  } catch {
    return null;
  }
}

/** The seats a move to `plan` keeps: the current ones, at least the plan's included seats and `required`. */
export const seatsOnPlan = (current: SubscriptionShape, plan: ResolvedPlan, required = 0): number =>
  Math.max(current.seats, plan.seats.included, required);

/** The add-ons a move to `plan` keeps: those the plan sells on the interval. */
export const addOnsKeptOn = (current: SubscriptionShape, plan: ResolvedPlan): SubscribedAddOn[] =>
  current.addOns.filter((a) => addOnSold(a.definition, plan, current.interval));

function withAddOn(shape: SubscriptionShape, key: string, definition: AddOnDefinition, quantity: number) {
  const others = shape.addOns.filter((a) => a.key !== key);
  const addOns: SubscribedAddOn[] = [...others, { key, definition, quantity }];
  return { ...shape, addOns };
}

/**
 * The cheapest change that would allow a request, by its monthly delta: more seats on the current
 * plan, an add-on (a capacity pack in the units needed), or a higher-tier plan that keeps the seats
 * and the add-ons it can keep. Ties prefer the smaller change (seats, then add-ons, then plans by
 * tier). Null when nothing on sale would allow it. Pure: prices come from core pricing.
 */
export function cheapestUpgrade(
  catalog: UpgradeCatalog,
  current: SubscriptionShape,
  request: UpgradeRequest,
): UpgradeOption | null {
  const { feature, kind, required } = request;
  const currency = catalog.currency;
  const interval = current.interval;
  const candidates: Candidate[] = [];
  const push = (
    rank: number,
    make: (p: NonNullable<ReturnType<typeof price>>) => Omit<UpgradeOption, "recurring" | "monthly_delta">,
    next: SubscriptionShape,
  ) => {
    if (!allows(kind, feature, next, required)) return;
    const p = price(current, next, currency);
    if (!p) return;
    candidates.push({
      rank,
      option: {
        ...make(p),
        recurring: { amount: p.total, currency, interval },
        monthly_delta: { amount: p.monthlyDelta, currency },
      },
    });
  };

  if (kind === "seats") {
    push(
      0,
      (p) => ({
        type: "seats",
        key: "seats",
        name: `${required} seats on ${current.plan.name}`,
        quantity: required,
        price: { amount: p.charges.seats, currency, interval },
      }),
      { ...current, seats: Math.max(current.seats, required) },
    );
  } else {
    for (const [key, definition] of Object.entries(catalog.addOns)) {
      const grant = Object.hasOwn(definition.grants, feature) ? definition.grants[feature] : undefined;
      if (grant === undefined || grant === false) continue;
      const existing = current.addOns.find((a) => a.key === key);
      let quantity = 1;
      if (definition.quantity === "single") {
        if (existing) continue;
      } else if (typeof grant === "number") {
        const have = combinedGrant(feature, current);
        const deficit = required - (have.limit ?? 0);
        quantity = (existing?.quantity ?? 0) + Math.max(1, Math.ceil(deficit / grant));
      } else quantity = (existing?.quantity ?? 0) + 1;
      push(
        1,
        (p) => ({
          type: "add_on",
          key,
          name: definition.name,
          quantity,
          price: { amount: p.charges.addOns.find((a) => a.key === key)?.amount ?? 0, currency, interval },
        }),
        withAddOn(current, key, definition, quantity),
      );
    }
  }

  for (const [key, plan] of Object.entries(catalog.plans)) {
    if (plan.tier <= current.plan.tier || !plan.prices[interval]) continue;
    const seats = seatsOnPlan(current, plan, kind === "seats" ? required : 0);
    const addOns = addOnsKeptOn(current, plan);
    push(
      2 + plan.tier,
      (p) => ({
        type: "plan",
        key,
        name: plan.name,
        quantity: 1,
        price: { amount: p.charges.base + p.charges.seats, currency, interval },
      }),
      { plan, interval, seats, addOns },
    );
  }

  candidates.sort(
    (a, b) =>
      a.option.monthly_delta.amount - b.option.monthly_delta.amount ||
      a.rank - b.rank ||
      a.option.key.localeCompare(b.option.key),
  );
  return candidates[0]?.option ?? null;
}
