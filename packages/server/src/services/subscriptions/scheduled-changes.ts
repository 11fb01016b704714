import { formatDate, seatsAfterReduction } from "@uptier/core";
import type { CheckoutChange, ListSubscriptionsQuery, SubscriptionUpdate } from "@uptier/core/api";
import { and, eq, lte } from "drizzle-orm";
import type { z } from "zod";
import { type Executor, isTransaction, type Tx } from "../../db/client.ts";
import { seatsInUse } from "../../db/queries/seats-in-use.ts";
import { accountInScope } from "../../db/queries/test-clock-scope.ts";
import { accounts, scheduledChanges, subscriptionAddOns, subscriptions } from "../../db/schema/index.ts";
import type { BillingContext } from "../context.ts";
import { DomainError } from "../errors.ts";
import { type EventToAppend, recordEvent } from "../events/append.ts";
import { loadSubscriptions } from "./records.ts";
import {
  getSubscription,
  listSubscriptions,
  lockLive,
  type PendingChange,
  pendingChangeOf,
  scheduledChangeView,
  subscriptionView,
} from "./subscriptions.ts";

/**
 * A subscription's change for the period end — a downgrade, a seat or add-on reduction, annual →
 * monthly, the later part of a split change — from the checkout that records it to the instant it
 * applies, unless it is canceled or replaced first. Every step takes the subscription's lock, then
 * the change's: the order of every change of a subscription (checkouts too), so two of them never
 * wait for each other in a circle, and whichever commits first decides: a canceled change is never
 * applied, an applied one is not canceled.
 */

/** A change recorded for the period end (a scheduled_changes row's contents). */
export interface ScheduledChange extends PendingChange {
  readonly accountId: string;
  readonly subscriptionId: string;
  readonly at: Date;
}

/** The subscription's pending change, if any, canceled (the subscription's lock must be held). */
export async function cancelPendingChange(tx: Tx, subscriptionId: string): Promise<void> {
  await tx
    .update(scheduledChanges)
    .set({ status: "canceled" })
    .where(
      and(eq(scheduledChanges.subscriptionId, subscriptionId), eq(scheduledChanges.status, "scheduled")),
    );
}

/** Records `change` as the subscription's pending change, replacing the one pending, if any. */
export async function recordScheduledChange(tx: Tx, change: ScheduledChange): Promise<void> {
  await cancelPendingChange(tx, change.subscriptionId);
  await tx.insert(scheduledChanges).values({
    id: change.id,
    accountId: change.accountId,
    subscriptionId: change.subscriptionId,
    quoteId: change.quoteId,
    effectiveAt: change.effectiveAt,
    target: change.target,
    status: "scheduled",
    createdAt: change.at,
  });
}

/** The subscription's pending change, locked (the subscription's lock must be held). */
async function lockPendingChange(tx: Tx, subscriptionId: string): Promise<PendingChange | null> {
  const [row] = await tx
    .select()
    .from(scheduledChanges)
    .where(and(eq(scheduledChanges.subscriptionId, subscriptionId), eq(scheduledChanges.status, "scheduled")))
    .for("update");
  return row ? pendingChangeOf(row) : null;
}

/**
 * The event of a pending change canceled: by the cancel endpoint (`replacedBy` null), by a
 * checkout whose change replaces it (the quote said so) or keeps the subscription as it is, or by
 * an administrative update of what the subscription is.
 */
export function scheduledChangeCanceled(
  accountId: string,
  subscriptionId: string,
  change: PendingChange,
  replacedBy: CheckoutChange | SubscriptionUpdate | null,
): EventToAppend<"subscription.scheduled_change_canceled"> {
  return {
    type: "subscription.scheduled_change_canceled",
    accountId,
    data: {
      subscription: subscriptionId,
      scheduled_change: scheduledChangeView(change),
      replaced_by: replacedBy,
    },
  };
}

/**
 * Cancels the subscription's pending change: the subscription stays as it is at the period end. A
 * change whose instant has come is in force (it applies lazily, or by the job): it can no longer be
 * canceled, only changed by a new quote. The revision is bumped, so a quote that promised to
 * replace the canceled change is stale.
 */
export async function cancelScheduledChange(tx: Tx, subscriptionId: string, at: Date) {
  const record = await lockLive(tx, subscriptionId, at);
  const pending = await lockPendingChange(tx, subscriptionId);
  if (!pending)
    throw new DomainError(
      "no_scheduled_change",
      `Subscription ${subscriptionId} has no change scheduled; nothing to cancel.`,
      { param: "id" },
    );
  if (pending.effectiveAt.getTime() <= at.getTime())
    throw new DomainError(
      "scheduled_change_in_effect",
      `The change scheduled for ${formatDate(pending.effectiveAt)} took effect then and can no longer be canceled; ask for a quote to change the subscription again.`,
      { param: "id" },
    );
  await cancelPendingChange(tx, subscriptionId);
  await tx
    .update(subscriptions)
    .set({ revision: record.row.revision + 1, updatedAt: at })
    .where(eq(subscriptions.id, subscriptionId));
  await recordEvent(tx, {
    ...scheduledChangeCanceled(record.row.accountId, subscriptionId, pending, null),
    at,
  });
  return getSubscription(tx, subscriptionId, at);
}

/**
 * Applies the subscription's change whose instant has come, if any: lazily (before the
 * subscription is quoted again or renewed) or from the job, whichever comes first; the row's status
 * makes applying twice impossible. Seats never drop below the seats in use at that moment: members
 * invited after the reduction was scheduled keep theirs.
 */
export async function applyDueScheduledChange(tx: Tx, subscriptionId: string, at: Date): Promise<boolean> {
  const [row] = await tx
    .select()
    .from(subscriptions)
    .where(eq(subscriptions.id, subscriptionId))
    .for("update");
  if (!row) return false;
  const [due] = await tx
    .select()
    .from(scheduledChanges)
    .where(
      and(
        eq(scheduledChanges.subscriptionId, subscriptionId),
        eq(scheduledChanges.status, "scheduled"),
        lte(scheduledChanges.effectiveAt, at),
      ),
    )
    .for("update");
  if (!due) return false;
  const [before] = await loadSubscriptions(tx, [row], at);
  const pending = pendingChangeOf(due);
  const { target } = pending;
  const used = await seatsInUse(tx, row.accountId);
  if (!before || before.state.status === "canceled") {
    await tx.update(scheduledChanges).set({ status: "canceled" }).where(eq(scheduledChanges.id, due.id));
    return false;
  }
  await tx
    .update(subscriptions)
    .set({
      planKey: target.plan,
      planVersionId: target.planVersionId,
      interval: target.interval,
      seats: seatsAfterReduction(target.seats, used),
      billingCycleAnchor: target.billingCycleAnchor
        ? new Date(target.billingCycleAnchor)
        : row.billingCycleAnchor,
      revision: row.revision + 1,
      updatedAt: at,
    })
    .where(eq(subscriptions.id, subscriptionId));
  await tx.delete(subscriptionAddOns).where(eq(subscriptionAddOns.subscriptionId, subscriptionId));
  if (target.addOns.length > 0)
    await tx.insert(subscriptionAddOns).values(
      target.addOns.map((a) => ({
        accountId: row.accountId,
        subscriptionId,
        addOnKey: a.key,
        addOnVersionId: a.versionId,
        quantity: a.quantity,
        createdAt: due.effectiveAt,
      })),
    );
  await tx
    .update(scheduledChanges)
    .set({ status: "applied", appliedAt: at })
    .where(eq(scheduledChanges.id, due.id));
  const [updated] = await tx.select().from(subscriptions).where(eq(subscriptions.id, subscriptionId));
  const [after] = await loadSubscriptions(tx, [updated as typeof row], at);
  await recordEvent(tx, {
    type: "subscription.updated",
    accountId: row.accountId,
    data: {
      previous: subscriptionView(before, used, pending),
      subscription: subscriptionView(after as typeof before, used, null),
      change: { quote: due.quoteId, timing: "period_end", effective_at: due.effectiveAt.toISOString() },
    },
    at: due.effectiveAt,
  });
  return true;
}

/** Whether a change shown as `scheduled_change` has reached its instant at `at` (it is in force). */
const inForce = (shown: { effective_at: string } | null, at: Date) =>
  shown !== null && Date.parse(shown.effective_at) <= at.getTime();

/** A read applies a due change, except for an account on a test clock: its advance does, at its time. */
const applyDue = (db: Executor, subscriptionId: string, at: Date) => {
  const apply = async (tx: Tx) => {
    const [onClock] = await tx
      .select({ clock: accounts.testClockId })
      .from(subscriptions)
      .innerJoin(accounts, eq(accounts.id, subscriptions.accountId))
      .where(eq(subscriptions.id, subscriptionId));
    return onClock?.clock ? false : applyDueScheduledChange(tx, subscriptionId, at);
  };
  return isTransaction(db) ? apply(db) : db.transaction(apply);
};

/**
 * The subscription as a read answers it at `at`. A change whose instant has come is in force
 * whether or not the job has run yet, so it is applied first (as a quote or a renewal would apply
 * it) rather than shown as the shape before it with a change still to come: a client that reads the
 * subscription and asks to return to that shape must get the shape in force, never one the period
 * end already left behind.
 */
export async function subscriptionInForce(db: Executor, id: string, at: Date) {
  const view = await getSubscription(db, id, at);
  if (!inForce(view.scheduled_change, at)) return view;
  await applyDue(db, id, at);
  return getSubscription(db, id, at);
}

/** A page of subscriptions as reads answer them at `at` (subscriptionInForce, for a list). */
export async function subscriptionsInForce(
  db: Executor,
  query: z.infer<typeof ListSubscriptionsQuery>,
  at: Date,
) {
  const page = await listSubscriptions(db, query, at);
  const due = page.data.filter((s) => inForce(s.scheduled_change, at));
  if (due.length === 0) return page;
  for (const s of due) await applyDue(db, s.id, at);
  return listSubscriptions(db, query, at);
}

/** The job: every change whose period end has come. */
export async function applyScheduledChanges(billing: BillingContext): Promise<number> {
  const at = billing.clock();
  const due = await billing.db
    .select({ subscriptionId: scheduledChanges.subscriptionId })
    .from(scheduledChanges)
    .where(
      and(
        eq(scheduledChanges.status, "scheduled"),
        lte(scheduledChanges.effectiveAt, at),
        accountInScope(scheduledChanges.accountId, billing.testClock),
      ),
    );
  let applied = 0;
  for (const { subscriptionId } of due)
    if (await billing.db.transaction((tx) => applyDueScheduledChange(tx, subscriptionId, at))) applied++;
  return applied;
}
