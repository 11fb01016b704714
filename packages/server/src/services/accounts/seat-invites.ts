import {
  type InvitePath,
  invitePath,
  inviteSummary,
  type ResolvedPlan,
  type UpgradeCatalog,
} from "@uptier/core";
import type { PreviewInviteInput } from "@uptier/core/api";
import type { z } from "zod";
import type { Tx } from "../../db/client.ts";
import { seatsInUse } from "../../db/queries/seats-in-use.ts";
import { DomainError } from "../errors.ts";
import { liveSubscriptionOf, loadCatalogOnSale } from "../quotes/billing-state.ts";
import { createPricedQuote, type QuotePurpose, type QuoteView } from "../quotes/quotes.ts";
import type { SubscriptionRecord } from "../subscriptions/records.ts";
import { findAccount } from "./accounts.ts";
import { assertEmailFree } from "./members.ts";

/** The plans on sale in the subscription's currency, as core's upgrade rules read them. */
async function plansOnSale(tx: Tx, live: SubscriptionRecord): Promise<UpgradeCatalog> {
  const onSale = await loadCatalogOnSale(tx);
  const plans: Record<string, ResolvedPlan> = {};
  for (const [key, { plan, version }] of onSale.plans)
    if (!plan.archivedAt && version.currency === live.currency)
      plans[key] = version.definition as ResolvedPlan;
  return { currency: live.currency, plans, addOns: {} };
}

/**
 * The seat-limit moment of the seeds: an admin invites a teammate, all seats are taken, and the
 * invite itself says what admits them and what it costs ("Adding this member will add $15 to your
 * monthly bill, $7.26 today") and buys it in the same click: one more seat, or, when the plan sells
 * no more (Free, 3 seats at most), the cheapest plan that has the seat (core's invitePath), as one
 * quote for the invite to authorise.
 */
export async function previewInvite(
  tx: Tx,
  accountId: string,
  input: z.infer<typeof PreviewInviteInput>,
  at: Date,
) {
  await findAccount(tx, accountId);
  const live = await liveSubscriptionOf(tx, accountId, at);
  await assertEmailFree(tx, accountId, input.email);
  const used = await seatsInUse(tx, accountId);
  const base = {
    object: "invite_preview" as const,
    account: accountId,
    email: input.email,
    seats: live.shape.seats,
    seats_in_use: used,
  };
  const path: InvitePath | null = invitePath(await plansOnSale(tx, live), live.shape, used);
  if (path === null)
    throw new DomainError(
      "seat_limit_reached",
      `All ${live.shape.seats} seats on the ${live.shape.plan.name} plan are taken (${used} invited or active), and no plan on sale has more.`,
      { param: "email" },
    );
  if (path.path === "free_seat")
    return {
      ...base,
      needs_seat: false,
      path: null,
      plan: live.shape.plan.key,
      quote: null as QuoteView | null,
      summary: `A paid seat is free: inviting ${input.email} costs nothing more.`,
    };
  const purpose: QuotePurpose = { type: "seat_for_invite", email: input.email };
  // add-ons are named only when the plan drops some: the ones kept keep their pinned versions
  const change =
    path.path === "add_seat"
      ? { seats: path.seats }
      : path.addOns.length === live.shape.addOns.length
        ? { plan: path.plan, seats: path.seats }
        : { plan: path.plan, seats: path.seats, add_ons: [...path.addOns] };
  const { quote, plan } = await createPricedQuote(tx, { account: accountId, ...change }, at, purpose);
  return {
    ...base,
    needs_seat: true,
    path: path.path,
    plan: path.path === "change_plan" ? path.plan : live.shape.plan.key,
    quote,
    summary: inviteSummary(plan, quote.currency, live.shape.seats),
  };
}
