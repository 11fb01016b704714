/**
 * Billing periods anchored on a billing-cycle anchor, with month-end clamping (Stripe's rule, which
 * users know): boundary k is computed from the anchor, never from the previous boundary, so an anchor
 * on Jan 31 bills on Feb 28 (or 29) and returns to Mar 31; a Feb 29 annual anchor bills on Feb 28 in
 * common years and Feb 29 again in leap years. Periods are half-open [start, end): an instant equal
 * to a period's end belongs to the next period. All arithmetic is in UTC.
 */
export type BillingInterval = "month" | "year";

export interface BillingPeriod {
  readonly start: Date;
  readonly end: Date;
  /** k: the period's index counted from the anchor (period 0 starts at the anchor). */
  readonly index: number;
}

const MONTHS_PER: Record<BillingInterval, number> = { month: 1, year: 12 };

function daysInMonth(year: number, monthIndex: number): number {
  return new Date(Date.UTC(year, monthIndex + 1, 0)).getUTCDate();
}

/** Adds whole months to an instant, clamping the day to the target month's last day. */
export function addMonthsClamped(instant: Date, months: number): Date {
  const totalMonths = instant.getUTCFullYear() * 12 + instant.getUTCMonth() + months;
  const year = Math.floor(totalMonths / 12);
  const month = totalMonths - year * 12;
  const day = Math.min(instant.getUTCDate(), daysInMonth(year, month));
  const result = new Date(instant.getTime());
  result.setUTCFullYear(year, month, day);
  return result;
}

/** The k-th period boundary after the anchor (k may be negative). */
export function periodBoundary(anchor: Date, interval: BillingInterval, k: number): Date {
  return addMonthsClamped(anchor, k * MONTHS_PER[interval]);
}

/** The billing period containing `at`. */
export function periodAt(anchor: Date, interval: BillingInterval, at: Date): BillingPeriod {
  const months =
    (at.getUTCFullYear() - anchor.getUTCFullYear()) * 12 + (at.getUTCMonth() - anchor.getUTCMonth());
  // The calendar-month difference is exact or one too high; step until start <= at < end.
  let k = Math.floor(months / MONTHS_PER[interval]);
  while (periodBoundary(anchor, interval, k).getTime() > at.getTime()) k -= 1;
  while (periodBoundary(anchor, interval, k + 1).getTime() <= at.getTime()) k += 1;
  return {
    start: periodBoundary(anchor, interval, k),
    end: periodBoundary(anchor, interval, k + 1),
    index: k,
  };
}

/** Length of a period in whole seconds. */
export function periodSeconds(period: Pick<BillingPeriod, "start" | "end">): number {
  return Math.round((period.end.getTime() - period.start.getTime()) / 1000);
}
