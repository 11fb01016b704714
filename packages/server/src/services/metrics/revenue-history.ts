import {
  REVENUE_EVENT_TYPES,
  type RevenueHistory,
  type RevenueTimeline,
  revenueHistory,
  revenueTimelinesFromEvents,
} from "@uptier/core";
import { type DomainEvent, upcastDomainEvent } from "@uptier/core/api";
import { asc, inArray } from "drizzle-orm";
import type { Executor } from "../../db/client.ts";
import { domainEvents } from "../../db/schema/index.ts";
import { DomainError } from "../errors.ts";

/**
 * Every subscription's revenue history as of `asOf`, rebuilt from the domain-event log (the
 * subscription events carry the views before and after each change; renewal invoices carry the
 * usage charges), so the metrics never disagree with billing. One currency: the one asked for, or
 * the only one there is (`currency_required` when subscriptions bill in several).
 */
export async function loadRevenueHistory(
  db: Executor,
  asOf: Date,
  currency: string | undefined,
): Promise<RevenueHistory> {
  const rows = await db
    .select({
      type: domainEvents.type,
      accountId: domainEvents.accountId,
      data: domainEvents.data,
      createdAt: domainEvents.createdAt,
    })
    .from(domainEvents)
    .where(inArray(domainEvents.type, [...REVENUE_EVENT_TYPES]))
    .orderBy(asc(domainEvents.seq));
  const events = rows.flatMap((row) => {
    const event: DomainEvent | null = upcastDomainEvent(row.type, row.accountId, row.data);
    return event ? [{ event, at: row.createdAt }] : [];
  });
  const timelines = revenueTimelinesFromEvents(events, asOf);
  const history = revenueHistory(inCurrency(timelines, currency));
  return { ...history, currency: history.currency ?? currency ?? null };
}

function inCurrency(timelines: readonly RevenueTimeline[], currency: string | undefined): RevenueTimeline[] {
  const currencies = new Set(timelines.flatMap((t) => t.changes.map((c) => c.state.currency)));
  if (currency === undefined && currencies.size > 1)
    throw new DomainError(
      "currency_required",
      `Subscriptions bill in ${[...currencies].sort().join(", ")}: name the currency to report in.`,
      { param: "currency" },
    );
  const chosen = currency ?? [...currencies][0];
  return timelines.filter((t) => t.changes.some((c) => c.state.currency === chosen));
}
