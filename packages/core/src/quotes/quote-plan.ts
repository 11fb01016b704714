import type { InvoiceTotals } from "../invoices/totals.ts";
import type { BillingInterval, BillingPeriod } from "../periods/billing-period.ts";
import type { InvoiceLine } from "../pricing/proration.ts";
import type { SubscriptionShape } from "../subscriptions/recurring.ts";
import type { ChangeComponent, DowngradePolicy } from "./change-rules.ts";
import type { ItemHistory, PeriodOpening } from "./period-charges.ts";

export interface QuoteSubscription {
  readonly shape: SubscriptionShape;
  readonly currency: string;
  readonly billingCycleAnchor: Date;
  /** a trial prorates nothing: changes apply at once for free */
  readonly trialEnd: Date | null;
  /** set when the subscription is canceled for a later instant (at period end): it takes no change */
  readonly cancelAt?: Date | null;
}

export interface QuoteInput {
  readonly subscription: QuoteSubscription;
  /** the whole shape after the change */
  readonly target: SubscriptionShape;
  /** the quote's frozen instant */
  readonly at: Date;
  readonly policy: DowngradePolicy;
  /** invited + active members */
  readonly seatsInUse: number;
  /** the account's credit balance, spent before the card */
  readonly creditBalance: number;
  /**
   * What each item was charged and credited in the current period (periodHistory: the period's
   * recorded opening and the changes since); an item absent from it was charged nothing. Without
   * it, each item of the subscription's shape is taken as billed in full for the period.
   */
  readonly history?: Readonly<Record<string, ItemHistory>>;
  /** the subscription's pending scheduled change, if any: any change replaces it */
  readonly scheduled?: PendingScheduledChange | null;
}

/**
 * A change already scheduled for the period end. A new change of the subscription, immediate or
 * scheduled, replaces it (as Chargebee discards scheduled changes on an immediate one): a later
 * shape is always priced from the subscription as it stands, so keeping the older target would
 * undo the new change at the period end. Asking for the subscription as it stands cancels it. The
 * quote says so.
 */
export interface PendingScheduledChange {
  readonly id: string;
  readonly effectiveAt: Date;
}

export interface QuoteLine extends InvoiceLine {
  /** "plan", "seats", "add_on:<key>" */
  readonly item: string;
}

export interface QuotePlan {
  /**
   * "split": a change with parts that raise the bill and parts that wait for the period end (the
   * reductions under the period_end policy, annual → monthly). `lines` and `totals` are its
   * immediate part; `split` says what is applied now and what waits for the period end.
   */
  readonly timing: "immediate" | "period_end" | "split";
  /** the change falls in a trial: nothing is prorated */
  readonly trial: boolean;
  readonly at: Date;
  /** when the change (a split: its immediate part) takes effect */
  readonly effectiveAt: Date;
  /** the current period, [start, end) */
  readonly period: Pick<BillingPeriod, "start" | "end">;
  /** set when the billing-cycle anchor moves (monthly → annual, annual → monthly at term end) */
  readonly newAnchor: Date | null;
  readonly from: SubscriptionShape;
  /** the whole shape after the change (a split: after both parts) */
  readonly to: SubscriptionShape;
  readonly components: readonly ChangeComponent[];
  readonly lines: readonly QuoteLine[];
  readonly totals: InvoiceTotals;
  /** the two parts of a split change; null for every other change */
  readonly split: SplitParts | null;
  /** from the shape before the change to the shape after it (a split: after both parts) */
  readonly recurring: {
    readonly before: { readonly amount: number; readonly interval: BillingInterval };
    readonly after: { readonly amount: number; readonly interval: BillingInterval };
    /** the change in the monthly-normalised recurring amount (annual ÷ 12), rounded once */
    readonly deltaPerMonth: number;
  };
  readonly nextInvoice: { readonly date: Date; readonly amount: number };
  /** the pending scheduled change this one cancels and replaces */
  readonly replacesScheduled: PendingScheduledChange | null;
  /**
   * The period the change opens, billed in full by its lines (monthly → annual: the year from the
   * change instant), with what it charged for each item; null when the change opens none.
   */
  readonly opens: OpenedPeriod | null;
  readonly summary: readonly string[];
}

/** A billing period begun by a change rather than by a renewal, as it is to be recorded. */
export interface OpenedPeriod {
  readonly period: Pick<BillingPeriod, "start" | "end">;
  readonly opening: PeriodOpening;
}

/**
 * A split change as two changes, each quoted exactly as it would be on its own: the parts that raise
 * the bill, applied now, prorated and charged (the plan's lines and totals); then the rest, from
 * there to the whole target, applied at the period end with no credit (a scheduled change).
 */
export interface SplitParts {
  readonly now: { readonly to: SubscriptionShape; readonly components: readonly ChangeComponent[] };
  readonly scheduled: {
    readonly effectiveAt: Date;
    readonly to: SubscriptionShape;
    readonly components: readonly ChangeComponent[];
    /** set when the second part moves the billing-cycle anchor (annual → monthly at term end) */
    readonly newAnchor: Date | null;
  };
}

export interface QuoteRefusal {
  readonly code: string;
  readonly param: string;
  readonly message: string;
}

export type QuoteResult =
  | { readonly ok: true; readonly plan: QuotePlan }
  | { readonly ok: false; readonly refusal: QuoteRefusal };
