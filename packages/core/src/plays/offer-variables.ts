/**
 * The numbers a play's copy names, computed for one account now from the catalog, its subscription
 * and the quote of the offered change (core's quoteChange at the prompt's instant), so the prompt
 * says exactly what the checkout will charge. Money comes as integer minor units with its formatted
 * text ("$15", "$7.26"); counts with their text ("8,000"). Nothing here reads a clock.
 */

import type { ResolvedCatalog, ResolvedPlan } from "../catalog/validate.ts";
import { combinedGrant } from "../entitlements/compute.ts";
import { overageLines } from "../invoices/renewal.ts";
import { currencyExponent } from "../money/currency.ts";
import { formatMoney, type Money } from "../money/money.ts";
import { addMonthsClamped, type BillingPeriod } from "../periods/billing-period.ts";
import type { QuotePlan } from "../quotes/quote-plan.ts";
import { recurringCharges, type SubscriptionShape } from "../subscriptions/recurring.ts";
import { annualSwitchSavings } from "./annual-savings.ts";
import type { TemplateVariable } from "./variables.ts";

/** A variable the copy may name (the playbook's template variables, variables.ts). */
export type OfferVariableName = TemplateVariable;

export type OfferValue =
  | { readonly kind: "money"; readonly text: string; readonly money: Money }
  | { readonly kind: "count"; readonly text: string; readonly value: number }
  | { readonly kind: "text"; readonly text: string };

/** Only the variables the account's situation supplies: no usage without a feature, no annual math on annual. */
export type OfferVariables = Readonly<Partial<Record<OfferVariableName, OfferValue>>>;

export interface OfferContext {
  readonly catalog: Pick<ResolvedCatalog, "currency" | "features" | "meters" | "plans">;
  readonly account: { readonly name: string };
  /** the member the prompt is for; null for account-level channels */
  readonly member?: { readonly name: string } | null;
  readonly subscription: {
    readonly shape: SubscriptionShape;
    /** when it began: months_subscribed counts whole months from here (month-end clamped) */
    readonly startedAt: Date;
    /** the current billing period, [start, end) */
    readonly period: Pick<BillingPeriod, "start" | "end">;
  };
  /** invited + active members */
  readonly seatsInUse: number;
  /** the trigger's feature and its usage in the current window (usage_ratio, limit_reached) */
  readonly usage?: { readonly feature: string; readonly used: number } | null;
  /** the feature a feature_locked trigger names (no usage) */
  readonly feature?: string | null;
  /** the offered change, priced now; null for an offer of nothing */
  readonly quote?: QuotePlan | null;
  readonly bonus?: string | null;
  /** the month whose missed saving annual.missed_savings tells (default: 3 months ago) */
  readonly annualComparedMonth?: number;
  readonly at: Date;
}

/**
 * "$990", "$7.26", "¥1,500": core's money formatting, without the zeros of whole amounts (the seeds'
 * copy says "$15", never "$15.00").
 */
export function formatOfferMoney(value: Money): string {
  const text = formatMoney(value);
  const exponent = currencyExponent(value.currency);
  if (exponent === 0 || value.amount % 10 ** exponent !== 0) return text;
  return text.replace(/[.,]0+(?=\D*$)/, "");
}

const DAY_SECONDS = 86_400;
const wholeSeconds = (d: Date) => Math.floor(d.getTime() / 1000);

/** Whole months from `start` to `at`, counted on month-end-clamped boundaries. */
export function wholeMonthsBetween(start: Date, at: Date): number {
  if (at.getTime() < start.getTime()) return 0;
  let months = (at.getUTCFullYear() - start.getUTCFullYear()) * 12 + (at.getUTCMonth() - start.getUTCMonth());
  while (months > 0 && addMonthsClamped(start, months).getTime() > at.getTime()) months -= 1;
  return months;
}

/** Whole days left in the period, as the quote's "remaining 15 days" counts them. */
export function wholeDaysLeft(period: Pick<BillingPeriod, "end">, at: Date): number {
  return Math.max(0, Math.floor((wholeSeconds(period.end) - wholeSeconds(at)) / DAY_SECONDS));
}

/**
 * The usage expected by the period's end at the rate so far (linear), rounded up to a whole unit.
 * The first day is extrapolated as a day: a burst in the first minutes is not a rate.
 */
export function projectedUsage(used: number, period: Pick<BillingPeriod, "start" | "end">, at: Date): number {
  const total = wholeSeconds(period.end) - wholeSeconds(period.start);
  const elapsed = Math.max(DAY_SECONDS, wholeSeconds(at) - wholeSeconds(period.start));
  if (elapsed >= total) return Math.ceil(used);
  return Math.ceil((used * total) / elapsed);
}

/** The next plan up by tier that is sold on the interval. */
export function nextPlanUp(
  plans: Readonly<Record<string, ResolvedPlan>>,
  current: ResolvedPlan,
  interval: SubscriptionShape["interval"],
): ResolvedPlan | null {
  let next: ResolvedPlan | null = null;
  for (const plan of Object.values(plans)) {
    if (plan.tier <= current.tier || !plan.prices[interval]) continue;
    if (!next || plan.tier < next.tier) next = plan;
  }
  return next;
}

/** The recurring amount of a shape, or null when something in it is not sold on its interval. */
function recurringOrNull(shape: SubscriptionShape): ReturnType<typeof recurringCharges> | null {
  try {
    return recurringCharges(shape);
  } catch (error) {
    if (error instanceof RangeError) return null;
    throw error;
  }
}

export function offerVariables(context: OfferContext): OfferVariables {
  const { catalog, subscription, at } = context;
  const { shape } = subscription;
  const currency = catalog.currency;
  const out: Partial<Record<OfferVariableName, OfferValue>> = {};
  const money = (name: OfferVariableName, amount: number) => {
    const value = { amount, currency };
    out[name] = { kind: "money", text: formatOfferMoney(value), money: value };
  };
  const count = (name: OfferVariableName, value: number) => {
    out[name] = { kind: "count", text: value.toLocaleString("en-US"), value };
  };
  const text = (name: OfferVariableName, value: string) => {
    out[name] = { kind: "text", text: value };
  };

  text("account.name", context.account.name);
  if (context.member) text("member.name", context.member.name);
  const charges = recurringCharges(shape);
  text("plan.name", shape.plan.name);
  money("plan.price", charges.base + charges.seats);
  text("plan.interval", shape.interval);
  count("seats.used", context.seatsInUse);
  count("seats.limit", shape.seats);
  count("days_left", wholeDaysLeft(subscription.period, at));
  const months = wholeMonthsBetween(subscription.startedAt, at);
  count("months_subscribed", months);
  if (context.bonus) text("bonus", context.bonus);

  const seatPrice = shape.plan.prices[shape.interval]?.seat;
  const roomForSeat = shape.plan.seats.max === null || shape.seats < shape.plan.seats.max;
  const oneMore = seatPrice && roomForSeat ? recurringOrNull({ ...shape, seats: shape.seats + 1 }) : null;
  if (oneMore) money("seat.price", oneMore.total - charges.total);

  const featureKey = context.usage?.feature ?? context.feature ?? null;
  const feature =
    featureKey && Object.hasOwn(catalog.features, featureKey) ? catalog.features[featureKey] : null;
  if (featureKey && feature) text("feature.name", feature.name);

  const next = nextPlanUp(catalog.plans, shape.plan, shape.interval);
  if (next) {
    text("next_plan.name", next.name);
    const nextCharges = recurringOrNull({
      plan: next,
      interval: shape.interval,
      seats: Math.max(shape.seats, next.seats.included),
      addOns: [],
    });
    if (nextCharges) money("next_plan.price", nextCharges.base + nextCharges.seats);
    const grant = featureKey && Object.hasOwn(next.grants, featureKey) ? next.grants[featureKey] : undefined;
    if (grant === "unlimited") text("next_plan.limit", "unlimited");
    else if (typeof grant === "number") count("next_plan.limit", grant);
  }

  const quote = context.quote ?? null;
  if (quote) {
    money("offer.price", quote.recurring.after.amount);
    text("offer.interval", quote.recurring.after.interval);
    money("offer.due_today", quote.totals.amountDue);
  }

  if (context.usage && featureKey && feature) {
    const grant = combinedGrant(featureKey, shape);
    const used = context.usage.used;
    count("usage.used", used);
    if (grant.on && !grant.unlimited && grant.limit !== null) {
      const limit = grant.limit;
      count("usage.limit", limit);
      count("usage.left", Math.max(0, limit - used));
      count("usage.percent", limit > 0 ? Math.floor((used * 100) / limit) : 100);
      usageCost(context, featureKey, used, money);
    }
  }

  if (shape.interval === "month") {
    const annual = recurringOrNull({ ...shape, interval: "year" });
    if (annual) {
      const now = annualSwitchSavings(charges.total, annual.total, months);
      money("annual.paid_so_far", now.paidSoFar);
      money("annual.price", annual.total);
      money("annual.savings", now.savings);
      const compared = context.annualComparedMonth ?? months - 3;
      if (compared >= 0 && compared < months)
        money("annual.missed_savings", annualSwitchSavings(charges.total, annual.total, compared).savings);
    }
  }
  return out;
}

/**
 * overage.cost: the billed overage the usage would run to by the period's end at its rate so far,
 * priced by the renewal's own overage rule; overage.savings: that cost less what the offered change
 * adds to the bill for the same period (never below 0).
 */
function usageCost(
  context: OfferContext,
  featureKey: string,
  used: number,
  money: (name: OfferVariableName, amount: number) => void,
): void {
  const { catalog, subscription } = context;
  const feature = catalog.features[featureKey];
  if (feature?.kind !== "metered" || feature.overage?.policy !== "billed" || !feature.meter) return;
  const projected = projectedUsage(used, subscription.period, context.at);
  const lines = overageLines({
    shape: subscription.shape,
    features: { [featureKey]: feature },
    meters: catalog.meters,
    usage: { meters: { [feature.meter]: projected } },
    period: subscription.period,
  });
  const cost = lines.reduce((sum, line) => sum + line.amount, 0);
  money("overage.cost", cost);
  const quote = context.quote;
  if (quote && quote.recurring.after.interval === quote.recurring.before.interval) {
    const increase = quote.recurring.after.amount - quote.recurring.before.amount;
    money("overage.savings", Math.max(0, cost - increase));
  }
}

/** The text of each variable by name: what a logic-less template renders. */
export function offerTexts(variables: OfferVariables): Readonly<Record<string, string>> {
  const texts: Record<string, string> = {};
  for (const [name, value] of Object.entries(variables)) if (value) texts[name] = value.text;
  return texts;
}
