import type { DomainEvent } from "../api/events.ts";
import type { InvoiceView, SubscriptionView } from "../api/responses.ts";
import type { RevenueChange, RevenueTimeline } from "./history.ts";
import { type RevenueState, revenueStateOfView } from "./revenue-state.ts";

/** A domain event as the log holds it: the event and the instant it was recorded at. */
export interface LoggedEvent {
  readonly event: DomainEvent;
  readonly at: Date;
}

/** The event types the revenue history is built from. */
export const REVENUE_EVENT_TYPES = [
  "subscription.created",
  "subscription.updated",
  "subscription.canceled",
  "subscription.cancellation_scheduled",
  "invoice.finalized",
] as const satisfies readonly DomainEvent["type"][];

interface Fact {
  readonly at: number;
  /** the order in the log, which breaks ties between facts of one instant */
  readonly order: number;
  readonly apply: (current: Current) => Current;
}

interface Current {
  readonly view: SubscriptionView | null;
  readonly state: RevenueState | null;
  readonly usage: number;
  readonly cancelAt: number | null;
}

const withState = (current: Current, view: SubscriptionView): Current => ({
  view,
  state: revenueStateOfView(view, { usage: current.usage }),
  usage: current.usage,
  cancelAt: view.cancel_at ? Date.parse(view.cancel_at) : null,
});

/** The usage charges a renewal invoice bills for the period that just closed: its overage lines. */
const overageOf = (invoice: InvoiceView) =>
  invoice.lines
    .filter((line) => line.item.startsWith("overage:"))
    .reduce((sum, line) => sum + line.amount, 0);

/**
 * Each subscription's revenue timeline, from the domain-event log (docs/metrics.md, "From the event
 * log"), as of `asOf`: nothing after it. A change is placed at the instant it took effect — a
 * scheduled change at its `effective_at`, an ending at its `ended_at` — and the instants the views
 * announce are changes too: a trial's end (the subscription becomes active), a cancellation's
 * `cancel_at`. A renewal invoice sets the usage MRR to its overage lines from the instant the
 * period closed.
 */
export function revenueTimelinesFromEvents(events: readonly LoggedEvent[], asOf: Date): RevenueTimeline[] {
  const facts = new Map<string, { customer: string; facts: Fact[] }>();
  const add = (subscription: string, customer: string | null, fact: Fact) => {
    const entry = facts.get(subscription);
    if (entry) entry.facts.push(fact);
    else if (customer) facts.set(subscription, { customer, facts: [fact] });
  };
  for (const [order, { event, at }] of events.entries()) {
    const time = at.getTime();
    switch (event.type) {
      case "subscription.created":
      case "subscription.updated": {
        const view = event.data.subscription;
        const change = event.type === "subscription.updated" ? event.data.change : undefined;
        const effective = change && "effective_at" in change ? Date.parse(change.effective_at) : time;
        add(view.id, view.account, { at: effective, order, apply: (current) => withState(current, view) });
        break;
      }
      case "subscription.cancellation_scheduled": {
        const cancelAt = Date.parse(event.data.cancel_at);
        add(event.data.subscription, null, {
          at: time,
          order,
          apply: (current) => ({ ...current, cancelAt }),
        });
        break;
      }
      case "subscription.canceled": {
        const endedBecause = event.data.reason ?? "voluntary";
        add(event.data.subscription, null, {
          at: Date.parse(event.data.ended_at),
          order,
          apply: (current) =>
            current.state
              ? { ...current, state: { ...current.state, status: "canceled", endedBecause }, cancelAt: null }
              : current,
        });
        break;
      }
      case "invoice.finalized": {
        const invoice = event.data.invoice;
        if (invoice.billing_reason !== "subscription_cycle" || !invoice.subscription) break;
        const usage = overageOf(invoice);
        const closedAt = invoice.period_start ? Date.parse(invoice.period_start) : time;
        add(invoice.subscription, null, {
          at: closedAt,
          order,
          apply: (current) => ({
            ...current,
            usage,
            state: current.state ? { ...current.state, usage } : null,
          }),
        });
        break;
      }
      default:
        break;
    }
  }
  const limit = asOf.getTime();
  const timelines: RevenueTimeline[] = [];
  for (const [subscription, entry] of facts) {
    const ordered = [...entry.facts].sort((a, b) => a.at - b.at || a.order - b.order);
    const changes: RevenueChange[] = [];
    let current: Current = { view: null, state: null, usage: 0, cancelAt: null };
    const push = (at: number, state: RevenueState | null) => {
      const last = changes.at(-1);
      if (!state || at > limit || last?.state === state) return;
      if (last && last.at.getTime() === at) changes.pop();
      changes.push({ at: new Date(at), state });
    };
    /** The instants the state in force announces, up to (not including) `until`. */
    const announced = (until: number) => {
      const trialEnd = current.view?.trial_end ? Date.parse(current.view.trial_end) : null;
      if (current.state?.status === "trialing" && trialEnd !== null && trialEnd < until) {
        current = { ...current, state: { ...current.state, status: "active" } };
        push(trialEnd, current.state);
      }
      const cancelAt = current.cancelAt;
      if (current.state && current.state.status !== "canceled" && cancelAt !== null && cancelAt < until) {
        current = { ...current, state: { ...current.state, status: "canceled", endedBecause: "voluntary" } };
        push(cancelAt, current.state);
      }
    };
    for (const fact of ordered) {
      announced(fact.at);
      current = fact.apply(current);
      push(fact.at, current.state);
    }
    announced(Number.POSITIVE_INFINITY);
    timelines.push({ customer: entry.customer, subscription, changes });
  }
  return timelines;
}
