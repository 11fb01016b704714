/**
 * The renewal invoice of a subscription period, as a plain value: the recurring items billed in
 * advance for the new period, and the billed overage of the period that just ended, in arrears
 * (Stripe's and Lago's order: "subscription_cycle" invoices carry next period's fees and last
 * period's usage). Renewals are never prorated (docs/rules.md, periods 6: "renewals bill the new
 * recurring amount"): each item's full-period amount, rounded once per line.
 */
import { MAX_ITEM_AMOUNT } from "../catalog/bounds.ts";
import type { FeatureDefinition, MeterDefinition } from "../catalog/document.ts";
import { combinedGrant } from "../entitlements/compute.ts";
import { type BillingInterval, type BillingPeriod, periodAt } from "../periods/billing-period.ts";
import { recurringAmount, unitAmountOf } from "../pricing/price-model.ts";
import { compareRational, roundToSafeInteger } from "../pricing/rational.ts";
import { subscriptionItems } from "../quotes/items.ts";
import type { QuoteLine } from "../quotes/quote-plan.ts";
import type { SubscriptionShape } from "../subscriptions/recurring.ts";

export type RenewalPeriod = Pick<BillingPeriod, "start" | "end">;

/**
 * The first period a subscription has not been billed for yet.
 *
 * `coveredAt` is the latest instant known to be billed: the start of the subscription's last
 * recorded period (its first, a renewal's, a switch to annual's year), or its creation. The period
 * containing it is covered, so the next one is due — except
 * when the anchor lies after it (a trial that ends at the anchor, an annual → monthly switch that
 * re-anchored at the term end): then the first period is the one starting at the anchor, and the
 * time before it (the trial, the rest of the old term) was already covered.
 */
export function nextRenewalPeriod(input: {
  readonly anchor: Date;
  readonly interval: BillingInterval;
  readonly coveredAt: Date;
}): RenewalPeriod {
  const { anchor, interval, coveredAt } = input;
  if (anchor.getTime() > coveredAt.getTime()) {
    const first = periodAt(anchor, interval, anchor);
    return { start: first.start, end: first.end };
  }
  const covered = periodAt(anchor, interval, coveredAt);
  const next = periodAt(anchor, interval, covered.end);
  return { start: next.start, end: next.end };
}

/** Whether a period is due for its renewal invoice at `at` (periods are half-open: due at its start). */
export const renewalDue = (period: RenewalPeriod, at: Date): boolean =>
  period.start.getTime() <= at.getTime();

/**
 * The recurring lines of a renewal: every item of the subscription at its full-period price. The
 * plan's line is always there (a free plan renews at 0, so the period is on record); an item that
 * costs nothing at quantity 0 (no seats beyond the included ones) is left out.
 */
export function renewalLines(input: {
  readonly shape: SubscriptionShape;
  readonly period: RenewalPeriod;
}): QuoteLine[] {
  const lines: QuoteLine[] = [];
  for (const { key, item, full } of subscriptionItems(input.shape)) {
    const amount = roundToSafeInteger(full);
    if (key !== "plan" && item.quantity === 0 && amount === 0) continue;
    lines.push({
      item: key,
      description: key === "plan" ? item.name : `${item.quantity} × ${item.name}`,
      periodStart: input.period.start,
      periodEnd: input.period.end,
      quantity: item.quantity,
      unitAmount: item.unitAmount,
      amount,
      proration: false,
      kind: "charge",
    });
  }
  return lines;
}

export interface OverageUsage {
  /** the meter totals of the period that ended, by meter key */
  readonly meters: Readonly<Record<string, number>>;
}

/**
 * The billed overage of a period that ended: for each metered feature whose overage policy is
 * `billed`, the usage above the grant in force at the period's end, priced by the feature's
 * overage price. Only meters that reset with the billing period are billed here: a calendar-month
 * or never-resetting meter has no total for a billing period to compare with the grant.
 * A fractional total (a sum meter) is rounded up to the next whole unit: a unit begun is billed.
 * A line bills at most MAX_ITEM_AMOUNT (usage is not bounded, the amounts an invoice holds are).
 */
export function overageLines(input: {
  readonly shape: SubscriptionShape;
  readonly features: Readonly<Record<string, FeatureDefinition>>;
  readonly meters: Readonly<Record<string, MeterDefinition>>;
  readonly usage: OverageUsage;
  readonly period: RenewalPeriod;
}): QuoteLine[] {
  const lines: QuoteLine[] = [];
  for (const [key, feature] of Object.entries(input.features).sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (feature.kind !== "metered" || feature.overage?.policy !== "billed" || !feature.meter) continue;
    const meter = Object.hasOwn(input.meters, feature.meter) ? input.meters[feature.meter] : undefined;
    if (meter?.reset !== "billing_period") continue;
    const grant = combinedGrant(key, input.shape);
    if (!grant.on || grant.unlimited) continue;
    const used = Object.hasOwn(input.usage.meters, feature.meter)
      ? (input.usage.meters[feature.meter] ?? 0)
      : 0;
    const over = Math.min(Math.ceil(Math.max(0, used - (grant.limit ?? 0))), Number.MAX_SAFE_INTEGER);
    if (over === 0) continue;
    const price = feature.overage.price;
    const exact = recurringAmount(price, over);
    const capped = compareRational(exact, MAX_ITEM_AMOUNT) > 0;
    const unit = feature.unit ? ` ${feature.unit}${over === 1 ? "" : "s"}` : "";
    lines.push({
      item: `overage:${key}`,
      description: `${feature.name} overage: ${over}${unit} over ${grant.limit ?? 0}${capped ? " (capped at the most one line bills)" : ""}`,
      periodStart: input.period.start,
      periodEnd: input.period.end,
      quantity: over,
      unitAmount: unitAmountOf(price),
      amount: capped ? MAX_ITEM_AMOUNT : roundToSafeInteger(exact),
      proration: false,
      kind: "charge",
    });
  }
  return lines;
}

/**
 * What is left to bill of an ended subscription's usage: the periods whose billed overage no
 * renewal will invoice, because the renewal that would carry it (the one starting at the period's
 * end) is never drafted once the subscription has ended.
 *
 * Overage is billed in arrears with the next period's renewal, so the periods still unbilled are
 * those from the one holding `coveredAt` (the start of the last recorded period: the latest renewal,
 * whose own period's overage is not billed yet — or the period starting at the anchor when the
 * anchor lies after it, a trial having no overage) up to the end. The last one is cut at `endedAt`
 * (a cancellation mid-period ends it early; one at period end ends it at its own end). Normally
 * that is one period, the last; more only when the subscription was canceled before the renewal
 * of a period already begun was drafted (the job had not run yet).
 *
 * `renewable` says whether renewals may still be drafted for periods begun before the end: true
 * for a subscription whose cancellation at period end has passed but whose stored status has not
 * caught up (the renewal job still drafts every period that began before `cancelAt`), false once
 * it is stored as canceled (renewals skip it). While a renewal is still due before the end, the
 * final usage is not: that renewal bills the period before it, and the final bill waits for it.
 */
export function finalUsage(input: {
  readonly anchor: Date;
  readonly interval: BillingInterval;
  readonly coveredAt: Date;
  readonly endedAt: Date;
  readonly renewable: boolean;
}): { readonly due: false } | { readonly due: true; readonly periods: readonly RenewalPeriod[] } {
  const { anchor, interval, coveredAt, endedAt } = input;
  const next = nextRenewalPeriod({ anchor, interval, coveredAt });
  if (input.renewable && next.start.getTime() < endedAt.getTime()) return { due: false };
  const periods: RenewalPeriod[] = [];
  let period = periodAt(anchor, interval, anchor.getTime() > coveredAt.getTime() ? anchor : coveredAt);
  while (period.start.getTime() < endedAt.getTime()) {
    const end = period.end.getTime() < endedAt.getTime() ? period.end : endedAt;
    periods.push({ start: period.start, end });
    period = periodAt(anchor, interval, period.end);
  }
  return { due: true, periods };
}
