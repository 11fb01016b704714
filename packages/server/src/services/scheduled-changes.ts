import { and, eq, lte } from "drizzle-orm";
import type { Tx } from "../db/client.ts";
import { scheduledChanges, subscriptionAddOns, subscriptions } from "../db/schema/index.ts";
import type { BillingContext } from "./billing-context.ts";
import { recordEvent } from "./outbox.ts";
import type { QuoteTarget } from "./quotes.ts";
import { loadSubscriptions } from "./subscription-records.ts";
import { seatsInUse, subscriptionView } from "./subscriptions.ts";

/**
 * Downgrades, seat reductions and annual → monthly switches wait for the period end. They apply
 * lazily (before the subscription is quoted again) and from this job, whichever comes first; the
 * row's status makes applying twice impossible. Seats never drop below the seats in use at that
 * moment: members invited after the reduction was scheduled keep theirs.
 */
export async function applyDueScheduledChange(tx: Tx, subscriptionId: string, at: Date): Promise<boolean> {
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
  const [row] = await tx
    .select()
    .from(subscriptions)
    .where(eq(subscriptions.id, subscriptionId))
    .for("update");
  if (!row) return false;
  const [before] = await loadSubscriptions(tx, [row], at);
  const target = due.target as QuoteTarget & { billingCycleAnchor: string | null };
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
      seats: Math.max(target.seats, used),
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
      previous: subscriptionView(before, used),
      subscription: subscriptionView(after as typeof before, used),
      change: { quote: due.quoteId, timing: "period_end", effective_at: due.effectiveAt.toISOString() },
    },
    at: due.effectiveAt,
  });
  return true;
}

/** The job: every change whose period end has come. */
export async function applyScheduledChanges(billing: BillingContext): Promise<number> {
  const at = billing.clock();
  const due = await billing.db
    .select({ subscriptionId: scheduledChanges.subscriptionId })
    .from(scheduledChanges)
    .where(and(eq(scheduledChanges.status, "scheduled"), lte(scheduledChanges.effectiveAt, at)));
  let applied = 0;
  for (const { subscriptionId } of due)
    if (await billing.db.transaction((tx) => applyDueScheduledChange(tx, subscriptionId, at))) applied++;
  return applied;
}
