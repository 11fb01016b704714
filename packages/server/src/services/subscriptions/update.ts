import { changeComponents, type SubscriptionShape } from "@uptier/core";
import type { UpdateSubscriptionInput } from "@uptier/core/api";
import { eq } from "drizzle-orm";
import type { z } from "zod";
import type { Tx } from "../../db/client.ts";
import { seatsInUse } from "../../db/queries/seats-in-use.ts";
import { subscriptionAddOns, subscriptions } from "../../db/schema/index.ts";
import { resolveAddOns, resolvePlan } from "../catalog/on-sale.ts";
import { recordEvent } from "../events/append.ts";
import {
  applyDueScheduledChange,
  cancelPendingChange,
  scheduledChangeCanceled,
} from "./scheduled-changes.ts";
import {
  assertShape,
  insertAddOns,
  loadOne,
  lockLive,
  pendingChangesOf,
  subscriptionView,
  violation,
} from "./subscriptions.ts";

/**
 * An administrative change (PATCH /v1/subscriptions/{id}), applied as asked with no charge or
 * proration: the priced path for customers (quote → checkout) is the billing API. Seats never go
 * below the seats in use.
 *
 * A change scheduled for the period end is part of the subscription's state, so an update starts
 * from the subscription in force: a change whose instant has come is applied first. One still to
 * come is superseded by an update of what the subscription is (its plan, seats, add-ons or plan
 * version): the update is the latest word, and keeping the older target would undo it at the period
 * end — the surprise of updating a Stripe subscription whose schedule still holds its next phase.
 * It is canceled in the same transaction, the answer shows `scheduled_change: null`, and
 * `subscription.scheduled_change_canceled` names the update (`replaced_by.update`). Resuming or
 * canceling at the period end (`cancel_at_period_end` alone) leaves it pending: that is about when
 * the subscription ends, not what it is.
 */
export async function updateSubscription(
  tx: Tx,
  id: string,
  input: z.infer<typeof UpdateSubscriptionInput>,
  at: Date,
) {
  await applyDueScheduledChange(tx, id, at);
  const record = await lockLive(tx, id, at);
  const { row } = record;
  const plan =
    input.plan !== undefined || input.move_to_latest_version
      ? await resolvePlan(tx, input.plan ?? row.planKey)
      : { id: row.planVersionId, definition: record.shape.plan, currency: row.currency };
  if (plan.currency !== row.currency)
    throw violation(
      "currency_mismatch",
      "plan",
      `The plan is priced in ${plan.currency}, the subscription in ${row.currency}.`,
    );
  const chosen = input.add_ons ? await resolveAddOns(tx, input.add_ons) : null;
  const shape: SubscriptionShape = {
    plan: plan.definition,
    interval: record.shape.interval,
    seats: input.seats ?? row.seats,
    addOns: chosen ? chosen.map((c) => c.selected) : record.shape.addOns,
  };
  const used = await seatsInUse(tx, row.accountId);
  assertShape(shape, used);

  const cancelAt =
    input.cancel_at_period_end === undefined
      ? row.cancelAt
      : input.cancel_at_period_end
        ? (record.state.currentPeriodEnd ?? at)
        : null;
  await tx
    .update(subscriptions)
    .set({
      planKey: input.plan ?? row.planKey,
      planVersionId: plan.id,
      seats: shape.seats,
      cancelAt,
      revision: row.revision + 1,
      updatedAt: at,
    })
    .where(eq(subscriptions.id, id));
  if (chosen) {
    await tx.delete(subscriptionAddOns).where(eq(subscriptionAddOns.subscriptionId, id));
    await insertAddOns(tx, row.accountId, id, chosen, at);
  }
  const pending = (await pendingChangesOf(tx, [id])).get(id) ?? null;
  const reshapes =
    input.plan !== undefined ||
    input.seats !== undefined ||
    input.add_ons !== undefined ||
    input.move_to_latest_version === true;
  const superseded = reshapes ? pending : null;
  if (superseded) await cancelPendingChange(tx, id);
  const previous = subscriptionView(record, used, pending);
  const current = subscriptionView(await loadOne(tx, id, at), used, superseded ? null : pending);
  await recordEvent(tx, {
    type: "subscription.updated",
    accountId: row.accountId,
    data: { previous, subscription: current },
    at,
  });
  if (superseded)
    await recordEvent(tx, {
      ...scheduledChangeCanceled(row.accountId, id, superseded, {
        update: "administrative",
        components: changeComponents(record.shape, shape),
      }),
      at,
    });
  return current;
}
