import type { AddOnDefinition } from "../catalog/document.ts";
import type { ResolvedPlan } from "../catalog/validate.ts";
import type { BillingInterval } from "../periods/billing-period.ts";
import { amountForQuantity } from "../pricing/price-model.ts";

export interface SubscribedAddOn {
  readonly key: string;
  readonly definition: AddOnDefinition;
  readonly quantity: number;
}

export interface SubscriptionShape {
  readonly plan: ResolvedPlan;
  readonly interval: BillingInterval;
  /** total seats, the included ones among them */
  readonly seats: number;
  readonly addOns: readonly SubscribedAddOn[];
}

export interface RecurringCharges {
  readonly base: number;
  /** seats beyond the plan's included ones, at the plan's seat price */
  readonly extraSeats: number;
  readonly seats: number;
  readonly addOns: readonly { readonly key: string; readonly amount: number }[];
  /** per interval, in minor units, before discounts and tax */
  readonly total: number;
}

/** What a subscription costs per billing interval, item by item. */
export function recurringCharges(shape: SubscriptionShape): RecurringCharges {
  const price = shape.plan.prices[shape.interval];
  if (!price) throw new RangeError(`plan "${shape.plan.key}" has no ${shape.interval} price`);
  const extraSeats = Math.max(0, shape.seats - shape.plan.seats.included);
  const seats = extraSeats > 0 && price.seat ? amountForQuantity(price.seat, extraSeats) : 0;
  // Percent-of-plan add-ons (premium support) are a share of the plan's own cost: base and seats.
  const planAmount = price.base + seats;
  const addOns = shape.addOns.map((addOn) => {
    const model = addOn.definition.prices[shape.interval];
    if (!model) throw new RangeError(`add-on "${addOn.key}" has no ${shape.interval} price`);
    return { key: addOn.key, amount: amountForQuantity(model, addOn.quantity, { planAmount }) };
  });
  const total = planAmount + addOns.reduce((sum, a) => sum + a.amount, 0);
  return { base: price.base, extraSeats, seats, addOns, total };
}

/** Annual contract value: what the subscription is worth over a year, in minor units. */
export function annualContractValue(shape: SubscriptionShape): number {
  const { total } = recurringCharges(shape);
  return shape.interval === "month" ? total * 12 : total;
}
