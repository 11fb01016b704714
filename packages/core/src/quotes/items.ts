import type { BillingInterval } from "../periods/billing-period.ts";
import { amountForQuantity } from "../pricing/price-model.ts";
import { itemAmount, type PricedItem, pricedItem } from "../pricing/proration.ts";
import type { Rational } from "../pricing/rational.ts";
import type { SubscriptionShape } from "../subscriptions/recurring.ts";

/**
 * A subscription as the items it is billed for: the plan's base price, the seats beyond the
 * included ones, each add-on. Proration works item by item, matched by `key`, so a plan switch
 * credits the old plan and charges the new one, and a seat change at the same unit price is one
 * quantity line.
 */
export interface BillableItem {
  /** "plan", "seats" or "add_on:<key>" */
  readonly key: string;
  readonly item: PricedItem;
  /** the exact full-period amount */
  readonly full: Rational;
}

export const intervalAdjective = (interval: BillingInterval) => (interval === "month" ? "monthly" : "annual");

export function subscriptionItems(shape: SubscriptionShape): BillableItem[] {
  const price = shape.plan.prices[shape.interval];
  if (!price) throw new RangeError(`plan "${shape.plan.key}" has no ${shape.interval} price`);
  const items: PricedItem[] = [];
  const keys: string[] = [];
  items.push({
    name: `${shape.plan.name} plan (${intervalAdjective(shape.interval)})`,
    quantity: 1,
    unitAmount: null,
    amount: price.base,
  });
  keys.push("plan");
  let seatAmount = 0;
  if (price.seat) {
    // Seats named by their plan: a plan switch replaces its seats (credit + charge) even at one price.
    const extra = Math.max(0, shape.seats - shape.plan.seats.included);
    items.push(pricedItem(`${shape.plan.name} seat`, price.seat, extra));
    keys.push("seats");
    seatAmount = amountForQuantity(price.seat, extra);
  }
  const planAmount = price.base + seatAmount;
  for (const addOn of shape.addOns) {
    const model = addOn.definition.prices[shape.interval];
    if (!model) throw new RangeError(`add-on "${addOn.key}" has no ${shape.interval} price`);
    items.push(pricedItem(addOn.definition.name, model, addOn.quantity, { planAmount }));
    keys.push(`add_on:${addOn.key}`);
  }
  return items.map((item, i) => ({ key: keys[i] as string, item, full: itemAmount(item) }));
}
