import { quoteLapsed, quotePeriod, type SubscriptionShape } from "@uptier/core";
import { and, eq, inArray, lt, sql } from "drizzle-orm";
import { z } from "zod";
import type { Executor, Tx } from "../../db/client.ts";
import { executePrepared, preparing } from "../../db/prepared.ts";
import { checkouts, members, paymentMethods, quotes, subscriptions } from "../../db/schema/index.ts";
import { type ChargeOutcome, GatewayUnavailableError, type PaymentGateway } from "../../gateways/gateway.ts";
import { newId } from "../../ids.ts";
import { Batches } from "../../lib/batches.ts";
import { canonicalJson } from "../../lib/canonical-json.ts";
import type { BillingContext } from "../context.ts";
import { DomainError, notFound } from "../errors.ts";
import { recordEvent, recordEvents } from "../events/append.ts";
import {
  type InvoiceEvent,
  type InvoiceRow,
  invoiceView,
  issuePaidInvoices,
  type PaidInvoice,
} from "../invoices/issue.ts";
import { draftDueRenewals, renewalPending } from "../invoices/renewals.ts";
import { requireChargeable } from "../payments/payment-methods.ts";
import {
  type BillingState,
  linesView,
  loadBillingState,
  priceChange,
  type QuotePurpose,
  type QuoteTarget,
  shapeOfTarget,
} from "../quotes/quotes.ts";
import { lastPeriodStarts, type PeriodRecord, periodRows } from "../subscriptions/periods.ts";
import {
  type SubscriptionRecord,
  type SubscriptionRow,
  subscriptionRecord,
} from "../subscriptions/records.ts";
import {
  cancelPendingChange,
  recordScheduledChange,
  type ScheduledChange,
  scheduledChangeCanceled,
} from "../subscriptions/scheduled-changes.ts";
import { subscriptionView } from "../subscriptions/subscriptions.ts";
import {
  type BeginRequest,
  type BeginSetup,
  type CheckoutRow,
  type CompletionSetup,
  HOLDS_QUOTE,
  isLive,
  LIVE,
  type MemberRow,
  type NamedActor,
  type PaymentMethodRow,
  type QuoteRow,
  readBeginSetups,
  readCompletionSetups,
} from "./setup.ts";

/**
 * Checkout: a quote applied exactly once (setup → compute → evaluate → execute; the intent first, as docs/rules.md's
 * "exactly once" asks). The intent — a checkout row in state `pending` — is committed before the gateway is
 * called; the gateway's idempotency key is derived from its id; the change, the paid invoice, the
 * ledger and the events are committed together only once the gateway said yes. A crash, a timeout
 * or a retry in between leaves a `pending` row that `recoverCheckouts` finishes by asking the
 * gateway again with the same key (it answers with the first outcome, never a second charge).
 *
 *   pending ──▶ succeeded          (charged, applied, invoiced: one transaction)
 *      │  └──▶ failed              (declined: nothing applied)
 *      ├──▶ requires_action ──▶ succeeded | failed | canceled (3-D Secure, confirmed later)
 *      └──▶ refund_pending ──▶ refunded  (charged, but the subscription changed meanwhile)
 *
 * Uniqueness does the rest: one live checkout per quote, one invoice per checkout, one ledger
 * posting per (source, ledger account).
 *
 * Throughput: checkouts that arrive together begin together (one transaction writes their intents)
 * and complete together (one transaction applies their changes and issues their invoices, taking
 * the invoice counter once), so the gap-free counter, held by each invoice until its commit, is not
 * one WAL flush per checkout. Each checkout keeps its own answer; a batch that fails as a whole is
 * run again item by item (lib/batches.ts).
 */
const Actor = {
  member: z.string().min(1).max(64).optional().describe("The admin member authorising the charge (mbr_…)"),
  user_id: z.string().min(1).max(255).optional().describe("…or that admin's user id in your product"),
};

export const CheckoutInput = z
  .object({
    quote: z.string().min(1).max(64).describe("The quote to apply (qt_…)"),
    ...Actor,
    payment_method: z.string().min(1).max(64).optional().describe("Defaults to the account's default method"),
  })
  .strict();

export const AuthorizeInput = z
  .object({ quote: z.string().min(1).max(64).describe("The seat quote from members/preview"), ...Actor })
  .strict();

const CHARGE_ATTEMPTS = 3;

export function gatewayKeyFor(checkoutId: string): string {
  return `uptier_${checkoutId}`;
}

export function checkoutView(row: CheckoutRow) {
  const iso = (d: Date | null) => d?.toISOString() ?? null;
  const next = row.nextAction as { type: string; clientSecret: string | null; url: string | null } | null;
  return {
    id: row.id,
    object: "checkout" as const,
    account: row.accountId,
    quote: row.quoteId,
    subscription: row.subscriptionId,
    status: row.status as
      | "pending"
      | "succeeded"
      | "failed"
      | "requires_action"
      | "canceled"
      | "refund_pending"
      | "refunded",
    amount: row.amount,
    currency: row.currency,
    payment_method: row.paymentMethodId,
    gateway: row.gateway,
    payment: row.gatewayPaymentId,
    authorized_by: row.authorizedBy,
    invoice: row.invoiceId,
    next_action:
      row.status === "requires_action" && next
        ? {
            type: next.type,
            client_secret: next.clientSecret,
            url: next.url,
            confirm_url: `/v1/checkouts/${row.id}/confirm`,
          }
        : null,
    failure: row.failureCode ? { code: row.failureCode, message: row.failureMessage ?? "" } : null,
    created: row.createdAt.toISOString(),
    completed_at: iso(row.completedAt),
  };
}
export type CheckoutView = ReturnType<typeof checkoutView>;

/**
 * Only an account admin can authorise a charge (docs/rules.md, conventions: auth), and only one who has joined: an
 * admin still `invited` never signed in as themselves. `row` is the actor as found.
 */
function requireAdmin(row: MemberRow | null, actor: NamedActor): MemberRow {
  if (!actor.member && !actor.user_id)
    throw new DomainError("actor_required", "Name the admin authorising the charge: `member` or `user_id`.", {
      param: "member",
    });
  const param = actor.member ? "member" : "user_id";
  if (!row)
    throw new DomainError(
      "resource_not_found",
      `No member ${actor.member ?? actor.user_id} in this account.`,
      {
        param,
      },
    );
  if (row.role !== "admin")
    throw new DomainError(
      "admin_approval_required",
      "Only an account admin can authorise a charge. Your admins have been asked to approve it.",
      { param },
    );
  if (row.status !== "active")
    throw new DomainError(
      "admin_not_active",
      `Admin ${row.id} has not joined yet (status ${row.status}): only an active admin can authorise a charge.`,
      { param },
    );
  return row;
}

/**
 * A non-admin asked for something that costs money: tell the admins (an outbox event the
 * notification consumers turn into an email or an in-app notice), in a transaction of its own
 * since the request itself is refused.
 */
export async function requestAdminApproval(
  billing: BillingContext,
  input: {
    accountId: string;
    quoteId: string;
    actor: { member?: string | undefined; user_id?: string | undefined };
    email?: string;
  },
): Promise<void> {
  const at = billing.clock();
  await billing.db.transaction(async (tx) => {
    const admins = await tx
      .select({ id: members.id, email: members.email })
      .from(members)
      .where(
        and(eq(members.accountId, input.accountId), eq(members.role, "admin"), eq(members.status, "active")),
      );
    await recordEvent(tx, {
      type: "admin_approval.requested",
      accountId: input.accountId,
      data: {
        quote: input.quoteId,
        requested_by: input.actor.member ?? input.actor.user_id ?? null,
        ...(input.email ? { invite_email: input.email } : {}),
        admins: admins.map((a) => a.id),
      },
      at,
    });
  });
}

async function loadQuote(db: Executor, id: string): Promise<QuoteRow> {
  const [row] = await db.select().from(quotes).where(eq(quotes.id, id));
  if (!row) throw notFound("quote", id);
  return row;
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
      if (inserted.has(begun.checkout.id)) {
        results[index] = { status: "fulfilled", value: begun };
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
function lapsedQuote(
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
  const existing = setup.related.find(
    (c) => c.quoteId === quote.id && (HOLDS_QUOTE as readonly string[]).includes(c.status),
  );
  if (existing) return { existing };
  if (at.getTime() >= quote.expiresAt.getTime())
    return {
      refusal: new DomainError(
        "quote_expired",
        `Quote ${quote.id} expired at ${quote.expiresAt.toISOString()}; ask for a new one.`,
        { param: "quote" },
      ),
    };
  const busy = setup.related.find(
    (c) => c.subscriptionId === quote.subscriptionId && (LIVE as readonly string[]).includes(c.status),
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
    attempts: 0,
    createdAt: at,
    updatedAt: at,
    completedAt: null,
  };
}

/**
 * Inserts the pending checkouts, each unless its subscription has a live checkout or its quote a
 * checkout already (the unique index). Run with the subscriptions locked, this statement's snapshot
 * sees every checkout begun before ours, so the check is exact. Answers the ids inserted.
 */
async function insertUnlessBusy(tx: Tx, intents: readonly CheckoutRow[]): Promise<Set<string>> {
  if (intents.length === 0) return new Set();
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
        payment_method_id, gateway, gateway_idempotency_key, created_at, updated_at)
      select * from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) as x(id text, account_id text, quote_id text,
        subscription_id text, status text, authorized_by text, amount bigint, currency text, payment_method_id text,
        gateway text, gateway_idempotency_key text, created_at timestamptz, updated_at timestamptz)
      where not exists (select 1 from checkouts where subscription_id = x.subscription_id and ${isLive})
      on conflict (quote_id) where status <> 'failed' and status <> 'canceled' do nothing
      returning id`,
  )) as { rows: { id: string }[] };
  return new Set(result.rows.map((r) => r.id));
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

function gatewayOf(billing: BillingContext, checkout: CheckoutRow): PaymentGateway {
  const gateway = billing.gateways.get(checkout.gateway ?? "");
  if (!gateway) throw new Error(`checkout ${checkout.id}: gateway "${checkout.gateway}" is not configured`);
  return gateway;
}

/** Asks the gateway to charge (or re-answer) with the checkout's key; null when it never answered. */
async function askGateway(
  billing: BillingContext,
  checkout: CheckoutRow,
  known?: PaymentMethodRow | null,
): Promise<ChargeOutcome | null> {
  const [method] =
    known && known.id === checkout.paymentMethodId
      ? [known]
      : await billing.db
          .select()
          .from(paymentMethods)
          .where(eq(paymentMethods.id, checkout.paymentMethodId ?? ""));
  if (!method) throw new Error(`checkout ${checkout.id} has no payment method`);
  const gateway = gatewayOf(billing, checkout);
  for (let attempt = 1; attempt <= CHARGE_ATTEMPTS; attempt++) {
    try {
      return await gateway.charge({
        amount: checkout.amount,
        currency: checkout.currency,
        paymentMethod: { token: method.token, customerRef: method.customerRef },
        idempotencyKey: checkout.gatewayIdempotencyKey,
        description: `Uptier checkout ${checkout.id} (quote ${checkout.quoteId})`,
        metadata: { checkout: checkout.id, quote: checkout.quoteId, account: checkout.accountId },
      });
    } catch (error) {
      if (!(error instanceof GatewayUnavailableError)) throw error;
      // Unknown outcome: asking again with the same key is safe, and answers what happened.
      if (attempt < CHARGE_ATTEMPTS) await new Promise((r) => setTimeout(r, 20 * attempt));
    }
  }
  return null;
}

export async function findCheckout(db: Executor, id: string): Promise<CheckoutRow> {
  const [row] = await db.select().from(checkouts).where(eq(checkouts.id, id));
  if (!row) throw notFound("checkout", id);
  return row;
}

/** Records what the gateway answered; a success completes the checkout in one transaction. */
export async function settleOutcome(
  billing: BillingContext,
  id: string,
  outcome: ChargeOutcome | "nothing_due" | null,
): Promise<CheckoutRow> {
  const at = billing.clock();
  if (outcome === null || (outcome !== "nothing_due" && outcome.status === "processing"))
    return findCheckout(billing.db, id);
  if (outcome === "nothing_due" || outcome.status === "succeeded") {
    return completeCheckout(billing, {
      id,
      paymentId: outcome === "nothing_due" ? null : outcome.paymentId,
      at,
    });
  }
  return billing.db.transaction(async (tx) => {
    const [row] = await tx.select().from(checkouts).where(eq(checkouts.id, id)).for("update");
    if (!row) throw notFound("checkout", id);
    if (row.status !== "pending" && row.status !== "requires_action") return row;
    const set =
      outcome.status === "requires_action"
        ? { status: "requires_action", gatewayPaymentId: outcome.paymentId, nextAction: outcome.nextAction }
        : outcome.status === "declined"
          ? {
              status: "failed",
              gatewayPaymentId: outcome.paymentId,
              failureCode: outcome.declineCode ?? outcome.code,
              failureMessage: outcome.message,
              completedAt: at,
            }
          : {
              status: "canceled",
              failureCode: "payment_canceled",
              failureMessage: "The payment was canceled.",
              completedAt: at,
            };
    const [updated] = await tx
      .update(checkouts)
      .set({ ...set, attempts: row.attempts + 1, updatedAt: at })
      .where(eq(checkouts.id, id))
      .returning();
    if (set.status === "failed")
      await recordEvent(tx, {
        type: "checkout.failed" as const,
        accountId: row.accountId,
        data: { checkout: checkoutView(updated as CheckoutRow) },
        at,
      });
    return updated as CheckoutRow;
  });
}

/** A checkout the gateway said yes to (or that costs nothing), waiting to be completed. */
interface Completion {
  readonly id: string;
  readonly paymentId: string | null;
  readonly at: Date;
}

/**
 * Every invoice takes the vendor's counter, held until its transaction commits, so one checkout
 * at a time could complete, each waiting for the previous one's WAL flush: completions that arrive
 * while a batch commits are completed together in the next one (lib/batches.ts).
 */
const MAX_COMPLETIONS_PER_BATCH = 64;
const COMPLETION_BATCHES_AT_ONCE = 2;
const completionDesks = new WeakMap<BillingContext, Batches<Completion, CheckoutRow>>();

function completeCheckout(billing: BillingContext, completion: Completion): Promise<CheckoutRow> {
  let desk = completionDesks.get(billing);
  if (!desk) {
    desk = new Batches(
      (batch) => completeCheckouts(billing, batch),
      MAX_COMPLETIONS_PER_BATCH,
      COMPLETION_BATCHES_AT_ONCE,
    );
    completionDesks.set(billing, desk);
  }
  return desk.run(completion);
}

/**
 * Execute: apply the changes, issue the paid invoices, post the ledger, record the events — one
 * transaction for the batch, entered by locking the checkouts, then their subscriptions. A
 * subscription changed since the quote (an administrative edit) means the money cannot buy what
 * was shown: that charge is given back. Two checkouts of one subscription never share a batch: the
 * second is completed after the first committed.
 */
async function completeCheckouts(
  billing: BillingContext,
  batch: readonly Completion[],
): Promise<PromiseSettledResult<CheckoutRow>[]> {
  // The same checkout settled twice at once (a request and the recovery job) is completed once.
  const unique = [...new Map(batch.map((c) => [c.id, c])).values()];
  const { results, later } = await billing.db.transaction(async (tx) => {
    // The batch's statements run prepared (db/prepared.ts); a connection sees too few batches for
    // PostgreSQL to choose the generic plan by itself, so it is told to.
    await tx.execute(sql`set local plan_cache_mode = force_generic_plan`);
    const setups = await readCompletionSetups(tx, unique);
    const results = new Map<string, PromiseSettledResult<CheckoutRow>>();
    const later: Completion[] = [];
    const changing = new Set<string>();
    const changes: ImmediateChange[] = [];
    const priced: { completion: Completion; setup: CompletionSetup; record: SubscriptionRecord }[] = [];
    for (const completion of unique) {
      const setup = setups.get(completion.id);
      const record = setup?.subscription;
      if (record && changing.has(record.id)) {
        later.push(completion);
        continue;
      }
      if (record) changing.add(record.id);
      if (!setup)
        results.set(completion.id, { status: "rejected", reason: notFound("checkout", completion.id) });
      else if (setup.checkout.status !== "pending" && setup.checkout.status !== "requires_action")
        results.set(completion.id, { status: "fulfilled", value: setup.checkout });
      else if (!record)
        results.set(completion.id, {
          status: "rejected",
          reason: notFound("subscription", setup.quote.subscriptionId),
        });
      else if (
        record.state.status === "canceled" ||
        record.row.revision !== setup.quote.subscriptionRevision
      ) {
        const row = await giveBack(
          tx,
          setup.checkout,
          completion,
          "quote_stale",
          "The subscription changed before the payment completed; the charge is refunded.",
        );
        results.set(completion.id, { status: "fulfilled", value: row });
      } else priced.push({ completion, setup, record });
    }
    // Read under the subscriptions' locks, so a renewal drafted before them is seen (one statement).
    const billed = await lastPeriodStarts(
      preparing(tx),
      priced.map((p) => p.record.id),
    );
    const current: typeof priced = [];
    for (const item of priced) {
      const { completion, setup, record } = item;
      const lapse = lapsedQuote(record, setup.quote, completion.at, billed.get(record.id));
      if (!lapse) {
        current.push(item);
        continue;
      }
      // Charged already: given back (refunded by recovery) rather than applied and left unbilled
      // for the next period.
      const row = await giveBack(
        tx,
        setup.checkout,
        completion,
        "quote_stale",
        completion.paymentId ? `${lapse} The charge is refunded.` : lapse,
      );
      results.set(completion.id, { status: "fulfilled", value: row });
    }
    const states: BillingState[] = [];
    for (const { record } of current) states.push(await loadBillingState(preparing(tx), record));
    for (const [i, { completion, setup }] of current.entries()) {
      const step = await prepareCompletion(tx, setup, completion, states[i] as BillingState);
      if ("done" in step) changes.push(step);
      else results.set(completion.id, { status: "fulfilled", value: step });
    }
    await writeImmediateChanges(tx, billing, changes);
    // After the statement above, which cancels each changed subscription's pending scheduled change:
    // in the same statement the new row would clash with the old under scheduled_changes_one_pending.
    for (const { scheduled } of changes) if (scheduled) await recordScheduledChange(tx, scheduled);
    for (const change of changes) results.set(change.done.id, { status: "fulfilled", value: change.done });
    return { results, later };
  });
  if (later.length > 0) {
    const rest = await completeCheckouts(billing, later);
    for (const [i, c] of later.entries()) results.set(c.id, rest[i] as PromiseSettledResult<CheckoutRow>);
  }
  return batch.map(
    (c) =>
      results.get(c.id) ?? { status: "rejected", reason: new Error(`checkout ${c.id} was not completed`) },
  );
}

/** An immediate change ready to be written with the others of its batch. */
interface ImmediateChange {
  readonly done: CheckoutRow;
  /** the subscription row as the change leaves it */
  readonly subscription: SubscriptionRow;
  readonly target: QuoteTarget;
  readonly invoice: PaidInvoice | null;
  /** the period the change opens (a switch to annual), recorded with it */
  readonly opens: PeriodRecord | null;
  /** its events, in order; `invoice` is this change's invoice once issued (with its number) */
  readonly events: (invoice: InvoiceRow | null) => readonly InvoiceEvent[];
  /** a split's part for the period end, recorded once the change is written */
  readonly scheduled: ScheduledChange | null;
  readonly at: Date;
}

/** The charge cannot buy what was quoted: it is given back (refunded by recovery), nothing applied. */
async function giveBack(
  tx: Tx,
  checkout: CheckoutRow,
  { paymentId, at }: Completion,
  code: string,
  message: string,
): Promise<CheckoutRow> {
  const [row] = await tx
    .update(checkouts)
    .set({
      status: paymentId ? "refund_pending" : "canceled",
      gatewayPaymentId: paymentId,
      failureCode: code,
      failureMessage: message,
      updatedAt: at,
    })
    .where(eq(checkouts.id, checkout.id))
    .returning();
  return row as CheckoutRow;
}

/**
 * Re-prices one checkout under the locks with the same pure function at the quote's frozen instant.
 * Answers the checkout's row when nothing is left to write with the batch (given back, or scheduled
 * for the period end, written here), else the immediate change to write.
 */
async function prepareCompletion(
  tx: Tx,
  setup: CompletionSetup,
  completion: Completion,
  state: BillingState,
): Promise<CheckoutRow | ImmediateChange> {
  const { checkout, quote } = setup;
  const { record } = state;
  const { paymentId, at } = completion;
  const fail = (code: string, message: string) => giveBack(tx, checkout, completion, code, message);
  const target = quote.target as QuoteTarget;
  let shape: SubscriptionShape;
  let plan: ReturnType<typeof priceChange>;
  try {
    shape = await shapeOfTarget(tx, target);
    plan = priceChange(state, shape, quote.frozenAt);
  } catch (error) {
    if (error instanceof DomainError) return fail(error.code, error.message);
    throw error;
  }
  if (plan.totals.amountDue !== checkout.amount)
    return fail("quote_stale", "The price changed before the payment completed; the charge is refunded.");

  const used = state.seatsInUse;
  const previous = subscriptionView(record, used, state.scheduled);
  const invoiceId = plan.timing !== "period_end" && plan.lines.length > 0 ? newId("invoice", at) : null;
  const done: CheckoutRow = {
    ...checkout,
    status: "succeeded",
    gatewayPaymentId: paymentId,
    invoiceId,
    nextAction: null,
    attempts: checkout.attempts + 1,
    completedAt: at,
    updatedAt: at,
  };
  const accountId = record.row.accountId;
  const change = { quote: quote.id, checkout: checkout.id, timing: plan.timing, components: plan.components };
  const succeeded = {
    type: "checkout.succeeded" as const,
    accountId,
    data: { checkout: checkoutView(done) },
  };
  // what the quote told the customer: the pending scheduled change gives way to this one
  const unscheduled =
    plan.replacesScheduled && state.scheduled
      ? [scheduledChangeCanceled(accountId, record.id, state.scheduled, change)]
      : [];
  /** the change this checkout leaves waiting for the period end, if any */
  const waiting = (effectiveAt: Date, anchor: Date | null): ScheduledChange => ({
    id: newId("scheduledChange", at),
    accountId,
    subscriptionId: record.id,
    quoteId: quote.id,
    effectiveAt,
    target: { ...target, billingCycleAnchor: anchor?.toISOString() ?? null },
    at,
  });
  // A change for the period end, or the subscription kept as it is (its pending change canceled):
  // nothing applies now, so it is written here rather than with the batch.
  if (plan.timing === "period_end" || plan.components.length === 0) {
    const scheduled = plan.timing === "period_end" ? waiting(plan.effectiveAt, plan.newAnchor) : null;
    if (scheduled) await recordScheduledChange(tx, scheduled);
    else await cancelPendingChange(tx, record.id);
    const row = { ...record.row, revision: record.row.revision + 1, updatedAt: at };
    await tx
      .update(subscriptions)
      .set({ revision: row.revision, updatedAt: at })
      .where(eq(subscriptions.id, record.id));
    await tx
      .update(checkouts)
      .set({
        status: done.status,
        gatewayPaymentId: done.gatewayPaymentId,
        invoiceId: done.invoiceId,
        nextAction: null,
        attempts: done.attempts,
        completedAt: done.completedAt,
        updatedAt: done.updatedAt,
      })
      .where(eq(checkouts.id, done.id));
    const changeScheduled = scheduled
      ? [
          {
            type: "subscription.change_scheduled" as const,
            accountId,
            data: {
              subscription: subscriptionView({ ...record, row }, used, scheduled),
              effective_at: plan.effectiveAt.toISOString(),
              to: target,
              change,
            },
          },
        ]
      : [];
    await recordEvents(tx, [...unscheduled, ...changeScheduled, succeeded], at);
    return done;
  }

  // A split applies the parts that raise the bill now, as a change of their own, and leaves the rest
  // to the period end.
  const { split } = plan;
  const applied = split ? splitTarget(split.now.to, target, record) : target;
  const appliedShape = split ? split.now.to : shape;
  const scheduled = split ? waiting(split.scheduled.effectiveAt, split.scheduled.newAnchor) : null;
  // The subscription after the change, known without reading it back: the row as the batch's
  // statement leaves it, its add-ons in the order a read would give them.
  const row = {
    ...record.row,
    planKey: applied.plan,
    planVersionId: applied.planVersionId,
    interval: applied.interval,
    seats: applied.seats,
    billingCycleAnchor: plan.newAnchor ?? record.row.billingCycleAnchor,
    revision: record.row.revision + 1,
    updatedAt: at,
  };
  const bought = new Map(
    applied.addOns.map((a, i) => [a.key, { ...a, definition: appliedShape.addOns[i]?.definition }]),
  );
  // A split keeps add-ons the quote's target drops, so its keys are not all the setup's.
  const order = split ? await inKeyOrder(tx, [...bought.keys()]) : setup.addOnOrder;
  // A split may keep the plan in force until the period end.
  const planVersion =
    applied.planVersionId === target.planVersionId ? setup.bought.planVersion : record.planVersion;
  const after = subscriptionRecord(
    row,
    { version: planVersion, definition: appliedShape.plan },
    order.map((key) => {
      const a = bought.get(key);
      const version = setup.bought.addOnVersions.get(key) ?? record.addOnVersions.get(key);
      if (!a || version === undefined) throw new Error(`quote ${quote.id}: add-on ${key} has no version`);
      return { addOnKey: key, quantity: a.quantity, id: a.versionId, version, definition: a.definition };
    }),
    at,
  );
  const view = subscriptionView(after, used, scheduled);
  const changed = {
    type: "subscription.updated" as const,
    accountId,
    data: {
      previous,
      subscription: view,
      change: split ? { ...change, components: split.now.components } : change,
    },
  };
  const rest = split
    ? {
        type: "subscription.change_scheduled" as const,
        accountId,
        data: {
          subscription: view,
          effective_at: split.scheduled.effectiveAt.toISOString(),
          to: target,
          change: { ...change, components: split.scheduled.components },
        },
      }
    : null;
  const invoice = invoiceId
    ? {
        id: invoiceId,
        accountId,
        subscriptionId: record.id,
        checkoutId: checkout.id,
        currency: record.currency,
        lines: plan.lines,
        totals: plan.totals,
        gatewayPaymentId: paymentId,
        at,
      }
    : null;
  return {
    done,
    subscription: row,
    target: applied,
    invoice,
    opens: plan.opens
      ? {
          subscriptionId: record.id,
          accountId,
          period: plan.opens.period,
          openedBy: "interval_change",
          invoiceId,
          opening: plan.opens.opening,
          at,
        }
      : null,
    scheduled,
    at,
    events: (issued) => [
      ...unscheduled,
      changed,
      ...(issued
        ? [
            {
              type: "invoice.paid" as const,
              accountId,
              data: { invoice: invoiceView(issued, []), checkout: checkout.id },
            },
          ]
        : []),
      ...(rest ? [rest] : []),
      succeeded,
    ],
  };
}

/**
 * The target a split's immediate part applies: the quote's locked versions for what it takes from
 * the quote's target, the versions the subscription pins for what it keeps until the period end
 * (the plan, an add-on the target drops). A split keeps the interval.
 */
function splitTarget(shape: SubscriptionShape, target: QuoteTarget, record: SubscriptionRecord): QuoteTarget {
  const locked = new Map(target.addOns.map((a) => [a.key, a.versionId]));
  const plan =
    shape.plan.key === target.plan
      ? { plan: target.plan, planVersionId: target.planVersionId }
      : { plan: record.row.planKey, planVersionId: record.row.planVersionId };
  return {
    ...plan,
    interval: shape.interval,
    seats: shape.seats,
    addOns: shape.addOns.map((a) => {
      const versionId = locked.get(a.key) ?? record.addOnVersionIds.get(a.key);
      if (versionId === undefined)
        throw new Error(`subscription ${record.id}: add-on ${a.key} has no version`);
      return { key: a.key, versionId, quantity: a.quantity };
    }),
  };
}

/** Add-on keys in the database's order (its collation, not JavaScript's), as a subscription's are read. */
async function inKeyOrder(tx: Tx, keys: readonly string[]): Promise<string[]> {
  const result = (await tx.execute(
    sql`select k from jsonb_array_elements_text(${JSON.stringify(keys)}::jsonb) as k order by k`,
  )) as unknown as { rows: { k: string }[] };
  return result.rows.map((r) => r.k);
}

/**
 * The batch's immediate changes, invoices, ledger postings and events in one statement: each
 * subscription as its change leaves it, its pending scheduled change canceled, its add-ons made the
 * target's (those dropped deleted, the others written), each checkout succeeded; no row touched twice.
 */
async function writeImmediateChanges(
  tx: Tx,
  billing: BillingContext,
  changes: readonly ImmediateChange[],
): Promise<void> {
  if (changes.length === 0) return;
  const subscriptionRows = changes.map(({ subscription: s }) => ({
    id: s.id,
    plan_key: s.planKey,
    plan_version_id: s.planVersionId,
    interval: s.interval,
    seats: s.seats,
    billing_cycle_anchor: s.billingCycleAnchor.toISOString(),
    revision: s.revision,
    updated_at: s.updatedAt.toISOString(),
  }));
  const addOnRows = changes.flatMap(({ subscription: s, target, at }) =>
    target.addOns.map((a) => ({
      account_id: s.accountId,
      subscription_id: s.id,
      add_on_key: a.key,
      add_on_version_id: a.versionId,
      quantity: a.quantity,
      created_at: at.toISOString(),
    })),
  );
  const succeededRows = changes.map(({ done }) => ({
    id: done.id,
    gateway_payment_id: done.gatewayPaymentId,
    invoice_id: done.invoiceId,
    attempts: done.attempts,
    completed_at: done.updatedAt.toISOString(),
  }));
  const writes = [
    sql`changes as (select * from jsonb_to_recordset(${JSON.stringify(subscriptionRows)}::jsonb) as x(id text,
        plan_key text, plan_version_id text, interval text, seats int, billing_cycle_anchor timestamptz,
        revision int, updated_at timestamptz))`,
    sql`unscheduled as (update scheduled_changes set status = 'canceled'
        where status = 'scheduled' and subscription_id in (select id from changes))`,
    sql`changed as (update subscriptions s set plan_key = x.plan_key, plan_version_id = x.plan_version_id,
        interval = x.interval, seats = x.seats, billing_cycle_anchor = x.billing_cycle_anchor,
        revision = x.revision, updated_at = x.updated_at
        from changes x where s.id = x.id)`,
    sql`wanted_add_ons as (select * from jsonb_to_recordset(${JSON.stringify(addOnRows)}::jsonb) as w(account_id text,
        subscription_id text, add_on_key text, add_on_version_id text, quantity int, created_at timestamptz))`,
    sql`dropped_add_ons as (delete from subscription_add_ons sa
        where sa.subscription_id in (select id from changes)
          and not exists (select 1 from wanted_add_ons w
            where w.subscription_id = sa.subscription_id and w.add_on_key = sa.add_on_key))`,
    sql`kept_add_ons as (insert into subscription_add_ons
          (account_id, subscription_id, add_on_key, add_on_version_id, quantity, created_at)
        select * from wanted_add_ons
        on conflict (subscription_id, add_on_key) do update set add_on_version_id = excluded.add_on_version_id,
          quantity = excluded.quantity, created_at = excluded.created_at)`,
    sql`succeeded as (update checkouts c set status = 'succeeded', gateway_payment_id = x.gateway_payment_id,
        invoice_id = x.invoice_id, next_action = null, attempts = x.attempts, completed_at = x.completed_at,
        updated_at = x.completed_at
        from jsonb_to_recordset(${JSON.stringify(succeededRows)}::jsonb)
          as x(id text, gateway_payment_id text, invoice_id text, attempts int, completed_at timestamptz)
        where c.id = x.id)`,
  ];
  const opened = changes.flatMap((c) => (c.opens ? [c.opens] : []));
  if (opened.length > 0)
    writes.push(sql`opened as (insert into subscription_periods (subscription_id, account_id, period_start,
        period_end, opened_by, invoice_id, opening, created_at)
      select * from jsonb_to_recordset(${JSON.stringify(periodRows(opened))}::jsonb) as x(subscription_id text,
        account_id text, period_start timestamptz, period_end timestamptz, opened_by text, invoice_id text,
        opening jsonb, created_at timestamptz)
      on conflict do nothing)`);
  const invoiced = changes.flatMap((c) => (c.invoice ? [c.invoice] : []));
  await issuePaidInvoices(tx, billing, invoiced, {
    writes,
    events: (issued) => {
      let next = 0;
      return changes.flatMap((c) => {
        const index = c.invoice ? next++ : null;
        const invoice = index === null ? null : (issued[index] as InvoiceRow);
        return c.events(invoice).map((e) => ({ ...e, invoice: index, at: c.at }));
      });
    },
  });
}

/** Evaluate + execute: charge (when anything is due) and settle. Other callers wait for the driver. */
export async function driveCheckout(billing: BillingContext, begun: BegunCheckout): Promise<CheckoutRow> {
  const { checkout } = begun;
  if (!begun.created) return waitWhilePending(billing, checkout.id);
  return settlePending(billing, checkout, begun.method);
}

/** Charges a pending checkout, or asks the gateway again with its key what the charge came to, and settles. */
async function settlePending(
  billing: BillingContext,
  checkout: CheckoutRow,
  method?: PaymentMethodRow | null,
): Promise<CheckoutRow> {
  if (checkout.amount === 0) return settleOutcome(billing, checkout.id, "nothing_due");
  return settleOutcome(billing, checkout.id, await askGateway(billing, checkout, method));
}

/**
 * A request's checkout of a quote, begun or found (one per quote) and driven to an outcome.
 * `resumed`: an earlier run of the same request ended without an answer, so a checkout it left
 * pending has no driver: it is settled now (as the recovery job would) rather than waited for.
 */
export async function runCheckout(
  billing: BillingContext,
  input: BeginInput,
  resumed: boolean,
): Promise<CheckoutRow> {
  const begun = await beginAuthorisedCheckout(billing, input);
  if (resumed && !begun.created && begun.checkout.status === "pending")
    return settlePending(billing, begun.checkout);
  return driveCheckout(billing, begun);
}

async function waitWhilePending(
  billing: BillingContext,
  id: string,
  timeoutMs = 10_000,
): Promise<CheckoutRow> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const row = await findCheckout(billing.db, id);
    if (row.status !== "pending" || Date.now() > deadline) return row;
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** After the customer completed 3-D Secure in the browser: ask the gateway and settle. */
export async function confirmCheckout(billing: BillingContext, id: string): Promise<CheckoutRow> {
  const row = await findCheckout(billing.db, id);
  if (row.status !== "requires_action") return row;
  return settleOutcome(billing, id, await gatewayOf(billing, row).retrieve(row.gatewayPaymentId as string));
}

/** The HTTP answer for a checkout's state: 200 done, 202 still processing or awaiting action. */
export interface RecoveryReport {
  readonly examined: number;
  readonly completed: number;
  readonly failed: number;
  readonly refunded: number;
  readonly canceled: number;
  readonly unresolved: number;
}

/**
 * The recovery job: resolves checkouts left mid-way (a crash between the gateway's yes and our
 * commit, a timeout, an abandoned 3-D Secure) by asking the gateway again with the same key, and
 * gives back charges that can no longer buy what was quoted. Safe to run anywhere, any time, twice.
 */
export async function recoverCheckouts(
  billing: BillingContext,
  options: { olderThanMs?: number } = {},
): Promise<RecoveryReport> {
  const now = billing.clock();
  const cutoff = new Date(now.getTime() - (options.olderThanMs ?? 60_000));
  const stuck = await billing.db
    .select()
    .from(checkouts)
    .where(and(inArray(checkouts.status, LIVE), lt(checkouts.updatedAt, cutoff)));
  const report = { examined: stuck.length, completed: 0, failed: 0, refunded: 0, canceled: 0, unresolved: 0 };
  for (const checkout of stuck) {
    let row = checkout;
    try {
      if (row.status === "pending") row = await settlePending(billing, row);
      else if (row.status === "requires_action") {
        const quote = await loadQuote(billing.db, row.quoteId);
        const outcome = await gatewayOf(billing, row).retrieve(row.gatewayPaymentId as string);
        if (outcome.status === "requires_action" && now.getTime() >= quote.expiresAt.getTime()) {
          await gatewayOf(billing, row).cancel(
            row.gatewayPaymentId as string,
            `${row.gatewayIdempotencyKey}_cancel`,
          );
          row = await settleOutcome(billing, row.id, {
            status: "canceled",
            paymentId: row.gatewayPaymentId as string,
          });
        } else row = await settleOutcome(billing, row.id, outcome);
      }
      if (row.status === "refund_pending") row = await refundCheckout(billing, row);
    } catch {
      report.unresolved++;
      continue;
    }
    if (row.status === "succeeded") report.completed++;
    else if (row.status === "failed") report.failed++;
    else if (row.status === "refunded") report.refunded++;
    else if (row.status === "canceled") report.canceled++;
    else report.unresolved++;
  }
  return report;
}

/** Gives back a charge that bought nothing (the refund key is derived from the checkout too). */
export async function refundCheckout(billing: BillingContext, row: CheckoutRow): Promise<CheckoutRow> {
  if (row.status !== "refund_pending") return row;
  await gatewayOf(billing, row).refund({
    paymentId: row.gatewayPaymentId as string,
    amount: row.amount,
    idempotencyKey: `${row.gatewayIdempotencyKey}_refund`,
  });
  const at = billing.clock();
  return billing.db.transaction(async (tx) => {
    const [updated] = await tx
      .update(checkouts)
      .set({ status: "refunded", completedAt: at, updatedAt: at })
      .where(and(eq(checkouts.id, row.id), eq(checkouts.status, "refund_pending")))
      .returning();
    if (updated)
      await recordEvent(tx, {
        type: "checkout.refunded" as const,
        accountId: row.accountId,
        data: { checkout: checkoutView(updated) },
        at,
      });
    return updated ?? (await findCheckout(tx, row.id));
  });
}

export async function getCheckout(db: Executor, id: string): Promise<CheckoutView> {
  return checkoutView(await findCheckout(db, id));
}
