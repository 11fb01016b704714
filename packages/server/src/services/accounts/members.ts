import {
  hasFreeSeat,
  type InviteRefusalReason,
  inviteRefusalReason,
  MEMBER_PROPERTY_BOUNDS,
  mergeProperties,
  type PropertyValue,
} from "@uptier/core";
import type { CreateMemberInput, ListMembersQuery, UpdateMemberInput } from "@uptier/core/api";
import { and, desc, eq, lt, ne, sql } from "drizzle-orm";
import type { z } from "zod";
import type { Executor, Tx } from "../../db/client.ts";
import { seatsInUse } from "../../db/queries/seats-in-use.ts";
import { checkouts, members, quotes, subscriptions } from "../../db/schema/index.ts";
import { newId } from "../../ids.ts";
import { DomainError, notFound } from "../errors.ts";
import { recordEvent } from "../events/append.ts";
import { decodeCursor, type Page, toPage } from "../pagination.ts";
import type { QuotePurpose } from "../quotes/quotes.ts";
import { liveSubscriptionsOf, type SubscriptionRecord } from "../subscriptions/records.ts";
import { findAccount } from "./accounts.ts";

type MemberRow = typeof members.$inferSelect;

export function memberView(row: MemberRow) {
  return {
    id: row.id,
    object: "member" as const,
    account: row.accountId,
    user_id: row.externalUserId,
    email: row.email,
    name: row.name,
    role: row.role as "admin" | "member",
    properties: row.properties as Record<string, PropertyValue>,
    status: row.status as "invited" | "active" | "removed",
    created: row.createdAt.toISOString(),
    activated_at: row.activatedAt?.toISOString() ?? null,
    removed_at: row.removedAt?.toISOString() ?? null,
  };
}
export type MemberView = ReturnType<typeof memberView>;

/**
 * An invite refused for lack of seats, with the numbers it was refused at (the payload of the
 * member.invite_refused event the route records: invite-refusals.ts).
 */
export class SeatLimitReached extends DomainError {
  constructor(
    readonly refusal: {
      readonly subscription: string;
      readonly plan: string;
      readonly seats: number;
      readonly seatsInUse: number;
      readonly reason: InviteRefusalReason;
    },
    message: string,
  ) {
    super("seat_limit_reached", message, { param: "email" });
  }
}

/**
 * Locks the account's subscription row, so two invites racing for the last seat cannot both win,
 * and answers its live subscription.
 */
async function lockSeats(tx: Tx, accountId: string, at: Date) {
  await tx
    .select({ id: subscriptions.id })
    .from(subscriptions)
    .where(eq(subscriptions.accountId, accountId))
    .for("update");
  const live = (await liveSubscriptionsOf(tx, [accountId], at)).get(accountId);
  if (!live)
    throw new DomainError(
      "no_active_subscription",
      `Account ${accountId} has no live subscription, so it has no seats.`,
      {
        param: "account",
      },
    );
  return live;
}

/** Seats used = invited + active members; asked under lockSeats. */
async function assertSeatAvailable(tx: Tx, accountId: string, live: SubscriptionRecord) {
  const used = await seatsInUse(tx, accountId);
  if (hasFreeSeat(live.shape.seats, used)) return;
  const { plan, seats } = live.shape;
  const reason = inviteRefusalReason(live.shape);
  throw new SeatLimitReached(
    { subscription: live.id, plan: plan.key, seats, seatsInUse: used, reason },
    reason === "plan_seat_maximum"
      ? `All ${seats} seats on the ${plan.name} plan are taken (${used} invited or active), the most it has. Preview the invite for the plan that has the seat.`
      : `All ${seats} seats on the ${plan.name} plan are taken (${used} invited or active). Add a seat before inviting.`,
  );
}

/** 409 member_exists when the email (any case) already belongs to a member who was not removed. */
export async function assertEmailFree(db: Executor, accountId: string, email: string, exceptId?: string) {
  const [taken] = await db
    .select({ id: members.id })
    .from(members)
    .where(
      and(
        eq(members.accountId, accountId),
        sql`lower(${members.email}) = lower(${email})`,
        ne(members.status, "removed"),
        exceptId ? ne(members.id, exceptId) : undefined,
      ),
    );
  if (taken)
    throw new DomainError("member_exists", `${email} is already a member of this account (${taken.id}).`, {
      param: "email",
    });
}

async function assertUserFree(db: Executor, accountId: string, userId: string, exceptId?: string) {
  const [taken] = await db
    .select({ id: members.id })
    .from(members)
    .where(
      and(
        eq(members.accountId, accountId),
        eq(members.externalUserId, userId),
        ne(members.status, "removed"),
        exceptId ? ne(members.id, exceptId) : undefined,
      ),
    );
  if (taken)
    throw new DomainError(
      "member_exists",
      `User "${userId}" is already a member of this account (${taken.id}).`,
      { param: "user_id" },
    );
}

export type CreateMemberBody = z.infer<typeof CreateMemberInput>;

/**
 * What an invite must pass besides a free seat: an active member signs in with a user id, and
 * neither the email nor the user id belongs to a member already. Asked again in createMember's
 * transaction; asked first, before an invite that buys its seat is charged.
 */
export async function assertInvitable(db: Executor, accountId: string, input: CreateMemberBody) {
  if (input.status === "active" && !input.user_id)
    throw new DomainError("invalid_request", "An active member needs the user_id it signs in with.", {
      param: "user_id",
    });
  await assertEmailFree(db, accountId, input.email);
  if (input.user_id) await assertUserFree(db, accountId, input.user_id);
}

export async function createMember(tx: Tx, accountId: string, input: CreateMemberBody, at: Date) {
  await findAccount(tx, accountId);
  // The seat was bought before this transaction (seat-invites.ts): check it was paid.
  if (input.authorize) await assertSeatPurchased(tx, accountId, input.authorize.quote, input.email);
  const live = await lockSeats(tx, accountId, at);
  // a person who cannot be invited at all is told so before being told the seats are taken
  await assertInvitable(tx, accountId, input);
  await assertSeatAvailable(tx, accountId, live);
  const [row] = await tx
    .insert(members)
    .values({
      id: newId("member", at),
      accountId,
      email: input.email,
      name: input.name ?? null,
      role: input.role,
      status: input.status,
      properties: mergeProperties({}, input.properties),
      externalUserId: input.user_id ?? null,
      createdAt: at,
      updatedAt: at,
      activatedAt: input.status === "active" ? at : null,
    })
    .returning();
  const view = memberView(row as MemberRow);
  await recordEvent(tx, {
    type: input.status === "active" ? "member.added" : "member.invited",
    accountId,
    data: { member: view },
    at,
  });
  return view;
}

export async function findMember(db: Executor, accountId: string, memberId: string): Promise<MemberRow> {
  const [row] = await db
    .select()
    .from(members)
    .where(and(eq(members.accountId, accountId), eq(members.id, memberId)));
  if (!row) throw notFound("member", memberId);
  return row;
}

export async function updateMember(
  tx: Tx,
  accountId: string,
  memberId: string,
  input: z.infer<typeof UpdateMemberInput>,
  at: Date,
) {
  const current = await findMember(tx, accountId, memberId);
  if (current.status === "removed")
    throw new DomainError("member_removed", `Member ${memberId} was removed; invite the person again.`, {
      param: "id",
    });
  const status = input.status ?? current.status;
  const userId = input.user_id ?? current.externalUserId;
  if (input.user_id) await assertUserFree(tx, accountId, input.user_id, memberId);
  if (status === "active" && !userId)
    throw new DomainError("invalid_request", "An active member needs the user_id it signs in with.", {
      param: "user_id",
    });
  if (status === "invited" && current.status === "active")
    throw new DomainError("invalid_status_transition", "An active member cannot go back to invited.", {
      param: "status",
    });
  const properties = input.properties
    ? mergeProperties(current.properties as Record<string, PropertyValue>, input.properties)
    : (current.properties as Record<string, PropertyValue>);
  const count = Object.keys(properties).length;
  if (count > MEMBER_PROPERTY_BOUNDS.keys)
    throw new DomainError(
      "too_many_properties",
      `A member holds at most ${MEMBER_PROPERTY_BOUNDS.keys} properties; this update would leave ${count}. Remove some with null values.`,
      { param: "properties" },
    );
  const [row] = await tx
    .update(members)
    .set({
      name: input.name === undefined ? current.name : input.name,
      properties,
      role: input.role ?? current.role,
      status,
      externalUserId: userId,
      updatedAt: at,
      activatedAt: status === "active" && !current.activatedAt ? at : current.activatedAt,
      removedAt: status === "removed" ? at : null,
    })
    .where(eq(members.id, memberId))
    .returning();
  const view = memberView(row as MemberRow);
  const type = status === "removed" ? "member.removed" : "member.updated";
  await recordEvent(tx, { type, accountId, data: { member: view, previous: memberView(current) }, at });
  return view;
}

export async function listMembers(
  db: Executor,
  accountId: string,
  query: z.infer<typeof ListMembersQuery>,
): Promise<Page<MemberView>> {
  await findAccount(db, accountId);
  const cursor = decodeCursor(query.cursor, "mbr");
  const rows = await db
    .select()
    .from(members)
    .where(
      and(
        eq(members.accountId, accountId),
        cursor ? lt(members.id, cursor) : undefined,
        query.status ? eq(members.status, query.status) : undefined,
      ),
    )
    .orderBy(desc(members.id))
    .limit(query.limit + 1);
  return toPage(rows, query.limit, memberView);
}

/** createMember's check for an invite that brought its own seat: the seat quote was paid. */
export async function assertSeatPurchased(
  tx: Tx,
  accountId: string,
  quoteId: string,
  email: string,
): Promise<void> {
  const [row] = await tx
    .select({ status: checkouts.status, purpose: quotes.purpose })
    .from(checkouts)
    .innerJoin(quotes, eq(quotes.id, checkouts.quoteId))
    .where(
      and(
        eq(checkouts.quoteId, quoteId),
        eq(checkouts.accountId, accountId),
        eq(checkouts.status, "succeeded"),
      ),
    );
  const purpose = row?.purpose as QuotePurpose | undefined;
  if (!row || purpose?.type !== "seat_for_invite" || purpose.email.toLowerCase() !== email.toLowerCase())
    throw new DomainError("seat_not_purchased", `The seat of quote ${quoteId} was not bought for ${email}.`, {
      param: "authorize.quote",
    });
}
