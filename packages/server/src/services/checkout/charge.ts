import { eq } from "drizzle-orm";
import { checkouts, paymentMethods } from "../../db/schema/index.ts";
import { type ChargeOutcome, GatewayUnavailableError, type PaymentGateway } from "../../gateways/gateway.ts";
import type { BillingContext } from "../context.ts";
import { notFound } from "../errors.ts";
import { recordEvent } from "../events/append.ts";
import { type BeginInput, type BegunCheckout, beginAuthorisedCheckout } from "./begin.ts";
import { completeCheckout } from "./complete.ts";
import type { CheckoutRow, PaymentMethodRow } from "./setup.ts";
import { checkoutView, findCheckout } from "./views.ts";

const CHARGE_ATTEMPTS = 3;

export function gatewayOf(billing: BillingContext, checkout: CheckoutRow): PaymentGateway {
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

/** Evaluate + execute: charge (when anything is due) and settle. Other callers wait for the driver. */
export async function driveCheckout(billing: BillingContext, begun: BegunCheckout): Promise<CheckoutRow> {
  const { checkout } = begun;
  if (!begun.created) return waitWhilePending(billing, checkout.id);
  return settlePending(billing, checkout, begun.method);
}

/** Charges a pending checkout, or asks the gateway again with its key what the charge came to, and settles. */
export async function settlePending(
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
