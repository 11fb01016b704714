// Longer than the other steps: the batched completion writes every table a change touches, in one transaction.
import type { SubscriptionShape } from "@uptier/core";
import { eq, sql } from "drizzle-orm";
import type { Tx } from "../../db/client.ts";
import { preparing } from "../../db/prepared.ts";
import { checkouts, subscriptions } from "../../db/schema/index.ts";
import { newId } from "../../ids.ts";
import { Batches } from "../../lib/batches.ts";
import type { BillingContext } from "../context.ts";
import { DomainError, notFound } from "../errors.ts";
import { recordEvents } from "../events/append.ts";
import {
  type InvoiceEvent,
  type InvoiceRow,
  invoiceView,
  issuePaidInvoices,
  type PaidInvoice,
} from "../invoices/issue.ts";
import { type BillingState, loadBillingState } from "../quotes/billing-state.ts";
import { priceChange, type QuoteTarget, shapeOfTarget } from "../quotes/quotes.ts";
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
import { lapsedQuote } from "./begin.ts";
import { type CheckoutRow, type CompletionSetup, readCompletionSetups } from "./setup.ts";
import { checkoutView } from "./views.ts";

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

export function completeCheckout(billing: BillingContext, completion: Completion): Promise<CheckoutRow> {
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
