/**
 * The bounds that keep every amount the engine computes an exact JavaScript integer (below
 * 2^53 − 1). The argument is in docs/pricing-and-proration.md ("Bounds"); the catalog validation,
 * the subscription shape rules and the overage lines enforce these.
 */

/** The most seats a subscription has, and the most units of one add-on it carries. */
export const MAX_QUANTITY = 1_000_000;

/** The most add-ons one subscription carries. */
export const MAX_ADD_ONS = 50;

/**
 * The most one item costs for one period, in minor units: any amount in the catalog, a plan (base
 * and seats) with the most seats it can have, an add-on at its largest quantity, a billed overage
 * line. 10^12: $10 billion, far above any charge a payment gateway takes.
 */
export const MAX_ITEM_AMOUNT = 1_000_000_000_000;

/** The most features with billed overage in one catalog: a renewal bills one line for each. */
export const MAX_BILLED_OVERAGE_FEATURES = 100;

/** "1,000,000,000,000", for messages. */
export const formatCount = (n: number | bigint): string => n.toLocaleString("en-US");
