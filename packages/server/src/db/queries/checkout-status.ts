import { LIVE_CHECKOUT_STATUSES, QUOTE_RELEASING_STATUSES } from "@uptier/core";
import { sql } from "drizzle-orm";

// Literals, not parameters: the planner matches them to the partial indexes on checkouts.status.

/** `status` of checkouts is live (core's LIVE_CHECKOUT_STATUSES). */
export const liveCheckoutStatus = sql.raw(
  `status in (${LIVE_CHECKOUT_STATUSES.map((s) => `'${s}'`).join(", ")})`,
);

/**
 * `status` of checkouts holds the quote (every status but core's QUOTE_RELEASING_STATUSES): the
 * predicate of the unique index checkouts_one_live_per_quote.
 */
export const checkoutHoldsQuote = sql.raw(
  QUOTE_RELEASING_STATUSES.map((s) => `status <> '${s}'`).join(" and "),
);
