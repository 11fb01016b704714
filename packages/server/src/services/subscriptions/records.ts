import {
  type AddOnDefinition,
  type LifecycleState,
  lifecycleAt,
  type ResolvedPlan,
  type StoredLifecycle,
  type SubscriptionShape,
  type SubscriptionStatus,
} from "@uptier/core";
import { and, eq, inArray, lte, ne, or, type SQL, sql } from "drizzle-orm";
import type { Executor } from "../../db/client.ts";
import { parsedJson } from "../../db/json-rows.ts";
import { planVersions, subscriptions } from "../../db/schema/index.ts";

export type SubscriptionRow = typeof subscriptions.$inferSelect;

/** A subscription loaded with the plan and add-on versions it pins, and its state at an instant. */
export interface SubscriptionRecord {
  readonly id: string;
  readonly row: SubscriptionRow;
  readonly currency: string;
  readonly planVersion: number;
  readonly shape: SubscriptionShape;
  readonly addOnVersions: ReadonlyMap<string, number>;
  /** the add-on version each add-on key pins (its id) */
  readonly addOnVersionIds: ReadonlyMap<string, string>;
  readonly state: LifecycleState;
}

/** A plan version as a subscription pins it. */
export interface PinnedPlan {
  readonly version: number;
  readonly definition: unknown;
}

/** An add-on of a subscription with the version it pins. */
export interface PinnedAddOn {
  readonly addOnKey: string;
  readonly quantity: number;
  /** the add-on version's id */
  readonly id: string;
  readonly version: number;
  readonly definition: unknown;
}

/**
 * The record of one subscription row with its pinned plan and add-ons (in add-on key order), its
 * state derived at `at`: pure, so a change can build the record it leaves behind without reading it
 * back.
 */
export function subscriptionRecord(
  row: SubscriptionRow,
  plan: PinnedPlan,
  addOns: readonly PinnedAddOn[],
  at: Date,
): SubscriptionRecord {
  return {
    id: row.id,
    row,
    currency: row.currency,
    planVersion: plan.version,
    shape: {
      plan: plan.definition as ResolvedPlan,
      interval: row.interval as "month" | "year",
      seats: row.seats,
      addOns: addOns.map((a) => ({
        key: a.addOnKey,
        definition: a.definition as AddOnDefinition,
        quantity: a.quantity,
      })),
    },
    addOnVersions: new Map(addOns.map((a) => [a.addOnKey, a.version])),
    addOnVersionIds: new Map(addOns.map((a) => [a.addOnKey, a.id])),
    state: lifecycleAt(storedLifecycle(row), at),
  };
}

/** What a subscription row stores of its life cycle (core's lifecycleAt derives the rest). */
function storedLifecycle(row: SubscriptionRow): StoredLifecycle {
  return {
    status: row.status as SubscriptionStatus,
    interval: row.interval as "month" | "year",
    billingCycleAnchor: row.billingCycleAnchor,
    createdAt: row.createdAt,
    trialEnd: row.trialEnd,
    cancelAt: row.cancelAt,
    endedAt: row.endedAt,
  };
}

/**
 * The add-ons of the subscriptions `subscriptionIds` (an SQL list or subquery) with the versions they
 * pin, as one json array of PinnedAddOn & { subscriptionId }: a fragment other statements embed.
 */
export function pinnedAddOnsJson(subscriptionIds: SQL): SQL {
  return sql`(select coalesce(json_agg(json_build_object(
      'subscriptionId', sa.subscription_id, 'addOnKey', sa.add_on_key, 'quantity', sa.quantity,
      'id', av.id, 'version', av.version, 'definition', av.definition
    ) order by sa.add_on_key), '[]'::json)
    from subscription_add_ons sa inner join add_on_versions av on av.id = sa.add_on_version_id
    where sa.subscription_id in ${subscriptionIds})`;
}

export async function loadSubscriptions(
  db: Executor,
  rows: readonly SubscriptionRow[],
  at: Date,
): Promise<SubscriptionRecord[]> {
  if (rows.length === 0) return [];
  // The plan versions and the add-ons (with the versions they pin) in one round trip.
  const subscriptionIds = rows.map((r) => r.id);
  const planRows = await db
    .select({ plan: planVersions, addOns: pinnedAddOnsJson(sql`${subscriptionIds}`) })
    .from(planVersions)
    .where(inArray(planVersions.id, [...new Set(rows.map((r) => r.planVersionId))]));
  const plansById = new Map(planRows.map((p) => [p.plan.id, p.plan]));
  const addOnRows = parsedJson<(PinnedAddOn & { subscriptionId: string })[]>(planRows[0]?.addOns ?? []);
  return rows.map((row) => {
    const plan = plansById.get(row.planVersionId);
    if (!plan) throw new Error(`subscription ${row.id} pins a missing plan version ${row.planVersionId}`);
    return subscriptionRecord(
      row,
      plan,
      addOnRows.filter((a) => a.subscriptionId === row.id),
      at,
    );
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

/**
 * The account's subscription that ended last by `at` — canceled, or whose cancel_at has passed (the
 * stored status catches up later) — with the instant it ended (core's lifecycleAt), or null.
 */
export async function lastEndedSubscriptionOf(
  db: Executor,
  accountId: string,
  at: Date,
): Promise<{ readonly row: SubscriptionRow; readonly endedAt: Date } | null> {
  const [row] = await db
    .select()
    .from(subscriptions)
    .where(
      and(
        eq(subscriptions.accountId, accountId),
        or(eq(subscriptions.status, "canceled"), lte(subscriptions.cancelAt, at)),
      ),
    )
    // by lifecycleAt's end of an ended subscription: ended_at, else cancel_at
    .orderBy(sql`coalesce(${subscriptions.endedAt}, ${subscriptions.cancelAt}) desc nulls last`)
    .limit(1);
  if (!row) return null;
  const { endedAt } = lifecycleAt(storedLifecycle(row), at);
  return endedAt ? { row, endedAt } : null;
}
