import { holdsQuote, isLiveCheckout, isQuoteExpired, quoteLapsed, quotePeriod } from "@uptier/core";
import { sql } from "drizzle-orm";
import type { Tx } from "../../db/client.ts";
import { executePrepared, preparing } from "../../db/prepared.ts";
import { checkoutHoldsQuote, liveCheckoutStatus } from "../../db/queries/checkout-status.ts";
import { newId } from "../../ids.ts";
import { Batches } from "../../lib/batches.ts";
import { canonicalJson } from "../../lib/canonical-json.ts";
import type { BillingContext } from "../context.ts";
import { DomainError, notFound } from "../errors.ts";
import { draftDueRenewals, renewalPending } from "../invoices/renewals.ts";
import { requireChargeable } from "../payments/payment-methods.ts";
import { loadBillingState } from "../quotes/billing-state.ts";
import {
  linesView,
  priceChange,
  type QuotePurpose,
  type QuoteTarget,
  shapeOfTarget,
} from "../quotes/quotes.ts";
import type { SubscriptionRecord } from "../subscriptions/records.ts";
import { requestAdminApproval, requireAdmin } from "./authorize.ts";
import {
  type BeginRequest,
  type BeginSetup,
  type CheckoutRow,
  type MemberRow,
  type NamedActor,
  type PaymentMethodRow,
  type QuoteRow,
  readBeginSetups,
} from "./setup.ts";
import { loadQuote } from "./views.ts";

export function gatewayKeyFor(checkoutId: string): string {
  return `uptier_${checkoutId}`;
}

/** A begun checkout: the payment method read with it rides along, so charging needs no second read. */
export interface BegunCheckout {
  readonly checkout: CheckoutRow;
  readonly created: boolean;
  readonly method?: PaymentMethodRow | null;
}

/** A request to begin a checkout. */
export interface BeginInput extends BeginRequest {
  /** the invite path: the quote must be a seat quote of this account for this email */
  readonly invite?: { accountId: string; email: string };
}

interface Beginning {
  readonly input: BeginInput;
  readonly at: Date;
  /** the renewals due by its quote's frozen instant were drafted: begin it without asking again */
  readonly renewed?: boolean;
}

/**
 * A period's renewal prices the subscription as it stands at the period's start. A quote frozen
 * at or after the start of a period whose renewal is not drafted yet (the job runs each minute)
 * is prorated against that period: were the change applied first, the renewal would then charge
 * it again at full price. So that renewal is drafted first, with the shape before the change.
 */
interface RenewalFirst {
  readonly renewalFirst: { readonly subscriptionId: string; readonly frozenAt: Date };
}

/**
 * Checkouts begun at the same moment (50 admins clicking at once) share one transaction: one read
 * of their setups, one insert of their intents, one commit, instead of five round trips each.
 */
const MAX_BEGINS_PER_BATCH = 64;
const beginDesks = new WeakMap<BillingContext, Batches<Beginning, BegunCheckout>>();

/**
 * Setup and intent: validates the quote against the locked subscription, re-prices it with the
 * same pure function at its frozen instant, and commits a `pending` checkout. Returns the live
 * checkout of the quote if one exists (a retry, or one of 20 concurrent requests).
 */
export async function beginCheckout(billing: BillingContext, input: BeginInput): Promise<BegunCheckout> {
  let desk = beginDesks.get(billing);
  if (!desk) {
    desk = new Batches((batch) => beginCheckouts(billing, batch), MAX_BEGINS_PER_BATCH);
    beginDesks.set(billing, desk);
  }
  return desk.run({ input, at: billing.clock() });
}

async function beginCheckouts(
  billing: BillingContext,
  batch: readonly Beginning[],
): Promise<PromiseSettledResult<BegunCheckout>[]> {
  const results: PromiseSettledResult<BegunCheckout>[] = [];
  const later: number[] = [];
  const renewFirst: { index: number; renewal: RenewalFirst["renewalFirst"] }[] = [];
  await billing.db.transaction(async (tx) => {
    // The batch's statements run prepared (db/prepared.ts), with their generic plans at once.
    await tx.execute(sql`set local plan_cache_mode = force_generic_plan`);
    const setups = await readBeginSetups(
      tx,
      batch.map(({ input, at }) => ({ request: input, at })),
    );
    const claimed = new Set<string>();
    const intents: { index: number; begun: BegunCheckout }[] = [];
    for (const [index, { input, at, renewed }] of batch.entries()) {
      const setup = setups[index] as BeginSetup;
      // Two checkouts of one subscription never share a batch: the second is begun after the first
      // committed, and sees it.
      if (setup.quote && claimed.has(setup.quote.subscriptionId)) {
        later.push(index);
        continue;
      }
      if (setup.quote) claimed.add(setup.quote.subscriptionId);
      try {
        const step = await intentOf(tx, setup, input, at, renewed === true);
        if ("renewalFirst" in step) renewFirst.push({ index, renewal: step.renewalFirst });
        else if (step.created) intents.push({ index, begun: step });
        else results[index] = { status: "fulfilled", value: step };
      } catch (error) {
        if (!(error instanceof DomainError)) throw error;
        results[index] = { status: "rejected", reason: error };
      }
    }
    const inserted = await insertUnlessBusy(
      tx,
      intents.map((i) => i.begun.checkout),
    );
    for (const { index, begun } of intents) {
      const attribution = inserted.get(begun.checkout.id);
      if (attribution !== undefined) {
        results[index] = {
          status: "fulfilled",
          value: { ...begun, checkout: { ...begun.checkout, attribution } },
        };
        continue;
      }
      // Another checkout of the quote or the subscription went live first: a fresh read says which.
      const { input, at } = batch[index] as Beginning;
      const [fresh] = await readBeginSetups(tx, [{ request: input, at }]);
      try {
        const { quote, subscription } = checkedSetup(fresh as BeginSetup, input);
        const verdict = verdictOn(fresh as BeginSetup, quote, subscription, at);
        if (!verdict.existing) throw verdict.refusal ?? inProgress(undefined);
        results[index] = { status: "fulfilled", value: { checkout: verdict.existing, created: false } };
      } catch (error) {
        if (!(error instanceof DomainError)) throw error;
        results[index] = { status: "rejected", reason: error };
      }
    }
  });
  // Drafted outside the batch's transaction: draftRenewal locks the subscription in a transaction
  // of its own (and is idempotent: a draft the job made meanwhile is not made twice).
  for (const { index, renewal } of renewFirst) {
    const beginning = batch[index] as Beginning;
    try {
      await draftDueRenewals(billing, renewal.subscriptionId, beginning.at, renewal.frozenAt);
      later.push(index);
    } catch (error) {
      results[index] = { status: "rejected", reason: error };
    }
  }
  if (later.length > 0) {
    const rest = await beginCheckouts(
      billing,
      later.map((i) => {
        const beginning = batch[i] as Beginning;
        return renewFirst.some((r) => r.index === i) ? { ...beginning, renewed: true } : beginning;
      }),
    );
    for (const [k, index] of later.entries()) results[index] = rest[k] as PromiseSettledResult<BegunCheckout>;
  }
  return batch.map(
    (_, i) => results[i] ?? { status: "rejected", reason: new Error("the checkout was not begun") },
  );
}

/**
 * One checkout's checks and price under the batch's locks: its existing checkout (created: false),
 * the pending checkout to insert (created: true), or the renewal to draft before it is begun
 * (unless `renewed`: it was); a refusal is thrown.
 */
async function intentOf(
  tx: Tx,
  first: BeginSetup,
  input: BeginInput,
  at: Date,
  renewed: boolean,
): Promise<BegunCheckout | RenewalFirst> {
  let setup = first;
  const { quote, subscription: record } = checkedSetup(setup, input);
  // The setup's view of the other checkouts may predate the lock (checkout-setup.ts): a refusal is
  // confirmed on a fresh read (the lock is held by then, so nothing can change it again).
  let verdict = verdictOn(setup, quote, record, at);
  if (verdict.refusal) {
    setup = (await readBeginSetups(tx, [{ request: input, at }]))[0] as BeginSetup;
    verdict = verdictOn(setup, quote, record, at);
    if (verdict.refusal) throw verdict.refusal;
  }
  if (verdict.existing) return { checkout: verdict.existing, created: false };
  // Before anything is drafted or charged. The setup's last recorded period may predate the lock:
  // the completion asks again under it.
  const lapse = lapsedQuote(record, quote, at, setup.lastPeriodStart);
  if (lapse) throw new DomainError("quote_stale", lapse, { param: "quote" });
  // Rare (the first minute of a period): the setup read the last recorded period, so asking is free.
  // Read before the lock was granted, it may miss a draft made meanwhile: drafting again is a no-op.
  if (!renewed && renewalPending(record.row, setup.lastPeriodStart, quote.frozenAt))
    return { renewalFirst: { subscriptionId: record.id, frozenAt: quote.frozenAt } };
  const state = await loadBillingState(preparing(tx), record);
  const plan = priceChange(state, await shapeOfTarget(tx, quote.target as QuoteTarget), quote.frozenAt);
  const shown = (quote.view as { lines: unknown }).lines;
  if (plan.totals.amountDue !== quote.amountDue || canonicalJson(linesView(plan)) !== canonicalJson(shown))
    throw staleQuote();
  const method = plan.totals.amountDue > 0 ? requireChargeable(setup.method, input.payment_method) : null;
  const admin = requireAdmin(setup.actor, input);
  return {
    checkout: pendingCheckout(quote, admin, plan.totals.amountDue, method, at),
    created: true,
    method,
  };
}

/** The checks that need no other checkout: the quote exists (and fits the invite), the actor is an admin. */
function checkedSetup(
  setup: BeginSetup,
  input: NamedActor & { quote: string; invite?: { accountId: string; email: string } },
): { quote: QuoteRow; subscription: SubscriptionRecord } {
  const { quote } = setup;
  if (!quote) throw notFound("quote", input.quote);
  if (input.invite) {
    const purpose = quote.purpose as QuotePurpose;
    if (quote.accountId !== input.invite.accountId) throw notFound("quote", input.quote);
    if (
      purpose.type !== "seat_for_invite" ||
      purpose.email.toLowerCase() !== input.invite.email.toLowerCase()
    )
      throw new DomainError(
        "quote_mismatch",
        "This quote is not the seat quote for this invite; preview the invite again.",
        { param: "authorize.quote" },
      );
  }
  requireAdmin(setup.actor, input);
  if (!setup.subscription) throw notFound("subscription", quote.subscriptionId);
  return { quote, subscription: setup.subscription };
}

const staleQuote = () =>
  new DomainError("quote_stale", "The subscription changed since this quote was made; ask for a new quote.", {
    param: "quote",
  });
const inProgress = (id: string | undefined) =>
  new DomainError("checkout_in_progress", `Checkout ${id ?? "of this subscription"} is still in progress.`, {
    param: "quote",
  });

/**
 * Why a quote can no longer be applied at `at`, if so: the period it priced (core's quotePeriod at
 * its frozen instant) has ended, or the next period is already billed (core's quoteLapsed says why
 * that would leave the change unbilled for the next period). Refused rather than re-priced: the
 * customer agreed to the quote's amount, and a new quote prices the change for the period now
 * running, in full, once. Not a price to patch onto the drafted renewal either: that invoice may be
 * finalized, paid or being collected already.
 */
export function lapsedQuote(
  record: SubscriptionRecord,
  quote: QuoteRow,
  at: Date,
  lastBilled: string | Date | null | undefined,
): string | null {
  const { period } = quotePeriod(record.row, record.shape.interval, quote.frozenAt);
  if (!quoteLapsed(period, at, lastBilled ? new Date(lastBilled) : null)) return null;
  return `Quote ${quote.id} priced the change for the billing period ending ${period.end.toISOString()}, and that period is over: ask for a new quote, priced for the current period.`;
}

/** The quote's own checkout if it has one; else why the quote cannot be checked out now, if so. */
function verdictOn(
  setup: BeginSetup,
  quote: QuoteRow,
  record: SubscriptionRecord,
  at: Date,
): { existing?: CheckoutRow; refusal?: DomainError } {
  const existing = setup.related.find((c) => c.quoteId === quote.id && holdsQuote(c.status));
  if (existing) return { existing };
  if (isQuoteExpired(quote.expiresAt, at))
    return {
      refusal: new DomainError(
        "quote_expired",
        `Quote ${quote.id} expired at ${quote.expiresAt.toISOString()}; ask for a new one.`,
        { param: "quote" },
      ),
    };
  const busy = setup.related.find(
    (c) => c.subscriptionId === quote.subscriptionId && isLiveCheckout(c.status),
  );
  if (busy) return { refusal: inProgress(busy.id) };
  if (record.state.status === "canceled" || record.row.revision !== quote.subscriptionRevision)
    return { refusal: staleQuote() };
  return {};
}

/** The intent: a pending checkout whose id the gateway's idempotency key is derived from. */
function pendingCheckout(
  quote: QuoteRow,
  admin: MemberRow,
  amount: number,
  method: PaymentMethodRow | null,
  at: Date,
): CheckoutRow {
  const id = newId("checkout", at);
  return {
    id,
    accountId: quote.accountId,
    quoteId: quote.id,
    subscriptionId: quote.subscriptionId,
    status: "pending",
    authorizedBy: admin.id,
    amount,
    currency: quote.currency,
    paymentMethodId: method?.id ?? null,
    gateway: method?.gateway ?? null,
    gatewayIdempotencyKey: gatewayKeyFor(id),
    gatewayPaymentId: null,
    nextAction: null,
    failureCode: null,
    failureMessage: null,
    effects: {},
    invoiceId: null,
    // the insert (insertUnlessBusy) finds the prompt whose quote this is
    attribution: null,
    attempts: 0,
    createdAt: at,
    updatedAt: at,
    completedAt: null,
  };
}

/**
 * Inserts the pending checkouts, each unless its subscription has a live checkout or its quote a
 * checkout already (the unique index). Run with the subscriptions locked, this statement's snapshot
 * sees every checkout begun before ours, so the check is exact. Each records the prompt whose quote
 * it applies (attribution). Answers the ids inserted, with their attribution.
 */
async function insertUnlessBusy(
  tx: Tx,
  intents: readonly CheckoutRow[],
): Promise<Map<string, CheckoutRow["attribution"]>> {
  if (intents.length === 0) return new Map();
  const rows = intents.map((c) => ({
    id: c.id,
    account_id: c.accountId,
    quote_id: c.quoteId,
    subscription_id: c.subscriptionId,
    status: c.status,
    authorized_by: c.authorizedBy,
    amount: c.amount,
    currency: c.currency,
    payment_method_id: c.paymentMethodId,
    gateway: c.gateway,
    gateway_idempotency_key: c.gatewayIdempotencyKey,
    created_at: c.createdAt.toISOString(),
    updated_at: c.updatedAt.toISOString(),
  }));
  const result = (await executePrepared(
    tx,
    sql`insert into checkouts (id, account_id, quote_id, subscription_id, status, authorized_by, amount, currency,
        payment_method_id, gateway, gateway_idempotency_key, created_at, updated_at, attribution)
      select x.*, (select jsonb_build_object('prompt', p.id, 'play', p.play, 'variant', p.variant)
          from prompt_instances p where p.quote_id = x.quote_id limit 1)
      from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) as x(id text, account_id text, quote_id text,
        subscription_id text, status text, authorized_by text, amount bigint, currency text, payment_method_id text,
        gateway text, gateway_idempotency_key text, created_at timestamptz, updated_at timestamptz)
      where not exists (select 1 from checkouts where subscription_id = x.subscription_id and ${liveCheckoutStatus})
      on conflict (quote_id) where ${checkoutHoldsQuote} do nothing
      returning id, attribution`,
  )) as { rows: { id: string; attribution: CheckoutRow["attribution"] }[] };
  return new Map(result.rows.map((r) => [r.id, r.attribution]));
}

/** beginCheckout, and when a non-admin asked, the admins are told (in a transaction of its own). */
export async function beginAuthorisedCheckout(
  billing: BillingContext,
  input: Parameters<typeof beginCheckout>[1],
): Promise<BegunCheckout> {
  try {
    return await beginCheckout(billing, input);
  } catch (error) {
    if (error instanceof DomainError && error.code === "admin_approval_required") {
      const quote = await loadQuote(billing.db, input.quote);
      await requestAdminApproval(billing, {
        accountId: quote.accountId,
        quoteId: quote.id,
        actor: input,
        ...(input.invite ? { email: input.invite.email } : {}),
      });
    }
    throw error;
  }
}
