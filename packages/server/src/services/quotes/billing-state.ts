import {
  type DowngradePolicy,
  type ItemHistory,
  type PeriodOpening,
  periodHistory,
  periodOpening,
} from "@uptier/core";
import { and, eq, ne, sql } from "drizzle-orm";
import { type Executor, isTransaction, type Tx } from "../../db/client.ts";
import { jsonRowReader, parsedJson } from "../../db/json-rows.ts";
import { creditBalanceFrom, customerCreditOf } from "../../db/queries/credit-balance.ts";
import { seatsInUseOf } from "../../db/queries/seats-in-use.ts";
import { accounts, scheduledChanges, subscriptions } from "../../db/schema/index.ts";
import {
  addOnsOnSale,
  addOnsWithCurrentVersion,
  planOnSale,
  plansWithCurrentVersion,
  resolveAddOns,
  resolvePlan,
} from "../catalog/on-sale.ts";
import { DomainError, notFound } from "../errors.ts";
import { liveSubscriptionsOf, loadSubscriptions, type SubscriptionRecord } from "../subscriptions/records.ts";
import { applyDueScheduledChange } from "../subscriptions/scheduled-changes.ts";
import { type PendingChange, pendingChangeOf } from "../subscriptions/subscriptions.ts";
import type { BillingStateCache, CachedSetup, CatalogOnSale } from "./billing-state-cache.ts";

/**
 * The setup of a quote (and of a checkout's re-pricing): the live subscription, and everything the
 * price of its change depends on, read once — what the billing-state cache holds per account — and
 * the catalog on sale the change buys from.
 */

/** Everything the price of a change depends on, loaded once (setup). */
export interface BillingState {
  readonly record: SubscriptionRecord;
  readonly seatsInUse: number;
  readonly creditBalance: number;
  readonly policy: DowngradePolicy;
  readonly history: Record<string, ItemHistory>;
  /** the subscription's pending scheduled change, which any new change replaces */
  readonly scheduled: PendingChange | null;
}

const readScheduledChange = jsonRowReader(scheduledChanges);

/**
 * The seats in use, the credit balance, the downgrade policy of the latest catalog and the current
 * period's history, read in one statement (one round trip, one snapshot).
 *
 * The history (core's periodHistory) is the period's recorded opening (subscriptions/periods.ts)
 * plus the proration lines of the changes made in it, on invoices that stand (open or paid; not
 * drafts, voided or written-off ones). A period not recorded yet — its renewal not drafted in its
 * first minute, or a subscription created before the record existed whose creation left nothing
 * to backfill it from — opens with the subscription's shape as it stands: no change can have been
 * billed in it, since a checkout drafts the period's renewal first.
 */
export async function loadBillingState(db: Executor, record: SubscriptionRecord): Promise<BillingState> {
  const { currentPeriodStart: start, currentPeriodEnd: end } = record.state;
  const accountId = record.row.accountId;
  const result = await db.execute(sql`
    select
      ${seatsInUseOf(accountId)} as used,
      ${customerCreditOf(accountId, record.currency)} as credit,
      (select document -> 'policies' -> 'downgrades' from catalog_versions order by version desc limit 1) as policy,
      (select to_json(s) from scheduled_changes s
        where s.subscription_id = ${record.id} and s.status = 'scheduled') as scheduled,
      ${
        start && end
          ? sql`(select opening from subscription_periods where subscription_id = ${record.id}
          and period_start = ${start.toISOString()}::timestamptz and period_end = ${end.toISOString()}::timestamptz) as opening,
      (select coalesce(json_agg(json_build_object('item', h.item, 'charged', h.charged::text, 'credited', h.credited::text)), '[]'::json)
        from (select l.item,
                coalesce(sum(case when l.amount > 0 then l.amount else 0 end), 0) as charged,
                coalesce(sum(case when l.amount < 0 then -l.amount else 0 end), 0) as credited
              from invoice_lines l join invoices i on i.id = l.invoice_id
              where l.subscription_id = ${record.id} and l.period_end = ${end.toISOString()}::timestamptz
                and l.period_start >= ${start.toISOString()}::timestamptz and l.proration
                and i.status in ('open', 'paid')
              group by l.item) h) as history`
          : sql`null::jsonb as opening, '[]'::json as history`
      }`);
  const row = (
    result as unknown as {
      rows: {
        used: number;
        credit: string;
        policy: unknown;
        opening: unknown;
        history: unknown;
        scheduled: unknown;
      }[];
    }
  ).rows[0];
  const policy = (row?.policy ?? null) as DowngradePolicy | null;
  const changes = parsedJson<{ item: string; charged: string; credited: string }[]>(row?.history ?? []);
  const opening =
    row?.opening === null || row?.opening === undefined
      ? periodOpening(record.shape)
      : parsedJson<PeriodOpening>(row.opening);
  return {
    record,
    seatsInUse: Number(row?.used ?? 0),
    creditBalance: creditBalanceFrom(row?.credit),
    policy: policy ?? "period_end",
    history: periodHistory(
      opening,
      changes.map((c) => ({ item: c.item, charged: Number(c.charged), credited: Number(c.credited) })),
    ),
    scheduled: row?.scheduled ? pendingChangeOf(readScheduledChange(parsedJson(row.scheduled))) : null,
  };
}

const noLiveSubscription = (accountId: string) =>
  new DomainError("no_active_subscription", `Account ${accountId} has no live subscription to change.`, {
    param: "account",
  });

export async function liveSubscriptionOf(
  db: Executor,
  accountId: string,
  at: Date,
): Promise<SubscriptionRecord> {
  const live = (await liveSubscriptionsOf(db, [accountId], at)).get(accountId);
  if (!live) throw noLiveSubscription(accountId);
  return live;
}

async function liveRecordOf(
  db: Executor,
  accountId: string,
  rows: readonly (typeof subscriptions.$inferSelect)[],
  at: Date,
): Promise<SubscriptionRecord> {
  // as liveSubscriptionsOf: the last of the account's subscriptions that is live at `at`
  const live = (await loadSubscriptions(db, rows, at)).filter((r) => r.state.status !== "canceled").at(-1);
  if (!live) throw noLiveSubscription(accountId);
  return live;
}

/** What a quote is priced from: the live subscription and its billing state (see BillingStateCache). */
export interface QuoteSetup {
  readonly record: SubscriptionRecord;
  readonly state: BillingState;
}

/**
 * Loads what a quote of the account is priced from, applying a scheduled change that has fallen due
 * first (as the change's own job would), and the window of instants on which it holds: from the last
 * lifecycle boundary before `at` to the next one (period end, trial end, cancellation, the next
 * scheduled change).
 */
export async function loadQuoteSetup(
  db: Executor,
  accountId: string,
  at: Date,
): Promise<CachedSetup<QuoteSetup>> {
  // The account, its subscriptions that are not canceled and when each one's next scheduled change
  // falls due, in one round trip.
  const found = await db
    .select({
      account: accounts.id,
      subscription: subscriptions,
      nextChangeAt: sql<
        string | null
      >`(select min(${scheduledChanges.effectiveAt}) from ${scheduledChanges} where ${scheduledChanges.subscriptionId} = ${subscriptions.id} and ${scheduledChanges.status} = 'scheduled')`,
    })
    .from(accounts)
    .leftJoin(
      subscriptions,
      and(eq(subscriptions.accountId, accounts.id), ne(subscriptions.status, "canceled")),
    )
    .where(eq(accounts.id, accountId));
  if (found.length === 0) throw notFound("account", accountId);
  const rows = found.flatMap((f) => (f.subscription ? [f.subscription] : []));
  let record = await liveRecordOf(db, accountId, rows, at);
  const nextChange = found.find((f) => f.subscription?.id === record.id)?.nextChangeAt;
  const nextChangeAt = nextChange ? new Date(nextChange).getTime() : Number.POSITIVE_INFINITY;
  if (nextChangeAt <= at.getTime()) {
    const subscriptionId = record.id;
    const apply = (t: Tx) => applyDueScheduledChange(t, subscriptionId, at);
    if (await (isTransaction(db) ? apply(db) : db.transaction(apply)))
      record = await liveSubscriptionOf(db, accountId, at);
    // applied (or applied by another node meanwhile): the window is this instant alone
    return {
      setup: { record, state: await loadBillingState(db, record) },
      validFrom: at.getTime(),
      validUntil: at.getTime() + 1,
    };
  }
  const t = at.getTime();
  const boundaries = rows
    .flatMap((r) => [r.trialEnd, r.cancelAt, r.endedAt, r.createdAt])
    .concat(record.state.currentPeriodStart, record.state.currentPeriodEnd)
    .flatMap((d) => (d ? [d.getTime()] : []));
  const validFrom = Math.max(Number.NEGATIVE_INFINITY, ...boundaries.filter((b) => b <= t));
  const validUntil = Math.min(nextChangeAt, ...boundaries.filter((b) => b > t));
  return { setup: { record, state: await loadBillingState(db, record) }, validFrom, validUntil };
}

/** Where the catalog's current prices come from: the database, or the billing-state cache. */
export interface CatalogResolver {
  plan(key: string): ReturnType<typeof resolvePlan>;
  addOns(selections: readonly { key: string; quantity: number }[]): ReturnType<typeof resolveAddOns>;
}

export const catalogIn = (db: Executor): CatalogResolver => ({
  plan: (key) => resolvePlan(db, key),
  addOns: (selections) => resolveAddOns(db, selections),
});

/** The cached catalog; a key it does not know is looked up once more in a fresh copy. */
export const catalogOf = (cache: BillingStateCache<QuoteSetup>): CatalogResolver => ({
  plan: async (key) => {
    const known = (await cache.onSale()).plans.get(key) ?? (await cache.onSale(true)).plans.get(key);
    return planOnSale(known, key);
  },
  addOns: async (selections) => {
    let { addOns } = await cache.onSale();
    if (selections.some((s) => !addOns.has(s.key))) ({ addOns } = await cache.onSale(true));
    return addOnsOnSale(selections, (key) => addOns.get(key));
  },
});

/** The plans and add-ons on sale, for the billing-state cache. */
export async function loadCatalogOnSale(db: Executor): Promise<CatalogOnSale> {
  const [plans, addOns] = await Promise.all([plansWithCurrentVersion(db), addOnsWithCurrentVersion(db)]);
  return {
    plans: new Map(plans.map((p) => [p.plan.key, p])),
    addOns: new Map(addOns.map((a) => [a.addOn.key, a])),
  };
}
