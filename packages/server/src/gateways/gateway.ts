/**
 * One payment-gateway interface, two implementations (sandbox, stripe). Every charge carries an
 * idempotency key derived from our checkout record, so asking twice never charges twice: a retry,
 * a timeout or the recovery job re-sends the same request and gets the first outcome back.
 */
export interface StoredPaymentMethod {
  /** the gateway's token: never a card number */
  readonly token: string;
  /** the gateway's customer the token belongs to (Stripe: cus_…), if the gateway needs one */
  readonly customerRef: string | null;
}

export interface ChargeRequest {
  readonly amount: number;
  readonly currency: string;
  readonly paymentMethod: StoredPaymentMethod;
  readonly idempotencyKey: string;
  readonly description: string;
  readonly metadata: Readonly<Record<string, string>>;
}

export interface NextAction {
  /** "use_stripe_sdk": call stripe.handleNextAction({ clientSecret }); "redirect_to_url": open url */
  readonly type: "use_stripe_sdk" | "redirect_to_url";
  readonly clientSecret: string | null;
  readonly url: string | null;
}

export type ChargeOutcome =
  | { readonly status: "succeeded"; readonly paymentId: string }
  | { readonly status: "requires_action"; readonly paymentId: string; readonly nextAction: NextAction }
  | { readonly status: "processing"; readonly paymentId: string }
  | {
      readonly status: "declined";
      readonly paymentId: string | null;
      /** the gateway's code: card_declined, expired_card, authentication_required… */
      readonly code: string;
      /** the issuer's reason, when the gateway has one: insufficient_funds, lost_card… */
      readonly declineCode: string | null;
      readonly message: string;
    }
  | { readonly status: "canceled"; readonly paymentId: string };

export interface PaymentGateway {
  readonly name: string;
  /** Charges a stored method off-session and confirms at once; idempotent by `idempotencyKey`. */
  charge(request: ChargeRequest): Promise<ChargeOutcome>;
  /** The current state of a payment (after the customer completed an action, or for recovery). */
  retrieve(paymentId: string): Promise<ChargeOutcome>;
  /** Gives a payment back in full (a charge for a change that could not be applied). */
  refund(input: { paymentId: string; amount: number; idempotencyKey: string }): Promise<{ refundId: string }>;
  /** Abandons a payment that still waits for the customer. */
  cancel(paymentId: string, idempotencyKey: string): Promise<void>;
}

/** The gateway did not answer (timeout, connection reset): the charge may or may not have happened. */
export class GatewayUnavailableError extends Error {
  constructor(
    message: string,
    override readonly cause?: unknown,
  ) {
    super(message);
    this.name = "GatewayUnavailableError";
  }
}

export interface Gateways {
  /** the gateway new payment methods use when none is named */
  readonly defaultGateway: string;
  get(name: string): PaymentGateway | undefined;
}

export function gatewaySet(defaultGateway: PaymentGateway, ...others: PaymentGateway[]): Gateways {
  const byName = new Map([defaultGateway, ...others].map((g) => [g.name, g]));
  return { defaultGateway: defaultGateway.name, get: (name) => byName.get(name) };
}
