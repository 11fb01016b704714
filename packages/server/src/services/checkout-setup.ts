import { type SQL, sql } from "drizzle-orm";
import type { Tx } from "../db/client.ts";
import { jsonRowReader, parsedJson } from "../db/json-rows.ts";
import { executePrepared } from "../db/prepared.ts";
import { checkouts, members, paymentMethods, quotes, subscriptions } from "../db/schema/index.ts";
import { chargeableMethodWhere } from "./payment-methods.ts";
import {
  type PinnedAddOn,
  type PinnedPlan,
  pinnedAddOnsJson,
  type SubscriptionRecord,
  subscriptionRecord,
} from "./subscription-records.ts";

/**
 * The setup of a checkout (STYLE.md: setup → compute → evaluate → execute): everything its checks
 * and its price depend on, read in one statement that also locks the subscription, because a round
 * trip costs more than the rows it carries. The billing state (seats in use, credit, history) is
 * read by quotes.ts's loadBillingState in a statement of its own, after the lock, as the quote read
 * it.
 *
 * One statement is one snapshot, taken before the lock is granted: the locked subscription row is
 * the latest, the other rows are as of the statement's start. That is exact for everything a
 * change of the subscription also changes (its add-ons): a change bumps the revision, and a
 * revision equal to the quote's means that every write behind it committed before the quote was
 * made, so before this statement. The related checkouts are not covered (a checkout begun on the
 * subscription changes no revision), so callers treat them as a hint and let the guarded insert
 * decide (see checkout.ts).
 */

const readQuote = jsonRowReader(quotes);
const readSubscription = jsonRowReader(subscriptions);
const readCheckout = jsonRowReader(checkouts);
const readMember = jsonRowReader(members);
const readPaymentMethod = jsonRowReader(paymentMethods);

export type QuoteRow = typeof quotes.$inferSelect;
export type CheckoutRow = typeof checkouts.$inferSelect;
export type MemberRow = typeof members.$inferSelect;
export type PaymentMethodRow = typeof paymentMethods.$inferSelect;

/** Checkout statuses that still hold the quote or the subscription. */
export const LIVE = ["pending", "requires_action", "refund_pending"] as const;
/** A checkout of the quote in one of these is the quote's checkout (a failed one leaves room for a retry). */
export const HOLDS_QUOTE = [...LIVE, "succeeded", "refunded"] as const;

/** `checkouts.status` is live, as SQL (literals, so the planner can use the status index). */
export const isLive = sql.raw(`status in (${LIVE.map((s) => `'${s}'`).join(", ")})`);
/** `checkouts.status` holds the quote: the predicate of the unique index checkouts_one_live_per_quote. */
const holdsQuote = sql.raw(`status <> 'failed' and status <> 'canceled'`);

export interface NamedActor {
  readonly member?: string | undefined;
  readonly user_id?: string | undefined;
}

/** What beginning a checkout of a quote needs; null members when the rows do not exist. */
export interface BeginSetup {
  readonly quote: QuoteRow | null;
  /** the member named as the actor, if an active one of the quote's account */
  readonly actor: MemberRow | null;
  /** the quote's subscription, locked */
  readonly subscription: SubscriptionRecord | null;
  /** checkouts of the quote, and live checkouts of its subscription */
  readonly related: readonly CheckoutRow[];
  /** the payment method the checkout would charge */
  readonly method: PaymentMethodRow | null;
}

/** The quote's locked subscription with its pinned plan and add-ons, as json columns. */
const subscriptionColumns = sql`
  (select to_json(s) from s) as subscription,
  (select json_build_object('version', pv.version, 'definition', pv.definition)
    from plan_versions pv inner join s on pv.id = s.plan_version_id) as plan,
  ${pinnedAddOnsJson(sql`(select id from s)`)} as add_ons`;

interface SubscriptionColumns {
  subscription: unknown;
  plan: unknown;
  add_ons: unknown;
}

function recordOf(row: SubscriptionColumns, at: Date): SubscriptionRecord | null {
  if (!row.subscription) return null;
  const subscription = readSubscription(row.subscription);
  const plan = parsedJson<PinnedPlan | null>(row.plan);
  if (!plan) throw new Error(`subscription ${subscription.id} pins a missing plan version`);
  return subscriptionRecord(subscription, plan, parsedJson<PinnedAddOn[]>(row.add_ons), at);
}

async function one<T>(tx: Tx, statement: SQL): Promise<T | undefined> {
  return (await executePrepared(tx, statement)).rows[0] as T | undefined;
}

export async function readBeginSetup(
  tx: Tx,
  input: { quote: string; payment_method?: string | undefined } & NamedActor,
  at: Date,
): Promise<BeginSetup> {
  const actor = input.member
    ? sql`m.id = ${input.member}`
    : input.user_id
      ? sql`m.external_user_id = ${input.user_id}`
      : sql`false`;
  // The quote's account and subscription are scalar subqueries, so every table below is read by
  // its index (a join on the CTE lets the planner scan the whole table). The statuses are written as
  // literals so that the quote's checkouts are found by the partial unique index of live ones.
  const account = sql`(select account_id from q)`;
  const row = await one<
    SubscriptionColumns & { quote: unknown; actor: unknown; related: unknown; method: unknown }
  >(
    tx,
    sql`with q as (select * from quotes where id = ${input.quote}),
      s as materialized (select * from subscriptions where id = (select subscription_id from q) for update)
    select
      (select to_json(q) from q) as quote,
      (select to_json(m) from members m where m.account_id = ${account} and m.status <> 'removed' and ${actor}
        limit 1) as actor,
      ${subscriptionColumns},
      (select coalesce(json_agg(to_json(c)), '[]'::json) from (
          select * from checkouts where quote_id = (select id from q) and ${holdsQuote}
          union
          select * from checkouts where subscription_id = (select subscription_id from q) and ${isLive}
        ) c) as related,
      (select to_json(payment_methods) from payment_methods
        where ${chargeableMethodWhere(account, input.payment_method)}) as method`,
  );
  if (!row?.quote) return { quote: null, actor: null, subscription: null, related: [], method: null };
  return {
    quote: readQuote(parsedJson(row.quote)),
    actor: row.actor ? readMember(parsedJson(row.actor)) : null,
    subscription: recordOf(row, at),
    related: parsedJson<unknown[]>(row.related).map(readCheckout),
    method: row.method ? readPaymentMethod(parsedJson(row.method)) : null,
  };
}

/** What completing a checkout needs: the checkout and its subscription, both locked. */
export interface CompletionSetup {
  readonly checkout: CheckoutRow;
  readonly quote: QuoteRow;
  readonly subscription: SubscriptionRecord | null;
  /**
   * The version numbers of what the quote buys, its add-ons in the order the database sorts their
   * keys (the order a subscription's add-ons are read in), so the subscription after the change is
   * known without reading it back.
   */
  readonly bought: { readonly planVersion: number; readonly addOnVersions: ReadonlyMap<string, number> };
  readonly addOnOrder: readonly string[];
}

/**
 * The setups of several checkouts, by checkout id (a missing checkout has none), each subscription's
 * state taken at its checkout's instant. The checkouts are locked first, then their subscriptions,
 * each in id order, so two batches never wait for each other in a circle.
 */
export async function readCompletionSetups(
  tx: Tx,
  wanted: readonly { id: string; at: Date }[],
): Promise<Map<string, CompletionSetup>> {
  const ids = JSON.stringify(wanted.map((w) => w.id));
  const result = (await executePrepared(
    tx,
    sql`with c as materialized (select * from checkouts
        where id in (select jsonb_array_elements_text(${ids}::jsonb)) order by id for update),
      s as materialized (select * from subscriptions
        where id in (select quotes.subscription_id from quotes inner join c on quotes.id = c.quote_id)
        order by id for update)
    select to_json(c) as checkout, to_json(q) as quote, to_json(s) as subscription,
      (select json_build_object('version', pv.version, 'definition', pv.definition)
        from plan_versions pv where pv.id = s.plan_version_id) as plan,
      ${pinnedAddOnsJson(sql`(s.id)`)} as add_ons,
      json_build_object(
        'planVersion', (select version from plan_versions where id = q.target ->> 'planVersionId'),
        'addOns', (select coalesce(json_agg(json_build_object('key', a ->> 'key', 'version', av.version)
            order by a ->> 'key'), '[]'::json)
          from jsonb_array_elements(q.target -> 'addOns') a
          inner join add_on_versions av on av.id = a ->> 'versionId')) as bought
    from c inner join quotes q on q.id = c.quote_id left join s on s.id = q.subscription_id`,
  )) as unknown as { rows: (SubscriptionColumns & { checkout: unknown; quote: unknown; bought: unknown })[] };
  const at = new Map(wanted.map((w) => [w.id, w.at]));
  const setups = new Map<string, CompletionSetup>();
  for (const row of result.rows) {
    const checkout = readCheckout(parsedJson(row.checkout));
    const bought = parsedJson<{ planVersion: number; addOns: { key: string; version: number }[] }>(
      row.bought,
    );
    setups.set(checkout.id, {
      checkout,
      quote: readQuote(parsedJson(row.quote)),
      subscription: recordOf(row, at.get(checkout.id) as Date),
      bought: {
        planVersion: bought.planVersion,
        addOnVersions: new Map(bought.addOns.map((a) => [a.key, a.version])),
      },
      addOnOrder: bought.addOns.map((a) => a.key),
    });
  }
  return setups;
}
