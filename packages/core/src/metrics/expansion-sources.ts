import {
  addRational,
  divideRational,
  multiplyRational,
  negateRational,
  RATIONAL_ZERO,
  type Rational,
  rational,
  subtractRational,
} from "../pricing/rational.ts";
import { committedAmount, countsAsRevenue, MONTHS_IN_INTERVAL, perMonth } from "./mrr.ts";
import type { RevenueState } from "./revenue-state.ts";

/** Where an MRR change came from (docs/metrics.md, "Expansion by source"). */
export const EXPANSION_SOURCES = ["plan", "seats", "add_on", "usage", "interval_change"] as const;
export type ExpansionSource = (typeof EXPANSION_SOURCES)[number];

/** An MRR change split by source: signed parts that add up to the change exactly. */
export type SourceParts = Readonly<Record<ExpansionSource, Rational>>;

export const NO_SOURCE_PARTS: SourceParts = {
  plan: RATIONAL_ZERO,
  seats: RATIONAL_ZERO,
  add_on: RATIONAL_ZERO,
  usage: RATIONAL_ZERO,
  interval_change: RATIONAL_ZERO,
};

export function addSourceParts(a: SourceParts, b: SourceParts): SourceParts {
  return {
    plan: addRational(a.plan, b.plan),
    seats: addRational(a.seats, b.seats),
    add_on: addRational(a.add_on, b.add_on),
    usage: addRational(a.usage, b.usage),
    interval_change: addRational(a.interval_change, b.interval_change),
  };
}

export function sumSourceParts(parts: SourceParts): Rational {
  return EXPANSION_SOURCES.reduce<Rational>((sum, source) => addRational(sum, parts[source]), RATIONAL_ZERO);
}

function negated(parts: SourceParts): SourceParts {
  return {
    plan: negateRational(parts.plan),
    seats: negateRational(parts.seats),
    add_on: negateRational(parts.add_on),
    usage: negateRational(parts.usage),
    interval_change: negateRational(parts.interval_change),
  };
}

/** A subscription appearing: each item is its own source. */
function appearing(state: RevenueState): SourceParts {
  const addOns = state.addOns.reduce((sum, addOn) => sum + addOn.amount, 0);
  return {
    ...NO_SOURCE_PARTS,
    plan: perMonth(state.base, state.interval),
    seats: perMonth(state.seats.amount, state.interval),
    add_on: perMonth(addOns, state.interval),
    usage: perMonth(state.usage, state.interval),
  };
}

const billedSeats = (total: number, included: number) => Math.max(0, total - included);

/**
 * Splits the MRR change of one subscription from one state to another by source. Both in force
 * (same interval), in the interval's amounts, then per month:
 * - seats = what the old plan's seat price charges for the new seats − what it charged for the old
 *   (Δ seats × old unit price; the unit price is the seats' amount ÷ the seats billed, the new
 *   plan's when the old one billed none);
 * - plan = Δ base + the new seats at the new price − the same seats at the old price;
 * - add_on = each add-on added, removed or bought in another quantity; an add-on whose quantity did
 *   not change but whose amount did (a percent-of-plan add-on) follows the plan, or the seats;
 * - usage = Δ the last closed period's usage charges.
 * A change of interval is one decision: its whole committed change is interval_change. A side not in
 * force (absent, trialing, ended) counts as nothing, so the other side's items are the parts.
 */
export function sourcesOfChange(from: RevenueState | null, to: RevenueState | null): SourceParts {
  const a = from && countsAsRevenue(from) ? from : null;
  const b = to && countsAsRevenue(to) ? to : null;
  if (!a && !b) return NO_SOURCE_PARTS;
  if (!a) return appearing(b as RevenueState);
  if (!b) return negated(appearing(a));
  const usage = subtractRational(perMonth(b.usage, b.interval), perMonth(a.usage, a.interval));
  if (a.interval !== b.interval) {
    const interval_change = subtractRational(
      perMonth(committedAmount(b), b.interval),
      perMonth(committedAmount(a), a.interval),
    );
    return { ...NO_SOURCE_PARTS, usage, interval_change };
  }
  const billedA = billedSeats(a.seats.total, a.seats.included);
  const billedB = billedSeats(b.seats.total, b.seats.included);
  const oldUnit =
    billedA > 0
      ? rational(a.seats.amount, billedA)
      : billedB > 0
        ? rational(b.seats.amount, billedB)
        : RATIONAL_ZERO;
  const oldPriceOfNewSeats = multiplyRational(oldUnit, billedSeats(b.seats.total, a.seats.included));
  let seats = subtractRational(oldPriceOfNewSeats, a.seats.amount);
  let plan = addRational(b.base - a.base, subtractRational(b.seats.amount, oldPriceOfNewSeats));
  let addOn: Rational = RATIONAL_ZERO;
  const planChanged = a.plan !== b.plan || a.planVersion !== b.planVersion;
  const seatsChanged = a.seats.amount !== b.seats.amount;
  const keys = new Set([...a.addOns.map((x) => x.key), ...b.addOns.map((x) => x.key)]);
  for (const key of keys) {
    const before = a.addOns.find((x) => x.key === key);
    const after = b.addOns.find((x) => x.key === key);
    const delta = (after?.amount ?? 0) - (before?.amount ?? 0);
    if (before && after && before.quantity === after.quantity && (planChanged || seatsChanged)) {
      if (planChanged) plan = addRational(plan, delta);
      else seats = addRational(seats, delta);
    } else addOn = addRational(addOn, delta);
  }
  const months = MONTHS_IN_INTERVAL[a.interval];
  return {
    plan: divideRational(plan, months),
    seats: divideRational(seats, months),
    add_on: divideRational(addOn, months),
    usage,
    interval_change: RATIONAL_ZERO,
  };
}
