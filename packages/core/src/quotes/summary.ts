import { memoize } from "../money/memoize.ts";
import { formatMoney } from "../money/money.ts";
import { wholeSecond } from "../pricing/proration.ts";
import type { ChangeComponent } from "./change-rules.ts";
import { intervalAdjective } from "./items.ts";
import type { QuotePlan } from "./quote-plan.ts";

/**
 * Plain-language sentences built only from the quote's numbers, so the copy can never disagree
 * with the invoice ("Adding 1 seat adds $15.00 to your monthly bill. $7.26 is due today for the
 * remaining 15 days of this cycle." — the seat-invite example of the seed articles).
 */
const DATE = new Intl.DateTimeFormat("en-US", {
  year: "numeric",
  month: "short",
  day: "numeric",
  timeZone: "UTC",
});
const formatInstant = memoize((ms: number) => DATE.format(ms));
export const formatDate = (d: Date) => formatInstant(d.getTime());

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** From when a change moves the bill, if not now. */
const fromWhen = (plan: Omit<QuotePlan, "summary">) =>
  plan.timing === "period_end" ? ` from ${formatDate(plan.effectiveAt)}` : "";

/** What the change does to the recurring bill ("adds $15.00 to your monthly bill"), and from when. */
function billMove(plan: Omit<QuotePlan, "summary">, currency: string): string {
  const money = (amount: number) => formatMoney({ amount, currency });
  const { before, after } = plan.recurring;
  const bill = `your ${intervalAdjective(after.interval)} bill`;
  const delta = after.amount - before.amount;
  return `${delta >= 0 ? `adds ${money(delta)} to ${bill}` : `lowers ${bill} by ${money(-delta)}`}${fromWhen(plan)}`;
}

function headline(plan: Omit<QuotePlan, "summary">, currency: string): string {
  const money = (amount: number) => formatMoney({ amount, currency });
  const { before, after } = plan.recurring;
  const moves = billMove(plan, currency);
  const only = plan.components.length === 1 ? (plan.components[0] as ChangeComponent) : null;
  const interval = plan.components.find((c) => c.type === "interval");
  if (interval?.type === "interval") {
    if (interval.to === "year") {
      const yearly = before.amount * 12;
      const saving = yearly - after.amount;
      return `Switching to annual billing: ${money(after.amount)} a year instead of ${money(yearly)} a year on monthly billing${
        saving > 0 ? ` — you save ${money(saving)} a year` : ""
      }.`;
    }
    return `Switching to monthly billing at the end of your annual term on ${formatDate(plan.effectiveAt)}: ${money(after.amount)} a month.`;
  }
  if (only?.type === "seats") {
    const n = Math.abs(only.to - only.from);
    return `${only.to > only.from ? "Adding" : "Removing"} ${plural(n, "seat")} ${moves}.`;
  }
  const planChange = plan.components.find((c) => c.type === "plan");
  if (planChange?.type === "plan" && plan.components.every((c) => c.type !== "add_on"))
    return `${planChange.direction === "upgrade" ? "Upgrading" : "Moving"} from ${planChange.from} to ${planChange.to} ${moves}.`;
  if (only?.type === "plan")
    return `${only.direction === "upgrade" ? "Upgrading" : "Moving"} from ${only.from} to ${only.to} ${moves}.`;
  if (only?.type === "add_on") {
    const what =
      only.from === 0
        ? `Adding ${only.name}`
        : only.to === 0
          ? `Removing ${only.name}`
          : `Going from ${only.from} to ${only.to} × ${only.name}`;
    return `${what} ${moves}.`;
  }
  return `Your ${intervalAdjective(after.interval)} bill goes from ${money(before.amount)} to ${money(after.amount)}${fromWhen(plan)}.`;
}

export function quoteSummary(plan: Omit<QuotePlan, "summary">, currency: string): string[] {
  if (plan.components.length === 0 && plan.replacesScheduled)
    return [
      `Your change scheduled for ${formatDate(plan.replacesScheduled.effectiveAt)} is canceled: your subscription stays as it is.`,
      ...today(plan, currency),
      nextInvoice(plan, currency),
    ];
  return [headline(plan, currency), ...today(plan, currency), ...replaced(plan), nextInvoice(plan, currency)];
}

/**
 * A split change in the words of its two parts (each plan as quoteChange priced it on its own): what
 * the raises add and cost today, what the reductions lower and from when, and the next invoice
 * after both ("Adding 2 seats adds $30.00 to your monthly bill. $14.52 is due today for the remaining
 * 15 days of this cycle. Removing Advanced reporting lowers your monthly bill by $29.00 from Feb 1,
 * 2026. Your next invoice, on Feb 1, 2026, will be $144.00.").
 */
export function splitSummary(
  now: Omit<QuotePlan, "summary">,
  later: Omit<QuotePlan, "summary">,
  plan: Omit<QuotePlan, "summary">,
  currency: string,
): string[] {
  return [
    headline(now, currency),
    ...today(now, currency),
    headline(later, currency),
    ...replaced(plan),
    nextInvoice(plan, currency),
  ];
}

/**
 * The invite preview's words when all `seats` are taken: the quote that admits the member, said of
 * them — one more seat ("All 5 seats are taken. Adding this member adds $15.00 to your monthly bill.
 * $7.26 is due today for the remaining 15 days of this cycle.") or, when the plan sells no more
 * seats, the plan that has them ("All 3 seats are taken, the most the Free plan has. Adding this
 * member means upgrading to Starter, which adds $99.00 to your monthly bill. …").
 */
export function inviteSummary(plan: Omit<QuotePlan, "summary">, currency: string, seats: number): string {
  const move = plan.components.find((c) => c.type === "plan");
  const [taken, adding] =
    move?.type === "plan"
      ? [
          `All ${seats} seats are taken, the most the ${move.from} plan has.`,
          `Adding this member means upgrading to ${move.to}, which ${billMove(plan, currency)}.`,
        ]
      : [`All ${seats} seats are taken.`, `Adding this member ${billMove(plan, currency)}.`];
  return [taken, adding, ...today(plan, currency), ...replaced(plan)].join(" ");
}

/** The pending scheduled change the new one cancels, so the customer is not surprised at renewal. */
const replaced = (plan: Omit<QuotePlan, "summary">): string[] =>
  plan.replacesScheduled
    ? [
        `Your change scheduled for ${formatDate(plan.replacesScheduled.effectiveAt)} is canceled and replaced by this one.`,
      ]
    : [];

/** What is due today and what happens to the credit balance. */
function today(plan: Omit<QuotePlan, "summary">, currency: string): string[] {
  const money = (amount: number) => formatMoney({ amount, currency });
  const sentences: string[] = [];
  const { totals } = plan;
  if (plan.timing === "period_end") {
    sentences.push(`Nothing is due today; the change takes effect on ${formatDate(plan.effectiveAt)}.`);
  } else if (plan.trial) {
    sentences.push("Nothing is due today: changes during a trial are not charged.");
  } else if (plan.newAnchor !== null) {
    const charged = plan.lines.filter((l) => l.kind === "charge").reduce((s, l) => s + l.amount, 0);
    const credited = -plan.lines.filter((l) => l.kind === "credit").reduce((s, l) => s + l.amount, 0);
    sentences.push(
      `${money(totals.amountDue)} is due today: a full year at ${money(charged)}${
        credited > 0 ? ` less ${money(credited)} for the unused part of this month` : ""
      }. Your billing date moves to ${formatDate(plan.newAnchor)}.`,
    );
  } else if (totals.amountDue > 0) {
    const days = Math.floor((wholeSecond(plan.period.end) - wholeSecond(plan.at)) / 86_400);
    sentences.push(
      `${money(totals.amountDue)} is due today for ${days >= 1 ? `the remaining ${plural(days, "day")}` : "the rest"} of this cycle.`,
    );
  } else if (totals.creditAdded === 0) {
    sentences.push("Nothing is due today.");
  }
  if (totals.creditApplied > 0)
    sentences.push(`${money(totals.creditApplied)} of your credit balance is applied.`);
  if (totals.creditAdded > 0)
    sentences.push(
      `${money(totals.creditAdded)} for unused time goes to your credit balance and is applied to your next invoices.`,
    );
  return sentences;
}

const nextInvoice = (plan: Omit<QuotePlan, "summary">, currency: string) =>
  `Your next invoice, on ${formatDate(plan.nextInvoice.date)}, will be ${formatMoney({ amount: plan.nextInvoice.amount, currency })}.`;
