import type { MeterDefinition } from "../catalog/document.ts";
import { type BillingInterval, periodAt } from "../periods/billing-period.ts";
import type { EventRejection } from "./events.ts";

type MeterAggregation = MeterDefinition["aggregation"];
type MeterReset = MeterDefinition["reset"];

/**
 * The billing cycle a billing_period meter follows: the subscription's anchor and interval, and the
 * instant it ends or ended when that is known (a cancellation at once, or one scheduled: cancel_at).
 */
export interface BillingCycle {
  readonly anchor: Date;
  readonly interval: BillingInterval;
  /** the end of the subscription (canceled at once, or its cancel_at); null while it runs on */
  readonly endsAt: Date | null;
}

/** The half-open window [start, end) a meter's total is counted in; `end` is null when it never resets. */
export interface UsageWindow {
  readonly start: Date;
  readonly end: Date | null;
}

/** The start of time for meters that never reset. */
export const NEVER_RESETS_START = new Date(0);

function calendarMonth(at: Date): UsageWindow {
  const y = at.getUTCFullYear();
  const m = at.getUTCMonth();
  return { start: new Date(Date.UTC(y, m, 1)), end: new Date(Date.UTC(y, m + 1, 1)) };
}

/**
 * The window an instant belongs to for a meter (the period-of-event rule). An event is counted in
 * the window of its own timestamp, so a late event counts in the period it belongs to.
 *
 * - `never`: one window from the epoch; `calendar_month`: the UTC month.
 * - `billing_period`, before the subscription's end (or with no end): the subscription's period
 *   (anchor and interval, month-end clamping), cut at the end when the end falls inside it.
 * - `billing_period`, at or after the end: the calendar month, its start moved up to the end when
 *   the end falls inside it. Every period of the subscription's life begins before its end and this
 *   window at or after it, so the two never share a start: the invoices of the ended subscription
 *   (a renewal's or the final one's overage, read by period start) never count usage from after the
 *   end, and a late event from before the end still lands in its period and is billed there.
 * - `billing_period` without any subscription: the calendar month.
 */
export function usageWindowAt(reset: MeterReset, cycle: BillingCycle | null, at: Date): UsageWindow {
  if (reset === "never") return { start: NEVER_RESETS_START, end: null };
  if (reset === "calendar_month" || !cycle) return calendarMonth(at);
  const end = cycle.endsAt;
  if (end && at.getTime() >= end.getTime()) {
    const month = calendarMonth(at);
    return month.start.getTime() < end.getTime() ? { start: end, end: month.end } : month;
  }
  const period = periodAt(cycle.anchor, cycle.interval, at);
  return { start: period.start, end: end && end.getTime() < period.end.getTime() ? end : period.end };
}

/** The UTC day of an instant, as the daily-history key (YYYY-MM-DD). */
export function dayOf(at: Date): string {
  return at.toISOString().slice(0, 10);
}

export type Contribution =
  | { readonly ok: true; readonly value: number; readonly unique?: string }
  | { readonly ok: false; readonly code: EventRejection; readonly message: string };

const NUMERIC = /^-?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$/;

/**
 * The most one event adds to a sum or max meter (as a gauge's most): a petabyte in bytes. It keeps
 * every meter total a finite number however many events come (a sum of values near the largest
 * double is Infinity, which no usage report or invoice can show).
 */
export const MAX_USAGE_VALUE = 1e15;

/** A number from 0 to MAX_USAGE_VALUE from a property: a JSON number, or a numeric string ("39.95"). */
export function numericValue(value: unknown): number | null {
  let n: number;
  if (typeof value === "number") n = value;
  else if (typeof value === "string" && NUMERIC.test(value.trim())) n = Number(value);
  else return null;
  return Number.isFinite(n) && n >= 0 && n <= MAX_USAGE_VALUE ? n : null;
}

/**
 * What one event adds to a meter: count → 1; sum → the property's value; max → the property's
 * value (the total is the largest); unique_count → the property's value as a distinct key (the
 * total is the number of distinct keys). A property a meter cannot read rejects the event.
 */
export function meterContribution(
  key: string,
  meter: MeterDefinition,
  properties: Readonly<Record<string, unknown>>,
): Contribution {
  if (meter.aggregation === "count") return { ok: true, value: 1 };
  const property = meter.property ?? "";
  const raw = Object.hasOwn(properties, property) ? properties[property] : undefined;
  if (meter.aggregation === "unique_count") {
    if (
      (typeof raw === "string" && raw.length > 0 && raw.length <= 500) ||
      (typeof raw === "number" && Number.isFinite(raw))
    )
      return { ok: true, value: 1, unique: String(raw) };
    return {
      ok: false,
      code: "invalid_property_value",
      message: `The meter "${key}" counts distinct values of "${property}": send it as a string or number.`,
    };
  }
  const value = numericValue(raw);
  if (value === null) {
    // a cut through a surrogate pair leaves half of it, which a JSON column cannot store
    const got = raw === undefined ? "nothing" : JSON.stringify(raw)?.slice(0, 40).toWellFormed();
    return {
      ok: false,
      code: "invalid_property_value",
      message: `The meter "${key}" ${meter.aggregation === "sum" ? "sums" : "takes the maximum of"} "${property}": send a number from 0 to 1e15, got ${got}.`,
    };
  }
  return { ok: true, value };
}

/** Combines two partial totals of one meter window (count/sum add, max takes the larger). */
export function combineTotals(aggregation: MeterAggregation, a: number, b: number): number {
  return aggregation === "max" ? Math.max(a, b) : a + b;
}

/**
 * The reference aggregation: a meter's total over a set of (deduplicated) events in one window.
 * The server's incremental counters must always equal this; the tests hold them to it.
 */
export function aggregateEvents(
  key: string,
  meter: MeterDefinition,
  events: readonly { readonly event: string; readonly properties: Readonly<Record<string, unknown>> }[],
): number {
  let total = 0;
  const seen = new Set<string>();
  for (const e of events) {
    if (e.event !== meter.event) continue;
    const c = meterContribution(key, meter, e.properties);
    if (!c.ok) continue;
    if (meter.aggregation === "unique_count") {
      if (c.unique !== undefined) seen.add(c.unique);
    } else total = combineTotals(meter.aggregation, total, c.value);
  }
  return meter.aggregation === "unique_count" ? seen.size : total;
}

/** Meters by the event name they count: one event name may feed several meters. */
export function metersByEvent(
  meters: Readonly<Record<string, MeterDefinition>>,
): Map<string, { key: string; meter: MeterDefinition }[]> {
  const map = new Map<string, { key: string; meter: MeterDefinition }[]>();
  for (const [key, meter] of Object.entries(meters)) {
    const list = map.get(meter.event) ?? [];
    list.push({ key, meter });
    map.set(meter.event, list);
  }
  return map;
}
