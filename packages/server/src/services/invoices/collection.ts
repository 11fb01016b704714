import { DEFAULT_RETRY_DAYS, nextRetryAt, paymentPostings, writeOffReversalPostings } from "@uptier/core";
import { and, asc, eq, inArray, lt, lte, sql } from "drizzle-orm";
import type { Tx } from "../../db/client.ts";
import { accountInScope } from "../../db/queries/test-clock-scope.ts";
import { invoicePayments, invoices, paymentMethods } from "../../db/schema/index.ts";
import { type ChargeOutcome, GatewayUnavailableError } from "../../gateways/gateway.ts";
import { newId } from "../../ids.ts";
import type { BillingContext } from "../context.ts";
import { DomainError, notFound } from "../errors.ts";
import { chargeableMethod } from "../payments/payment-methods.ts";
import { cancelDelinquent, updateStanding } from "../subscriptions/standing.ts";
import {
  type AttemptRow,
  type InvoiceRow,
  invoiceEvent,
  lockInvoice,
  notOpen,
  pendingAttempt,
  postFor,
  writeOff,
} from "./invoice-records.ts";

/**
 * Collecting a drafted invoice, as Stripe does: finalized to `open`, charged off-session on the
 * default payment method, then `paid` or retried on the dunning schedule until written off and the
 * subscription canceled as delinquent. Every attempt is committed (pending) before the gateway is
 * called, with an idempotency key derived from it, so a crash or retry never charges twice. Rules:
 * docs/invoice-lifecycle.md ("Payment attempts", "Dunning", "Paying an uncollectible invoice later").
 */
type PaymentMethodRow = typeof paymentMethods.$inferSelect;

/** The retry schedule in force: the deployment's (UPTIER_DUNNING_RETRY_DAYS) or the default. */
export const retryDaysOf = (billing: BillingContext): readonly number[] =>
  billing.retryDays ?? DEFAULT_RETRY_DAYS;

export const gatewayKeyForAttempt = (invoiceId: string, attempt: number) =>
  `uptier_${invoiceId}_attempt_${attempt}`;

/** A pending attempt older than this is taken as left by a dead process and asked about again. */
const STALE_ATTEMPT_MS = 60_000;
const GATEWAY_TRIES = 3;

/** What a person may pay: an open invoice, or one written off (uncollectible) that is paid after all. */
const PAYABLE: readonly string[] = ["open", "uncollectible"];

export interface CollectionResult {
  readonly invoice: InvoiceRow;
  /** the attempt made (or resumed); null when none was due or another worker had it */
  readonly attempt: AttemptRow | null;
}

type Begun =
  | { readonly kind: "skip" }
  | { readonly kind: "charge"; readonly attempt: AttemptRow; readonly method: PaymentMethodRow }
  | { readonly kind: "settled"; readonly attempt: AttemptRow };

/**
 * One attempt to collect an open invoice: written pending (committed), charged, settled.
 * `automatic` attempts (the renewal, the dunning schedule) run only when due and skip quietly;
 * a `manual` one (pay now) answers a wrong state with a problem and does not move the schedule.
 */
export async function collectInvoice(
  billing: BillingContext,
  invoiceId: string,
  options: { trigger: "automatic" | "manual"; paymentMethodId?: string | undefined },
): Promise<CollectionResult> {
  const at = billing.clock();
  const manual = options.trigger === "manual";
  const begun = await billing.db.transaction(async (tx): Promise<Begun> => {
    const invoice = await lockInvoice(tx, invoiceId);
    if (manual ? !PAYABLE.includes(invoice.status) : invoice.status !== "open") {
      if (manual) throw notOpen(invoice, "paid", "an open or uncollectible invoice");
      return { kind: "skip" };
    }
    const pending = await pendingAttempt(tx, invoiceId);
    if (pending) {
      if (manual)
        throw new DomainError(
          "invoice_payment_pending",
          `A payment of invoice ${invoiceId} is in progress; retry when it has settled.`,
          { param: "id" },
        );
      return { kind: "skip" };
    }
    if (
      !manual &&
      (invoice.nextPaymentAttempt === null || invoice.nextPaymentAttempt.getTime() > at.getTime())
    )
      return { kind: "skip" };
    const [last] = await tx
      .select({ n: sql<number>`coalesce(max(${invoicePayments.attempt}), 0)::int` })
      .from(invoicePayments)
      .where(eq(invoicePayments.invoiceId, invoiceId));
    const attempt = Number(last?.n ?? 0) + 1;
    let method: PaymentMethodRow | null = null;
    try {
      method = await chargeableMethod(tx, invoice.accountId, options.paymentMethodId);
    } catch (error) {
      if (manual || !(error instanceof DomainError)) throw error;
    }
    const [row] = await tx
      .insert(invoicePayments)
      .values({
        id: newId("invoicePayment", at),
        invoiceId,
        accountId: invoice.accountId,
        attempt,
        trigger: options.trigger,
        status: method ? "pending" : "failed",
        amount: invoice.amountDue - invoice.amountPaid,
        currency: invoice.currency,
        paymentMethodId: method?.id ?? null,
        gateway: method?.gateway ?? null,
        gatewayIdempotencyKey: gatewayKeyForAttempt(invoiceId, attempt),
        failureCode: method ? null : "payment_method_required",
        failureMessage: method ? null : "The account has no default payment method to charge.",
        createdAt: at,
        completedAt: method ? null : at,
      })
      .returning();
    const inserted = row as AttemptRow;
    // In flight: out of the schedule until it settles (the settlement sets the next retry).
    if (!manual)
      await tx.update(invoices).set({ nextPaymentAttempt: null }).where(eq(invoices.id, invoiceId));
    if (!method) {
      await afterFailure(tx, billing, inserted, at);
      return { kind: "settled", attempt: inserted };
    }
    return { kind: "charge", attempt: inserted, method };
  });
  if (begun.kind === "skip") return { invoice: await findInvoiceRow(billing, invoiceId), attempt: null };
  if (begun.kind === "settled")
    return { invoice: await findInvoiceRow(billing, invoiceId), attempt: begun.attempt };
  const outcome = await askGateway(billing, begun.attempt, begun.method);
  const attempt = await settleAttempt(billing, begun.attempt.id, outcome);
  return { invoice: await findInvoiceRow(billing, invoiceId), attempt };
}

/**
 * The invoice's pending attempt, if any, asked about again with its key and settled: the retry of a
 * pay request whose run ended without an answer finishes that run's attempt instead of making one.
 */
export async function resumePendingAttempt(
  billing: BillingContext,
  invoiceId: string,
): Promise<AttemptRow | null> {
  const [left] = await billing.db
    .select({ attempt: invoicePayments, method: paymentMethods })
    .from(invoicePayments)
    .innerJoin(paymentMethods, eq(paymentMethods.id, invoicePayments.paymentMethodId))
    .where(and(eq(invoicePayments.invoiceId, invoiceId), eq(invoicePayments.status, "pending")));
  if (!left) return null;
  return settleAttempt(billing, left.attempt.id, await askGateway(billing, left.attempt, left.method));
}

async function findInvoiceRow(billing: BillingContext, id: string): Promise<InvoiceRow> {
  const [row] = await billing.db.select().from(invoices).where(eq(invoices.id, id));
  if (!row) throw notFound("invoice", id);
  return row;
}

async function askGateway(
  billing: BillingContext,
  attempt: AttemptRow,
  method: PaymentMethodRow,
): Promise<ChargeOutcome | null> {
  const gateway = billing.gateways.get(method.gateway);
  if (!gateway) throw new Error(`payment method ${method.id} uses an unknown gateway ${method.gateway}`);
  for (let tries = 1; tries <= GATEWAY_TRIES; tries++) {
    try {
      return await gateway.charge({
        amount: attempt.amount,
        currency: attempt.currency,
        paymentMethod: { token: method.token, customerRef: method.customerRef },
        idempotencyKey: attempt.gatewayIdempotencyKey,
        description: `Uptier invoice ${attempt.invoiceId} (attempt ${attempt.attempt})`,
        metadata: {
          invoice: attempt.invoiceId,
          attempt: String(attempt.attempt),
          account: attempt.accountId,
        },
      });
    } catch (error) {
      if (!(error instanceof GatewayUnavailableError)) throw error;
      // The outcome is unknown: asking again with the same key answers what happened.
      if (tries < GATEWAY_TRIES) await new Promise((r) => setTimeout(r, 20 * tries));
    }
  }
  return null;
}

/**
 * Records the gateway's answer. An unknown outcome (no answer, or still processing) leaves the
 * attempt pending for the retry job to ask again with the same key. An off-session charge that
 * needs the customer's authentication is a failed attempt (nobody is there to authenticate).
 */
export async function settleAttempt(
  billing: BillingContext,
  attemptId: string,
  outcome: ChargeOutcome | null,
): Promise<AttemptRow> {
  const at = billing.clock();
  return billing.db.transaction(async (tx) => {
    const [attempt] = await tx
      .select()
      .from(invoicePayments)
      .where(eq(invoicePayments.id, attemptId))
      .for("update");
    if (!attempt) throw new Error(`no invoice payment ${attemptId}`);
    if (attempt.status !== "pending" || outcome === null || outcome.status === "processing") return attempt;
    const invoice = await lockInvoice(tx, attempt.invoiceId);
    if (outcome.status === "succeeded") {
      const [done] = await tx
        .update(invoicePayments)
        .set({ status: "succeeded", gatewayPaymentId: outcome.paymentId, completedAt: at })
        .where(eq(invoicePayments.id, attemptId))
        .returning();
      // The invoice is still as the attempt found it (open, or uncollectible for a manual one): void,
      // mark_uncollectible and the dunning schedule all leave an invoice alone while an attempt is
      // pending. A written-off invoice has its write-off reversed first (bad debt → receivable), so
      // the payment clears the receivable like any other and the ledger ends as if paid on time.
      if (invoice.status === "uncollectible")
        await postFor(
          tx,
          invoice,
          `write_off_reversal:${invoice.id}`,
          writeOffReversalPostings(invoice.amountDue - invoice.amountPaid),
          at,
        );
      const [paid] = await tx
        .update(invoices)
        .set({
          status: "paid",
          amountPaid: invoice.amountDue,
          paidAt: at,
          gatewayPaymentId: outcome.paymentId,
          nextPaymentAttempt: null,
        })
        .where(eq(invoices.id, invoice.id))
        .returning();
      await postFor(tx, invoice, `invoice_payment:${attemptId}`, paymentPostings(attempt.amount), at);
      await invoiceEvent(tx, "invoice.paid", paid as InvoiceRow, at, { attempt: attempt.attempt });
      // A subscription canceled as delinquent stays canceled (updateStanding never revives one):
      // the periods since it ended were never billed, its MRR left as churn, and a silent restart
      // would hand back entitlements with no checkout, no renewal and no subscription event. The
      // customer who pays a written-off debt and wants the service back subscribes again, which
      // analytics count as a reactivation. A write-off forgiven by hand left it active: unchanged.
      await updateStanding(tx, invoice.subscriptionId, at);
      return done as AttemptRow;
    }
    const failure =
      outcome.status === "declined"
        ? { code: outcome.declineCode ?? outcome.code, message: outcome.message }
        : outcome.status === "requires_action"
          ? {
              code: "authentication_required",
              message:
                "The card needs the customer's authentication, which an off-session charge cannot get.",
            }
          : { code: "payment_canceled", message: "The payment was canceled." };
    const [failed] = await tx
      .update(invoicePayments)
      .set({
        status: "failed",
        gatewayPaymentId: outcome.paymentId,
        failureCode: failure.code,
        failureMessage: failure.message,
        completedAt: at,
      })
      .where(eq(invoicePayments.id, attemptId))
      .returning();
    await afterFailure(tx, billing, failed as AttemptRow, at);
    return failed as AttemptRow;
  });
}

/**
 * A failed attempt: schedule the next retry (automatic attempts only; a manual one leaves the
 * schedule as it was) and say so; when the schedule is exhausted, write the invoice off and cancel
 * the subscription as delinquent, else update its standing (past_due).
 */
async function afterFailure(tx: Tx, billing: BillingContext, attempt: AttemptRow, at: Date): Promise<void> {
  const invoice = await lockInvoice(tx, attempt.invoiceId);
  let next: Date | null = invoice.nextPaymentAttempt;
  if (attempt.trigger === "automatic") {
    const automatic = await tx
      .select({ createdAt: invoicePayments.createdAt })
      .from(invoicePayments)
      .where(
        and(
          eq(invoicePayments.invoiceId, invoice.id),
          eq(invoicePayments.trigger, "automatic"),
          eq(invoicePayments.status, "failed"),
        ),
      )
      .orderBy(asc(invoicePayments.attempt));
    const first = automatic[0]?.createdAt ?? attempt.createdAt;
    next = nextRetryAt(retryDaysOf(billing), first, Math.max(1, automatic.length));
  }
  const exhausted = attempt.trigger === "automatic" && next === null;
  const [updated] = await tx
    .update(invoices)
    .set({ nextPaymentAttempt: next })
    .where(eq(invoices.id, invoice.id))
    .returning();
  await invoiceEvent(tx, "invoice.payment_failed", updated as InvoiceRow, at, {
    attempt: attempt.attempt,
    failure: { code: attempt.failureCode, message: attempt.failureMessage },
    next_payment_attempt: next?.toISOString() ?? null,
  });
  if (exhausted) {
    await writeOff(tx, updated as InvoiceRow, at, "retries_exhausted");
    await cancelDelinquent(tx, invoice, at);
  } else await updateStanding(tx, invoice.subscriptionId, at);
}

export interface DunningReport {
  /** pending attempts left by a dead process, asked about again */
  readonly resumed: number;
  readonly attempted: number;
  readonly paid: number;
  readonly failed: number;
  readonly uncollectible: number;
}

/**
 * The dunning job: finishes attempts a dead process left pending (the same idempotency key, so
 * the gateway answers what happened), then makes every automatic attempt that is due.
 */
export async function retryInvoicePayments(billing: BillingContext): Promise<DunningReport> {
  const at = billing.clock();
  const report = { resumed: 0, attempted: 0, paid: 0, failed: 0, uncollectible: 0 };
  const stale = await billing.db
    .select({ attempt: invoicePayments, method: paymentMethods })
    .from(invoicePayments)
    .innerJoin(paymentMethods, eq(paymentMethods.id, invoicePayments.paymentMethodId))
    .where(
      and(
        eq(invoicePayments.status, "pending"),
        lt(invoicePayments.createdAt, new Date(at.getTime() - STALE_ATTEMPT_MS)),
        accountInScope(invoicePayments.accountId, billing.testClock),
      ),
    );
  for (const { attempt, method } of stale) {
    const settled = await settleAttempt(billing, attempt.id, await askGateway(billing, attempt, method));
    if (settled.status !== "pending") report.resumed++;
  }
  const due = await billing.db
    .select({ id: invoices.id })
    .from(invoices)
    .where(
      and(
        eq(invoices.status, "open"),
        lte(invoices.nextPaymentAttempt, at),
        accountInScope(invoices.accountId, billing.testClock),
      ),
    )
    .orderBy(asc(invoices.nextPaymentAttempt));
  for (const { id } of due) {
    const result = await collectInvoice(billing, id, { trigger: "automatic" });
    if (!result.attempt) continue;
    report.attempted++;
    if (result.invoice.status === "paid") report.paid++;
    else if (result.invoice.status === "uncollectible") report.uncollectible++;
    else if (result.attempt.status === "failed") report.failed++;
  }
  return report;
}

/** An invoice's attempts, oldest first (the invoice view's payment history). */
export async function attemptsOf(billing: BillingContext, invoiceIds: readonly string[]) {
  if (invoiceIds.length === 0) return [];
  return billing.db
    .select()
    .from(invoicePayments)
    .where(inArray(invoicePayments.invoiceId, [...invoiceIds]))
    .orderBy(asc(invoicePayments.invoiceId), asc(invoicePayments.attempt));
}
