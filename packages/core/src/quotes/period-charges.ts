/**
 * What a billing period charged for each item, the amount a credit for unused time is capped at
 * (docs/rules.md, periods 4): the period's opening — each item's full-period amount in the shape
 * the period began with, recorded when it began — plus the proration lines of the changes made in
 * it. The opening is recorded once (at a subscription's start, a renewal, a switch to annual) and
 * never recomputed from a later shape, so the cap cannot move with the changes made since.
 */
import { roundToSafeInteger } from "../pricing/rational.ts";
import type { SubscriptionShape } from "../subscriptions/recurring.ts";
import { subscriptionItems } from "./items.ts";

/** What was already charged and credited for an item in the current period (the credit cap). */
export interface ItemHistory {
  readonly charged: number;
  readonly credited: number;
}

/** Per item key ("plan", "seats", "add_on:<key>"), the amount charged when the period began. */
export type PeriodOpening = Readonly<Record<string, number>>;

/**
 * The opening of a period that begins with `shape`: every item at its full-period amount, rounded
 * once per item, exactly as its renewal line (or a switch to annual's line for the year) charges it.
 */
export function periodOpening(shape: SubscriptionShape): PeriodOpening {
  return Object.fromEntries(subscriptionItems(shape).map((i) => [i.key, roundToSafeInteger(i.full)]));
}

/** An item's proration lines in a period, added up: charges and credits as non-negative magnitudes. */
export interface ItemChanges {
  readonly item: string;
  readonly charged: number;
  readonly credited: number;
}

/**
 * Each item's history in the period: its opening charge plus the charges of the changes made since,
 * and the credits given. Every item the period knows is present, so an item absent from it was
 * charged nothing in the period.
 */
export function periodHistory(
  opening: PeriodOpening,
  changes: readonly ItemChanges[],
): Record<string, ItemHistory> {
  const history: Record<string, { charged: number; credited: number }> = {};
  for (const [item, amount] of Object.entries(opening)) history[item] = { charged: amount, credited: 0 };
  for (const { item, charged, credited } of changes) {
    const known = Object.hasOwn(history, item) ? history[item] : undefined;
    history[item] = {
      charged: (known?.charged ?? 0) + charged,
      credited: (known?.credited ?? 0) + credited,
    };
  }
  return history;
}
