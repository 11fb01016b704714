import { describe, expect, it } from "vitest";
import { domainEvent } from "../api/events.ts";
import type { InvoiceView, SubscriptionView } from "../api/responses.ts";
import { rational } from "../pricing/rational.ts";
import { day } from "../testing/revenue-histories.ts";
import { type LoggedEvent, revenueTimelinesFromEvents } from "./event-history.ts";
import { customerMrrBefore, revenueHistory } from "./history.ts";

const T0 = "2026-01-01T00:00:00.000Z";

function view(
  overrides: Partial<SubscriptionView> & { base?: number; seatAmount?: number } = {},
): SubscriptionView {
  const { base = 9900, seatAmount = 0, ...rest } = overrides;
  return {
    id: "sub_1",
    object: "subscription",
    account: "acct_1",
    plan: "team",
    plan_version: 1,
    interval: "month",
    seats: 3,
    seats_included: 3,
    seats_in_use: 1,
    add_ons: [],
    status: "active",
    currency: "usd",
    recurring: {
      amount: base + seatAmount,
      currency: "usd",
      interval: "month",
      base,
      seats: seatAmount,
      add_ons: [],
    },
    billing_cycle_anchor: T0,
    current_period_start: T0,
    current_period_end: "2026-02-01T00:00:00.000Z",
    trial_end: null,
    cancel_at_period_end: false,
    cancel_at: null,
    ended_at: null,
    scheduled_change: null,
    revision: 1,
    created: T0,
    updated: T0,
    ...rest,
  };
}

const logged = (at: string, event: LoggedEvent["event"]): LoggedEvent => ({ at: new Date(at), event });
const mrrAt = (events: LoggedEvent[], asOf: string, at: string) => {
  const [customer] = revenueHistory(revenueTimelinesFromEvents(events, new Date(asOf))).customers;
  return customer ? customerMrrBefore(customer, new Date(at)).total : rational(0);
};

describe("revenueTimelinesFromEvents (docs/metrics.md, From the event log)", () => {
  it("a trial becomes revenue at its trial_end, though no event marks it", () => {
    const events = [
      logged(
        T0,
        domainEvent("subscription.created", "acct_1", {
          subscription: view({ status: "trialing", trial_end: "2026-01-15T00:00:00.000Z" }),
        }),
      ),
    ];
    const [timeline] = revenueTimelinesFromEvents(events, day("2026-03-01"));
    expect(timeline?.changes.map((c) => [c.at.toISOString().slice(0, 10), c.state.status])).toEqual([
      ["2026-01-01", "trialing"],
      ["2026-01-15", "active"],
    ]);
    expect(mrrAt(events, "2026-03-01", "2026-01-15T00:00:00Z")).toEqual(rational(0));
    expect(mrrAt(events, "2026-03-01", "2026-01-15T00:00:01Z")).toEqual(rational(9900));
    // as of before the trial's end, the conversion has not happened
    expect(revenueTimelinesFromEvents(events, day("2026-01-10"))[0]?.changes).toHaveLength(1);
  });

  it("a cancellation at the period end churns at cancel_at; a scheduled change applies at effective_at", () => {
    const events = [
      logged(
        T0,
        domainEvent("subscription.created", "acct_1", { subscription: view({ seats: 5, seatAmount: 3000 }) }),
      ),
      // the job applied it late, on Feb 3, but it took effect on Feb 1
      logged(
        "2026-02-03T10:00:00Z",
        domainEvent("subscription.updated", "acct_1", {
          previous: view({ seats: 5, seatAmount: 3000 }),
          subscription: view(),
          change: { quote: "quo_1", timing: "period_end", effective_at: "2026-02-01T00:00:00.000Z" },
        }),
      ),
      logged(
        "2026-02-10T00:00:00Z",
        domainEvent("subscription.cancellation_scheduled", "acct_1", {
          subscription: "sub_1",
          cancel_at: "2026-03-01T00:00:00.000Z",
        }),
      ),
    ];
    expect(mrrAt(events, "2026-04-01", "2026-02-01T00:00:00Z")).toEqual(rational(12_900));
    expect(mrrAt(events, "2026-04-01", "2026-02-01T00:00:01Z")).toEqual(rational(9900));
    expect(mrrAt(events, "2026-04-01", "2026-03-01T00:00:00Z")).toEqual(rational(9900));
    expect(mrrAt(events, "2026-04-01", "2026-03-01T00:00:01Z")).toEqual(rational(0));
    const [timeline] = revenueTimelinesFromEvents(events, day("2026-04-01"));
    // the request itself is no change of revenue
    expect(timeline?.changes.map((c) => [c.at.toISOString().slice(0, 10), c.state.status])).toEqual([
      ["2026-01-01", "active"],
      ["2026-02-01", "active"],
      ["2026-03-01", "canceled"],
    ]);
    expect(timeline?.changes.at(-1)?.state).toMatchObject({ status: "canceled", endedBecause: "voluntary" });
  });

  it("a delinquent ending is dated by ended_at and keeps its reason; a renewal's overage is usage MRR", () => {
    const invoice = {
      subscription: "sub_1",
      billing_reason: "subscription_cycle",
      period_start: "2026-02-01T00:00:00.000Z",
      lines: [
        { item: "base", amount: 9900 },
        { item: "overage:api_calls", amount: 1200 },
      ],
    } as unknown as InvoiceView;
    const events = [
      logged(T0, domainEvent("subscription.created", "acct_1", { subscription: view() })),
      logged("2026-02-01T00:05:00Z", domainEvent("invoice.finalized", "acct_1", { invoice })),
      logged(
        "2026-03-05T00:00:00Z",
        domainEvent("subscription.canceled", "acct_1", {
          subscription: "sub_1",
          ended_at: "2026-03-04T00:00:00.000Z",
          reason: "delinquent",
        }),
      ),
    ];
    expect(mrrAt(events, "2026-04-01", "2026-02-01T00:00:01Z")).toEqual(rational(11_100));
    expect(mrrAt(events, "2026-04-01", "2026-03-04T00:00:01Z")).toEqual(rational(0));
    const [timeline] = revenueTimelinesFromEvents(events, day("2026-04-01"));
    expect(timeline?.changes.at(-1)?.state).toMatchObject({
      status: "canceled",
      endedBecause: "delinquent",
      usage: 1200,
    });
  });
});
