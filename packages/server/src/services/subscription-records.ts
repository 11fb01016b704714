import {
  type AddOnDefinition,
  type LifecycleState,
  lifecycleAt,
  type ResolvedPlan,
  type SubscriptionShape,
  type SubscriptionStatus,
} from "@uptier/core";
import { and, eq, inArray, ne } from "drizzle-orm";
import type { Executor } from "../db/client.ts";
import { addOnVersions, planVersions, subscriptionAddOns, subscriptions } from "../db/schema/index.ts";

type SubscriptionRow = typeof subscriptions.$inferSelect;

/** A subscription loaded with the plan and add-on versions it pins, and its state at an instant. */
export interface SubscriptionRecord {
  readonly id: string;
  readonly row: SubscriptionRow;
  readonly currency: string;
  readonly planVersion: number;
  readonly shape: SubscriptionShape;
  readonly addOnVersions: ReadonlyMap<string, number>;
  readonly state: LifecycleState;
}

export async function loadSubscriptions(
  db: Executor,
  rows: readonly SubscriptionRow[],
  at: Date,
): Promise<SubscriptionRecord[]> {
  if (rows.length === 0) return [];
  const planRows = await db
    .select()
    .from(planVersions)
    .where(inArray(planVersions.id, [...new Set(rows.map((r) => r.planVersionId))]));
  const plansById = new Map(planRows.map((p) => [p.id, p]));
  const addOnRows = await db
    .select({ item: subscriptionAddOns, version: addOnVersions })
    .from(subscriptionAddOns)
    .innerJoin(addOnVersions, eq(addOnVersions.id, subscriptionAddOns.addOnVersionId))
    .where(
      inArray(
        subscriptionAddOns.subscriptionId,
        rows.map((r) => r.id),
      ),
    )
    .orderBy(subscriptionAddOns.addOnKey);
  return rows.map((row) => {
    const plan = plansById.get(row.planVersionId);
    if (!plan) throw new Error(`subscription ${row.id} pins a missing plan version ${row.planVersionId}`);
    const items = addOnRows.filter((a) => a.item.subscriptionId === row.id);
    return {
      id: row.id,
      row,
      currency: row.currency,
      planVersion: plan.version,
      shape: {
        plan: plan.definition as ResolvedPlan,
        interval: row.interval as "month" | "year",
        seats: row.seats,
        addOns: items.map((a) => ({
          key: a.item.addOnKey,
          definition: a.version.definition as AddOnDefinition,
          quantity: a.item.quantity,
        })),
      },
      addOnVersions: new Map(items.map((a) => [a.item.addOnKey, a.version.version])),
      state: lifecycleAt(
        {
          status: row.status as SubscriptionStatus,
          interval: row.interval as "month" | "year",
          billingCycleAnchor: row.billingCycleAnchor,
          createdAt: row.createdAt,
          trialEnd: row.trialEnd,
          cancelAt: row.cancelAt,
          endedAt: row.endedAt,
        },
        at,
      ),
    };
  });
}

/** Each account's subscription that is not canceled at `at`, by account id. */
export async function liveSubscriptionsOf(
  db: Executor,
  accountIds: readonly string[],
  at: Date,
): Promise<Map<string, SubscriptionRecord>> {
  if (accountIds.length === 0) return new Map();
  const rows = await db
    .select()
    .from(subscriptions)
    .where(and(inArray(subscriptions.accountId, [...accountIds]), ne(subscriptions.status, "canceled")));
  const records = await loadSubscriptions(db, rows, at);
  return new Map(records.filter((r) => r.state.status !== "canceled").map((r) => [r.row.accountId, r]));
}
