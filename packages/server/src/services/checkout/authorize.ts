import { and, eq } from "drizzle-orm";
import { members } from "../../db/schema/index.ts";
import type { BillingContext } from "../context.ts";
import { DomainError } from "../errors.ts";
import { recordEvent } from "../events/append.ts";
import type { MemberRow, NamedActor } from "./setup.ts";

/**
 * Only an account admin can authorise a charge (docs/rules.md, conventions: auth), and only one who has joined: an
 * admin still `invited` never signed in as themselves. `row` is the actor as found.
 */
export function requireAdmin(row: MemberRow | null, actor: NamedActor): MemberRow {
  if (!actor.member && !actor.user_id)
    throw new DomainError("actor_required", "Name the admin authorising the charge: `member` or `user_id`.", {
      param: "member",
    });
  const param = actor.member ? "member" : "user_id";
  if (!row)
    throw new DomainError(
      "resource_not_found",
      `No member ${actor.member ?? actor.user_id} in this account.`,
      {
        param,
      },
    );
  if (row.role !== "admin")
    throw new DomainError(
      "admin_approval_required",
      "Only an account admin can authorise a charge. Your admins have been asked to approve it.",
      { param },
    );
  if (row.status !== "active")
    throw new DomainError(
      "admin_not_active",
      `Admin ${row.id} has not joined yet (status ${row.status}): only an active admin can authorise a charge.`,
      { param },
    );
  return row;
}

/**
 * A non-admin asked for something that costs money: tell the admins (an outbox event the
 * notification consumers turn into an email or an in-app notice), in a transaction of its own
 * since the request itself is refused.
 */
export async function requestAdminApproval(
  billing: BillingContext,
  input: {
    accountId: string;
    quoteId: string;
    actor: { member?: string | undefined; user_id?: string | undefined };
    email?: string;
  },
): Promise<void> {
  const at = billing.clock();
  await billing.db.transaction(async (tx) => {
    const admins = await tx
      .select({ id: members.id, email: members.email })
      .from(members)
      .where(
        and(eq(members.accountId, input.accountId), eq(members.role, "admin"), eq(members.status, "active")),
      );
    await recordEvent(tx, {
      type: "admin_approval.requested",
      accountId: input.accountId,
      data: {
        quote: input.quoteId,
        requested_by: input.actor.member ?? input.actor.user_id ?? null,
        ...(input.email ? { invite_email: input.email } : {}),
        admins: admins.map((a) => a.id),
      },
      at,
    });
  });
}
