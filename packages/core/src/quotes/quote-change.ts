/**
 * The quote: a proposed change priced as a plain value (Autumn's "compute" layer). The quote
 * endpoint and the checkout call this one function with the same inputs at the quote's frozen
 * instant, so what the customer was shown is exactly what is charged and invoiced.
 */
import { invoiceTotals } from "../invoices/totals.ts";
import { formatMoney } from "../money/money.ts";
import {
  type BillingInterval,
  type BillingPeriod,
  periodAt,
  periodBoundary,
} from "../periods/billing-period.ts";
import {
  capCreditLine,
  prorateAddition,
  prorateChange,
  prorateRemoval,
  recurringLine,
  wholeSecond,
} from "../pricing/proration.ts";
import {
  divideRational,
  type Rational,
  roundToSafeInteger,
  signRational,
  subtractRational,
  toRational,
} from "../pricing/rational.ts";
import { recurringCharges, type SubscriptionShape } from "../subscriptions/recurring.ts";
import { checkSubscriptionShape } from "../subscriptions/shape-rules.ts";
import { type ChangeComponent, changeComponents, changeTiming } from "./change-rules.ts";
import { type BillableItem, subscriptionItems } from "./items.ts";
import { type ItemHistory, periodHistory, periodOpening } from "./period-charges.ts";
import type {
  OpenedPeriod,
  QuoteInput,
  QuoteLine,
  QuotePlan,
  QuoteRefusal,
  QuoteResult,
  QuoteSubscription,
} from "./quote-plan.ts";
import { formatDate, quoteSummary, splitSummary } from "./summary.ts";

const perMonth = (amount: number, interval: BillingInterval): Rational =>
  interval === "month" ? toRational(amount) : divideRational(amount, 12);

function recurringChange(from: SubscriptionShape, to: SubscriptionShape): QuotePlan["recurring"] {
  const before = recurringCharges(from).total;
  const after = recurringCharges(to).total;
  return {
    before: { amount: before, interval: from.interval },
    after: { amount: after, interval: to.interval },
    deltaPerMonth: roundToSafeInteger(
      subtractRational(perMonth(after, to.interval), perMonth(before, from.interval)),
    ),
  };
}

function sameItem(a: BillableItem, b: BillableItem): boolean {
  return (
    a.item.name === b.item.name &&
    a.item.quantity === b.item.quantity &&
    a.item.unitAmount === b.item.unitAmount &&
    signRational(subtractRational(a.full, b.full)) === 0
  );
}

/** Credit for unused time and charge for remaining time, item by item (docs/rules.md, periods 3). */
function prorationLines(
  from: readonly BillableItem[],
  to: readonly BillableItem[],
  period: Pick<BillingPeriod, "start" | "end">,
  at: Date,
  currency: string,
): QuoteLine[] {
  const before = new Map(from.map((i) => [i.key, i]));
  const after = new Map(to.map((i) => [i.key, i]));
  const keys = [...new Set([...before.keys(), ...after.keys()])];
  const lines: QuoteLine[] = [];
  const base = { period, at, currency };
  for (const key of keys) {
    const a = before.get(key);
    const b = after.get(key);
    if (a && b) {
      if (sameItem(a, b)) continue;
      for (const line of prorateChange({ ...base, from: a.item, to: b.item })) {
        // Nothing is credited for an item that cost nothing, nor charged for one that costs nothing.
        if (line.kind === "credit" && signRational(a.full) === 0) continue;
        if (line.kind === "charge" && signRational(b.full) === 0) continue;
        lines.push({ ...line, item: key });
      }
    } else if (a) {
      if (signRational(a.full) > 0) lines.push({ ...prorateRemoval({ ...base, item: a.item }), item: key });
    } else if (b) {
      if (signRational(b.full) > 0) lines.push({ ...prorateAddition({ ...base, item: b.item }), item: key });
    }
  }
  return lines;
}

/** Caps each item's credits at what was charged for it this period, less earlier credits. */
function capCredits(
  lines: readonly QuoteLine[],
  history: Readonly<Record<string, ItemHistory>>,
): QuoteLine[] {
  return lines.map((line) => {
    if (line.kind !== "credit") return line;
    const known = Object.hasOwn(history, line.item) ? history[line.item] : undefined;
    return { ...capCreditLine(line, known?.charged ?? 0, known?.credited ?? 0), item: line.item };
  });
}

/**
 * The period a change at `at` is priced against: the rest of the trial while one runs (nothing is
 * prorated in it), else the billing period containing `at`. The quote prices its change for what is
 * left of this period; the next period is the next renewal's.
 */
export function quotePeriod(
  subscription: Pick<QuoteSubscription, "billingCycleAnchor" | "trialEnd">,
  interval: BillingInterval,
  at: Date,
): { readonly trialing: boolean; readonly period: Pick<BillingPeriod, "start" | "end"> } {
  const { trialEnd } = subscription;
  if (trialEnd !== null && at.getTime() < trialEnd.getTime())
    return { trialing: true, period: { start: at, end: trialEnd } };
  const { start, end } = periodAt(subscription.billingCycleAnchor, interval, at);
  return { trialing: false, period: { start, end } };
}

/**
 * Whether a quote whose change is priced against `period` (quotePeriod at its frozen instant) can no
 * longer be applied at `at`. The quote bills the change for the rest of that period only, and the
 * next period's renewal bills the subscription as it stands when the renewal is drafted: a change
 * applied once that renewal exists would never be billed for the next period (or, for a switch to
 * annual, which re-anchors, billed twice). So a quote lapses when its period ends, whether or not
 * the renewal job has run yet (a checkout's outcome does not depend on the job's timing), and also
 * as soon as the next period is billed (`lastBilled`, the start of the subscription's last recorded
 * period, is at or after the period's end), which a clock that runs behind the
 * renewing node's would not tell.
 */
export function quoteLapsed(
  period: Pick<BillingPeriod, "end">,
  at: Date,
  lastBilled: Date | null = null,
): boolean {
  const end = period.end.getTime();
  return at.getTime() >= end || (lastBilled !== null && lastBilled.getTime() >= end);
}

export function quoteChange(input: QuoteInput): QuoteResult {
  const { subscription, target, at } = input;
  const from = subscription.shape;
  const ending = endingRefusal(subscription, at);
  if (ending) return { ok: false, refusal: ending };
  const violation = checkSubscriptionShape(target, input.seatsInUse)[0];
  if (violation) return { ok: false, refusal: violation };
  const components = changeComponents(from, target);
  const { trialing, period } = quotePeriod(subscription, from.interval, at);
  // The subscription as it is, asked for while a change waits for the period end: that change is
  // canceled, nothing else happens (the quote's summary says so).
  const keeps = components.length === 0 && input.scheduled != null;
  const timing = keeps
    ? ({ timing: "immediate", resetAnchor: false } as const)
    : changeTiming(from, target, input.policy, trialing);
  if (timing.timing === "refused") {
    const plan = components.length === 0 && from.plan.key === target.plan.key;
    return {
      ok: false,
      refusal: {
        code: plan ? "already_on_plan" : timing.code,
        param: "plan",
        message: `The subscription is already on the ${from.plan.name} plan with these seats and add-ons.`,
      },
    };
  }
  if (timing.timing === "split") return quoteSplit(input, components, timing.now);
  const currency = subscription.currency;
  const fromItems = subscriptionItems(from);
  const toItems = subscriptionItems(target);

  let lines: QuoteLine[] = [];
  let newAnchor: Date | null = null;
  let opens: OpenedPeriod | null = null;
  let effectiveAt = at;
  let nextInvoiceDate = period.end;
  if (timing.timing === "period_end") {
    effectiveAt = period.end;
    if (from.interval !== target.interval) newAnchor = period.end;
  } else if (trialing) {
    lines = [];
  } else if (timing.resetAnchor) {
    // Monthly → annual: credit the unused month, charge a full year from now (Stripe's rule).
    newAnchor = new Date(wholeSecond(at) * 1000);
    const year = { start: newAnchor, end: periodBoundary(newAnchor, target.interval, 1) };
    const credits = prorationLines(fromItems, [], period, at, currency);
    const charges = toItems
      .filter((i) => signRational(i.full) > 0)
      .map((i) => ({ ...recurringLine({ period: year, currency, item: i.item }), item: i.key }));
    lines = [...credits, ...charges];
    nextInvoiceDate = year.end;
    opens = { period: year, opening: periodOpening(target) };
  } else {
    lines = prorationLines(fromItems, toItems, period, at, currency);
  }
  lines = capCredits(lines, input.history ?? periodHistory(periodOpening(from), []));
  const totals = invoiceTotals(lines, input.creditBalance);
  const recurring = recurringChange(from, target);
  const nextAmount = Math.max(0, recurring.after.amount - totals.creditBalanceAfter);
  const plan: Omit<QuotePlan, "summary"> = {
    timing: timing.timing,
    trial: trialing,
    at,
    effectiveAt,
    period: { start: period.start, end: period.end },
    newAnchor,
    from,
    to: target,
    components,
    lines,
    totals,
    split: null,
    recurring,
    nextInvoice: { date: nextInvoiceDate, amount: nextAmount },
    replacesScheduled: input.scheduled ?? null,
    opens,
  };
  return { ok: true, plan: { ...plan, summary: quoteSummary(plan, currency) } };
}

/** Whether a subscription canceled for `cancelAt` is still running toward that end at `at`: it takes no change. */
export function isEndingAt(cancelAt: Date | null | undefined, at: Date): cancelAt is Date {
  return cancelAt != null && at.getTime() < cancelAt.getTime();
}

/**
 * A subscription canceled for a later instant takes no change until it is resumed. Every kind of
 * change would mislead: a quote's "next invoice" that never comes, a change scheduled for the end
 * that never applies, an upgrade that charges today for what ends at the period end anyway, and a
 * switch to annual that charges a year for the weeks left. So it is refused with the date, and the
 * customer resumes first (Chargebee's rule: no changes while a cancellation is scheduled).
 */
function endingRefusal(subscription: QuoteSubscription, at: Date): QuoteRefusal | null {
  const { cancelAt } = subscription;
  if (!isEndingAt(cancelAt, at)) return null;
  return {
    code: "subscription_ending",
    param: "account",
    message: `The subscription is canceled as of ${formatDate(cancelAt)} and takes no change before then. Resume it first (cancel_at_period_end: false), then ask for a new quote.`,
  };
}

/**
 * A split change is quoted as its two parts, each by the rules above and nothing else: the parts
 * applied now (`now`, changeTiming's split), from the subscription as it is — an immediate change,
 * prorated and charged — then the rest from there to the whole target — a change at period end, with
 * no credit — spending only the credit the first part leaves. The one quote charges the first
 * part's lines, and its recurring amount and next invoice are those after both.
 */
function quoteSplit(
  input: QuoteInput,
  components: readonly ChangeComponent[],
  nowShape: SubscriptionShape,
): QuoteResult {
  const { subscription, target } = input;
  const first = quoteChange({ ...input, target: nowShape });
  if (!first.ok) return first;
  const now = first.plan;
  const second = quoteChange({
    ...input,
    subscription: { ...subscription, shape: now.to },
    creditBalance: now.totals.creditBalanceAfter,
  });
  if (!second.ok) return second;
  const later = second.plan;
  if (now.timing !== "immediate" || later.timing !== "period_end")
    throw new Error(`a split change came apart as ${now.timing} + ${later.timing}`);
  const plan: Omit<QuotePlan, "summary"> = {
    timing: "split",
    trial: false,
    at: now.at,
    effectiveAt: now.effectiveAt,
    period: now.period,
    newAnchor: null,
    from: subscription.shape,
    to: target,
    components,
    lines: now.lines,
    totals: now.totals,
    split: {
      now: { to: now.to, components: now.components },
      scheduled: {
        effectiveAt: later.effectiveAt,
        to: target,
        components: later.components,
        newAnchor: later.newAnchor,
      },
    },
    recurring: recurringChange(subscription.shape, target),
    nextInvoice: later.nextInvoice,
    replacesScheduled: input.scheduled ?? null,
    opens: null,
  };
  return { ok: true, plan: { ...plan, summary: splitSummary(now, later, plan, subscription.currency) } };
}

/** "$7.26" in the quote's currency. */
export const formatAmount = (amount: number, currency: string) => formatMoney({ amount, currency });
