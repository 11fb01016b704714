import { randomBytes } from "node:crypto";
import {
  type ChargeOutcome,
  type ChargeRequest,
  GatewayUnavailableError,
  type PaymentGateway,
} from "./gateway.ts";

/**
 * The built-in gateway for local use and tests: no network, test tokens that behave like Stripe's
 * test cards, and Stripe's idempotency semantics (the same key returns the first outcome; the same
 * key with other parameters is refused). State lives in memory.
 */
export const SANDBOX_TOKENS = {
  /** succeeds */
  visa: "sandbox_visa",
  /** declined: card_declined / insufficient_funds */
  insufficientFunds: "sandbox_insufficient_funds",
  /** declined: expired_card */
  expiredCard: "sandbox_expired_card",
  /** needs 3-D Secure: requires_action until completed with `completeAction` */
  requiresAction: "sandbox_requires_action",
  /** the charge goes through, then the answer is lost (a timeout); a retry with the key succeeds */
  timeoutAfterCharge: "sandbox_timeout_after_charge",
} as const;

export const SANDBOX_CARDS: Record<
  string,
  { brand: string; last4: string; expMonth: number; expYear: number }
> = {
  [SANDBOX_TOKENS.visa]: { brand: "visa", last4: "4242", expMonth: 12, expYear: 2034 },
  [SANDBOX_TOKENS.insufficientFunds]: { brand: "visa", last4: "9995", expMonth: 12, expYear: 2034 },
  [SANDBOX_TOKENS.expiredCard]: { brand: "visa", last4: "0069", expMonth: 1, expYear: 2020 },
  [SANDBOX_TOKENS.requiresAction]: { brand: "visa", last4: "3155", expMonth: 12, expYear: 2034 },
  [SANDBOX_TOKENS.timeoutAfterCharge]: { brand: "mastercard", last4: "4444", expMonth: 12, expYear: 2034 },
};

export interface SandboxPayment {
  readonly id: string;
  readonly idempotencyKey: string;
  readonly amount: number;
  readonly currency: string;
  readonly token: string;
  status: ChargeOutcome["status"];
  refunded: number;
}

export class SandboxGateway implements PaymentGateway {
  readonly name = "sandbox";
  readonly payments = new Map<string, SandboxPayment>();
  private readonly byKey = new Map<string, { request: string; outcome: ChargeOutcome }>();
  private readonly refunds = new Map<string, string>();
  /** every charge request received, answered or not (tests assert on it) */
  readonly requests: ChargeRequest[] = [];

  async charge(request: ChargeRequest): Promise<ChargeOutcome> {
    this.requests.push(request);
    const fingerprint = `${request.amount} ${request.currency} ${request.paymentMethod.token}`;
    const seen = this.byKey.get(request.idempotencyKey);
    if (seen) {
      if (seen.request !== fingerprint)
        throw new Error(`sandbox: idempotency key ${request.idempotencyKey} reused with other parameters`);
      const payment = seen.outcome.status === "declined" ? null : this.payments.get(seen.outcome.paymentId);
      return payment ? this.outcomeOf(payment) : seen.outcome;
    }
    const id = `sbpi_${randomBytes(8).toString("hex")}`;
    const remember = (outcome: ChargeOutcome) => {
      this.byKey.set(request.idempotencyKey, { request: fingerprint, outcome });
      return outcome;
    };
    const pay = (status: ChargeOutcome["status"]) => {
      const payment: SandboxPayment = {
        id,
        idempotencyKey: request.idempotencyKey,
        amount: request.amount,
        currency: request.currency,
        token: request.paymentMethod.token,
        status,
        refunded: 0,
      };
      this.payments.set(id, payment);
      return remember(this.outcomeOf(payment));
    };
    switch (request.paymentMethod.token) {
      case SANDBOX_TOKENS.visa:
        return pay("succeeded");
      case SANDBOX_TOKENS.timeoutAfterCharge:
        pay("succeeded");
        throw new GatewayUnavailableError("sandbox: the charge went through but the answer timed out");
      case SANDBOX_TOKENS.requiresAction:
        return pay("requires_action");
      case SANDBOX_TOKENS.insufficientFunds:
        return remember({
          status: "declined",
          paymentId: null,
          code: "card_declined",
          declineCode: "insufficient_funds",
          message: "Your card has insufficient funds.",
        });
      case SANDBOX_TOKENS.expiredCard:
        return remember({
          status: "declined",
          paymentId: null,
          code: "expired_card",
          declineCode: null,
          message: "Your card has expired.",
        });
      default:
        return remember({
          status: "declined",
          paymentId: null,
          code: "invalid_payment_method",
          declineCode: null,
          message: `The sandbox does not know the token "${request.paymentMethod.token}".`,
        });
    }
  }

  private outcomeOf(payment: SandboxPayment): ChargeOutcome {
    if (payment.status === "requires_action")
      return {
        status: "requires_action",
        paymentId: payment.id,
        nextAction: {
          type: "use_stripe_sdk",
          clientSecret: `${payment.id}_secret_sandbox`,
          url: `https://sandbox.uptier.invalid/3ds/${payment.id}`,
        },
      };
    if (payment.status === "declined")
      return {
        status: "declined",
        paymentId: payment.id,
        code: "authentication_failed",
        declineCode: null,
        message: "The customer did not complete authentication.",
      };
    return { status: payment.status, paymentId: payment.id } as ChargeOutcome;
  }

  async retrieve(paymentId: string): Promise<ChargeOutcome> {
    const payment = this.payments.get(paymentId);
    if (!payment) throw new Error(`sandbox: no payment ${paymentId}`);
    return this.outcomeOf(payment);
  }

  /** What the customer's browser does in 3-D Secure: approve (or fail) the payment. */
  completeAction(paymentId: string, approve = true): void {
    const payment = this.payments.get(paymentId);
    if (payment?.status !== "requires_action") throw new Error(`sandbox: ${paymentId} awaits no action`);
    payment.status = approve ? "succeeded" : "declined";
  }

  async refund(input: { paymentId: string; amount: number; idempotencyKey: string }) {
    const done = this.refunds.get(input.idempotencyKey);
    if (done) return { refundId: done };
    const payment = this.payments.get(input.paymentId);
    if (payment?.status !== "succeeded")
      throw new Error(`sandbox: ${input.paymentId} is not a succeeded payment`);
    if (payment.refunded + input.amount > payment.amount)
      throw new Error("sandbox: refund exceeds the payment");
    payment.refunded += input.amount;
    const refundId = `sbre_${randomBytes(8).toString("hex")}`;
    this.refunds.set(input.idempotencyKey, refundId);
    return { refundId };
  }

  async cancel(paymentId: string, _idempotencyKey?: string): Promise<void> {
    const payment = this.payments.get(paymentId);
    if (payment && payment.status === "requires_action") payment.status = "canceled";
  }

  /** Succeeded payments, net of refunds (what reconciliation compares with the ledger's cash). */
  collected(): SandboxPayment[] {
    return [...this.payments.values()].filter((p) => p.status === "succeeded");
  }
}
