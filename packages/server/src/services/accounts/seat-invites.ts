import { hasFreeSeat, inviteSummary } from "@uptier/core";
import type { PreviewInviteInput } from "@uptier/core/api";
import type { z } from "zod";
import type { Tx } from "../../db/client.ts";
import { seatsInUse } from "../../db/queries/seats-in-use.ts";
import { liveSubscriptionOf } from "../quotes/billing-state.ts";
import { createPricedQuote, type QuotePurpose, type QuoteView } from "../quotes/quotes.ts";
import { findAccount } from "./accounts.ts";
import { assertEmailFree } from "./members.ts";

/**
 * The seat-limit moment of the seeds: an admin invites a teammate, all seats are taken, and the
 * invite itself says what one more seat costs ("Adding this member will add $15 to your monthly
 * bill, $7.26 today") and buys it in the same click.
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
  if (hasFreeSeat(live.shape.seats, used))
    return {
      ...base,
      needs_seat: false,
      quote: null as QuoteView | null,
      summary: `A paid seat is free: inviting ${input.email} costs nothing more.`,
    };
  const purpose: QuotePurpose = { type: "seat_for_invite", email: input.email };
  const { quote, plan } = await createPricedQuote(
    tx,
    { account: accountId, seats: live.shape.seats + 1 },
    at,
    purpose,
  );
  return {
    ...base,
    needs_seat: true,
    quote,
    summary: inviteSummary(plan, quote.currency, live.shape.seats),
  };
}
