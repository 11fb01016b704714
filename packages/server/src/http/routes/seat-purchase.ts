import type { FastifyReply, FastifyRequest } from "fastify";
import { recordInviteRefusal } from "../../services/accounts/invite-refusals.ts";
import {
  assertInvitable,
  type CreateMemberBody,
  createMember,
  SeatLimitReached,
} from "../../services/accounts/members.ts";
import { runCheckout } from "../../services/checkout/index.ts";
import { billingOf } from "../../services/context.ts";
import { idempotencyKeyOf, type RefusalListener } from "../plugins/idempotency.ts";
import { ApiError } from "../problem.ts";
import { type RouteContext, respondClaimed, respondIdempotent, type Tx } from "../route-kit.ts";
import { checkoutResponse } from "./checkout-response.ts";

/**
 * POST /members. With `authorize`, the invite buys its seat: the invite is checked, then the seat
 * quote charged as a checkout outside any transaction (the intent is committed first, so a crash
 * never loses track of a charge), then the member created in the transaction that records the
 * answer under the Idempotency-Key. A non-admin's request is refused with admin_approval_required
 * and the admins are told. An invite refused for lack of seats is recorded (member.invite_refused).
 */
export async function inviteMember(
  ctx: RouteContext,
  request: FastifyRequest,
  reply: FastifyReply,
  accountId: string,
  input: CreateMemberBody,
) {
  // the seat-limit moment: refused, and recorded for the plays (invite-refusals.ts); a refusal
  // kept under an Idempotency-Key is answered, not thrown, so it is told of in the key's transaction
  const onRefusal: RefusalListener = async (db, error) => {
    if (error instanceof SeatLimitReached)
      await recordInviteRefusal(db, accountId, input, error, idempotencyKeyOf(request) ?? null, ctx.clock());
  };
  try {
    return await invite(ctx, request, reply, accountId, input, onRefusal);
  } catch (error) {
    await onRefusal(ctx.db, error);
    throw error;
  }
}

function invite(
  ctx: RouteContext,
  request: FastifyRequest,
  reply: FastifyReply,
  accountId: string,
  input: CreateMemberBody,
  onRefusal: RefusalListener,
) {
  const create = async (tx: Tx) => ({
    status: 201,
    body: await createMember(tx, accountId, input, ctx.clock()),
  });
  const { authorize } = input;
  if (!authorize) return respondIdempotent(ctx, request, reply, create, onRefusal);
  return respondClaimed(ctx, request, reply, {
    onRefusal,
    effect: async (resumed) => {
      await assertInvitable(ctx.db, accountId, input);
      const row = await runCheckout(
        billingOf(ctx),
        { ...authorize, invite: { accountId, email: input.email } },
        resumed,
      );
      checkoutResponse(row); // a declined or given-back purchase is refused here: the invite's answer
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
