import { and, eq, sql } from "drizzle-orm";
import type { Executor } from "../../db/client.ts";
import { domainEvents, subscriptions } from "../../db/schema/index.ts";
import { recordEvent } from "../events/append.ts";
import type { CreateMemberBody, SeatLimitReached } from "./members.ts";

/**
 * The one write of a refused request (docs/rules.md, conventions: a refusal the plays listen to):
 * an invite refused for lack of seats is recorded as `member.invite_refused`, after the request's
 * own work rolled back (in the transaction that keeps the refusal under its Idempotency-Key, or in
 * one of its own), so nothing else of the request stands. It is recorded once per key: the key
 * travels in the payload, and a refusal with it already in the log is the same moment.
 */
export async function recordInviteRefusal(
  db: Executor,
  accountId: string,
  input: CreateMemberBody,
  { refusal }: SeatLimitReached,
  idempotencyKey: string | null,
  at: Date,
): Promise<void> {
  await db.transaction(async (tx) => {
    // the lock invites take: two retries of one key cannot both find no earlier record
    await tx
      .select({ id: subscriptions.id })
      .from(subscriptions)
      .where(eq(subscriptions.id, refusal.subscription))
      .for("update");
    if (idempotencyKey !== null) {
      const [seen] = await tx
        .select({ id: domainEvents.id })
        .from(domainEvents)
        .where(
          and(
            eq(domainEvents.accountId, accountId),
            eq(domainEvents.type, "member.invite_refused"),
            sql`${domainEvents.data}->'request'->>'idempotency_key' = ${idempotencyKey}`,
          ),
        )
        .limit(1);
      if (seen) return;
    }
    const { authorize } = input;
    await recordEvent(tx, {
      type: "member.invite_refused",
      accountId,
      data: {
        subscription: refusal.subscription,
        email: input.email,
        user_id: input.user_id ?? null,
        role: input.role,
        invited_by: input.invited_by ?? authorize?.member ?? authorize?.user_id ?? null,
        plan: refusal.plan,
        seats: refusal.seats,
        seats_in_use: refusal.seatsInUse,
        reason: refusal.reason,
        request: { idempotency_key: idempotencyKey },
      },
      at,
    });
  });
}
