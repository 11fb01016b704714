import Stripe from "stripe";
import {
  type ChargeOutcome,
  type ChargeRequest,
  GatewayUnavailableError,
  type NextAction,
  type PaymentGateway,
} from "./gateway.ts";

export interface StripeGatewayOptions {
  readonly secretKey: string;
  /** where the SDK sends requests (a local stub in tests); defaults to api.stripe.com over https */
  readonly host?: string;
  readonly port?: number;
  readonly protocol?: "http" | "https";
  readonly timeoutMs?: number;
}

/**
 * Stripe through its official SDK: an off-session PaymentIntent on the saved payment method,
 * confirmed at once (`confirm: true, off_session: true`), with our idempotency key passed through
 * so Stripe itself refuses to charge twice. The SDK's own retries are off: a retry is our decision,
 * made with the same key.
 */
export class StripeGateway implements PaymentGateway {
  readonly name = "stripe";
  private readonly stripe: Stripe;

  constructor(options: StripeGatewayOptions) {
    this.stripe = new Stripe(options.secretKey, {
      maxNetworkRetries: 0,
      timeout: options.timeoutMs ?? 20_000,
      telemetry: false,
      ...(options.host ? { host: options.host } : {}),
      ...(options.port ? { port: options.port } : {}),
      ...(options.protocol ? { protocol: options.protocol } : {}),
    });
  }

  async charge(request: ChargeRequest): Promise<ChargeOutcome> {
    try {
      const intent = await this.stripe.paymentIntents.create(
        {
          amount: request.amount,
          currency: request.currency,
          payment_method: request.paymentMethod.token,
          ...(request.paymentMethod.customerRef ? { customer: request.paymentMethod.customerRef } : {}),
          off_session: true,
          confirm: true,
          description: request.description,
          metadata: { ...request.metadata },
        },
        { idempotencyKey: request.idempotencyKey },
      );
      return outcomeOf(intent);
    } catch (error) {
      return answerOrThrow(error);
    }
  }

  async retrieve(paymentId: string): Promise<ChargeOutcome> {
    try {
      return outcomeOf(await this.stripe.paymentIntents.retrieve(paymentId));
    } catch (error) {
      return answerOrThrow(error);
    }
  }

  async refund(input: { paymentId: string; amount: number; idempotencyKey: string }) {
    try {
      const refund = await this.stripe.refunds.create(
        { payment_intent: input.paymentId, amount: input.amount },
        { idempotencyKey: input.idempotencyKey },
      );
      return { refundId: refund.id };
    } catch (error) {
      throw failure(error);
    }
  }

  async cancel(paymentId: string, idempotencyKey: string): Promise<void> {
    try {
      await this.stripe.paymentIntents.cancel(paymentId, {}, { idempotencyKey });
    } catch (error) {
      throw failure(error);
    }
  }
}

function nextActionOf(intent: Stripe.PaymentIntent): NextAction {
  const redirect = intent.next_action?.redirect_to_url?.url ?? null;
  return {
    type: redirect ? "redirect_to_url" : "use_stripe_sdk",
    clientSecret: intent.client_secret,
    url: redirect,
  };
}

function outcomeOf(intent: Stripe.PaymentIntent): ChargeOutcome {
  switch (intent.status) {
    case "succeeded":
      return { status: "succeeded", paymentId: intent.id };
    case "requires_action":
    case "requires_confirmation":
      return { status: "requires_action", paymentId: intent.id, nextAction: nextActionOf(intent) };
    case "processing":
    case "requires_capture":
      return { status: "processing", paymentId: intent.id };
    case "canceled":
      return { status: "canceled", paymentId: intent.id };
    default: {
      const error = intent.last_payment_error;
      return {
        status: "declined",
        paymentId: intent.id,
        code: error?.code ?? "payment_failed",
        declineCode: error?.decline_code ?? null,
        message: error?.message ?? "The payment failed.",
      };
    }
  }
}

/**
 * A card error is an answer (declined, or authentication needed: Stripe answers off-session
 * payments that need 3-D Secure with `authentication_required` and the PaymentIntent, whose client
 * secret the browser confirms). A connection error or a 5xx is no answer: the outcome is unknown.
 */
function mapError(error: unknown): Error | ChargeOutcomeError {
  if (error instanceof Stripe.errors.StripeCardError) {
    const intent = (error.raw as { payment_intent?: Stripe.PaymentIntent }).payment_intent;
    if (error.code === "authentication_required" && intent)
      return new ChargeOutcomeError({
        status: "requires_action",
        paymentId: intent.id,
        nextAction: { type: "use_stripe_sdk", clientSecret: intent.client_secret, url: null },
      });
    return new ChargeOutcomeError({
      status: "declined",
      paymentId: intent?.id ?? null,
      code: error.code ?? "card_declined",
      declineCode: error.decline_code ?? null,
      message: error.message,
    });
  }
  if (
    error instanceof Stripe.errors.StripeConnectionError ||
    error instanceof Stripe.errors.StripeAPIError ||
    (error instanceof Stripe.errors.StripeError && (error.statusCode ?? 0) >= 500)
  )
    return new GatewayUnavailableError(`stripe: ${(error as Error).message}`, error);
  return error instanceof Error ? error : new Error(String(error));
}

/** Carries an answer out of the SDK's throw, so `charge` can return it. */
class ChargeOutcomeError extends Error {
  constructor(readonly outcome: ChargeOutcome) {
    super(outcome.status);
  }
}

function answerOrThrow(error: unknown): ChargeOutcome {
  const mapped = mapError(error);
  if (mapped instanceof ChargeOutcomeError) return mapped.outcome;
  throw mapped;
}

function failure(error: unknown): Error {
  const mapped = mapError(error);
  return mapped instanceof ChargeOutcomeError ? new Error(`stripe: ${mapped.outcome.status}`) : mapped;
}
