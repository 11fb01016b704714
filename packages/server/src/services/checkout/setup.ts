import { sql } from "drizzle-orm";
import type { Tx } from "../../db/client.ts";
import { jsonRowReader, parsedJson } from "../../db/json-rows.ts";
import { executePrepared } from "../../db/prepared.ts";
import { chargeableMethodWhere } from "../../db/queries/chargeable-method.ts";
import { checkoutHoldsQuote, liveCheckoutStatus } from "../../db/queries/checkout-status.ts";
import { lastPeriodStartOf } from "../../db/queries/last-period-start.ts";
import { checkouts, members, paymentMethods, quotes, subscriptions } from "../../db/schema/index.ts";
import {
  type PinnedAddOn,
  type PinnedPlan,
  pinnedAddOnsJson,
  type SubscriptionRecord,
  subscriptionRecord,
} from "../subscriptions/records.ts";

/**
 * The setup of a checkout (setup → compute → evaluate → execute, docs/billing.md): everything its checks
 * and its price depend on, for a whole batch of checkouts, read in one statement that also locks
 * their subscriptions, because a round trip costs more than the rows it carries. The billing state
 * (seats in use, credit, history) is read by quotes/billing-state.ts's loadBillingState in a
 * statement of its own, after the lock, as the quote read it.
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
  /** the start of the subscription's last recorded period (what renewals.ts says is covered) */
  readonly lastPeriodStart: string | Date | null;
}

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

export interface BeginRequest extends NamedActor {
  readonly quote: string;
  readonly payment_method?: string | undefined;
}

/**
 * The setups of several checkouts to begin, in the order asked, their subscriptions locked (in id
 * order, so two batches never wait for each other in a circle), each subscription's state taken at
 * its request's instant.
 */
export async function readBeginSetups(
  tx: Tx,
  requests: readonly { request: BeginRequest; at: Date }[],
): Promise<BeginSetup[]> {
  const asked = requests.map(({ request: r }, ord) => ({
    ord,
    quote: r.quote,
    member: r.member ?? null,
    user_id: r.user_id ?? null,
    payment_method: r.payment_method ?? null,
  }));
  // Every table is read by its index through scalar subqueries on the request's quote (a join lets
  // the planner scan a whole table). The statuses are literals so that the quote's checkouts are
  // found by the partial unique index of live ones.
  const quote = sql`(select q.subscription_id from quotes q where q.id = i.quote)`;
  const account = sql`(select q.account_id from quotes q where q.id = i.quote)`;
  const result = await executePrepared(
    tx,
    sql`with i as (select * from jsonb_to_recordset(${JSON.stringify(asked)}::jsonb)
          as i(ord int, quote text, member text, user_id text, payment_method text)),
        s as materialized (select * from subscriptions
          where id in (select q.subscription_id from quotes q where q.id in (select quote from i))
          order by id for update)
      select
        (select to_json(q) from quotes q where q.id = i.quote) as quote,
        (select to_json(m) from members m
          where m.account_id = ${account} and m.status <> 'removed'
            and (m.id = i.member or (i.member is null and m.external_user_id = i.user_id))
          limit 1) as actor,
        (select to_json(s) from s where s.id = ${quote}) as subscription,
        (select json_build_object('version', pv.version, 'definition', pv.definition)
          from plan_versions pv inner join s on pv.id = s.plan_version_id where s.id = ${quote}) as plan,
        ${pinnedAddOnsJson(quote)} as add_ons,
        (select coalesce(json_agg(to_json(c)), '[]'::json) from (
            select * from checkouts where quote_id = i.quote and ${checkoutHoldsQuote}
            union
            select * from checkouts where subscription_id = ${quote} and ${liveCheckoutStatus}
          ) c) as related,
        (select to_json(payment_methods) from payment_methods
          where ${chargeableMethodWhere(account, sql`i.payment_method`)}) as method,
        ${lastPeriodStartOf(quote)} as last_period_start
      from i order by i.ord`,
  );
  return (
    result.rows as (SubscriptionColumns & {
      quote: unknown;
      actor: unknown;
      related: unknown;
      method: unknown;
      last_period_start: string | Date | null;
    })[]
  ).map((row, i) =>
    row.quote
      ? {
          quote: readQuote(parsedJson(row.quote)),
          actor: row.actor ? readMember(parsedJson(row.actor)) : null,
          subscription: recordOf(row, requests[i]?.at as Date),
          related: parsedJson<unknown[]>(row.related).map(readCheckout),
          method: row.method ? readPaymentMethod(parsedJson(row.method)) : null,
          lastPeriodStart: row.last_period_start,
        }
      : { quote: null, actor: null, subscription: null, related: [], method: null, lastPeriodStart: null },
  );
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
          from json_array_elements(q.target -> 'addOns') a
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
