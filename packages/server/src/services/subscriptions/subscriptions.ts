import {
  checkSubscriptionShape,
  periodOpening,
  recurringCharges,
  type SubscriptionShape,
} from "@uptier/core";
import type {
  CancelSubscriptionInput,
  CreateSubscriptionInput,
  ListSubscriptionsQuery,
} from "@uptier/core/api";
import { and, desc, eq, inArray, lt, ne } from "drizzle-orm";
import type { z } from "zod";
import type { Executor, Tx } from "../../db/client.ts";
import { seatsInUse, seatsInUseByAccount } from "../../db/queries/seats-in-use.ts";
import type { QuoteTarget } from "../../db/schema/index.ts";
import { scheduledChanges, subscriptionAddOns, subscriptions } from "../../db/schema/index.ts";
import { newId } from "../../ids.ts";
import { findAccount } from "../accounts/accounts.ts";
import { resolveAddOns, resolvePlan } from "../catalog/on-sale.ts";
import { DomainError, notFound } from "../errors.ts";
import { recordEvent } from "../events/append.ts";
import { decodeCursor, type Page, toPage } from "../pagination.ts";
import { recordPeriod } from "./periods.ts";
import { loadSubscriptions, type SubscriptionRecord } from "./records.ts";

export function violation(code: string, param: string, message: string) {
  return new DomainError(code, message, { param });
}

type ChosenAddOn = Awaited<ReturnType<typeof resolveAddOns>>[number];

export async function insertAddOns(
  tx: Tx,
  accountId: string,
  subscriptionId: string,
  chosen: readonly ChosenAddOn[],
  at: Date,
) {
  if (chosen.length === 0) return;
  await tx.insert(subscriptionAddOns).values(
    chosen.map((c) => ({
      accountId,
      subscriptionId,
      addOnKey: c.selected.key,
      addOnVersionId: c.versionId,
      quantity: c.selected.quantity,
      createdAt: at,
    })),
  );
}

export function assertShape(shape: SubscriptionShape, used: number) {
  const [first] = checkSubscriptionShape(shape, used);
  if (first) throw violation(first.code, first.param, first.message);
}

/** What a scheduled change applies at its instant: the quote's target and the anchor it moves to, if any. */
export type ScheduledTarget = QuoteTarget & { readonly billingCycleAnchor: string | null };

/** A subscription's change waiting for its instant (a scheduled_changes row in status `scheduled`). */
export interface PendingChange {
  readonly id: string;
  readonly effectiveAt: Date;
  readonly quoteId: string;
  readonly target: ScheduledTarget;
}

/** The pending scheduled change of each subscription that has one, by subscription id. */
export async function pendingChangesOf(
  db: Executor,
  subscriptionIds: readonly string[],
): Promise<Map<string, PendingChange>> {
  if (subscriptionIds.length === 0) return new Map();
  const rows = await db
    .select()
    .from(scheduledChanges)
    .where(
      and(
        inArray(scheduledChanges.subscriptionId, [...subscriptionIds]),
        eq(scheduledChanges.status, "scheduled"),
      ),
    );
  return new Map(rows.map((r) => [r.subscriptionId, pendingChangeOf(r)]));
}

export function pendingChangeOf(row: typeof scheduledChanges.$inferSelect): PendingChange {
  return {
    id: row.id,
    effectiveAt: row.effectiveAt,
    quoteId: row.quoteId,
    target: row.target as ScheduledTarget,
  };
}

/** A pending change as the API shows it (on the subscription, and in the events that name it). */
export function scheduledChangeView(change: PendingChange) {
  const { target } = change;
  return {
    id: change.id,
    effective_at: change.effectiveAt.toISOString(),
    quote: change.quoteId,
    to: {
      plan: target.plan,
      interval: target.interval,
      seats: target.seats,
      add_ons: target.addOns.map((a) => ({ key: a.key, quantity: a.quantity })),
    },
  };
}

/** The subscription as the API shows it; `pending` is its change waiting for the period end, if any. */
export function subscriptionView(record: SubscriptionRecord, used: number, pending: PendingChange | null) {
  const { row, shape, state } = record;
  const charges = recurringCharges(shape);
  const iso = (d: Date | null) => d?.toISOString() ?? null;
  return {
    id: row.id,
    object: "subscription" as const,
    account: row.accountId,
    plan: row.planKey,
    plan_version: record.planVersion,
    interval: shape.interval,
    seats: shape.seats,
    seats_included: shape.plan.seats.included,
    seats_in_use: used,
    add_ons: shape.addOns.map((a) => ({
      key: a.key,
      quantity: a.quantity,
      version: record.addOnVersions.get(a.key) ?? null,
    })),
    status: state.status,
    currency: row.currency,
    recurring: {
      amount: charges.total,
      currency: row.currency,
      interval: shape.interval,
      base: charges.base,
      seats: charges.seats,
      add_ons: charges.addOns,
    },
    billing_cycle_anchor: row.billingCycleAnchor.toISOString(),
    current_period_start: iso(state.currentPeriodStart),
    current_period_end: iso(state.currentPeriodEnd),
    trial_end: iso(row.trialEnd),
    cancel_at_period_end: row.cancelAt !== null && state.status !== "canceled",
    cancel_at: iso(row.cancelAt),
    ended_at: iso(state.endedAt),
    scheduled_change: pending ? scheduledChangeView(pending) : null,
    revision: row.revision,
    created: row.createdAt.toISOString(),
    updated: row.updatedAt.toISOString(),
  };
}
export type SubscriptionView = ReturnType<typeof subscriptionView>;

export async function loadOne(db: Executor, id: string, at: Date): Promise<SubscriptionRecord> {
  const [row] = await db.select().from(subscriptions).where(eq(subscriptions.id, id));
  if (!row) throw notFound("subscription", id);
  const [record] = await loadSubscriptions(db, [row], at);
  return record as SubscriptionRecord;
}

/** Stored status catches up with the derived one (a trial or a scheduled cancellation that ended). */
async function settleLifecycle(tx: Tx, record: SubscriptionRecord, at: Date) {
  const { row, state } = record;
  if (state.status === "canceled" && row.status !== "canceled") {
    await tx
      .update(subscriptions)
      .set({ status: "canceled", endedAt: state.endedAt, updatedAt: at })
      .where(eq(subscriptions.id, row.id));
    await recordEvent(tx, {
      type: "subscription.canceled",
      accountId: row.accountId,
      data: { subscription: row.id, ended_at: (state.endedAt ?? at).toISOString() },
      at,
    });
  }
}

export async function createSubscription(tx: Tx, input: z.infer<typeof CreateSubscriptionInput>, at: Date) {
  const account = await findAccount(tx, input.account);
  // Lock the account's subscriptions so two creates cannot both pass the "one live subscription" check.
  const existing = await tx
    .select()
    .from(subscriptions)
    .where(and(eq(subscriptions.accountId, account.id), ne(subscriptions.status, "canceled")))
    .for("update");
  for (const record of await loadSubscriptions(tx, existing, at)) {
    if (record.state.status !== "canceled")
      throw violation(
        "subscription_exists",
        "account",
        `Account ${account.id} already has a live subscription (${record.id}); change it instead.`,
      );
    await settleLifecycle(tx, record, at);
  }
  const plan = await resolvePlan(tx, input.plan);
  const chosen = await resolveAddOns(tx, input.add_ons);
  const shape: SubscriptionShape = {
    plan: plan.definition,
    interval: input.interval,
    seats: input.seats ?? Math.max(1, plan.definition.seats.included),
    addOns: chosen.map((c) => c.selected),
  };
  assertShape(shape, await seatsInUse(tx, account.id));

  const trialDays = input.trial_days ?? plan.definition.trial_days;
  const trialEnd = trialDays > 0 ? new Date(at.getTime() + trialDays * 86_400_000) : null;
  const anchor = input.billing_cycle_anchor ? new Date(input.billing_cycle_anchor) : (trialEnd ?? at);
  if (input.billing_cycle_anchor && (anchor.getTime() > at.getTime() || trialEnd))
    throw violation(
      "invalid_billing_cycle_anchor",
      "billing_cycle_anchor",
      "A billing cycle anchor can only be backdated, and not together with a trial.",
    );

  const id = newId("subscription", at);
  await tx.insert(subscriptions).values({
    id,
    accountId: account.id,
    planKey: input.plan,
    planVersionId: plan.id,
    interval: input.interval,
    seats: shape.seats,
    status: trialEnd ? "trialing" : "active",
    currency: plan.currency,
    billingCycleAnchor: anchor,
    trialEnd,
    createdAt: at,
    updatedAt: at,
  });
  await insertAddOns(tx, account.id, id, chosen, at);
  const record = await loadOne(tx, id, at);
  // Its first period (an import's: the one it joins), billed by no invoice, opens with the shape it
  // starts with; a trial charges nothing. Recorded now, never recomputed from a later shape.
  const { currentPeriodStart: start, currentPeriodEnd: end } = record.state;
  if (start && end)
    await recordPeriod(tx, {
      subscriptionId: id,
      accountId: account.id,
      period: { start, end },
      openedBy: trialEnd ? "trial" : "subscription_created",
      invoiceId: null,
      opening: trialEnd ? {} : periodOpening(shape),
      at,
    });
  const view = subscriptionView(record, await seatsInUse(tx, account.id), null);
  await recordEvent(tx, {
    type: "subscription.created",
    accountId: account.id,
    data: { subscription: view },
    at,
  });
  return view;
}

export async function getSubscription(db: Executor, id: string, at: Date) {
  const record = await loadOne(db, id, at);
  const pending = (await pendingChangesOf(db, [id])).get(id) ?? null;
  return subscriptionView(record, await seatsInUse(db, record.row.accountId), pending);
}

export async function listSubscriptions(
  db: Executor,
  query: z.infer<typeof ListSubscriptionsQuery>,
  at: Date,
): Promise<Page<SubscriptionView>> {
  let cursor = decodeCursor(query.cursor, "sub");
  // Status is derived from the time (a trial or a scheduled cancellation ends by itself), so a status
  // filter is applied to loaded records, reading batches until the page (plus one) is full.
  const records: SubscriptionRecord[] = [];
  const batch = query.limit + 1;
  for (;;) {
    const rows = await db
      .select()
      .from(subscriptions)
      .where(
        and(
          cursor ? lt(subscriptions.id, cursor) : undefined,
          query.account ? eq(subscriptions.accountId, query.account) : undefined,
        ),
      )
      .orderBy(desc(subscriptions.id))
      .limit(query.status ? batch * 4 : batch);
    for (const record of await loadSubscriptions(db, rows, at))
      if (!query.status || record.state.status === query.status) records.push(record);
    cursor = rows.at(-1)?.id;
    if (records.length >= batch || rows.length < (query.status ? batch * 4 : batch) || !cursor) break;
  }
  records.splice(batch);
  const used = await seatsInUseByAccount(
    db,
    records.map((r) => r.row.accountId),
  );
  const pending = await pendingChangesOf(
    db,
    records.map((r) => r.id),
  );
  return toPage(records, query.limit, (r) =>
    subscriptionView(r, used.get(r.row.accountId) ?? 0, pending.get(r.id) ?? null),
  );
}

/** Locks a subscription that has not ended and loads it: subscription_canceled (409) otherwise. */
export async function lockLive(tx: Tx, id: string, at: Date): Promise<SubscriptionRecord> {
  const [row] = await tx.select().from(subscriptions).where(eq(subscriptions.id, id)).for("update");
  if (!row) throw notFound("subscription", id);
  const [record] = await loadSubscriptions(tx, [row], at);
  if (!record || record.state.status === "canceled")
    throw violation("subscription_canceled", "id", `Subscription ${id} is canceled; create a new one.`);
  return record;
}

export async function cancelSubscription(
  tx: Tx,
  id: string,
  input: z.infer<typeof CancelSubscriptionInput>,
  at: Date,
) {
  const record = await lockLive(tx, id, at);
  const { row } = record;
  if (input.at_period_end) {
    const cancelAt = record.state.currentPeriodEnd ?? at;
    await tx
      .update(subscriptions)
      .set({ cancelAt, revision: row.revision + 1, updatedAt: at })
      .where(eq(subscriptions.id, id));
    await recordEvent(tx, {
      type: "subscription.cancellation_scheduled",
      accountId: row.accountId,
      data: { subscription: id, cancel_at: cancelAt.toISOString() },
      at,
    });
  } else {
    await tx
      .update(subscriptions)
      .set({ status: "canceled", canceledAt: at, endedAt: at, revision: row.revision + 1, updatedAt: at })
      .where(eq(subscriptions.id, id));
    await recordEvent(tx, {
      type: "subscription.canceled",
      accountId: row.accountId,
      data: { subscription: id, ended_at: at.toISOString() },
      at,
    });
  }
  return getSubscription(tx, id, at);
}
