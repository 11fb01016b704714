/**
 * A checkout's statuses (docs/billing.md) and the sets the rules ask about:
 *
 *   pending ──▶ succeeded          (charged, applied, invoiced)
 *      │  └──▶ failed              (declined: nothing applied)
 *      ├──▶ requires_action ──▶ succeeded | failed | canceled
 *      └──▶ refund_pending ──▶ refunded  (charged, but the subscription changed meanwhile)
 */
export const CHECKOUT_STATUSES = [
  "pending",
  "succeeded",
  "failed",
  "requires_action",
  "canceled",
  "refund_pending",
  "refunded",
] as const;
export type CheckoutStatus = (typeof CHECKOUT_STATUSES)[number];

/** Still in flight: it holds its subscription (no other checkout of it begins) and is recovered if stuck. */
export const LIVE_CHECKOUT_STATUSES = ["pending", "requires_action", "refund_pending"] as const;

/** Ended without a charge that stands: its quote is free for another checkout (a retry with another card). */
export const QUOTE_RELEASING_STATUSES = ["failed", "canceled"] as const;

/** A checkout in one of these is its quote's checkout: every status but those that release the quote. */
export const QUOTE_HOLDING_STATUSES: readonly CheckoutStatus[] = CHECKOUT_STATUSES.filter(
  (s) => !(QUOTE_RELEASING_STATUSES as readonly string[]).includes(s),
);

export const isLiveCheckout = (status: string): boolean =>
  (LIVE_CHECKOUT_STATUSES as readonly string[]).includes(status);

export const holdsQuote = (status: string): boolean =>
  (QUOTE_HOLDING_STATUSES as readonly string[]).includes(status);
