import { formatCount, MAX_ADD_ONS, MAX_QUANTITY } from "../catalog/bounds.ts";
import type { AddOnDefinition } from "../catalog/document.ts";
import type { ResolvedPlan } from "../catalog/validate.ts";
import type { BillingInterval } from "../periods/billing-period.ts";
import type { SubscriptionShape } from "./recurring.ts";
import { seatsCover } from "./seats.ts";

export interface ShapeViolation {
  readonly code:
    | "interval_not_available"
    | "seat_quantity_above_plan_maximum"
    | "seat_quantity_below_usage"
    | "add_on_not_available"
    | "add_on_quantity_invalid"
    | "add_on_requires"
    | "add_on_interval_not_available"
    | "too_many_add_ons";
  readonly param: string;
  readonly message: string;
}

/** Whether the plan sells the add-on: no `plans` list means every plan does. */
export function addOnOnPlan(definition: AddOnDefinition, plan: Pick<ResolvedPlan, "key">): boolean {
  return !definition.plans || definition.plans.includes(plan.key);
}

/** Whether a subscription on `plan`, billed per `interval`, can hold the add-on. */
export function addOnSold(
  definition: AddOnDefinition,
  plan: Pick<ResolvedPlan, "key">,
  interval: BillingInterval,
): boolean {
  return addOnOnPlan(definition, plan) && definition.prices[interval] !== undefined;
}

/**
 * The rules a subscription's plan, seats and add-ons must keep, whoever changes them (API, quote,
 * checkout). `seatsInUse` is invited + active members: seats cannot drop below the people using them.
 * The quantity bounds (MAX_QUANTITY, MAX_ADD_ONS) are what keep every amount of a shape exact.
 */
export function checkSubscriptionShape(shape: SubscriptionShape, seatsInUse: number): ShapeViolation[] {
  const violations: ShapeViolation[] = [];
  const { plan, interval } = shape;
  if (!plan.prices[interval])
    violations.push({
      code: "interval_not_available",
      param: "interval",
      message: `The ${plan.name} plan is not sold per ${interval}.`,
    });
  if (plan.seats.max !== null && shape.seats > plan.seats.max)
    violations.push({
      code: "seat_quantity_above_plan_maximum",
      param: "seats",
      message: `The ${plan.name} plan has at most ${plan.seats.max} seats; upgrade the plan for more.`,
    });
  else if (shape.seats > MAX_QUANTITY)
    violations.push({
      code: "seat_quantity_above_plan_maximum",
      param: "seats",
      message: `A subscription has at most ${formatCount(MAX_QUANTITY)} seats.`,
    });
  if (!seatsCover(shape.seats, seatsInUse))
    violations.push({
      code: "seat_quantity_below_usage",
      param: "seats",
      message: `${seatsInUse} seats are in use (invited and active members); remove members before reducing seats to ${shape.seats}.`,
    });
  if (shape.addOns.length > MAX_ADD_ONS)
    violations.push({
      code: "too_many_add_ons",
      param: "add_ons",
      message: `A subscription has at most ${MAX_ADD_ONS} add-ons.`,
    });
  const keys = new Set(shape.addOns.map((a) => a.key));
  shape.addOns.forEach((addOn, i) => {
    const at = `add_ons[${i}]`;
    const def = addOn.definition;
    if (!addOnOnPlan(def, plan))
      violations.push({
        code: "add_on_not_available",
        param: `${at}.key`,
        message: `The ${def.name} add-on is not available on the ${plan.name} plan.`,
      });
    if (!def.prices[interval])
      violations.push({
        code: "add_on_interval_not_available",
        param: `${at}.key`,
        message: `The ${def.name} add-on is not sold per ${interval}.`,
      });
    if (
      !Number.isSafeInteger(addOn.quantity) ||
      addOn.quantity < 1 ||
      addOn.quantity > MAX_QUANTITY ||
      (def.quantity === "single" && addOn.quantity !== 1)
    )
      violations.push({
        code: "add_on_quantity_invalid",
        param: `${at}.quantity`,
        message: `The ${def.name} add-on is ${def.quantity === "single" ? "on or off: its quantity is 1" : `bought in whole units, at most ${formatCount(MAX_QUANTITY)}`}.`,
      });
    for (const required of def.requires)
      if (!keys.has(required))
        violations.push({
          code: "add_on_requires",
          param: `${at}.key`,
          message: `The ${def.name} add-on requires the "${required}" add-on.`,
        });
  });
  return violations;
}
