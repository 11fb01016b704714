/**
 * A quote holds its price until it expires: from its frozen instant for its time to live (15
 * minutes unless asked otherwise). From the expiry instant on it is `expired`: no checkout begins on
 * it, and a checkout of it still waiting for the customer's authentication is canceled.
 */
export const DEFAULT_QUOTE_TTL_SECONDS = 900;

/** When a quote priced at `pricedAt` expires. */
export const quoteExpiresAt = (pricedAt: Date, ttlSeconds: number = DEFAULT_QUOTE_TTL_SECONDS): Date =>
  new Date(pricedAt.getTime() + ttlSeconds * 1000);

/** Whether a quote expiring at `expiresAt` has expired at `at` (the expiry instant included). */
export const isQuoteExpired = (expiresAt: Date, at: Date): boolean => at.getTime() >= expiresAt.getTime();
