/**
 * The variables a play's copy may name. The runtime computes them from the catalog and a quote for
 * the account now; the playbook validation refuses a template naming anything else, and a variable
 * the play's context cannot supply (docs/plays.md, "Templates").
 */
export const TEMPLATE_VARIABLES = {
  "account.name": "the account's name",
  "member.name": "the name of the member the prompt is shown to",
  "plan.name": "the current plan's name",
  "plan.price": "the current plan's price per interval (money)",
  "plan.interval": "month or year",
  "feature.name": "the name of the trigger's feature",
  "usage.used": "the feature's usage in its window",
  "usage.limit": "the feature's limit",
  "usage.percent": "usage as a whole percent of the limit",
  "usage.left": "how much of the limit is left (calls, exports…)",
  "next_plan.name": "the next plan up (by tier) on the same interval",
  "next_plan.price": "its price per interval (money)",
  "next_plan.limit": "its limit of the trigger's feature",
  "seat.price": "the price of one more seat per interval (money)",
  "seats.used": "seats in use",
  "seats.limit": "seats the subscription has (or the plan's maximum)",
  "offer.price": "the recurring price after the offered change (money)",
  "offer.interval": "the interval after the offered change",
  "offer.due_today": "what the offered change charges now, prorated (money)",
  "overage.cost": "what the usage past the limit would cost at this rate (money)",
  "overage.savings": "what the upgrade saves against that overage this period (money)",
  days_left: "whole days left in the current billing period",
  months_subscribed: "whole months since the subscription started",
  "annual.paid_so_far": "what the monthly subscription has paid so far (money)",
  "annual.price": "the plan's annual price (money)",
  "annual.savings": "what switching to annual saves now (money)",
  "annual.missed_savings":
    "what switching at month 3 would have saved by now (money; seed 004's month-6 copy)",
  bonus: "the offer's bonus text",
} as const;

export type TemplateVariable = keyof typeof TEMPLATE_VARIABLES;

/** Rendered values by variable name (money already formatted): what `renderTemplate` reads. */
export type TemplateValues = Readonly<Partial<Record<TemplateVariable, string | number>>>;

export function isTemplateVariable(name: string): name is TemplateVariable {
  return Object.hasOwn(TEMPLATE_VARIABLES, name);
}

/** Variables that need the trigger to name a feature (usage_ratio, limit_reached, feature_locked). */
export const FEATURE_VARIABLES: ReadonlySet<TemplateVariable> = new Set(["feature.name"]);

/** Variables that need a feature with a limit: usage_ratio and limit_reached triggers. */
export const USAGE_VARIABLES: ReadonlySet<TemplateVariable> = new Set([
  "usage.used",
  "usage.limit",
  "usage.percent",
  "usage.left",
  "next_plan.limit",
  "overage.cost",
]);

/** Variables that need an offer that changes something (offer.change.kind is not none). */
export const OFFER_VARIABLES: ReadonlySet<TemplateVariable> = new Set([
  "offer.price",
  "offer.interval",
  "offer.due_today",
]);
