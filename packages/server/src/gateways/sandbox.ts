import { randomBytes } from "node:crypto";
import { and, eq, sql } from "drizzle-orm";
import type { Db } from "../db/client.ts";
import { sandboxPayments, sandboxRefunds } from "../db/schema/index.ts";
import {
  type ChargeOutcome,
  type ChargeRequest,
  GatewayUnavailableError,
  type PaymentGateway,
} from "./gateway.ts";

/**
 * The built-in gateway for local use and tests: no network, Stripe's test cards and their outcomes,
 * and Stripe's idempotency semantics (the same key returns the first outcome; the same key with
 * other parameters is refused). Its payments live in the database (`sandbox_payments`), as Stripe
 * keeps them on its side: a restart forgets nothing, and any node can complete a 3-D Secure payment
 * another began.
 */
type Behaviour =
  | { readonly kind: "succeeds" }
  | { readonly kind: "requires_action" }
  | { readonly kind: "timeout_after_charge" }
  | {
      readonly kind: "declined";
      readonly code: string;
      readonly declineCode: string | null;
      readonly message: string;
    };

interface SandboxCard {
  readonly brand: string;
  readonly last4: string;
  readonly expMonth: number;
  readonly expYear: number;
  readonly behaviour: Behaviour;
}

const SUCCEEDS: Behaviour = { kind: "succeeds" };
const THREE_D_SECURE: Behaviour = { kind: "requires_action" };
const INSUFFICIENT_FUNDS: Behaviour = {
  kind: "declined",
  code: "card_declined",
  declineCode: "insufficient_funds",
  message: "Your card has insufficient funds.",
};
const EXPIRED: Behaviour = {
  kind: "declined",
  code: "expired_card",
  declineCode: null,
  message: "Your card has expired.",
};
const PROCESSING_ERROR: Behaviour = {
  kind: "declined",
  code: "processing_error",
  declineCode: null,
  message: "An error occurred while processing your card. Try again in a little bit.",
};

const card = (brand: string, last4: string, behaviour: Behaviour, expYear = 2034, expMonth = 12) => ({
  brand,
  last4,
  expMonth,
  expYear,
  behaviour,
});

/**
 * Stripe's test card numbers the sandbox knows, each with Stripe's outcome for an off-session charge
 * (docs.stripe.com/testing). A number is never a token: the sandbox's token for one is
 * `sandbox_card_<number>`, what the gateway's browser form would hand back for it.
 */
export const SANDBOX_TEST_CARDS = {
  "4242424242424242": card("visa", "4242", SUCCEEDS),
  "4000000000009995": card("visa", "9995", INSUFFICIENT_FUNDS),
  "4000000000000069": card("visa", "0069", EXPIRED, 2020, 1),
  "4000002500003155": card("visa", "3155", THREE_D_SECURE),
  "4000000000003220": card("visa", "3220", THREE_D_SECURE),
  "4000000000000119": card("visa", "0119", PROCESSING_ERROR),
} as const satisfies Record<string, SandboxCard>;

/** The sandbox's token for one of Stripe's test card numbers. */
export const sandboxCardToken = (number: keyof typeof SANDBOX_TEST_CARDS) => `sandbox_card_${number}`;

/** The sandbox's named test tokens (older than the card tokens, and kept working). */
export const SANDBOX_TOKENS = {
  /** succeeds (4242) */
  visa: "sandbox_visa",
  /** declined: card_declined / insufficient_funds (9995) */
  insufficientFunds: "sandbox_insufficient_funds",
  /** declined: expired_card (0069) */
  expiredCard: "sandbox_expired_card",
  /** needs 3-D Secure: requires_action until completed with `completeAction` (3155) */
  requiresAction: "sandbox_requires_action",
  /** declined: processing_error (0119) */
  processingError: "sandbox_processing_error",
  /**
   * The charge goes through, then the answer is lost (a timeout); a retry with the key finds it.
   * Stripe has no test card for this (a timeout is the network's, not the card's): the token is
   * the sandbox's own.
   */
  timeoutAfterCharge: "sandbox_timeout_after_charge",
} as const;

export const SANDBOX_CARDS: Readonly<Record<string, SandboxCard>> = {
  [SANDBOX_TOKENS.visa]: SANDBOX_TEST_CARDS["4242424242424242"],
  [SANDBOX_TOKENS.insufficientFunds]: SANDBOX_TEST_CARDS["4000000000009995"],
  [SANDBOX_TOKENS.expiredCard]: SANDBOX_TEST_CARDS["4000000000000069"],
  [SANDBOX_TOKENS.requiresAction]: SANDBOX_TEST_CARDS["4000002500003155"],
  [SANDBOX_TOKENS.processingError]: SANDBOX_TEST_CARDS["4000000000000119"],
  [SANDBOX_TOKENS.timeoutAfterCharge]: card("mastercard", "4444", { kind: "timeout_after_charge" }),
  ...Object.fromEntries(
    Object.entries(SANDBOX_TEST_CARDS).map(([number, c]) => [
      sandboxCardToken(number as keyof typeof SANDBOX_TEST_CARDS),
      c,
    ]),
  ),
};

export type SandboxPayment = typeof sandboxPayments.$inferSelect;

export class SandboxGateway implements PaymentGateway {
  readonly name = "sandbox";
  /** every charge request this object received, answered or not (tests assert on it) */
  readonly requests: ChargeRequest[] = [];

  constructor(private readonly db: Db) {}

  async charge(request: ChargeRequest): Promise<ChargeOutcome> {
    this.requests.push(request);
    const token = request.paymentMethod.token;
    const fingerprint = `${request.amount} ${request.currency} ${token}`;
    const behaviour: Behaviour = SANDBOX_CARDS[token]?.behaviour ?? {
      kind: "declined",
      code: "invalid_payment_method",
      declineCode: null,
      message: `The sandbox does not know the token "${token}".`,
    };
    const declined = behaviour.kind === "declined" ? behaviour : null;
    // One row per idempotency key: of two requests with one key, on any nodes, the first inserts.
    const [inserted] = await this.db
      .insert(sandboxPayments)
      .values({
        id: `sbpi_${randomBytes(8).toString("hex")}`,
        idempotencyKey: request.idempotencyKey,
        fingerprint,
        amount: request.amount,
        currency: request.currency,
        token,
        status: declined
          ? "declined"
          : behaviour.kind === "requires_action"
            ? "requires_action"
            : "succeeded",
        declineCode: declined?.code ?? null,
        declineReason: declined?.declineCode ?? null,
        declineMessage: declined?.message ?? null,
      })
      .onConflictDoNothing({ target: sandboxPayments.idempotencyKey })
      .returning();
    if (!inserted) {
      const [seen] = await this.db
        .select()
        .from(sandboxPayments)
        .where(eq(sandboxPayments.idempotencyKey, request.idempotencyKey));
      if (!seen) throw new Error(`sandbox: payment for key ${request.idempotencyKey} vanished`);
      if (seen.fingerprint !== fingerprint)
        throw new Error(`sandbox: idempotency key ${request.idempotencyKey} reused with other parameters`);
      return outcomeOf(seen);
    }
    if (behaviour.kind === "timeout_after_charge")
      throw new GatewayUnavailableError("sandbox: the charge went through but the answer timed out");
    return outcomeOf(inserted);
  }

  async retrieve(paymentId: string): Promise<ChargeOutcome> {
    return outcomeOf(await this.payment(paymentId));
  }

  /** What the customer's browser does in 3-D Secure: approve (or fail) the payment. */
  async completeAction(paymentId: string, approve = true): Promise<void> {
    const [done] = await this.db
      .update(sandboxPayments)
      .set(
        approve
          ? { status: "succeeded" }
          : {
              status: "declined",
              declineCode: "authentication_failed",
              declineMessage: "The customer did not complete authentication.",
            },
      )
      .where(and(eq(sandboxPayments.id, paymentId), eq(sandboxPayments.status, "requires_action")))
      .returning({ id: sandboxPayments.id });
    if (!done) throw new Error(`sandbox: ${paymentId} awaits no action`);
  }

  async refund(input: { paymentId: string; amount: number; idempotencyKey: string }) {
    return this.db.transaction(async (tx) => {
      const [done] = await tx
        .select()
        .from(sandboxRefunds)
        .where(eq(sandboxRefunds.idempotencyKey, input.idempotencyKey));
      if (done) return { refundId: done.id };
      const [payment] = await tx
        .update(sandboxPayments)
        .set({ refunded: sql`${sandboxPayments.refunded} + ${input.amount}` })
        .where(
          and(
            eq(sandboxPayments.id, input.paymentId),
            eq(sandboxPayments.status, "succeeded"),
            sql`${sandboxPayments.refunded} + ${input.amount} <= ${sandboxPayments.amount}`,
          ),
        )
        .returning({ id: sandboxPayments.id });
      if (!payment)
        throw new Error(
          `sandbox: ${input.paymentId} is not a succeeded payment with ${input.amount} to refund`,
        );
      const refundId = `sbre_${randomBytes(8).toString("hex")}`;
      await tx.insert(sandboxRefunds).values({
        idempotencyKey: input.idempotencyKey,
        id: refundId,
        paymentId: input.paymentId,
        amount: input.amount,
      });
      return { refundId };
    });
  }

  async cancel(paymentId: string, _idempotencyKey?: string): Promise<void> {
    await this.db
      .update(sandboxPayments)
      .set({ status: "canceled" })
      .where(and(eq(sandboxPayments.id, paymentId), eq(sandboxPayments.status, "requires_action")));
  }

  /** Succeeded payments, with what was refunded of each (what reconciliation compares with the ledger's cash). */
  async collected(): Promise<SandboxPayment[]> {
    return this.db
      .select()
      .from(sandboxPayments)
      .where(eq(sandboxPayments.status, "succeeded"))
      .orderBy(sandboxPayments.createdAt, sandboxPayments.id);
  }

  private async payment(paymentId: string): Promise<SandboxPayment> {
    const [payment] = await this.db.select().from(sandboxPayments).where(eq(sandboxPayments.id, paymentId));
    if (!payment) throw new Error(`sandbox: no payment ${paymentId}`);
    return payment;
  }
}

function outcomeOf(payment: SandboxPayment): ChargeOutcome {
  switch (payment.status) {
    case "requires_action":
      return {
        status: "requires_action",
        paymentId: payment.id,
        nextAction: {
          type: "use_stripe_sdk",
          clientSecret: `${payment.id}_secret_sandbox`,
          url: `https://sandbox.uptier.invalid/3ds/${payment.id}`,
        },
      };
    case "declined":
      return {
        status: "declined",
        // A charge refused at once answered no payment; one that failed authentication did.
        paymentId: payment.declineCode === "authentication_failed" ? payment.id : null,
        code: payment.declineCode ?? "card_declined",
        declineCode: payment.declineReason,
        message: payment.declineMessage ?? "Your card was declined.",
      };
    case "canceled":
      return { status: "canceled", paymentId: payment.id };
    default:
      return { status: "succeeded", paymentId: payment.id };
  }
}
