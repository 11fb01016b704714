/**
 * Proration (docs/rules.md, "Periods and proration", which are Stripe's rules):
 *
 * - The fraction is f = (period_end − t) ÷ (period_end − period_start) in whole seconds, kept exact.
 *   Every instant is truncated to the whole second containing it (milliseconds are dropped, i.e.
 *   floored), so f = 1 anywhere in the first second of a period, f = 0 at its end, and two changes
 *   in the same second see the same f.
 * - A price change is a credit −R(q₀·p₀·f) on what is replaced and a charge +R(q₁·p₁·f) on what is
 *   new; a quantity-only change at the same unit price is one line R(Δq·p·f); an added item is
 *   +R(q·p·f); a removed item (immediate-with-credit) is −R(q·p·f).
 * - R rounds once per line, half away from zero, to the currency's minor unit. Amounts are already
 *   integers of minor units, so R rounds to an integer. The fraction and prorated unit prices are
 *   never rounded.
 *
 * These functions return invoice lines, never totals: the invoice sums its lines.
 */

import type { PriceModel } from "../catalog/price-model.ts";
import { type Currency, currencyExponent } from "../money/currency.ts";
import { memoize } from "../money/memoize.ts";
import type { BillingPeriod } from "../periods/billing-period.ts";
import { type PriceContext, recurringAmount, unitAmountOf } from "./price-model.ts";
import {
  multiplyRational,
  negateRational,
  type Rational,
  type RationalLike,
  rational,
  roundToSafeInteger,
  signRational,
  toRational,
} from "./rational.ts";

/** The bounds of a billing period; `periodAt(...)` returns one. */
export type ProrationPeriod = Pick<BillingPeriod, "start" | "end">;

export interface InvoiceLine {
  readonly description: string;
  /** Start of the time the line covers: the change instant (truncated to the second) for prorations. */
  readonly periodStart: Date;
  readonly periodEnd: Date;
  /** Units the line is for (always ≥ 0; for a quantity change, |Δq|). */
  readonly quantity: number;
  /** The full-period price of one unit in minor units, or null when the item is priced as a whole. */
  readonly unitAmount: number | null;
  /** Integer minor units: ≥ 0 for a charge, ≤ 0 for a credit. */
  readonly amount: number;
  readonly proration: boolean;
  readonly kind: "charge" | "credit";
}

/**
 * Something billed per period: a plan, a seat price with its quantity, an add-on. Build one from a
 * catalog price with `pricedItem`.
 */
export interface PricedItem {
  /** What the customer reads on the line, e.g. "Pro seat". */
  readonly name: string;
  readonly quantity: number;
  /** The full-period price of one unit (per_unit prices), or null when priced as a whole. */
  readonly unitAmount: number | null;
  /**
   * The item's recurring amount for one whole period, net of the discounts in force, in minor units.
   * May be an exact Rational (e.g. after a percentage discount): it is never rounded before prorating.
   * Defaults to quantity × unitAmount; required when unitAmount is null.
   */
  readonly amount?: RationalLike;
}

/**
 * A catalog price at a quantity, as a PricedItem: per_unit prices keep their unit price (so a seat
 * count change is one quantity line); every other model carries its exact full-period amount.
 */
export function pricedItem(
  name: string,
  model: PriceModel,
  quantity: number,
  context: PriceContext = {},
): PricedItem {
  const unitAmount = unitAmountOf(model);
  const amount = recurringAmount(model, quantity, context);
  return unitAmount === null ? { name, quantity, unitAmount, amount } : { name, quantity, unitAmount };
}

/** Shared inputs of every proration: where in which period, in which currency. */
export interface ProrationAt {
  readonly period: ProrationPeriod;
  /** The instant of the change (the quote's frozen instant, or the charge's). */
  readonly at: Date;
  readonly currency: Currency;
}

/** The whole UTC second containing an instant, in seconds since the epoch (milliseconds floored). */
export function wholeSecond(instant: Date): number {
  const ms = instant.getTime();
  if (Number.isNaN(ms)) throw new RangeError("invalid date");
  return Math.floor(ms / 1000);
}

/**
 * f = (period_end − t) ÷ (period_end − period_start), in whole seconds, exact. `at` must lie in
 * [start, end]: f = 1 at (and anywhere in the first second after) the start, f = 0 at the end.
 */
export function prorationFraction(period: ProrationPeriod, at: Date): Rational {
  const start = wholeSecond(period.start);
  const end = wholeSecond(period.end);
  if (end <= start) {
    throw new RangeError(`period must last at least a second: ${iso(period.start)} → ${iso(period.end)}`);
  }
  const t = wholeSecond(at);
  if (at.getTime() < period.start.getTime() || at.getTime() > period.end.getTime()) {
    throw new RangeError(`${iso(at)} is outside the period ${iso(period.start)} → ${iso(period.end)}`);
  }
  return rational(end - t, end - start);
}

function iso(d: Date): string {
  return Number.isNaN(d.getTime()) ? "Invalid Date" : d.toISOString();
}

function assertQuantity(quantity: number, what: string): void {
  if (!Number.isSafeInteger(quantity) || quantity < 0) {
    throw new RangeError(`${what} must be a non-negative integer, got ${quantity}`);
  }
}

function assertUnitAmount(unitAmount: number | null, what: string): void {
  if (unitAmount !== null && (!Number.isSafeInteger(unitAmount) || unitAmount < 0)) {
    throw new RangeError(`${what} must be a non-negative integer of minor units, got ${unitAmount}`);
  }
}

function assertNonNegative(amount: Rational, what: string): void {
  if (signRational(amount) < 0) throw new RangeError(`${what} must not be negative`);
}

/** The exact full-period amount of an item (its `amount`, or quantity × unitAmount). */
export function itemAmount(item: PricedItem): Rational {
  assertQuantity(item.quantity, `quantity of "${item.name}"`);
  assertUnitAmount(item.unitAmount, `unitAmount of "${item.name}"`);
  let amount: Rational;
  if (item.amount !== undefined) amount = toRational(item.amount);
  else if (item.unitAmount !== null) amount = rational(BigInt(item.quantity) * BigInt(item.unitAmount));
  else throw new RangeError(`"${item.name}" has no unitAmount, so it needs an amount`);
  assertNonNegative(amount, `amount of "${item.name}"`);
  return amount;
}

/** R: round once, half away from zero, to the currency's minor unit. Never returns -0. */
function roundLine(exact: Rational, currency: Currency): number {
  currencyExponent(currency); // amounts are minor units of a known currency: R rounds to an integer
  return roundToSafeInteger(exact);
}

const isoDay = memoize((ms: number) => new Date(ms).toISOString().slice(0, 10));
const day = (instant: Date) => isoDay(instant.getTime());

interface LineWindow {
  readonly fraction: Rational;
  readonly periodStart: Date;
  readonly periodEnd: Date;
}

function windowOf(input: ProrationAt): LineWindow {
  const fraction = prorationFraction(input.period, input.at);
  const truncated = new Date(wholeSecond(input.at) * 1000);
  const periodStart = truncated.getTime() < input.period.start.getTime() ? input.period.start : truncated;
  return { fraction, periodStart, periodEnd: input.period.end };
}

function prorationLine(
  kind: "charge" | "credit",
  exact: Rational,
  window: LineWindow,
  currency: Currency,
  fields: { description: string; quantity: number; unitAmount: number | null },
): InvoiceLine {
  const prorated = multiplyRational(exact, window.fraction);
  return {
    ...fields,
    periodStart: window.periodStart,
    periodEnd: window.periodEnd,
    amount: roundLine(kind === "credit" ? negateRational(prorated) : prorated, currency),
    proration: true,
    kind,
  };
}

const unusedTime = (quantity: number, name: string, at: Date) =>
  `Unused time on ${quantity} × ${name} after ${day(at)}`;
const remainingTime = (quantity: number, name: string, at: Date) =>
  `Remaining time on ${quantity} × ${name} after ${day(at)}`;

/**
 * A price change (plan switch, or price and quantity together): a credit −R(A₀·f) for what is
 * replaced and a charge +R(A₁·f) for what is new, where A is each item's full-period amount. Returns
 * [credit, charge]. Cap the credit with `capCreditLine` when earlier credits exist for the item.
 */
export function prorateReplacement(
  input: ProrationAt & {
    readonly replaced: PricedItem;
    readonly replacement: PricedItem;
    readonly descriptions?: { readonly credit?: string; readonly charge?: string };
  },
): readonly [credit: InvoiceLine, charge: InvoiceLine] {
  const window = windowOf(input);
  const { replaced, replacement } = input;
  const credit = prorationLine("credit", itemAmount(replaced), window, input.currency, {
    description: input.descriptions?.credit ?? unusedTime(replaced.quantity, replaced.name, input.at),
    quantity: replaced.quantity,
    unitAmount: replaced.unitAmount,
  });
  const charge = prorationLine("charge", itemAmount(replacement), window, input.currency, {
    description:
      input.descriptions?.charge ?? remainingTime(replacement.quantity, replacement.name, input.at),
    quantity: replacement.quantity,
    unitAmount: replacement.unitAmount,
  });
  return [credit, charge];
}

/**
 * A quantity-only change at the same unit price: ONE line R(Δq·p·f), a charge when seats are added
 * and a credit when removed, so a quote's "$7.26 today" is exactly the invoice line. Returns null
 * when the quantity does not change. `netUnitAmount` is p net of the discounts in force (exact,
 * defaults to `unitAmount`); the line shows the list `unitAmount`.
 */
export function prorateQuantityChange(
  input: ProrationAt & {
    readonly name: string;
    readonly unitAmount: number;
    readonly netUnitAmount?: RationalLike;
    readonly fromQuantity: number;
    readonly toQuantity: number;
    readonly description?: string;
  },
): InvoiceLine | null {
  assertQuantity(input.fromQuantity, "fromQuantity");
  assertQuantity(input.toQuantity, "toQuantity");
  assertUnitAmount(input.unitAmount, "unitAmount");
  const window = windowOf(input);
  const delta = input.toQuantity - input.fromQuantity;
  if (delta === 0) return null;
  const unit = toRational(input.netUnitAmount ?? input.unitAmount);
  assertNonNegative(unit, "netUnitAmount");
  const quantity = Math.abs(delta);
  const kind = delta > 0 ? "charge" : "credit";
  const describe = kind === "charge" ? remainingTime : unusedTime;
  return prorationLine(kind, multiplyRational(unit, quantity), window, input.currency, {
    description: input.description ?? describe(quantity, input.name, input.at),
    quantity,
    unitAmount: input.unitAmount,
  });
}

type ItemAt = ProrationAt & { readonly item: PricedItem; readonly description?: string };

/** One prorated line for a whole item: a charge for what is added, a credit for what is removed. */
function prorateItem(kind: "charge" | "credit", input: ItemAt): InvoiceLine {
  const { item } = input;
  const describe = kind === "charge" ? remainingTime : unusedTime;
  return prorationLine(kind, itemAmount(item), windowOf(input), input.currency, {
    description: input.description ?? describe(item.quantity, item.name, input.at),
    quantity: item.quantity,
    unitAmount: item.unitAmount,
  });
}

/** An item added mid-period (seat pack, add-on): one charge +R(A·f). */
export function prorateAddition(input: ItemAt): InvoiceLine {
  return prorateItem("charge", input);
}

/**
 * An item removed mid-period with immediate credit (only when configured: by default removals apply
 * at period end with no credit): one credit −R(A·f). Cap it with `capCreditLine`.
 */
export function prorateRemoval(input: ItemAt): InvoiceLine {
  return prorateItem("credit", input);
}

/**
 * Whether replacing `from` by `to` is a quantity-only change at one unit price, billed as the one
 * line R(Δq·p·f); any other change of an item is a replacement (credit and charge).
 */
export function isQuantityChange(from: PricedItem, to: PricedItem): boolean {
  return (
    from.unitAmount !== null &&
    from.unitAmount === to.unitAmount &&
    from.amount === undefined &&
    to.amount === undefined &&
    from.name === to.name
  );
}

/**
 * Any change of one item from `from` to `to`: one quantity line when only the quantity changes at
 * the same list unit price (both per-unit, same unitAmount, no `amount` override), otherwise a
 * credit and a charge. No lines when nothing changes.
 */
export function prorateChange(
  input: ProrationAt & { readonly from: PricedItem; readonly to: PricedItem },
): InvoiceLine[] {
  const { from, to } = input;
  if (isQuantityChange(from, to)) {
    const line = prorateQuantityChange({
      period: input.period,
      at: input.at,
      currency: input.currency,
      name: to.name,
      unitAmount: from.unitAmount as number,
      fromQuantity: from.quantity,
      toQuantity: to.quantity,
    });
    return line === null ? [] : [line];
  }
  return [...prorateReplacement({ ...input, replaced: from, replacement: to })];
}

/** A full-period (non-prorated) charge for an item, e.g. a renewal: +R(A). */
export function recurringLine(
  input: Omit<ProrationAt, "at"> & { readonly item: PricedItem; readonly description?: string },
): InvoiceLine {
  const { item } = input;
  return {
    description: input.description ?? `${item.quantity} × ${item.name}`,
    periodStart: input.period.start,
    periodEnd: input.period.end,
    quantity: item.quantity,
    unitAmount: item.unitAmount,
    amount: roundLine(itemAmount(item), input.currency),
    proration: false,
    kind: "charge",
  };
}

function assertMinorUnits(amount: number, what: string): void {
  if (!Number.isSafeInteger(amount) || amount < 0) {
    throw new RangeError(`${what} must be a non-negative integer of minor units, got ${amount}`);
  }
}

/**
 * A credit for unused time never exceeds what was charged for that item and period, less earlier
 * credits. All three are non-negative magnitudes in minor units; returns the credit to give
 * (min(credit, max(0, chargedSoFar − creditedSoFar))).
 */
export function capCredit(credit: number, chargedSoFar: number, creditedSoFar: number): number {
  assertMinorUnits(credit, "credit");
  assertMinorUnits(chargedSoFar, "chargedSoFar");
  assertMinorUnits(creditedSoFar, "creditedSoFar");
  return Math.min(credit, Math.max(0, chargedSoFar - creditedSoFar));
}

/** `capCredit` applied to a credit line (charges are returned unchanged). */
export function capCreditLine(line: InvoiceLine, chargedSoFar: number, creditedSoFar: number): InvoiceLine {
  if (line.kind !== "credit") return line;
  const capped = capCredit(-line.amount, chargedSoFar, creditedSoFar);
  return capped === -line.amount ? line : { ...line, amount: capped === 0 ? 0 : -capped };
}
