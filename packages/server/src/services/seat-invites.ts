import type { FastifyReply, FastifyRequest } from "fastify";
import { z } from "zod";
import type { Tx } from "../db/client.ts";
import { ApiError } from "../http/problem.ts";
import { type RouteContext, respondClaimed, respondIdempotent } from "../http/route-kit.ts";
import { findAccount } from "./accounts.ts";
import { billingOf } from "./billing-context.ts";
import { checkoutResponse, runCheckout } from "./checkout.ts";
import { assertEmailFree, assertInvitable, type CreateMemberBody, createMember } from "./members.ts";
import { createQuote, liveSubscriptionOf, type QuotePurpose, type QuoteView } from "./quotes.ts";
import { seatsInUse } from "./subscriptions.ts";

/**
 * The seat-limit moment of the seeds: an admin invites a teammate, all seats are taken, and the
 * invite itself says what one more seat costs ("Adding this member will add $15 to your monthly
 * bill, $7.26 today") and buys it in the same click.
 */
export const PreviewInviteInput = z
  .object({ email: z.string().max(320).pipe(z.email()), role: z.enum(["admin", "member"]).default("member") })
  .strict();

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
  if (used < live.shape.seats)
    return {
      ...base,
      needs_seat: false,
      quote: null as QuoteView | null,
      summary: `A paid seat is free: inviting ${input.email} costs nothing more.`,
    };
  const purpose: QuotePurpose = { type: "seat_for_invite", email: input.email };
  const quote = await createQuote(tx, { account: accountId, seats: live.shape.seats + 1 }, at, purpose);
  const first = quote.summary[0] ?? "";
  return {
    ...base,
    needs_seat: true,
    quote,
    summary:
      `All ${live.shape.seats} seats are taken. Adding this member ${first.replace(/^Adding 1 seat /, "")} ${quote.summary.slice(1, -1).join(" ")}`.trim(),
  };
}

/**
 * POST /members. With `authorize`, the invite buys its seat: the invite is checked, then the seat
 * quote charged as a checkout outside any transaction (the intent is committed first, so a crash
 * never loses track of a charge), then the member created in the transaction that records the
 * answer under the Idempotency-Key. A non-admin's request is refused with admin_approval_required
 * and the admins are told.
 */
export function inviteMember(
  ctx: RouteContext,
  request: FastifyRequest,
  reply: FastifyReply,
  accountId: string,
  input: CreateMemberBody,
) {
  const create = async (tx: Tx) => ({
    status: 201,
    body: await createMember(tx, accountId, input, ctx.clock()),
  });
  const { authorize } = input;
  if (!authorize) return respondIdempotent(ctx, request, reply, create);
  return respondClaimed(ctx, request, reply, {
    effect: async (resumed) => {
      await assertInvitable(ctx.db, accountId, input);
      const row = await runCheckout(
        billingOf(ctx),
        { ...authorize, invite: { accountId, email: input.email } },
        resumed,
      );
      checkoutResponse(row); // a declined or given-back purchase is refused here, the key left free
      return row;
    },
    // A payment still in flight is refused here instead: the key stays with this invite, whose
    // retry answers once the payment has settled.
    answer: (tx, row) => {
      if (row.status !== "succeeded")
        throw new ApiError(
          402,
          row.status === "requires_action" ? "payment_requires_action" : "payment_processing",
          row.status === "requires_action"
            ? `The card needs the customer's authentication: complete checkout ${row.id} (GET /v1/checkouts/${row.id} has its next_action), then send the invite again.`
            : `The payment for checkout ${row.id} is still processing; send the invite again in a moment.`,
          { param: "authorize.quote" },
        );
      return create(tx);
    },
  });
}
