import {
  type AddOnDefinition,
  isQuoteExpired,
  type QuotePlan,
  quoteChange,
  quoteExpiresAt,
  type ResolvedPlan,
  type SubscribedAddOn,
  type SubscriptionShape,
} from "@uptier/core";
import type { ChangeFields } from "@uptier/core/api";
import { eq, sql } from "drizzle-orm";
import type { z } from "zod";
import { type Db, type Executor, isTransaction, type Tx } from "../../db/client.ts";
import { executePrepared } from "../../db/prepared.ts";
import { type QuotePurpose, type QuoteTarget, quotes } from "../../db/schema/index.ts";
import { newId } from "../../ids.ts";
import { Batches } from "../../lib/batches.ts";
import { versionDefinitions } from "../catalog/versions.ts";
import { DomainError, notFound } from "../errors.ts";
import { lineView } from "../invoices/line-view.ts";
import type { SubscriptionRecord } from "../subscriptions/records.ts";
import {
  type BillingState,
  type CatalogResolver,
  catalogIn,
  catalogOf,
  loadCatalogOnSale,
  loadQuoteSetup,
  type QuoteSetup,
} from "./billing-state.ts";
import { BillingStateCache } from "./billing-state-cache.ts";

/**
 * Quotes (Autumn's four layers): setup loads the subscription, prices and balances into one
 * context; compute is core's pure `quoteChange`; the quote stores the result with the price
 * versions it used (locked prices) and its frozen instant, so the checkout can run the same
 * function on the same inputs and charge exactly what was shown.
 */
export type { QuotePurpose, QuoteTarget };

/** The requested change as a whole target shape, with the price versions it will be billed at. */
export async function resolveTarget(
  catalog: CatalogResolver,
  record: SubscriptionRecord,
  change: z.infer<typeof ChangeFields>,
): Promise<{ shape: SubscriptionShape; target: QuoteTarget }> {
  const { row } = record;
  // The plan the subscription is on keeps its pinned (grandfathered) version; another plan is bought
  // at its current version.
  const plan =
    change.plan === undefined || change.plan === row.planKey
      ? { id: row.planVersionId, currency: row.currency, definition: record.shape.plan }
      : await catalog.plan(change.plan);
  if (plan.currency !== row.currency)
    throw new DomainError(
      "currency_mismatch",
      `The ${plan.definition.name} plan is priced in ${plan.currency.toUpperCase()}, the subscription in ${row.currency.toUpperCase()}.`,
      { param: "plan" },
    );
  const pinned = record.addOnVersionIds;
  let addOns: { selected: SubscribedAddOn; versionId: string }[];
  if (change.add_ons === undefined) {
    addOns = record.shape.addOns.map((a) => ({ selected: a, versionId: pinned.get(a.key) as string }));
  } else {
    const fresh = await catalog.addOns(change.add_ons.map((a) => ({ key: a.key, quantity: a.quantity })));
    const pinnedDefs = new Map(record.shape.addOns.map((a) => [a.key, a.definition]));
    addOns = fresh.map((f) => {
      const keep = pinned.get(f.selected.key);
      // a pinned version was checked against the subscription's currency when it was bought
      if (!keep && f.currency !== row.currency)
        throw new DomainError(
          "currency_mismatch",
          `The ${f.selected.key} add-on is priced in ${f.currency.toUpperCase()}, the subscription in ${row.currency.toUpperCase()}.`,
          { param: "add_ons" },
        );
      const definition = keep ? (pinnedDefs.get(f.selected.key) as AddOnDefinition) : f.selected.definition;
      return { selected: { ...f.selected, definition }, versionId: keep ?? f.versionId };
    });
  }
  const interval = change.interval ?? record.shape.interval;
  const seats = change.seats ?? row.seats;
  return {
    shape: { plan: plan.definition, interval, seats, addOns: addOns.map((a) => a.selected) },
    target: {
      plan: plan.definition.key,
      planVersionId: plan.id,
      interval,
      seats,
      addOns: addOns.map((a) => ({
        key: a.selected.key,
        versionId: a.versionId,
        quantity: a.selected.quantity,
      })),
    },
  };
}

/** Rebuilds a stored target with the very versions the quote locked. */
export async function shapeOfTarget(db: Executor, target: QuoteTarget): Promise<SubscriptionShape> {
  const versions = await versionDefinitions(db, {
    plans: [target.planVersionId],
    addOns: target.addOns.map((a) => a.versionId),
  });
  return {
    plan: versions.plans.get(target.planVersionId) as ResolvedPlan,
    interval: target.interval,
    seats: target.seats,
    addOns: target.addOns.map((a) => ({
      key: a.key,
      quantity: a.quantity,
      definition: versions.addOns.get(a.versionId) as AddOnDefinition,
    })),
  };
}

/** Compute: the one pure function, for the quote and for the charge. Refusals become 4xx. */
export function priceChange(state: BillingState, shape: SubscriptionShape, at: Date): QuotePlan {
  const { record } = state;
  const result = quoteChange({
    subscription: {
      shape: record.shape,
      currency: record.currency,
      billingCycleAnchor: record.row.billingCycleAnchor,
      trialEnd: record.state.status === "trialing" ? record.row.trialEnd : null,
      cancelAt: record.row.cancelAt,
    },
    target: shape,
    at,
    policy: state.policy,
    seatsInUse: state.seatsInUse,
    creditBalance: state.creditBalance,
    history: state.history,
    scheduled: state.scheduled,
  });
  if (!result.ok)
    throw new DomainError(result.refusal.code, result.refusal.message, { param: result.refusal.param });
  return result.plan;
}

const iso = (d: Date) => d.toISOString();

function shapeView(shape: SubscriptionShape) {
  return {
    plan: shape.plan.key,
    interval: shape.interval,
    seats: shape.seats,
    add_ons: shape.addOns.map((a) => ({ key: a.key, quantity: a.quantity })),
  };
}

export function linesView(plan: QuotePlan) {
  return plan.lines.map((l) => lineView(l));
}

export function planView(plan: QuotePlan) {
  return {
    change: { from: shapeView(plan.from), to: shapeView(plan.to) },
    timing: plan.timing,
    effective_at: iso(plan.effectiveAt),
    billing_cycle_anchor_after: plan.newAnchor ? iso(plan.newAnchor) : null,
    lines: linesView(plan),
    subtotal: plan.totals.subtotal,
    credit_applied: plan.totals.creditApplied,
    amount_due: plan.totals.amountDue,
    credit_to_balance: plan.totals.creditAdded,
    credit_balance_after: plan.totals.creditBalanceAfter,
    recurring: {
      before: plan.recurring.before,
      after: plan.recurring.after,
      delta_per_month: plan.recurring.deltaPerMonth,
    },
    next_invoice: { date: iso(plan.nextInvoice.date), amount: plan.nextInvoice.amount },
    scheduled: plan.split
      ? {
          effective_at: iso(plan.split.scheduled.effectiveAt),
          change: { from: shapeView(plan.split.now.to), to: shapeView(plan.split.scheduled.to) },
        }
      : null,
    replaces_scheduled_change: plan.replacesScheduled
      ? { id: plan.replacesScheduled.id, effective_at: iso(plan.replacesScheduled.effectiveAt) }
      : null,
    summary: plan.summary,
    summary_text: plan.summary.join(" "),
  };
}

type QuoteRow = typeof quotes.$inferSelect;
type StoredView = ReturnType<typeof planView> & { purpose: QuotePurpose };

/** The quote's own fields, which the API view puts before its stored view. */
function quoteHead(row: QuoteRow, now: Date) {
  return {
    id: row.id,
    object: "quote" as const,
    account: row.accountId,
    subscription: row.subscriptionId,
    subscription_revision: row.subscriptionRevision,
    status: isQuoteExpired(row.expiresAt, now) ? ("expired" as const) : ("open" as const),
    currency: row.currency,
    created: iso(row.createdAt),
    priced_at: iso(row.frozenAt),
    expires_at: iso(row.expiresAt),
  };
}

export function quoteView(row: QuoteRow, now: Date) {
  const view = row.view as StoredView;
  // quotes stored before splits, or before replaced scheduled changes were told, lack their fields
  return {
    ...quoteHead(row, now),
    ...view,
    scheduled: view.scheduled ?? null,
    replaces_scheduled_change: view.replaces_scheduled_change ?? null,
  };
}
export type QuoteView = ReturnType<typeof quoteView>;

/**
 * A quote just priced: its row and its stored view as JSON text. The text is made once and used
 * twice: stored as is (a json column keeps the text) and spliced into the API answer (quoteJson).
 */
interface NewQuote {
  readonly row: QuoteRow;
  readonly viewJson: string;
  readonly plan: QuotePlan;
}

/** quoteView's JSON, without serializing the view again: the same fields in the same order. */
function quoteJson({ row, viewJson }: NewQuote, now: Date): string {
  return `${JSON.stringify(quoteHead(row, now)).slice(0, -1)},${viewJson.slice(1)}`;
}

/**
 * How quotes made outside a transaction are set up and stored: from the billing-state cache, and
 * written by group commit (many quotes, one INSERT).
 */
export interface QuoteDesk {
  readonly setups: BillingStateCache<QuoteSetup>;
  readonly writes: Batches<NewQuote, void>;
}

export function quoteDesk(db: Executor, ttlMs?: number): QuoteDesk {
  return {
    setups: new BillingStateCache(
      (accountId, at) => loadQuoteSetup(db, accountId, at),
      () => loadCatalogOnSale(db),
      ttlMs,
    ),
    // Group commit: the quotes made while a statement runs share the next one. Two statements at a
    // time keep one being filled while the other runs; more make smaller batches, and both Node and
    // PostgreSQL pay per statement (measured: 4 at a time cost ~20 % more CPU per quote than 2).
    writes: new Batches(
      async (created) => {
        await insertQuotes(db, created, "async");
        return created.map(() => STORED);
      },
      500,
      2,
    ),
  };
}

const STORED: PromiseSettledResult<void> = { status: "fulfilled", value: undefined };

/**
 * Several quotes in one statement (raw SQL: one JSON parameter, no per-row query building), prepared
 * once per connection. The view goes in as the text the answer was made of; its columns are `json`,
 * not `jsonb`, because PostgreSQL then keeps the text as it is instead of converting it (json → jsonb
 * cost about half of the insert's PostgreSQL time, and nothing queries inside a quote's view).
 *
 * `async` commits without waiting for the WAL flush (synchronous_commit off for this statement's
 * transaction alone). A quote is a preview anyone can ask for again, and the flush is most of its
 * latency's tail on a busy disk (here: a durable commit's p99 8–17 ms, 3–4 ms without the wait). The
 * row is visible to every session at once; a PostgreSQL crash can lose the quotes of the last few
 * hundred milliseconds, whose checkout then answers 404 `resource_not_found` and charges nothing; a
 * checkout's own durable commit flushes the WAL up to it, so no committed checkout points at a lost
 * quote.
 * Quotes written inside a transaction (an Idempotency-Key, an invite) commit with it, durably.
 */
async function insertQuotes(
  db: Executor,
  created: readonly NewQuote[],
  commit: "durable" | "async" = "durable",
): Promise<void> {
  const json = `[${created
    .map(({ row: r, viewJson }) => {
      const columns = JSON.stringify({
        id: r.id,
        account_id: r.accountId,
        subscription_id: r.subscriptionId,
        subscription_revision: r.subscriptionRevision,
        currency: r.currency,
        frozen_at: r.frozenAt,
        expires_at: r.expiresAt,
        target: r.target,
        purpose: r.purpose,
        timing: r.timing,
        amount_due: r.amountDue,
        created_at: r.createdAt,
      });
      return `${columns.slice(0, -1)},"view":${viewJson}}`;
    })
    .join(",")}]`;
  await executePrepared(
    db,
    sql`
    insert into quotes (id, account_id, subscription_id, subscription_revision, currency, frozen_at,
      expires_at, target, purpose, timing, amount_due, view, created_at)
    select id, account_id, subscription_id, subscription_revision, currency, frozen_at,
      expires_at, target, purpose, timing, amount_due, view, created_at
    from json_populate_recordset(null::quotes, ${json}::json)${
      commit === "async"
        ? sql` cross join (select set_config('synchronous_commit', 'off', true)) as async_commit`
        : sql``
    }`,
  );
}

/** Prices a change (setup, then core's quoteChange) into a new quote; nothing is stored yet. */
async function priceQuote(
  db: Executor,
  input: z.infer<typeof ChangeFields> & { account: string; expires_in?: number },
  at: Date,
  purpose: QuotePurpose,
  desk: QuoteDesk | undefined,
): Promise<NewQuote> {
  // Inside a transaction (an Idempotency-Key, an invite) everything is read in it.
  const cached = desk !== undefined && !isTransaction(db);
  const { record, state } = cached
    ? await desk.setups.setup(input.account, at)
    : (await loadQuoteSetup(db, input.account, at)).setup;
  const { shape, target } = await resolveTarget(
    cached ? catalogOf(desk.setups) : catalogIn(db),
    record,
    input,
  );
  const plan = priceChange(state, shape, at);
  const view = { purpose, ...planView(plan) };
  const row: QuoteRow = {
    id: newId("quote", at),
    accountId: input.account,
    subscriptionId: record.id,
    subscriptionRevision: record.row.revision,
    currency: record.currency,
    frozenAt: at,
    expiresAt: quoteExpiresAt(at, input.expires_in),
    target,
    purpose,
    timing: plan.timing,
    amountDue: plan.totals.amountDue,
    view,
    createdAt: at,
  };
  return { row, viewJson: JSON.stringify(view), plan };
}

/** A quote made and stored in the caller's transaction (an Idempotency-Key, an invite), durably. */
export async function createQuote(
  tx: Tx,
  input: z.infer<typeof ChangeFields> & { account: string; expires_in?: number },
  at: Date,
  purpose: QuotePurpose = { type: "change" },
): Promise<QuoteView> {
  return (await createPricedQuote(tx, input, at, purpose)).quote;
}

/** createQuote, with the plan it priced (for words made from the quote's numbers). */
export async function createPricedQuote(
  tx: Tx,
  input: z.infer<typeof ChangeFields> & { account: string; expires_in?: number },
  at: Date,
  purpose: QuotePurpose,
): Promise<{ quote: QuoteView; plan: QuotePlan }> {
  const created = await priceQuote(tx, input, at, purpose, undefined);
  await insertQuotes(tx, [created]);
  return { quote: quoteView(created.row, at), plan: created.plan };
}

/**
 * A quote made outside a transaction, priced from the desk's cache and stored by its group commit;
 * answers the API view as JSON text.
 */
export async function createQuoteJson(
  db: Db,
  input: z.infer<typeof ChangeFields> & { account: string; expires_in?: number },
  at: Date,
  desk: QuoteDesk,
): Promise<string> {
  const created = await priceQuote(db, input, at, { type: "change" }, desk);
  await desk.writes.run(created);
  return quoteJson(created, at);
}

export async function getQuote(db: Executor, id: string, now: Date): Promise<QuoteView> {
  const [row] = await db.select().from(quotes).where(eq(quotes.id, id));
  if (!row) throw notFound("quote", id);
  return quoteView(row, now);
}
